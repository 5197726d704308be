"""The per-image target limit comes from the flash layout, not from a GBCS cap of 15 (a draft rule the
Working Group removed): a snapshot must hold the widest image with every alert and completed transfer
it implies, so the limit is what half a metadata region can journal."""

from __future__ import annotations

import pytest

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.profiles import PROFILES
from hubfw.store import layout as layout_module
from hubfw.store.errors import StoreError, StoreFormatError, StoreRejected
from hubfw.store.layout import Layout
from hubfw.store.metalog import MetadataLog
from hubfw.store.model import StoreModel, activation_alert_id, transfer_alert_id
from hubfw.store.policy import MAX_ESME_TARGETS
from hubfw.store.records import AlertRecord, CompletedRecord, CountersRecord, ImageRecord
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress
from hubfw.store.store import ImageStore
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR, eui, ota_file, targets

T0 = 1_767_225_600.0
GEOMETRIES = [(PROFILES["serial-nor"], 768_000), (PROFILES["mcu-internal"], 768_000), (SMALL_NOR, SMALL_IMAGE)]


def test_default_parts_journal_at_least_64_targets_per_image_and_tiny_parts_a_few():
    for name in ("serial-nor", "mcu-internal"):
        assert Layout.plan(PROFILES[name], 768_000).limits.targets_per_image >= 64
    small = Layout.plan(SMALL_NOR, SMALL_IMAGE).limits
    assert MAX_ESME_TARGETS <= small.targets_per_image < 15
    assert small.owed_alerts >= 2 * small.targets_per_image + MAX_ESME_TARGETS


def test_status_reports_the_layout_limits(hub):
    limits = hub.store.layout.limits
    reported = ImageStore.inspect(hub.flash, hub.clock)
    assert reported.limits == limits == hub.store.status().limits
    assert reported.to_json()["limits"] == {
        "targets_per_image": limits.targets_per_image, "esme_targets_per_image": MAX_ESME_TARGETS,
        "owed_alerts": limits.owed_alerts, "completed_transfers": limits.completed_transfers,
    }
    assert f"limits (flash layout): {limits.targets_per_image} targets per image" in "\n".join(reported.describe())


@pytest.mark.parametrize("profile, image_size", GEOMETRIES, ids=lambda value: getattr(value, "name", value))
def test_a_snapshot_at_every_limit_fits_half_a_region_and_replays(profile, image_size):
    """Both blocks' images at their widest, a full alert journal and every completed transfer kept."""
    layout = Layout.plan(profile, image_size)
    limits = layout.limits
    model = StoreModel(max_completed=limits.completed_transfers)
    model.apply(CountersRecord(0xFFFF_FFFF, 0xFFFF_FFFF))
    for n in range(limits.completed_transfers):
        model.apply(CompletedRecord(CompletedTransfer(eui(n), n, DeviceType.PPMID, n, bytes(32), T0)))
    for image_id, device_type, width in ((1, DeviceType.ESME, MAX_ESME_TARGETS),
                                         (2, DeviceType.PPMID, limits.targets_per_image)):
        image = StoredImage(image_id, Block.ESME if device_type is DeviceType.ESME else Block.GSME, device_type,
                            0x1234, 1, 0x100, image_size, 1, 2, bytes(32), bytes(32), T0)
        progress = tuple(TargetProgress(eui(1000 * image_id + n), None, None, T0, 4096, T0, offset=4096,
                                        last_activity=T0) for n in range(width))
        model.apply(ImageRecord(image, progress, committed=True))
    for n in range(limits.owed_alerts):
        model.apply(AlertRecord(TransferAlert(
            transfer_alert_id(n + 10, 0), AlertCode.TRANSFER_FAILURE, eui(n), n, TransferResponse.IMAGE_DISCARDED, T0,
        )))
    flash = NorFlash(profile)
    log = MetadataLog(flash, layout, MetadataLog.scan(flash, layout))
    log.compact(model.snapshot_records())
    assert log.used <= layout.region_size // 2
    replayed = StoreModel(max_completed=limits.completed_transfers)
    for record in MetadataLog.scan(flash, layout).records:
        replayed.apply(record)
    assert replayed.durable_summary() == model.durable_summary()


def test_an_image_may_name_every_target_the_layout_journals(hub):
    width = hub.store.layout.limits.targets_per_image
    image = hub.store.distribute(ota_file(0x300), targets(DeviceType.PPMID, *range(1, width + 1)))
    for n in range(1, width + 1):
        hub.store.note_progress(eui(n), image.image_id, 0)
        hub.store.note_end(eui(n), image.image_id, 0 if n % 2 else 0x95)
    alerts = hub.store.pending_alerts()
    assert [a.alert_id for a in alerts] == [image.image_id << 8 | index for index in range(width)]
    assert [a.code for a in alerts[:2]] == [AlertCode.TRANSFER_SUCCESS, AlertCode.TRANSFER_FAILURE]
    assert hub.reboot().pending_alerts() == alerts  # the same ids after a restart
    assert all(hub.store.completed_transfer(eui(n)) is not None for n in range(1, width + 1, 2))


def test_one_target_more_than_the_layout_journals_is_refused_and_writes_nothing(hub):
    width = hub.store.layout.limits.targets_per_image
    before, operations = hub.store.status(), hub.flash.operations
    with pytest.raises(StoreRejected, match=(
        rf"^{width + 1} hcalcs targets named; an image may name at most {width} on this store "
        r"\(what its flash layout's metadata region can journal\)$"
    )):
        hub.store.distribute(ota_file(0x300), targets(DeviceType.HCALCS, *range(1, width + 2)))
    assert hub.flash.operations == operations and hub.store.status() == before


def test_full_width_images_replace_each_other_round_the_small_ring(make_hub):
    """On the tiny part the journal is tight: each replacement owes a discard for every target, and
    compactions must carry full-width images and their alerts round the ring."""
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    width = hub.store.layout.limits.targets_per_image
    hub.store.distribute(ota_file(0x200, size=SMALL_IMAGE), targets(DeviceType.ESME, 1, 2, 3, 4))
    for round_ in range(12):
        numbers = range(100 + round_, 100 + round_ + width)
        image = hub.store.distribute(ota_file(0x300 + round_, size=SMALL_IMAGE), targets(DeviceType.PPMID, *numbers))
        hub.store.note_progress(eui(numbers[0]), image.image_id, 0)
        discarded = [a for a in hub.store.pending_alerts() if a.transfer_response is TransferResponse.IMAGE_DISCARDED]
        assert len(discarded) == (0 if round_ == 0 else width)
        pending = hub.store.pending_alerts()
        assert hub.reboot().pending_alerts() == pending
        hub.store.acknowledge(alert.alert_id for alert in pending)
    assert hub.store.status().blocks[1].image.image.image_id == image.image_id


def test_a_store_of_an_older_layout_version_is_refused_with_a_reformat_error(monkeypatch, make_hub):
    monkeypatch.setattr(layout_module, "LAYOUT_VERSION", 1)
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    monkeypatch.undo()
    with pytest.raises(StoreFormatError, match=r"^store layout version 1 is not supported \(this hubfw reads 2\); "
                                               "reformat: start from a fresh flash file"):
        hub.reboot()


def test_an_activation_relayed_through_the_tunnel_keeps_its_source_across_compactions(make_hub):
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    tunnel = hub.store.note_activation(eui(1), 0x301, source="tunnel")
    assert (tunnel.source, tunnel.alert_id) == ("tunnel", activation_alert_id(1)) and tunnel.alert_id & 0xFF == 0xFF
    assert hub.store.note_activation(eui(1), 0x301) == tunnel  # a repeat (from either side) is the same alert
    hub.flash.schedule_cut(hub.flash.operations, CutMode.DURING)
    with pytest.raises(PowerCut):
        hub.store.note_activation(eui(2), 0x302)  # torn: the next open compacts, copying the owed alerts
    hub.reboot()
    assert hub.store.pending_alerts() == [tunnel]
    assert hub.store.note_activation(eui(2), 0x302).source == "hub"
    assert hub.reboot().pending_alerts()[0] == tunnel


def test_an_unknown_activation_source_is_refused_and_writes_nothing(hub):
    operations = hub.flash.operations
    with pytest.raises(StoreError, match=r"^activation alert source must be one of hub, tunnel, not 'radio'$"):
        hub.store.note_activation(eui(1), 0x301, source="radio")
    assert hub.flash.operations == operations and hub.store.pending_alerts() == []


def test_the_limits_only_shrank_with_the_owed_alert_records_and_the_test_parts_kept_theirs():
    """FORMAT.md, "Snapshot limits and the layout-2 additions": pinned, so a further change is deliberate."""
    expected = {"serial-nor": (65, 140, 69), "mcu-internal": (65, 140, 69)}  # 71 / 150 / 75 before
    for name, (width, owed, completed) in expected.items():
        limits = Layout.plan(PROFILES[name], 768_000).limits
        assert (limits.targets_per_image, limits.owed_alerts, limits.completed_transfers) == (width, owed, completed)
    small = Layout.plan(SMALL_NOR, SMALL_IMAGE).limits
    assert (small.targets_per_image, small.owed_alerts, small.completed_transfers) == (9, 25, 13)
