"""Each §4 rule as a scenario on a real store: the alerts it owes, exactly, and what stays in flash."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import PROFILES
from hubfw.store import policy
from hubfw.store.cli import store as store_group
from hubfw.store.errors import ActivationRejected, StoreError, StoreFormatError, StoreRejected
from hubfw.store.state import Block, CompletedTransfer
from hubfw.store.store import ImageGone, ImageStore
from tests.store.helpers import eui, ota_file, targets

DAY, HOUR = policy.DAY, policy.HOUR


def outcomes(alerts) -> list[tuple[str, int, int | None]]:
    return [(str(a.entity), a.code, a.transfer_response) for a in alerts]


def block_blank(hub, block: Block) -> bool:
    layout = hub.store.layout
    return hub.flash.is_erased(layout.block_address(block), layout.block_sectors * layout.sector_size)


def test_gsme_arriving_over_an_in_progress_ppmid_image_discards_it(hub):
    ppmid = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1, 2))
    hub.store.note_progress(eui(1), ppmid.image_id, 0)
    hub.clock.advance(HOUR)
    gsme = hub.store.distribute(ota_file(0x400), targets(DeviceType.GSME, 9))
    assert outcomes(hub.store.pending_alerts()) == [
        (str(eui(1)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED),
        (str(eui(2)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED),
    ]
    assert all(a.firmware_version == 0x300 for a in hub.store.pending_alerts())
    assert hub.store.offer(eui(1)) is None and hub.store.offer(eui(9)) == gsme
    with pytest.raises(ImageGone):
        hub.store.read(ppmid.image_id, 0, 10)
    hub.store.note_end(eui(1), ppmid.image_id, 0)  # a late UpgradeEnd for the discarded image owes nothing
    assert len(hub.store.pending_alerts()) == 2


def test_ppmid_image_during_a_gsme_images_first_14_days_is_rejected(hub):
    hub.store.distribute(ota_file(0x400), targets(DeviceType.GSME, 9))
    hub.clock.advance(13 * DAY)
    before = hub.flash.operations
    with pytest.raises(StoreRejected, match=r"GSME image 1 \(version 0x00000400\) is protected until 2026-01-15"):
        hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1))
    assert hub.flash.operations == before and hub.store.pending_alerts() == []
    hub.clock.advance(DAY)  # day 14: the GSME never started, so it is discarded and the PPMID image goes in
    ppmid = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1))
    assert outcomes(hub.store.pending_alerts()) == [
        (str(eui(9)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED)]
    assert hub.store.offer(eui(1)) == ppmid


def test_in_progress_gsme_transfer_is_not_replaced_after_14_days(hub):
    gsme = hub.store.distribute(ota_file(0x400), targets(DeviceType.GSME, 9))
    hub.clock.advance(13 * DAY)
    hub.store.note_progress(eui(9), gsme.image_id, 0)
    for offset in (4096, 8192):  # slow but alive: day 14 and 16 h
        hub.clock.advance(20 * HOUR)
        hub.store.note_progress(eui(9), gsme.image_id, offset)
    with pytest.raises(StoreRejected, match=r"a GSME transfer is in progress \(target 00:0d:6f:00:00:00:00:09"):
        hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1))
    hub.store.note_end(eui(9), gsme.image_id, 0)
    hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1))
    assert outcomes(hub.store.pending_alerts()) == [(str(eui(9)), AlertCode.TRANSFER_SUCCESS, TransferResponse.SUCCESS)]


def test_24_hour_stall_is_a_file_transfer_failure(hub):
    image = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1, 2))
    hub.clock.advance(HOUR)
    hub.store.note_progress(eui(1), image.image_id, 0)
    started = hub.clock.now()
    hub.clock.advance(60)
    hub.store.note_progress(eui(1), image.image_id, 64)
    assert hub.store.next_deadline() == started + 60 + policy.STALL_FAILURE_S
    hub.clock.set(started + 60 + policy.STALL_FAILURE_S - 1)
    assert hub.store.tick() == []
    hub.clock.advance(1)
    owed = hub.store.tick()
    assert outcomes(owed) == [(str(eui(1)), AlertCode.TRANSFER_FAILURE, TransferResponse.FILE_TRANSFER_FAILURE)]
    assert hub.store.tick() == [] and hub.store.offer(eui(1)) is None and hub.store.offer(eui(2)) == image
    assert hub.store.next_deadline() == image.arrived_at + 14 * DAY


def test_14_days_without_a_start_discards_and_the_image_leaves_flash(hub):
    image = hub.store.distribute(ota_file(0x300, size=9000), targets(DeviceType.HCALCS, 1, 2))
    assert not block_blank(hub, Block.GSME)
    hub.clock.advance(14 * DAY - 1)
    assert hub.store.offer(eui(1)) == image and hub.store.tick() == []
    hub.clock.advance(1)
    assert hub.store.offer(eui(1)) is None  # due: no longer offered, even before tick() records it
    assert outcomes(hub.store.tick()) == [
        (str(eui(1)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED),
        (str(eui(2)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED),
    ]
    assert block_blank(hub, Block.GSME) and hub.store.next_deadline() is None
    counts = hub.flash.stats.erase_counts
    used = range(hub.store.layout.block_first_sector(Block.GSME), hub.store.layout.block_first_sector(Block.GSME) + 3)
    assert [counts[s] for s in used] == [1, 1, 1]  # 9000 bytes = 3 sectors, each erased exactly once
    assert sum(counts[s] for s in hub.store.layout.block_sector_range(Block.GSME)) == 3


def test_hardware_mismatch_success_and_failure_each_owe_one_alert(hub):
    image = hub.store.distribute(ota_file(0x200, min_hw_version=2, max_hw_version=4),
                                 targets(DeviceType.ESME, 1, 2, 3, 4))
    assert hub.store.note_query(eui(1), image.image_id, 5) is False
    assert hub.store.note_query(eui(1), image.image_id, 5) is False  # reported again: still one alert
    assert hub.store.note_query(eui(2), image.image_id, 3) is True
    hub.store.note_progress(eui(2), image.image_id, 0)
    hub.store.note_end(eui(2), image.image_id, 0)
    hub.store.note_end(eui(3), image.image_id, 0x96)
    hub.store.note_end(eui(3), image.image_id, 0)  # a second UpgradeEnd changes nothing
    assert outcomes(hub.store.pending_alerts()) == [
        (str(eui(1)), AlertCode.TRANSFER_FAILURE, TransferResponse.HARDWARE_VERSION_MISMATCH),
        (str(eui(2)), AlertCode.TRANSFER_SUCCESS, TransferResponse.SUCCESS),
        (str(eui(3)), AlertCode.TRANSFER_FAILURE, TransferResponse.FILE_TRANSFER_FAILURE),
    ]
    assert hub.store.offer(eui(4)) == image and not block_blank(hub, Block.ESME)
    hub.store.note_end(eui(4), image.image_id, 0)
    assert block_blank(hub, Block.ESME)  # every target terminal: the image left flash


def test_alerts_are_redelivered_with_stable_ids_until_acknowledged_across_reboots(hub):
    image = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1, 2))
    hub.store.note_end(eui(1), image.image_id, 0)
    first = hub.store.pending_alerts()
    assert hub.reboot().pending_alerts() == first
    hub.store.note_end(eui(1), image.image_id, 0)
    assert hub.store.pending_alerts() == first
    hub.store.acknowledge([first[0].alert_id, 12345])
    assert hub.reboot().pending_alerts() == []
    hub.store.note_end(eui(2), image.image_id, 1)
    (second,) = hub.reboot().pending_alerts()
    assert second.alert_id != first[0].alert_id and second.entity == eui(2)


def test_both_blocks_work_side_by_side_and_a_device_is_in_one(hub):
    esme = hub.store.distribute(ota_file(0x200), targets(DeviceType.ESME, 1, 2))
    ppmid = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 3))
    assert (esme.block, ppmid.block) == (Block.ESME, Block.GSME)
    assert hub.store.read(esme.image_id, 0, 5000) == ota_file(0x200)
    assert hub.store.read(ppmid.image_id, 100, 50) == ota_file(0x300)[100:150]
    with pytest.raises(StoreRejected, match="still a target of image 1 in the esme block"):
        hub.store.distribute(ota_file(0x400), targets(DeviceType.GSME, 1))
    hub.store.note_progress(eui(1), esme.image_id, 0)
    with pytest.raises(StoreRejected, match="ESME transfer is in progress"):
        hub.store.distribute(ota_file(0x201), targets(DeviceType.ESME, 5))
    with pytest.raises(StoreError, match="outside image"):
        hub.store.read(esme.image_id, 99999, 1)


@pytest.mark.parametrize("data, request_targets, message", [
    (ota_file(0x300, size=4000), targets(DeviceType.PPMID, 1), "larger than the 3000-byte limit"),
    (b"\x1e\xf1\xee\x0b" + bytes(60), targets(DeviceType.PPMID, 1), "not an acceptable OTA image"),
    (ota_file(0x300), targets(DeviceType.PPMID, 1) + targets(DeviceType.GSME, 2), "mixes"),
])
def test_bad_distributions_touch_nothing(make_hub, data, request_targets, message):
    hub = make_hub(max_image_size=3000)
    before = hub.flash.operations
    with pytest.raises(StoreRejected, match=message):
        hub.store.distribute(data, request_targets)
    assert hub.flash.operations == before


def test_activation_is_checked_against_completed_transfers_even_after_the_image_left(hub):
    data = ota_file(0x200)
    image = hub.store.distribute(data, targets(DeviceType.HCALCS, 1, 2))
    with pytest.raises(ActivationRejected, match="has not completed a transfer"):
        hub.store.check_activation(eui(1), image.manufacturer_image_sha256)
    hub.store.note_end(eui(1), image.image_id, 0)
    assert hub.store.check_activation(eui(1), image.manufacturer_image_sha256) == image  # still in flash
    hub.store.note_end(eui(2), image.image_id, 0x96)
    done = hub.reboot().check_activation(eui(1), image.manufacturer_image_sha256)
    assert isinstance(done, CompletedTransfer) and done.image_id == image.image_id
    with pytest.raises(ActivationRejected):
        hub.store.check_activation(eui(2), image.manufacturer_image_sha256)
    with pytest.raises(ActivationRejected):
        hub.store.check_activation(eui(1), bytes(32))


def test_ppmid_activation_alert_is_owed_once_until_acknowledged(hub):
    alert = hub.store.note_activation(eui(1), 0x301)
    assert (alert.code, alert.transfer_response, alert.firmware_version) == (AlertCode.ACTIVATION, None, 0x301)
    assert hub.reboot().note_activation(eui(1), 0x301) == alert
    hub.store.acknowledge([alert.alert_id])
    assert hub.store.note_activation(eui(1), 0x301).alert_id != alert.alert_id


def test_checkpoints_and_a_restart_never_declare_a_stall_early(make_hub):
    hub = make_hub()
    image = hub.store.distribute(ota_file(0x300, size=20000), targets(DeviceType.PPMID, 1))
    hub.store.note_progress(eui(1), image.image_id, 0)  # start: durable at once
    ops = hub.flash.operations
    for offset in range(64, 1024, 64):
        hub.clock.advance(10)
        hub.store.note_progress(eui(1), image.image_id, offset)
    assert hub.flash.operations == ops  # under checkpoint_bytes and checkpoint_seconds: nothing written
    last = hub.clock.now()
    hub.clock.advance(5 * 60)  # 5 minutes later the hub restarts
    store = hub.reboot()
    (target,) = store.status().blocks[1].image.targets
    # true last activity was `last`; the checkpoint was at the start; the restart assumes the latest possible
    assert target.last_activity >= last and target.deadline >= last + policy.STALL_FAILURE_S
    hub.clock.set(last + policy.STALL_FAILURE_S)
    assert store.tick() == []


def test_many_records_compact_round_the_region_ring_without_losing_state(make_hub):
    from tests.store.helpers import SMALL_IMAGE, SMALL_NOR
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    image = hub.store.distribute(ota_file(0x300, size=SMALL_IMAGE), targets(DeviceType.PPMID, 1, 2))
    for n in range(2000):
        hub.store.note_activation(eui(100 + n % 7), n)
        hub.store.acknowledge([a.alert_id for a in hub.store.pending_alerts()])
        hub.clock.advance(700)
        hub.store.note_progress(eui(1), image.image_id, n)
    layout = hub.store.layout
    hub.store.note_end(eui(2), image.image_id, 0)
    summary, pending = hub.store.durable_summary(), hub.store.pending_alerts()
    assert hub.reboot().durable_summary() == summary and hub.store.pending_alerts() == pending
    region_wear = [hub.flash.stats.erase_counts[layout.region_first_sector(r)] for r in range(layout.region_count)]
    assert min(region_wear) >= 1 and max(region_wear) - min(region_wear) <= 1  # wear spread round the ring


def test_corrupt_image_is_discarded_on_load_and_never_served(hub):
    image = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1, 2))
    hub.store.note_end(eui(1), image.image_id, 0)
    hub.flash.program(hub.store.layout.block_address(Block.GSME) + 500, b"\x00")  # a bit rots
    store = hub.reboot()
    assert store.offer(eui(2)) is None
    with pytest.raises(ImageGone):
        store.read(image.image_id, 0, 1)
    assert outcomes(store.pending_alerts())[1:] == [
        (str(eui(2)), AlertCode.TRANSFER_FAILURE, TransferResponse.IMAGE_DISCARDED)]
    assert block_blank(hub, Block.GSME)


def test_a_flash_with_foreign_data_is_not_formatted(make_hub):
    flash = NorFlash(PROFILES["serial-nor"])
    flash.program(300_000, b"someone else's data")
    with pytest.raises(StoreFormatError, match="holds data but no hubfw store superblock"):
        ImageStore.open(flash, make_hub().clock)
    with pytest.raises(StoreFormatError):
        ImageStore.inspect(flash, make_hub().clock)


def test_a_format_cut_short_is_redone(hub):
    flash = NorFlash(PROFILES["serial-nor"])
    flash.schedule_cut(0, CutMode.DURING)
    with pytest.raises(PowerCut):
        ImageStore.open(flash, hub.clock)
    flash.reboot()
    store = ImageStore.open(flash, hub.clock)
    assert store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1)).image_id == 1


def test_inspect_writes_nothing_and_shows_pending_recovery(hub):
    image = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, 1))
    hub.flash.schedule_cut(hub.flash.operations, CutMode.DURING)
    with pytest.raises(PowerCut):
        hub.store.note_progress(eui(1), image.image_id, 0)
    hub.flash.reboot()
    ops, stats = hub.flash.operations, hub.flash.stats.erase_counts[:]
    found = ImageStore.inspect(hub.flash, hub.clock)
    assert hub.flash.operations == ops and hub.flash.stats.erase_counts == stats
    assert found.needs_recovery and found.blocks[1].image.image == image
    assert not hub.reboot().status().needs_recovery


def test_store_status_cli_reads_the_state_directory(tmp_path, make_hub):
    path = flash_path(tmp_path)
    with NorFlash.create(path, PROFILES["serial-nor"]) as flash:
        store = ImageStore.open(flash, make_hub().clock)
        store.distribute(ota_file(0x400), targets(DeviceType.GSME, 9))
    before = path.read_bytes()
    result = CliRunner().invoke(store_group, ["status", "--state", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    gsme = status["blocks"][1]["image"]
    assert gsme["device_type"] == "gsme" and gsme["protected_until"] == "2026-01-15T00:00:00Z"
    assert gsme["retention_until"] == "2026-01-15T00:00:00Z" and gsme["arrived_at"] == "2026-01-01T00:00:00Z"
    assert gsme["targets"] == [{"entity": "00:0d:6f:00:00:00:00:09", "state": "waiting", "offset": 0,
                                "started_at": None, "last_activity": None, "finished_at": None,
                                "deadline": "2026-01-15T00:00:00Z", "alert_id": None}]
    assert status["blocks"][0]["image"] is None
    text = CliRunner().invoke(store_group, ["status", "--state", str(tmp_path)])
    assert "gsme block: image 1 gsme version 0x00000400" in text.output
    assert path.read_bytes() == before  # status never writes


def test_store_status_cli_on_a_missing_state_is_one_line(tmp_path):
    from hubfw.cli.main import main
    result = CliRunner().invoke(main, ["store", "status", "--state", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.output.startswith("hubfw: error: ") and result.output.count("\n") == 1
