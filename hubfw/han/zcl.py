"""What the HAN clusters share on top of `hubfw.zigbee.zcl`: a parsed request that answers in kind, and the
codec of the commands hubfw defines itself (Key Establishment and Tunneling, whose commands zigpy lacks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import Header, cluster_command, decode, default_response_to, general_reply, parse_header

_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes]


def encode(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    """A command made with `hubfw.zigbee.zcl.command_def`, in the direction it carries."""
    return cluster_command(tsn, command, command.direction, **fields)


class HanRequest(NamedTuple):
    """A parsed ZCL frame for one of the hub's SE clusters: where it came from, its header and body."""

    frame: IncomingFrame
    header: Header
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
        zcl = default_response_to(self.header, status)
        return [] if zcl is None else [self.reply(zcl)]

    def read_attributes_response(self, records: Iterable[foundation.ReadAttributeRecord]) -> OutgoingFrame:
        """Read Attributes Response with `records`."""
        zcl = general_reply(self.header, foundation.GeneralCommand.Read_Attributes_rsp, status_records=list(records))
        return self.reply(zcl)


def parse(frame: IncomingFrame) -> HanRequest | None:
    """The frame's header and body, or None when it is not a ZCL frame at all."""
    try:
        header, payload = parse_header(frame.zcl)
    except ValueError:
        return None
    return HanRequest(frame, header, payload)


def requested_attribute_ids(request: HanRequest) -> list[int]:
    """The attribute ids of a Read Attributes request; raises ValueError when the body is malformed."""
    body = decode(_READ_ATTRIBUTES, request.payload)
    return [int(attribute_id) for attribute_id in body.attribute_ids]
