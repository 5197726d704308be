"""The struct paths for block exchanges give exactly what zigpy's schemas give."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand

from hubfw.zigbee.zcl import (
    TO_CLIENT,
    Header,
    OtaCommand,
    OtaReply,
    cluster_command,
    decode,
    image_block_response,
    parse_block_request,
    parse_header,
)

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)


def zigpy_header_fields(zcl: bytes) -> tuple[Header, bytes]:
    header, rest = foundation.ZCLHeader.deserialize(zcl)
    control = header.frame_control
    if control.frame_type not in (foundation.FrameType.GLOBAL_COMMAND, foundation.FrameType.CLUSTER_COMMAND):
        raise ValueError("reserved frame type: not a command the server answers")
    return Header(
        int(header.tsn), int(header.command_id), bool(control.is_general), bool(control.is_manufacturer_specific),
        header.direction == foundation.Direction.Client_to_Server, bool(control.disable_default_response),
    ), rest


@given(control=u8, tsn=u8, command=u8, rest=st.binary(max_size=20))
def test_request_header_matches_zigpy(control: int, tsn: int, command: int, rest: bytes) -> None:
    zcl = bytes([control, tsn, command]) + rest
    try:
        expected = zigpy_header_fields(zcl)
    except ValueError:
        with pytest.raises(ValueError):
            parse_header(zcl)
        return
    assert parse_header(zcl) == expected


@given(manufacturer=u16, image_type=u16, version=u32, offset=u32, size=u8, trailing=st.binary(max_size=4),
       period=st.one_of(st.none(), u16))
def test_block_request_matches_zigpy(manufacturer: int, image_type: int, version: int, offset: int, size: int,
                                     trailing: bytes, period: int | None) -> None:
    control = ImageBlockCommand.FieldControl(0 if period is None else ImageBlockCommand.FieldControl.MinimumBlockPeriod)
    payload = OtaCommand.image_block.schema(
        field_control=control, manufacturer_code=manufacturer, image_type=image_type, file_version=version,
        file_offset=offset, maximum_data_size=size, minimum_block_period=period,
    ).serialize() + trailing
    command = decode(OtaCommand.image_block, payload)
    assert parse_block_request(payload) == (manufacturer, image_type, version, offset, size)
    assert (command.file_offset, command.maximum_data_size) == (offset, size)


def test_truncated_block_request_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_block_request(bytes(13))


@given(tsn=u8, manufacturer=u16, image_type=u16, version=u32, offset=u32, data=st.binary(max_size=0xFF))
def test_block_response_matches_zigpy(tsn: int, manufacturer: int, image_type: int, version: int, offset: int,
                                      data: bytes) -> None:
    expected = cluster_command(
        tsn, OtaReply.image_block_response, TO_CLIENT, status=foundation.Status.SUCCESS, manufacturer_code=manufacturer,
        image_type=image_type, file_version=version, file_offset=offset, image_data=data,
    )
    assert image_block_response(tsn, manufacturer, image_type, version, offset, data) == expected
