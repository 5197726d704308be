"""The client side of the OTA cluster on the air: requests built and server frames parsed with zigpy's schemas.

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


def read_attributes_response(tsn: int, values: Mapping[int, object]) -> bytes:
    """Answer a Read Attributes of `values`' keys; ids missing from `values` are UNSUPPORTED_ATTRIBUTE."""
    records = []
    for attribute_id, value in values.items():
        if value is None:
            records.append(foundation.ReadAttributeRecord(t.uint16_t(attribute_id),
                                                          foundation.Status.UNSUPPORTED_ATTRIBUTE))
            continue
        type_id = foundation.DataType.from_python_type(type(value)).type_id
        typed = foundation.TypeValue(type_id, value)
        records.append(foundation.ReadAttributeRecord(t.uint16_t(attribute_id), foundation.Status.SUCCESS, typed))
    header = foundation.ZCLHeader.general(
        tsn, foundation.GeneralCommand.Read_Attributes_rsp, direction=foundation.Direction.Client_to_Server
    )
    return header.serialize() + _READ_ATTRIBUTES_RESPONSE.schema(status_records=records).serialize()


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
