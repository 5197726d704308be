"""ZCL frames of the OTA server: built and parsed with zigpy.

Building and parsing reuse zigpy's ZCL header and OTA command schemas, so the bytes on air are the
ones zigpy (and ZHA) would produce; this module adds only what zigpy leaves to the caller. The frames
of every block exchange (the request's header and ImageBlockRequest, the ImageBlockResponse) also have
a `struct` path, byte-for-byte what zigpy's schemas give, because zigpy's generic schema objects cost
several times the rest of the block's work; anything but the plain form goes through zigpy.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, Ota

OtaCommand = Ota.ServerCommandDefs
OtaReply = Ota.ClientCommandDefs

_PLAIN_REQUEST_CONTROL = {0x01: False, 0x11: True}
"""Frame control of a cluster command, client to server, no manufacturer code → default response disabled."""
_SERVER_TO_CLIENT_CLUSTER_CONTROL = 0x19
"""Cluster command, server to client, default response disabled: what zigpy's ZCLHeader.cluster builds."""
_PLAIN_BLOCK_REQUEST = struct.Struct("<BHHIIB")
_BLOCK_RESPONSE_HEAD = struct.Struct("<BBBBHHIIB")


class RequestHeader(NamedTuple):
    """The ZCL header fields the server acts on."""

    tsn: int
    command_id: int
    is_general: bool
    is_manufacturer_specific: bool
    client_to_server: bool
    disable_default_response: bool


class BlockRequest(NamedTuple):
    """The ImageBlockRequest fields the server serves a block from."""

    manufacturer_code: int
    image_type: int
    file_version: int
    file_offset: int
    maximum_data_size: int


def parse_request_header(zcl: bytes) -> tuple[RequestHeader, bytes]:
    """The header and the rest; raises ValueError when not even a ZCL header is there."""
    if len(zcl) >= 3 and zcl[0] in _PLAIN_REQUEST_CONTROL:
        return RequestHeader(zcl[1], zcl[2], False, False, True, _PLAIN_REQUEST_CONTROL[zcl[0]]), zcl[3:]
    header, payload = foundation.ZCLHeader.deserialize(zcl)
    control = header.frame_control
    if not (control.is_general or control.is_cluster):
        raise ValueError(f"reserved ZCL frame type {control.frame_type!r}")
    fields = RequestHeader(
        tsn=int(header.tsn),
        command_id=int(header.command_id),
        is_general=bool(control.is_general),
        is_manufacturer_specific=bool(control.is_manufacturer_specific),
        client_to_server=header.direction == foundation.Direction.Client_to_Server,
        disable_default_response=bool(control.disable_default_response),
    )
    return fields, payload


def parse_block_request(payload: bytes) -> BlockRequest:
    """An ImageBlockRequest body; raises ValueError as `parse_command` does."""
    if len(payload) >= _PLAIN_BLOCK_REQUEST.size and payload[0] == 0:  # no optional fields
        return BlockRequest(*_PLAIN_BLOCK_REQUEST.unpack_from(payload)[1:])
    command = parse_command(ImageBlockCommand, payload)
    return BlockRequest(
        command.manufacturer_code, command.image_type, command.file_version, command.file_offset,
        command.maximum_data_size,
    )


def image_block_response(tsn: int, manufacturer_code: int, image_type: int, file_version: int, file_offset: int,
                         data: bytes) -> bytes:
    """ImageBlockResponse SUCCESS carrying `data` (at most 255 bytes)."""
    head = _BLOCK_RESPONSE_HEAD.pack(
        _SERVER_TO_CLIENT_CLUSTER_CONTROL, tsn, OtaReply.image_block_response.id, foundation.Status.SUCCESS,
        manufacturer_code, image_type, file_version, file_offset, len(data),
    )
    return head + data


def cluster_frame(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    """A server-to-client OTA cluster command (default response disabled, as zigpy builds it)."""
    header = foundation.ZCLHeader.cluster(tsn, command.id, direction=foundation.Direction.Server_to_Client)
    return header.serialize() + command.schema(**fields).serialize()


def default_response(tsn: int, command_id: int, status: foundation.Status) -> bytes:
    """ZCL Default Response (global command 0x0B) to the client's `command_id`."""
    header = foundation.ZCLHeader.general(
        tsn, foundation.GeneralCommand.Default_Response, direction=foundation.Direction.Server_to_Client
    )
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
    return header.serialize() + schema(command_id=command_id, status=status).serialize()


def read_attributes(tsn: int, attribute_ids: list[int]) -> bytes:
    """Read Attributes of the client-side OTA cluster (so the direction bit says server-to-client)."""
    header = foundation.ZCLHeader.general(
        tsn, foundation.GeneralCommand.Read_Attributes, direction=foundation.Direction.Server_to_Client
    )
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
    return header.serialize() + schema(attribute_ids=attribute_ids).serialize()


def parse_command(schema: type[foundation.CommandSchema], payload: bytes) -> foundation.CommandSchema:
    """Parse a request body; raises ValueError when it is truncated or its field control lies.

    One lie is tolerated because deployed clients tell it: an ImageBlockRequest whose field control
    announces MinimumBlockPeriod but whose frame ends before it (Silicon Labs' server, too, reads that
    field only when the bytes are there). Bytes after the last field are ignored, as ZCL requires for
    forward compatibility.
    """
    try:
        command, _ = schema.deserialize(payload)
        return command
    except (ValueError, KeyError):
        min_period = ImageBlockCommand.FieldControl.MinimumBlockPeriod
        if schema is not ImageBlockCommand or not payload or not payload[0] & min_period:
            raise
    command, _ = schema.deserialize(bytes([payload[0] & ~min_period]) + payload[1:])
    return command
