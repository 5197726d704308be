"""The ZCL frame codec both ends of the HAN use, in both directions: headers, cluster and general commands
(the Default Response among them), command bodies.

Frames are zigpy's (ZCLHeader and command schemas), so the bytes are those zigpy and ZHA produce. Callers
name the direction: zigpy frames by cluster side, and the `direction` zigpy 2.4 stamps on a cluster's
command definitions is the opposite of the frame's. The OTA block exchange (the request's header and
ImageBlockRequest, the ImageBlockResponse) also has a `struct` path, byte-for-byte zigpy's, because
zigpy's generic schema objects cost several times the rest of serving a block.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import NamedTuple

from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, Ota
from zigpy.zcl.foundation import Direction, GeneralCommand, Status

TO_SERVER = Direction.Client_to_Server
TO_CLIENT = Direction.Server_to_Client
"""The two values of a frame's direction bit (ZCL 2.4.1.1.3): requests to a cluster's server side go
client to server, what the server side sends goes server to client."""
HEADER_SIZE = 3
"""Frame control, TSN and command id (ZCL 2.4.1); a manufacturer-specific frame adds a 2-byte code."""

OtaCommand = Ota.ServerCommandDefs
"""OTA commands a client sends (the server side of the cluster receives them)."""
OtaReply = Ota.ClientCommandDefs
"""OTA commands a server sends."""

_PLAIN_CONTROL = {
    control: ((control & 0x03) == 0, not control & 0x08, bool(control & 0x10))
    for control in (0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19)
}
"""Frame control octets without a manufacturer code or reserved bits (ZCL 2.4.1.1: bits 0-1 frame type, 00 general
or 01 cluster-specific; bit 2 manufacturer specific; bit 3 direction, 1 server to client; bit 4 disable default
response) -> (is general, client to server, default response disabled). These three-octet headers are read
directly: zigpy's ZCLHeader would parse the same fields at several times the cost, on every block the hub serves
and every frame its timeline observes."""
_SERVER_TO_CLIENT_CLUSTER_CONTROL = 0x19
"""Cluster command, server to client, default response disabled: what zigpy's ZCLHeader.cluster builds."""
_PLAIN_BLOCK_REQUEST = struct.Struct("<BHHIIB")
_BLOCK_RESPONSE_HEAD = struct.Struct("<BBBBHHIIB")


class Header(NamedTuple):
    """The ZCL header fields a receiver acts on."""

    tsn: int
    command_id: int
    is_general: bool
    is_manufacturer_specific: bool
    client_to_server: bool
    disable_default_response: bool

    @property
    def is_default_response(self) -> bool:
        """ZCL never answers a Default Response (ZCL 2.5.12.2)."""
        return self.is_general and self.command_id == GeneralCommand.Default_Response


class BlockRequest(NamedTuple):
    """The ImageBlockRequest fields the server serves a block from."""

    manufacturer_code: int
    image_type: int
    file_version: int
    file_offset: int
    maximum_data_size: int


def parse_header(zcl: bytes) -> tuple[Header, bytes]:
    """The header and the rest; raises ValueError when not even a ZCL header is there, or its frame type
    is reserved."""
    plain = _PLAIN_CONTROL.get(zcl[0]) if len(zcl) >= HEADER_SIZE else None
    if plain is not None:
        is_general, client_to_server, disable_default_response = plain
        return Header(zcl[1], zcl[2], is_general, False, client_to_server, disable_default_response), zcl[HEADER_SIZE:]
    header, payload = foundation.ZCLHeader.deserialize(zcl)
    control = header.frame_control
    if not (control.is_general or control.is_cluster):
        raise ValueError(f"reserved ZCL frame type {control.frame_type!r}")
    fields = Header(
        tsn=int(header.tsn),
        command_id=int(header.command_id),
        is_general=bool(control.is_general),
        is_manufacturer_specific=bool(control.is_manufacturer_specific),
        client_to_server=header.direction == TO_SERVER,
        disable_default_response=bool(control.disable_default_response),
    )
    return fields, payload


def decode(command: foundation.ZCLCommandDef, payload: bytes) -> foundation.CommandSchema:
    """A command body; raises ValueError when it is short or a field holds no valid value. Bytes after a
    fixed-size last field are ignored, as ZCL requires for forward compatibility (a variable-length last
    field takes them)."""
    try:
        body, _ = command.schema.deserialize(payload)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{command.name} is truncated") from exc
    return body


def parse_frame(zcl: bytes, cluster_commands: Mapping[int, foundation.ZCLCommandDef]
                ) -> tuple[Header, foundation.ZCLCommandDef, foundation.CommandSchema]:
    """Header, definition and body of a whole frame. General commands come from zigpy's table, cluster
    commands from `cluster_commands` (a zigpy cluster's `server_commands` for frames to its server,
    `client_commands` for frames to its client); ValueError for anything that does not parse."""
    header, payload = parse_header(zcl)
    try:
        if header.is_general:
            definition = foundation.GENERAL_COMMANDS[GeneralCommand(header.command_id)]
        else:
            definition = cluster_commands[header.command_id]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"unknown command 0x{header.command_id:02X}") from exc
    return header, definition, decode(definition, payload)


def command_def(command_id: int, name: str, direction: Direction, schema: dict) -> foundation.ZCLCommandDef:
    """A cluster command zigpy knows no schema for, carrying the direction its frames travel in."""
    return foundation.ZCLCommandDef(id=command_id, name=name, schema=schema, direction=direction).with_compiled_schema()


def cluster_command(tsn: int, command: foundation.ZCLCommandDef, direction: Direction, /, **fields: object) -> bytes:
    """A cluster-specific command sent in `direction`, framed as zigpy frames it: Disable Default Response
    set server to client, clear client to server so a server can report what it cannot handle."""
    header = foundation.ZCLHeader.cluster(tsn, command.id, direction=direction)
    return header.serialize() + command.schema(**fields).serialize()


def general_command(tsn: int, command: GeneralCommand, direction: Direction, /, *,
                    disable_default_response: bool | None = None, **fields: object) -> bytes:
    """A general command (ZCL 2.5) sent in `direction`. Disable Default Response is set as zigpy's
    ZCLHeader.general sets it (server to client only) unless `disable_default_response` says otherwise."""
    header = foundation.ZCLHeader.general(tsn, command, direction=direction)
    if disable_default_response is not None:
        header.frame_control = header.frame_control.replace(disable_default_response=disable_default_response)
    return header.serialize() + foundation.GENERAL_COMMANDS[command].schema(**fields).serialize()


def general_reply(request: Header, command: GeneralCommand, /, **fields: object) -> bytes:
    """A general command answering the frame `request` heads: its TSN, the opposite direction, Disable
    Default Response set (ZCL 2.4.1.1.4: so on every frame sent as the direct effect of a received one)."""
    direction = TO_CLIENT if request.client_to_server else TO_SERVER
    return general_command(request.tsn, command, direction, disable_default_response=True, **fields)


def default_response(tsn: int, command_id: int, status: Status,
                     direction: Direction = TO_CLIENT) -> bytes:
    """Default Response (ZCL 2.5.12) to command `command_id`; the hub's servers send theirs server to client."""
    return general_command(tsn, GeneralCommand.Default_Response, direction, command_id=command_id, status=status)


def default_response_to(request: Header, status: Status) -> bytes | None:
    """The Default Response with `status` a receiver owes the frame `request` heads; None for SUCCESS to a
    frame that disabled it (ZCL 2.5.12.2)."""
    if status == Status.SUCCESS and request.disable_default_response:
        return None
    return general_reply(request, GeneralCommand.Default_Response, command_id=request.command_id, status=status)


def read_attributes(tsn: int, attribute_ids: list[int], direction: Direction = TO_CLIENT) -> bytes:
    """Read Attributes (ZCL 2.5.1): server to client it reads the client side of a cluster (the OTA
    server a device's OTA client, a device the hub's Metering client), client to server a server side."""
    return general_command(tsn, GeneralCommand.Read_Attributes, direction, attribute_ids=attribute_ids)


def attribute_record(attribute_id: int, type_id: foundation.DataTypeId,
                     value: object) -> foundation.ReadAttributeRecord:
    """A SUCCESS record of a Read Attributes Response carrying `value` as `type_id`."""
    return foundation.ReadAttributeRecord(
        attrid=attribute_id, status=Status.SUCCESS, value=foundation.TypeValue(type=type_id, value=value)
    )


def unsupported_attribute(attribute_id: int) -> foundation.ReadAttributeRecord:
    return foundation.ReadAttributeRecord(attrid=attribute_id, status=Status.UNSUPPORTED_ATTRIBUTE)


def parse_block_request(payload: bytes) -> BlockRequest:
    """An ImageBlockRequest body; raises ValueError when it is truncated or its field control lies.

    One lie is tolerated because deployed clients tell it: a request whose field control announces
    MinimumBlockPeriod but whose frame ends before it (Silicon Labs' server, too, reads that field only
    when the bytes are there).
    """
    if len(payload) >= _PLAIN_BLOCK_REQUEST.size and payload[0] == 0:  # no optional fields
        return BlockRequest(*_PLAIN_BLOCK_REQUEST.unpack_from(payload)[1:])
    try:
        command = decode(OtaCommand.image_block, payload)
    except ValueError:
        min_period = ImageBlockCommand.FieldControl.MinimumBlockPeriod
        if not payload or not payload[0] & min_period:
            raise
        command = decode(OtaCommand.image_block, bytes([payload[0] & ~min_period]) + payload[1:])
    return BlockRequest(
        command.manufacturer_code, command.image_type, command.file_version, command.file_offset,
        command.maximum_data_size,
    )


def image_block_response(tsn: int, manufacturer_code: int, image_type: int, file_version: int, file_offset: int,
                         data: bytes) -> bytes:
    """ImageBlockResponse SUCCESS carrying `data` (at most 255 bytes)."""
    head = _BLOCK_RESPONSE_HEAD.pack(
        _SERVER_TO_CLIENT_CLUSTER_CONTROL, tsn, OtaReply.image_block_response.id, Status.SUCCESS,
        manufacturer_code, image_type, file_version, file_offset, len(data),
    )
    return head + data
