"""The server's only contact with the radio: APS frames in and out, ZCL bytes inside.

Building and parsing reuse zigpy's ZCL header and OTA command schemas, so the bytes on air are the
ones zigpy (and ZHA) would produce; this module adds only what zigpy leaves to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, Ota

OTA_CLUSTER = Ota.cluster_id
SMART_ENERGY_PROFILE = 0x0109
HOME_AUTOMATION_PROFILE = 0x0104

OtaCommand = Ota.ServerCommandDefs
OtaReply = Ota.ClientCommandDefs


@dataclass(frozen=True)
class IncomingFrame:
    """An APS data frame for cluster 0x0019 as the radio adapter received it."""

    source: t.EUI64
    nwk: int
    profile: int
    src_ep: int
    dst_ep: int
    cluster: int
    zcl: bytes
    aps_encrypted: bool


@dataclass(frozen=True)
class OutgoingFrame:
    """A unicast the radio adapter must send; `not_before` (Unix seconds) spaces page responses."""

    destination: t.EUI64
    profile: int
    src_ep: int
    dst_ep: int
    cluster: int
    zcl: bytes
    aps_encrypt: bool
    not_before: float | None = None


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
