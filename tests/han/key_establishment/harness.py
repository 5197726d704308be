"""Test plumbing for Key Establishment: credentials from a test CA and an 'air' carrying frames
between clients and the hub's server (optionally tampering with them on the way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.devices import parse_eui64
from hubfw.han import KeyEstablishmentClient, KeyEstablishmentServer
from hubfw.han.key_establishment.wire import KeResponse, TerminateStatus, receive
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import decode

ISSUER = parse_eui64("48:55:42:46:57:43:41:31")
FOREIGN_ISSUER = parse_eui64("48:55:42:46:57:43:41:32")
HUB = parse_eui64("00:0d:6f:00:00:00:00:01")
METER = parse_eui64("00:0d:6f:00:00:00:00:02")
GAS_METER = parse_eui64("00:0d:6f:00:00:00:00:03")
JAN_2026 = 1_767_225_600
YEAR = 365 * 86400
Tamper = Callable[[OutgoingFrame], OutgoingFrame]


@dataclass(frozen=True)
class Party:
    eui64: t.EUI64
    credentials: DeviceCredentials


def make_party(ca: CertificateAuthority, eui64: t.EUI64) -> Party:
    certificate, key = ca.issue_key_pair(eui64, valid_from=JAN_2026, valid_to=YEAR)
    return Party(eui64, DeviceCredentials(certificate, key, ca.public_key))


def received(frame: OutgoingFrame, source: t.EUI64) -> IncomingFrame:
    """What the other end's radio hands up when `source` sends `frame`."""
    return IncomingFrame(
        source=source,
        nwk=0x1234,
        profile=frame.profile,
        src_ep=frame.src_ep,
        dst_ep=frame.dst_ep,
        cluster=frame.cluster,
        zcl=frame.zcl,
        aps_encrypted=frame.aps_encrypt,
    )


@dataclass
class Air:
    """Carries frames both ways until both ends fall quiet; records every hub reply."""

    server: KeyEstablishmentServer
    hub_eui64: t.EUI64
    hub_replies: list[OutgoingFrame]

    def run(self, client: KeyEstablishmentClient, sender: t.EUI64, first: list[OutgoingFrame],
            tamper: Tamper | None = None) -> None:
        pending = list(first)
        while pending:
            frame = pending.pop(0)
            if tamper is not None:
                frame = tamper(frame)
            replies = self.server.handle(received(frame, sender))
            self.hub_replies.extend(replies)
            for reply in replies:
                assert reply.destination == sender
                pending.extend(client.handle(received(reply, self.hub_eui64)))


def terminate_of(frame: OutgoingFrame) -> foundation.CommandSchema | None:
    """The body of a Terminate Key Establishment the hub sent, None for any other frame."""
    parsed = receive(received(frame, frame.destination))
    assert parsed is not None and not parsed.header.client_to_server
    if parsed.header.is_general or parsed.header.command_id != KeResponse.terminate.id:
        return None
    return decode(KeResponse.terminate, parsed.payload)


def terminate_status(frame: OutgoingFrame) -> TerminateStatus | None:
    terminate = terminate_of(frame)
    return None if terminate is None else terminate.status_code
