"""The device's side of ZCL on the air, built and parsed with zigpy's schemas: the client of the OTA
cluster, and the server of the Basic cluster (which zigpy's interview reads).

The one frame zigpy cannot build is the deliberate lie some deployed clients tell (an ImageBlockRequest
whose field control announces MinimumBlockPeriod but which ends before it); it is zigpy's frame with
one bit flipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, Ota

OtaRequest = Ota.ServerCommandDefs
"""Commands a client sends (the server side of the cluster receives them)."""

DEFAULT_RESPONSE = "Default_Response"
READ_ATTRIBUTES = "Read_Attributes"

_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes]
_READ_ATTRIBUTES_RESPONSE = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp]


@dataclass(frozen=True)
class ServerMessage:
    """One parsed server-to-client frame: zigpy's command name (or general command name) and fields.

    `command` is the zigpy schema instance `name` implies; zigpy builds those classes at run time, so
    their fields are only known by name.
    """

    header: foundation.ZCLHeader
    name: str
    command: Any

    @property
    def tsn(self) -> int:
        return int(self.header.tsn)


def request(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    """A client-to-server OTA cluster command."""
    header = foundation.ZCLHeader.cluster(tsn, command.id, direction=foundation.Direction.Client_to_Server)
    return header.serialize() + command.schema(**fields).serialize()


def block_request_announcing_absent_period(tsn: int, **fields: object) -> bytes:
    """An ImageBlockRequest whose field control says MinimumBlockPeriod follows, though it does not."""
    frame = bytearray(request(tsn, OtaRequest.image_block, **fields))
    header_size = len(foundation.ZCLHeader.cluster(tsn, OtaRequest.image_block.id).serialize())
    frame[header_size] |= ImageBlockCommand.FieldControl.MinimumBlockPeriod
    return bytes(frame)


def read_attributes_response(tsn: int, values: Mapping[int, object],
                             direction: foundation.Direction = foundation.Direction.Client_to_Server) -> bytes:
    """Answer a Read Attributes of `values`' keys; ids mapped to None are UNSUPPORTED_ATTRIBUTE.

    `direction` is the side answering: the OTA client's attributes go client to server, a server
    cluster's (Basic) server to client."""
    records = []
    for attribute_id, value in values.items():
        if value is None:
            records.append(foundation.ReadAttributeRecord(t.uint16_t(attribute_id),
                                                          foundation.Status.UNSUPPORTED_ATTRIBUTE))
            continue
        type_id = foundation.DataType.from_python_type(type(value)).type_id
        typed = foundation.TypeValue(type_id, value)
        records.append(foundation.ReadAttributeRecord(t.uint16_t(attribute_id), foundation.Status.SUCCESS, typed))
    header = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes_rsp, direction=direction)
    return header.serialize() + _READ_ATTRIBUTES_RESPONSE.schema(status_records=records).serialize()


def parse_read_attributes_request(zcl: bytes) -> tuple[int, list[int]] | None:
    """The TSN and attribute ids of a client's Read Attributes of a server cluster; None for anything else."""
    try:
        header, payload = foundation.ZCLHeader.deserialize(zcl)
        if (header.direction != foundation.Direction.Client_to_Server or not header.frame_control.is_general
                or header.frame_control.is_manufacturer_specific
                or header.command_id != foundation.GeneralCommand.Read_Attributes):
            return None
        command, _ = _READ_ATTRIBUTES.schema.deserialize(payload)
    except (ValueError, KeyError):
        return None
    return int(header.tsn), [int(attribute) for attribute in command.attribute_ids]


def parse_server_frame(zcl: bytes) -> ServerMessage | None:
    """Parse what an OTA server sends a client; None for anything else or anything malformed."""
    try:
        header, payload = foundation.ZCLHeader.deserialize(zcl)
        if header.direction != foundation.Direction.Server_to_Client or header.frame_control.is_manufacturer_specific:
            return None
        if header.frame_control.is_general:
            definition = foundation.GENERAL_COMMANDS[foundation.GeneralCommand(header.command_id)]
        else:
            definition = Ota.client_commands[header.command_id]
        command, _ = definition.schema.deserialize(payload)
    except (ValueError, KeyError):
        return None
    return ServerMessage(header, definition.name, command)


def read_attributes_request(tsn: int, attribute_ids: list[int],
                            direction: foundation.Direction = foundation.Direction.Client_to_Server) -> bytes:
    """A Read Attributes of the hub's attributes: its Time server's (client to server), or the
    notification attributes of its Metering client (server to client)."""
    header = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes, direction=direction)
    return header.serialize() + _READ_ATTRIBUTES.schema(attribute_ids=attribute_ids).serialize()


def parse_read_attributes_response(zcl: bytes) -> tuple[int, dict[int, Any]] | None:
    """The TSN and the successfully read values of a Read Attributes Response (from either side of a
    cluster); None for anything else. Unsupported attributes are left out."""
    try:
        header, payload = foundation.ZCLHeader.deserialize(zcl)
        if not header.frame_control.is_general or header.command_id != foundation.GeneralCommand.Read_Attributes_rsp:
            return None
        command, _ = _READ_ATTRIBUTES_RESPONSE.schema.deserialize(payload)
    except (ValueError, KeyError):
        return None
    return int(header.tsn), {int(record.attrid): record.value.value for record in command.status_records
                             if record.status == foundation.Status.SUCCESS}


def refusal(zcl: bytes, status: foundation.Status) -> bytes | None:
    """The client's Default Response with `status` to a server frame; None when ZCL forbids answering
    (the frame is itself a Default Response) or it is not ZCL at all."""
    try:
        header, _ = foundation.ZCLHeader.deserialize(zcl)
    except (ValueError, KeyError):
        return None
    if header.frame_control.is_general and header.command_id == foundation.GeneralCommand.Default_Response:
        return None
    answer = foundation.ZCLHeader.general(header.tsn, foundation.GeneralCommand.Default_Response,
                                          direction=foundation.Direction.Client_to_Server)
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
    return answer.serialize() + schema(command_id=header.command_id, status=status).serialize()
