"""UpgradeEnd, activation (PPMID at once, others on a CS06 command) and the 0x8F8B version check."""

import struct

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.devices import DeviceType
from hubfw.server import UPGRADE_NOW, UPGRADE_ON_COMMAND, OtaServer
from hubfw.store.errors import ActivationRejected
from tests.server.rig import ESME, IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, PPMID, decode, make_bench

Status = foundation.Status
CURRENT_FILE_VERSION = 0x0002


def test_ppmid_success_is_told_to_activate_now(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    header, response = bench.one(bench.end())
    assert header.tsn == bench.tsn and header.command_id == 0x07
    assert (response.manufacturer_code, response.image_type, response.file_version) == (
        MANUFACTURER, IMAGE_TYPE, NEW_VERSION
    )
    assert (response.current_time, response.upgrade_time) == (0, UPGRADE_NOW)
    [alert] = bench.store.alerts
    assert (alert.code, alert.entity, alert.firmware_version) == (AlertCode.TRANSFER_SUCCESS, PPMID, NEW_VERSION)


@pytest.mark.parametrize("device_type", [DeviceType.ESME, DeviceType.GSME, DeviceType.HCALCS])
def test_other_devices_wait_for_the_activate_command(bench, device_type):
    image = bench.store.add_image(device_type, [ESME])
    _, response = bench.one(bench.end(source=ESME))
    assert response.upgrade_time == UPGRADE_ON_COMMAND
    assert bench.store.alerts[0].code == AlertCode.TRANSFER_SUCCESS
    [frame] = bench.server.activate(ESME, image.manufacturer_image_sha256)
    header, activation = decode(frame)
    assert header.command_id == 0x07
    assert (activation.file_version, activation.current_time, activation.upgrade_time) == (NEW_VERSION, 0, UPGRADE_NOW)
    assert (activation.manufacturer_code, activation.image_type) == (MANUFACTURER, IMAGE_TYPE)
    assert (frame.destination, frame.dst_ep, frame.src_ep) == (ESME, 2, 1)
    # a repeated UpgradeEnd after activation is told to activate too
    assert bench.one(bench.end(source=ESME))[1].upgrade_time == UPGRADE_NOW


def test_activation_with_the_wrong_hash_is_rejected(bench):
    bench.store.add_image(DeviceType.ESME, [ESME])
    bench.end(source=ESME)
    with pytest.raises(ActivationRejected):
        bench.server.activate(ESME, bytes(32))


def test_activation_after_a_hub_restart_uses_wildcards(bench):
    image = bench.store.add_image(DeviceType.ESME, [ESME])
    bench.end(source=ESME)
    server = OtaServer(bench.store, bench.clock)  # a restarted hub: the store remembers, the server does not
    _, activation = decode(server.activate(ESME, image.manufacturer_image_sha256)[0])
    assert (activation.manufacturer_code, activation.image_type, activation.file_version) == (
        0xFFFF, 0xFFFF, NEW_VERSION
    )


@pytest.mark.parametrize("status", [Status.ABORT, Status.INVALID_IMAGE, Status.REQUIRE_MORE_IMAGE, 0x42])
def test_failure_status_gets_default_response_and_file_transfer_failure(bench, status):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    header, answer = bench.one(bench.end(status=status))
    assert header.command_id == 0x0B and (answer.command_id, answer.status) == (0x06, Status.SUCCESS)
    [alert] = bench.store.alerts
    assert (alert.code, alert.transfer_response) == (AlertCode.TRANSFER_FAILURE, TransferResponse.FILE_TRANSFER_FAILURE)
    assert bench.server.next_deadline() is None  # no version read for a failed transfer


def test_status_only_failure_report_is_accepted(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    _, answer = bench.one(bench.raw(0x06, bytes([Status.INVALID_IMAGE])))
    assert answer.status == Status.SUCCESS
    assert bench.store.alerts[0].transfer_response == TransferResponse.FILE_TRANSFER_FAILURE


def test_duplicate_success_repeats_the_reply_and_records_nothing(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    first = bench.one(bench.end())[1]
    second = bench.one(bench.end())[1]
    assert first == second
    assert len(bench.store.alerts) == 1


def test_stray_upgrade_ends(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    _, answer = bench.one(bench.end(source=ESME))  # not a target: do not activate
    assert (answer.command_id, answer.status) == (0x06, Status.ABORT)
    _, answer = bench.one(bench.end(version=OLD_VERSION))  # an image we never offered
    assert answer.status == Status.ABORT
    _, answer = bench.one(bench.end(status=Status.ABORT, source=ESME))  # a stray failure is acknowledged
    assert answer.status == Status.SUCCESS
    assert bench.store.alerts == [] and PPMID in bench.store.targets


def _read_response(bench, version: int | None, source=PPMID):
    records = (
        [foundation.ReadAttributeRecord(CURRENT_FILE_VERSION, Status.UNSUPPORTED_ATTRIBUTE)] if version is None else
        [foundation.ReadAttributeRecord(
            CURRENT_FILE_VERSION, Status.SUCCESS,
            foundation.TypeValue(foundation.DataTypeId.uint32, t.uint32_t(version)),
        )]
    )
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
    header = foundation.ZCLHeader.general(bench.tsn, foundation.GeneralCommand.Read_Attributes_rsp)
    return bench.server.handle(bench.frame(header.serialize() + schema(status_records=records).serialize(), source))


def _due_reads(bench):
    bench.clock.set(bench.server.next_deadline())
    frames = bench.server.tick()
    for frame in frames:
        header, read = decode(frame)
        assert header.command_id == foundation.GeneralCommand.Read_Attributes
        assert list(read.attribute_ids) == [CURRENT_FILE_VERSION]
        bench.tsn = header.tsn
    return frames


def test_ppmid_activation_is_confirmed_by_reading_its_version(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    ended_at = bench.clock.now()
    bench.end()
    assert bench.server.tick() == []  # the PPMID reboots first
    [read] = _due_reads(bench)
    assert bench.clock.now() == ended_at + 60 and read.destination == PPMID
    assert _read_response(bench, NEW_VERSION) == []
    activation = bench.store.alerts[-1]
    assert (activation.code, activation.entity) == (AlertCode.ACTIVATION, PPMID)
    assert activation.firmware_version == NEW_VERSION
    assert activation.transfer_response is None
    assert bench.server.next_deadline() is None


def test_version_read_retries_until_the_new_version_shows():
    bench = make_bench(version_read_attempts=3)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    _due_reads(bench)
    _read_response(bench, None)  # still booting
    _due_reads(bench)
    _read_response(bench, OLD_VERSION)  # not yet switched
    assert [a.code for a in bench.store.alerts] == [AlertCode.TRANSFER_SUCCESS]
    _due_reads(bench)
    _read_response(bench, NEW_VERSION)
    assert bench.store.alerts[-1].firmware_version == NEW_VERSION


def test_after_the_last_attempt_the_last_reported_version_is_recorded():
    bench = make_bench(version_read_attempts=2)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    _due_reads(bench)
    _read_response(bench, OLD_VERSION)
    _due_reads(bench)  # unanswered
    assert _due_reads(bench) == []
    assert (bench.store.alerts[-1].code, bench.store.alerts[-1].firmware_version) == (AlertCode.ACTIVATION, OLD_VERSION)
    assert bench.server.next_deadline() is None


def test_a_silent_ppmid_gets_no_invented_activation_alert():
    bench = make_bench(version_read_attempts=2)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    while bench.server.next_deadline() is not None:
        _due_reads(bench)
    assert [a.code for a in bench.store.alerts] == [AlertCode.TRANSFER_SUCCESS]


def test_unsolicited_read_responses_are_ignored(bench):
    assert _read_response(bench, NEW_VERSION) == []
    assert bench.store.alerts == []


def test_success_default_response_is_suppressed_when_the_client_disabled_it(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    header = foundation.ZCLHeader.cluster(9, 0x06)
    header.frame_control = header.frame_control.replace(disable_default_response=1)
    payload = struct.pack("<BHHI", Status.ABORT, MANUFACTURER, IMAGE_TYPE, NEW_VERSION)
    assert bench.server.handle(bench.frame(header.serialize() + payload)) == []
    assert bench.store.alerts[0].transfer_response == TransferResponse.FILE_TRANSFER_FAILURE
