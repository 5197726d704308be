"""The OTA client state machine on its own terms: schedules, attributes, security, retries, bad setup."""

import re

import pytest
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.devices import DeviceType
from hubfw.sim.devices import (
    Behaviour,
    DeviceConfigError,
    Phase,
    SleepyPolling,
    esme,
    gsme,
    hcalcs,
    make_device,
    ppmid,
)
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import HOME_AUTOMATION_PROFILE
from hubfw.zigbee.zcl import TO_CLIENT, OtaReply, cluster_command, read_attributes
from tests.sim.devices.rig import HUB_IEEE, IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, make_hub, ota_file

Status = foundation.Status
Attribute = Ota.AttributeDefs
IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}
DAY = 86_400.0


def hub_frame(device, zcl: bytes, encrypted: bool = True, dst_nwk: int | None = None) -> ApsFrame:
    nwk = device.identity.nwk if dst_nwk is None else dst_nwk
    return ApsFrame(HUB_IEEE, 0x0000, device.ieee, nwk, device.identity.profile, Ota.cluster_id, 1,
                    device.identity.endpoint, zcl, aps_encrypted=encrypted)


def notify(manufacturer_code: int = MANUFACTURER, version: int = NEW_VERSION, jitter: int = 100) -> bytes:
    kind = Ota.ImageNotifyCommand.PayloadType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion
    return cluster_command(9, OtaReply.image_notify, TO_CLIENT, payload_type=kind, query_jitter=jitter,
                           manufacturer_code=manufacturer_code, image_type=IMAGE_TYPE, new_file_version=version)


def joined(device, now: float = 0.0):
    device.on_join(now)
    return device


def test_ppmid_queries_at_least_daily_with_jitter():
    device = ppmid(eui(1), 0x1001, **IDENTITY)
    hub = make_hub([device])
    hub.radio.run_for(10 * DAY)
    queries = [entry.at for entry in device.sent("query_next_image")]
    gaps = [later - earlier for earlier, later in zip(queries, queries[1:])]
    assert len(queries) >= 10
    assert all(DAY - device.behaviour.query_jitter <= gap <= DAY for gap in gaps)
    assert len({round(gap) for gap in gaps}) > 1  # jittered, not a fixed beat
    assert {e.command.status for e in device.received("query_next_image_response")} == {Status.NO_IMAGE_AVAILABLE}


def test_device_answers_read_attributes_on_the_ota_cluster():
    device = joined(esme(eui(2), 0x1002, **IDENTITY))
    ids = [Attribute.current_file_version.id, Attribute.image_upgrade_status.id, Attribute.manufacturer_id.id,
           Attribute.image_type_id.id, Attribute.upgrade_server_id.id, 0x4242]
    [answer] = device.on_frame(hub_frame(device, read_attributes(77, ids)), now=1.0)

    header, body = foundation.ZCLHeader.deserialize(answer.payload)
    assert header.tsn == 77 and header.command_id == foundation.GeneralCommand.Read_Attributes_rsp
    assert header.direction == foundation.Direction.Client_to_Server
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
    records = {record.attrid: record for record in schema.deserialize(body)[0].status_records}
    assert records[Attribute.current_file_version.id].value.value == OLD_VERSION
    assert records[Attribute.image_upgrade_status.id].value.value == Ota.ImageUpgradeStatus.Normal
    assert records[Attribute.manufacturer_id.id].value.value == MANUFACTURER
    assert records[Attribute.image_type_id.id].value.value == IMAGE_TYPE
    assert records[Attribute.upgrade_server_id.id].value.value == HUB_IEEE  # learnt from the frame
    assert records[0x4242].status == Status.UNSUPPORTED_ATTRIBUTE
    assert (answer.dst_nwk, answer.profile, answer.aps_encrypted) == (0x0000, device.identity.profile, True)


def test_smart_energy_device_drops_frames_without_aps_encryption():
    device = joined(esme(eui(3), 0x1003, **IDENTITY))
    assert device.on_frame(hub_frame(device, read_attributes(1, [0x0002]), encrypted=False), now=1.0) == []
    assert "dropped a frame without APS encryption" in device.notes()


def test_home_automation_profile_device_without_aps_encryption_updates():
    device = hcalcs(eui(4), 0x1004, profile=HOME_AUTOMATION_PROFILE, aps_encrypted=False, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(2000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=3600)
    assert device.completed_image == ota
    assert {(f.profile, f.aps_encrypted) for f in hub.radio.uplinked} == {(HOME_AUTOMATION_PROFILE, False)}


def test_image_notify_is_answered_only_when_it_concerns_the_device():
    device = joined(ppmid(eui(5), 0x1005, query_interval=None, **IDENTITY))
    for zcl in (notify(manufacturer_code=0x9999), notify(version=OLD_VERSION)):
        device.on_frame(hub_frame(device, zcl), now=1.0)
    assert device.next_deadline() is None
    assert device.notes()[-2:] == ["ignored image notify not for this device"] * 2

    device.on_frame(hub_frame(device, notify()), now=1.0)
    due = device.next_deadline()
    assert 1.0 <= due <= 1.0 + device.behaviour.notify_delay
    [query] = device.tick(due)
    assert device.sent("query_next_image")[0].payload == query.payload


def test_broadcast_notify_respects_query_jitter():
    devices = [joined(ppmid(eui(100 + n), 0x1100 + n, query_interval=None, **IDENTITY)) for n in range(50)]
    for device in devices:
        device.on_frame(hub_frame(device, notify(jitter=20), dst_nwk=0xFFFF), now=1.0)
    answering = sum(device.next_deadline() is not None for device in devices)
    assert 0 < answering < 30


def test_unanswered_requests_are_retried_then_given_up():
    device = joined(ppmid(eui(7), 0x1007, **IDENTITY))
    behaviour = device.behaviour
    for _ in range(behaviour.max_retries + 1):
        device.tick(device.next_deadline())
    assert len(device.sent("query_next_image")) == behaviour.max_retries + 1
    last = device.sent("query_next_image")[-1].at
    device.tick(device.next_deadline())  # the last one times out too
    assert device.phase is Phase.IDLE
    assert device.next_deadline() == pytest.approx(last + behaviour.response_timeout + behaviour.retry_backoff)


def test_a_newer_image_aborts_the_download_and_the_device_takes_the_new_one():
    device = ppmid(eui(8), 0x1008, **IDENTITY)
    hub = make_hub([device])
    first = ota_file(5000)
    hub.distribute(first, [device])
    hub.radio.run_until(lambda: len(device.download) >= 1000, within=3600)
    newer = ota_file(3000, version=NEW_VERSION + 1)
    hub.distribute(newer, [device])
    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION + 1, within=3600)

    assert device.completed_image == newer
    assert any(e.command.status == Status.ABORT for e in device.received("image_block_response"))
    responses = [alert.transfer_response for alert in hub.alerts(device.ieee) if alert.code != AlertCode.ACTIVATION]
    assert responses == [TransferResponse.IMAGE_DISCARDED, TransferResponse.SUCCESS]


@pytest.mark.parametrize("options, complaint", [
    ({"max_data_size": 0}, "max_data_size"),
    ({"page_size": 70_000}, "page_size"),
    ({"query_interval": 100.0, "query_jitter": 200.0}, "query_interval"),
    ({"colour": "red"}, "unknown simulated device option(s): colour"),
    ({"sleepy": SleepyPolling(fast_after_join=-1.0)}, "fast_after_join"),
])
def test_bad_behaviour_is_one_clear_error(options, complaint):
    with pytest.raises(DeviceConfigError, match=re.escape(complaint)) as caught:
        ppmid(eui(9), 0x1009, **IDENTITY, **options)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("nwk, identity", [(0x0000, IDENTITY), (0x1010, {**IDENTITY, "file_version": 1 << 32})])
def test_bad_identity_is_one_clear_error(nwk, identity):
    with pytest.raises(DeviceConfigError, match="bad simulated device 00:0d:6f"):
        make_device(DeviceType.ESME, "00:0d:6f:00:00:00:00:10", nwk, **identity)


def test_behaviour_defaults_per_kind():
    assert Behaviour().sleepy is None
    slow = gsme(eui(11), 0x1011, **IDENTITY).behaviour
    assert slow.sleepy is not None and slow.max_data_size < Behaviour().max_data_size
    assert slow.block_delay > Behaviour().block_delay


def test_an_upgrade_time_in_the_future_counts_down_then_activates():
    device = hcalcs(eui(12), 0x1012, **IDENTITY)
    hub = make_hub([device])
    hub.distribute(ota_file(1500), [device])
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=3600)
    later = cluster_command(200, OtaReply.upgrade_end_response, TO_CLIENT, manufacturer_code=0xFFFF, image_type=0xFFFF,
                            file_version=NEW_VERSION, current_time=0, upgrade_time=300)
    device.on_frame(hub_frame(device, later), now=hub.clock.now())
    assert device.phase is Phase.COUNTING_DOWN
    hub.radio.run_for(299)
    assert device.current_file_version == OLD_VERSION
    hub.radio.run_for(2)
    assert device.current_file_version == NEW_VERSION and device.phase is Phase.IDLE


def test_answers_must_carry_the_request_tsn():
    device = joined(ppmid(eui(13), 0x1013, **IDENTITY))
    [query] = device.tick(device.next_deadline())
    tsn = query.payload[1]
    stale = cluster_command((tsn + 1) % 256, OtaReply.query_next_image_response, TO_CLIENT,
                            status=Status.NO_IMAGE_AVAILABLE)
    device.on_frame(hub_frame(device, stale), now=device.sent("query_next_image")[0].at)
    assert device.phase is Phase.QUERYING
    assert device.notes()[-1] == "ignored unexpected query next image response"
