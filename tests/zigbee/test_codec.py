"""One ZCL codec for the OTA server, the HAN servers, the hub and the simulated devices: each frame it builds
for them is byte for byte the frame their own builders made before they shared it.

The references below are those former builders, kept verbatim as zigpy calls (zigpy's ZCLHeader and
command schemas are the outside reference for the bytes): the OTA server's (server/frames.py), the HAN
servers' (han/zcl.py) and the simulated device's (sim/devices/zcl.py).
"""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.han.key_establishment.wire import KeRequest, KeResponse
from hubfw.han.zcl import HanRequest, encode
from hubfw.sim.devices import zcl as device_zcl
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TIME_CLUSTER
from hubfw.zigbee.zcl import (
    TO_CLIENT,
    TO_SERVER,
    OtaCommand,
    OtaReply,
    cluster_command,
    default_response,
    default_response_to,
    general_reply,
    parse_frame,
    parse_header,
    read_attributes,
)

General = foundation.GeneralCommand
Status = foundation.Status
FAILURES = [Status.UNSUP_CLUSTER_COMMAND, Status.MALFORMED_COMMAND, Status.NOT_AUTHORIZED, Status.ABORT]
tsns, command_ids = st.integers(0, 0xFF), st.integers(0, 0xFF)


def _general(tsn: int, command: General, direction: foundation.Direction, **fields: object) -> bytes:
    header = foundation.ZCLHeader.general(tsn, command, direction=direction)
    return header.serialize() + foundation.GENERAL_COMMANDS[command].schema(**fields).serialize()


def former_ota_default_response(tsn: int, command_id: int, status: Status) -> bytes:
    return _general(tsn, General.Default_Response, TO_CLIENT, command_id=command_id, status=status)


def former_han_answer(request_tsn: int, request_to_server: bool, command: General, **fields: object) -> bytes:
    direction = TO_CLIENT if request_to_server else TO_SERVER
    header = foundation.ZCLHeader.general(request_tsn, command, direction=direction)
    header.frame_control = header.frame_control.replace(disable_default_response=True)
    return header.serialize() + foundation.GENERAL_COMMANDS[command].schema(**fields).serialize()


def former_device_refusal(tsn: int, command_id: int, status: Status) -> bytes:
    return _general(tsn, General.Default_Response, TO_SERVER, command_id=command_id, status=status)


def former_cluster_frame(tsn: int, command: foundation.ZCLCommandDef, direction: foundation.Direction,
                         **fields: object) -> bytes:
    """The OTA server's `cluster_frame` (server to client), the device's `request` (client to server) and
    the HAN's `encode` (the direction its own command definitions carry) were this, each with its direction."""
    header = foundation.ZCLHeader.cluster(tsn, command.id, direction=direction)
    return header.serialize() + command.schema(**fields).serialize()


def request_from_device(tsn: int, command_id: int, disable_default_response: bool) -> IncomingFrame:
    """A cluster command a device sent to the hub's Time server."""
    control = 0x11 if disable_default_response else 0x01
    return IncomingFrame(t.EUI64.convert("00:0d:6f:00:00:00:00:02"), 0x1234, SMART_ENERGY_PROFILE, 2, 3,
                         TIME_CLUSTER, bytes([control, tsn, command_id]), True)


@given(tsn=tsns, command_id=command_ids, status=st.sampled_from(FAILURES))
def test_the_ota_and_han_servers_default_response_is_the_frame_both_built(tsn: int, command_id: int,
                                                                           status: Status) -> None:
    request = request_from_device(tsn, command_id, disable_default_response=False)
    header, payload = parse_header(request.zcl)
    ota = default_response_to(header, status)  # the OTA server's _Request.default_response
    [han] = HanRequest(request, header, payload).default_response(status)
    assert ota == han.zcl == former_ota_default_response(tsn, command_id, status)
    assert ota == former_han_answer(tsn, True, General.Default_Response, command_id=command_id, status=status)
    assert default_response(tsn, command_id, status) == ota  # the hub's NOT_AUTHORIZED refusal


@given(tsn=tsns, command_id=command_ids, status=st.sampled_from(FAILURES))
def test_the_devices_default_response_is_the_frame_it_built(tsn: int, command_id: int, status: Status) -> None:
    from_hub = bytes([0x19, tsn, command_id])  # a cluster command, server to client
    assert device_zcl.refusal(from_hub, status) == former_device_refusal(tsn, command_id, status)


@given(tsn=tsns, command_id=command_ids, status=st.sampled_from(FAILURES))
def test_default_responses_going_client_to_server_differ_in_the_disable_default_response_bit_only(
        tsn: int, command_id: int, status: Status) -> None:
    """Negative control: the comparisons above see one bit. The HAN server answers a server-to-client
    frame with Disable Default Response set (ZCL 2.4.1.1.4), the device leaves it as zigpy does."""
    from_hub = bytes([0x19, tsn, command_id])
    han = default_response_to(parse_header(from_hub)[0], status)
    device = device_zcl.refusal(from_hub, status)
    assert han == former_han_answer(tsn, False, General.Default_Response, command_id=command_id, status=status)
    assert han != device
    assert han is not None and device is not None and han[0] ^ device[0] == 0x10 and han[1:] == device[1:]


def test_a_success_default_response_is_suppressed_only_when_the_request_disabled_it() -> None:
    enabled = parse_header(request_from_device(7, 0x55, disable_default_response=False).zcl)[0]
    disabled = parse_header(request_from_device(7, 0x55, disable_default_response=True).zcl)[0]
    assert default_response_to(disabled, Status.SUCCESS) is None
    assert default_response_to(enabled, Status.SUCCESS) == former_ota_default_response(7, 0x55, Status.SUCCESS)
    assert default_response_to(disabled, Status.ABORT) == former_ota_default_response(7, 0x55, Status.ABORT)


@given(tsn=tsns, ids=st.lists(st.integers(0, 0xFFFF), max_size=5))
def test_read_attributes_is_the_frame_the_ota_server_and_the_device_built(tsn: int, ids: list[int]) -> None:
    assert read_attributes(tsn, ids) == _general(tsn, General.Read_Attributes, TO_CLIENT, attribute_ids=ids)
    assert read_attributes(tsn, ids, TO_SERVER) == _general(tsn, General.Read_Attributes, TO_SERVER, attribute_ids=ids)


@pytest.mark.parametrize("direction", [TO_SERVER, TO_CLIENT])
def test_read_attributes_responses_of_han_server_and_device(direction: foundation.Direction) -> None:
    values = {0x0000: t.uint32_t(0x0201), 0x4242: None}
    records = [foundation.ReadAttributeRecord(t.uint16_t(0x0000), Status.SUCCESS,
                                              foundation.TypeValue(foundation.DataTypeId.uint32, t.uint32_t(0x0201))),
               foundation.ReadAttributeRecord(t.uint16_t(0x4242), Status.UNSUPPORTED_ATTRIBUTE)]
    device = device_zcl.read_attributes_response(9, values, direction)
    assert device == _general(9, General.Read_Attributes_rsp, direction, status_records=records)
    request = parse_header(_general(9, General.Read_Attributes, direction.flip(), attribute_ids=list(values)))[0]
    han = general_reply(request, General.Read_Attributes_rsp, status_records=records)
    assert han == former_han_answer(9, request.client_to_server, General.Read_Attributes_rsp, status_records=records)
    assert (han == device) is (direction == TO_CLIENT)  # client to server only the device leaves the bit clear


def test_cluster_commands_of_the_ota_server_device_and_han_are_the_frames_each_built() -> None:
    notify = {"payload_type": 0, "query_jitter": 100}
    assert cluster_command(5, OtaReply.image_notify, TO_CLIENT, **notify) == former_cluster_frame(
        5, OtaReply.image_notify, TO_CLIENT, **notify)
    end = {"status": Status.SUCCESS, "manufacturer_code": 0x1234, "image_type": 1, "file_version": 2}
    assert cluster_command(6, OtaCommand.upgrade_end, TO_SERVER, **end) == former_cluster_frame(
        6, OtaCommand.upgrade_end, TO_SERVER, **end)
    for command in (KeRequest.ephemeral_data, KeResponse.ephemeral_data):
        assert encode(7, command, ephemeral_data=t.Bytes(b"\x02" * 22)) == former_cluster_frame(
            7, command, command.direction, ephemeral_data=t.Bytes(b"\x02" * 22))


def test_zigpys_own_command_direction_would_flip_the_direction_bit() -> None:
    """Negative control: why the codec takes the direction. zigpy 2.4 stamps `Ota.ClientCommandDefs`, which a
    server sends, Client_to_Server."""
    assert OtaReply.image_notify.direction == TO_SERVER
    notify = {"payload_type": 0, "query_jitter": 100}
    stamped = cluster_command(5, OtaReply.image_notify, OtaReply.image_notify.direction, **notify)
    assert stamped != former_cluster_frame(5, OtaReply.image_notify, TO_CLIENT, **notify)


def test_every_frame_built_parses_back() -> None:
    header, definition, body = parse_frame(
        cluster_command(3, OtaCommand.image_block, TO_SERVER, field_control=0, manufacturer_code=0x1234, image_type=1,
                        file_version=2, file_offset=64, maximum_data_size=50), Ota.server_commands)
    assert (header.tsn, header.client_to_server, definition.name, body.file_offset) == (3, True, "image_block", 64)
    header, definition, body = parse_frame(default_response(4, 0x01, Status.ABORT), {})
    assert (header.tsn, header.is_default_response, body.status) == (4, True, Status.ABORT)
    with pytest.raises(ValueError):
        parse_frame(cluster_command(3, OtaReply.image_notify, TO_CLIENT, payload_type=0, query_jitter=1), {})
