"""The device's side of ZCL on the air, on the shared codec (`hubfw.zigbee.zcl`): the client of the OTA
cluster, the server of the Basic cluster (which zigpy's interview reads), and the reader of the hub's Time
and Metering attributes.

The one frame the codec does not build is the deliberate lie some deployed clients tell (an
ImageBlockRequest whose field control announces MinimumBlockPeriod but which ends before it); it is the
honest frame with one bit flipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, Ota

from hubfw.zigbee.zcl import (
    HEADER_SIZE,
    TO_SERVER,
    Header,
    OtaCommand,
    attribute_record,
    cluster_command,
    decode,
    default_response,
    general_command,
    parse_frame,
    parse_header,
    unsupported_attribute,
)

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

    header: Header
    name: str
    command: Any

    @property
    def tsn(self) -> int:
        return self.header.tsn


def block_request_announcing_absent_period(tsn: int, **fields: object) -> bytes:
    """An ImageBlockRequest whose field control says MinimumBlockPeriod follows, though it does not."""
    frame = bytearray(cluster_command(tsn, OtaCommand.image_block, TO_SERVER, **fields))
    frame[HEADER_SIZE] |= ImageBlockCommand.FieldControl.MinimumBlockPeriod
    return bytes(frame)


def read_attributes_response(tsn: int, values: Mapping[int, object],
                             direction: foundation.Direction = TO_SERVER) -> bytes:
    """Answer a Read Attributes of `values`' keys, each typed as zigpy types its Python type; ids mapped to
    None are UNSUPPORTED_ATTRIBUTE.

    `direction` is the side answering: the OTA client's attributes go client to server, a server
    cluster's (Basic) server to client."""
    records = [
        unsupported_attribute(attribute_id) if value is None
        else attribute_record(attribute_id, foundation.DataType.from_python_type(type(value)).type_id, value)
        for attribute_id, value in values.items()
    ]
    return general_command(tsn, foundation.GeneralCommand.Read_Attributes_rsp, direction, status_records=records)


def parse_read_attributes_request(zcl: bytes) -> tuple[int, list[int]] | None:
    """The TSN and attribute ids of a client's Read Attributes of a server cluster; None for anything else."""
    try:
        header, payload = parse_header(zcl)
        if (not header.client_to_server or not header.is_general or header.is_manufacturer_specific
                or header.command_id != foundation.GeneralCommand.Read_Attributes):
            return None
        command = decode(_READ_ATTRIBUTES, payload)
    except ValueError:
        return None
    return header.tsn, [int(attribute) for attribute in command.attribute_ids]


def parse_server_frame(zcl: bytes) -> ServerMessage | None:
    """Parse what an OTA server sends a client; None for anything else or anything malformed."""
    try:
        header, definition, command = parse_frame(zcl, Ota.client_commands)
    except ValueError:
        return None
    if header.client_to_server or header.is_manufacturer_specific:
        return None
    return ServerMessage(header, definition.name, command)


def parse_read_attributes_response(zcl: bytes) -> tuple[int, dict[int, Any]] | None:
    """The TSN and the successfully read values of a Read Attributes Response (from either side of a
    cluster); None for anything else. Unsupported attributes are left out."""
    try:
        header, payload = parse_header(zcl)
        if not header.is_general or header.command_id != foundation.GeneralCommand.Read_Attributes_rsp:
            return None
        command = decode(_READ_ATTRIBUTES_RESPONSE, payload)
    except ValueError:
        return None
    return header.tsn, {int(record.attrid): record.value.value for record in command.status_records
                        if record.status == foundation.Status.SUCCESS}


def refusal(zcl: bytes, status: foundation.Status) -> bytes | None:
    """The client's Default Response with `status` to a server frame; None when ZCL forbids answering
    (the frame is itself a Default Response) or it is not ZCL at all."""
    try:
        header, _ = parse_header(zcl)
    except ValueError:
        return None
    if header.is_default_response:
        return None
    return default_response(header.tsn, header.command_id, status, TO_SERVER)
