"""ZCL plumbing the HAN clusters share: command codecs, a parsed request that answers in kind, and
Read Attributes answers built from zigpy's foundation records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import RequestHeader, parse_request_header

Status = foundation.Status
_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes]
_READ_ATTRIBUTES_RSP = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp]
_DEFAULT_RESPONSE = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response]


def encode(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    """A cluster command in `command`'s direction, framed as zigpy frames it (server-to-client frames
    disable the Default Response; requests leave it enabled so a peer can report what it cannot handle)."""
    header = foundation.ZCLHeader.cluster(tsn, command.id, direction=command.direction)
    return header.serialize() + command.schema(**fields).serialize()


def decode(command: foundation.ZCLCommandDef, payload: bytes) -> foundation.CommandSchema:
    """A command body; raises ValueError when it is short (extra trailing bytes belong to the last field,
    or are ignored after a fixed-size last field, as ZCL allows for forward compatibility)."""
    try:
        body, _ = command.schema.deserialize(payload)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{command.name} is truncated") from exc
    return body


class HanRequest(NamedTuple):
    """A parsed ZCL frame for one of the hub's SE clusters: where it came from, its header and body."""

    frame: IncomingFrame
    header: RequestHeader
    payload: bytes

    ENCRYPTED_REPLIES = True
    """Every SE cluster but Key Establishment runs under the device's link key."""

    @property
    def source(self) -> t.EUI64:
        return self.frame.source

    def reply(self, zcl: bytes) -> OutgoingFrame:
        """Answer in kind: same profile and cluster, endpoints swapped."""
        return OutgoingFrame(
            destination=self.frame.source,
            profile=self.frame.profile,
            src_ep=self.frame.dst_ep,
            dst_ep=self.frame.src_ep,
            cluster=self.frame.cluster,
            zcl=zcl,
            aps_encrypt=self.ENCRYPTED_REPLIES,
        )

    def default_response(self, status: foundation.Status) -> list[OutgoingFrame]:
        """ZCL: a SUCCESS Default Response is suppressed when the request disabled it."""
        if status == Status.SUCCESS and self.header.disable_default_response:
            return []
        body = _DEFAULT_RESPONSE.schema(command_id=self.header.command_id, status=status)
        return [self.reply(self._answer_header(foundation.GeneralCommand.Default_Response) + body.serialize())]

    def read_attributes_response(self, records: Iterable[foundation.ReadAttributeRecord]) -> OutgoingFrame:
        """Read Attributes Response with `records`."""
        body = _READ_ATTRIBUTES_RSP.schema(status_records=list(records))
        return self.reply(self._answer_header(foundation.GeneralCommand.Read_Attributes_rsp) + body.serialize())

    def _answer_header(self, command: foundation.GeneralCommand) -> bytes:
        """A global command header going the opposite way of the request, Default Response disabled."""
        direction = (
            foundation.Direction.Server_to_Client if self.header.client_to_server
            else foundation.Direction.Client_to_Server
        )
        header = foundation.ZCLHeader.general(self.header.tsn, command, direction=direction)
        header.frame_control = header.frame_control.replace(disable_default_response=True)
        return header.serialize()


def parse(frame: IncomingFrame) -> HanRequest | None:
    """The frame's header and body, or None when it is not a ZCL frame at all."""
    try:
        header, payload = parse_request_header(frame.zcl)
    except (ValueError, KeyError):
        return None
    return HanRequest(frame, header, payload)


def requested_attribute_ids(request: HanRequest) -> list[int]:
    """The attribute ids of a Read Attributes request; raises ValueError when the body is malformed."""
    body = decode(_READ_ATTRIBUTES, request.payload)
    return [int(attribute_id) for attribute_id in body.attribute_ids]


def attribute_record(attribute_id: int, type_id: foundation.DataTypeId,
                     value: object) -> foundation.ReadAttributeRecord:
    """A SUCCESS record carrying `value` as `type_id`."""
    return foundation.ReadAttributeRecord(
        attrid=attribute_id, status=Status.SUCCESS, value=foundation.TypeValue(type=type_id, value=value)
    )


def unsupported_attribute(attribute_id: int) -> foundation.ReadAttributeRecord:
    return foundation.ReadAttributeRecord(attrid=attribute_id, status=Status.UNSUPPORTED_ATTRIBUTE)
