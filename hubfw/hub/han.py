"""The hub's side of the GB HAN presence: its HAN server, which devices hold a CBKE link key, what their
tunnels carried, and the rule that Smart Energy traffic needs that key.

A real Communications Hub serves Smart Energy traffic only over the CBKE link key, so with CBKE
credentials configured a Smart Energy profile (0x0109) frame — OTA or HAN — from a device without an
established key, or not APS-encrypted, is answered with Default Response NOT_AUTHORIZED. Key
Establishment itself and Basic (discovery) are exempt; Match_Desc is ZDO and never reaches the hub.
Home Automation profile (0x0104) traffic is served as before (bench test devices), and
`allow_without_cbke` relaxes the rule entirely.

Which devices hold a key is kept by the link-key records (hubfw.hub.link_keys).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.han.events import GbcsMessageReceived, KeyEstablishmentFailed, OpenedBy, TunnelClosed, TunnelOpened
from hubfw.han.server import HanServer
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.store.policy import iso_utc
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import default_response, parse_header

OPEN_WITHOUT_KEY = frozenset({BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER})
"""Smart Energy clusters a device may use before it holds a CBKE link key."""
MAX_KEPT_MESSAGES = 1000
"""GBCS messages from devices kept for `hubfw tunnel messages` (oldest dropped first)."""


@dataclass(frozen=True)
class KeyEstablishmentFailure:
    """The last failed exchange of a device, for `hubfw devices`."""

    status: str | None
    reason: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "time": iso_utc(self.time)}


class HubHan:
    """The HAN server plus what the hub remembers about each device's key and tunnel."""

    def __init__(self, server: HanServer, keys: LinkKeyRegistry, *, require_cbke: bool) -> None:
        self.server = server
        self.keys = keys
        self.require_cbke = require_cbke
        self.failures: dict[t.EUI64, KeyEstablishmentFailure] = {}
        self.messages: collections.deque[GbcsMessageReceived] = collections.deque(maxlen=MAX_KEPT_MESSAGES)
        self.tunnels: dict[t.EUI64, tuple[str, OpenedBy]] = {}
        """Each device's last tunnel since the hub started: "open" or "closed", and who opened it."""

    def refusal(self, frame: IncomingFrame) -> list[OutgoingFrame] | None:
        """None when the frame may be served; otherwise what to answer instead (NOT_AUTHORIZED to a
        command, nothing to a response)."""
        if (
            not self.require_cbke
            or frame.profile != SMART_ENERGY_PROFILE
            or frame.cluster in OPEN_WITHOUT_KEY
            or (frame.aps_encrypted and frame.source in self.keys)
        ):
            return None
        try:
            header, _ = parse_header(frame.zcl)
        except (ValueError, KeyError):
            return []
        is_default_response = header.is_general and header.command_id == foundation.GeneralCommand.Default_Response
        if not header.client_to_server or is_default_response:
            return []
        zcl = default_response(header.tsn, header.command_id, foundation.Status.NOT_AUTHORIZED)
        return [OutgoingFrame(frame.source, frame.profile, frame.dst_ep, frame.src_ep, frame.cluster, zcl, False)]

    def refusal_reason(self, frame: IncomingFrame) -> str:
        """Why `refusal` refused a frame, in words (for "why isn't it downloading?")."""
        if frame.source not in self.keys:
            return "device has no CBKE link key"
        return "the frame was not APS-encrypted under the device's CBKE link key"

    def key_failed(self, event: KeyEstablishmentFailed, time: float) -> None:
        status = None if event.status is None else event.status.name
        self.failures[event.eui64] = KeyEstablishmentFailure(status, event.reason, time)

    def device_view(self, eui64: t.EUI64) -> dict[str, Any]:
        """The HAN fields of one `hubfw devices` entry."""
        suite = self.keys.suite(eui64)
        failure = self.failures.get(eui64)
        tunnel = self.tunnels.get(eui64)
        return {
            "key_establishment": None if suite is None else f"suite{suite.value}",
            "key_establishment_failure": None if failure is None else failure.to_json(),
            "tunnel": None if tunnel is None else tunnel[0],
            "tunnel_opened_by": None if tunnel is None else tunnel[1],
        }

    def tunnel_event(self, event: TunnelOpened | TunnelClosed) -> None:
        self.tunnels[event.eui64] = ("open" if isinstance(event, TunnelOpened) else "closed", event.opened_by)

    def tunnel_state(self, eui64: t.EUI64) -> str | None:
        """"open" or "closed" for a device that has had a tunnel since the hub started, else None."""
        tunnel = self.tunnels.get(eui64)
        return None if tunnel is None else tunnel[0]

    def tunnel_open(self, eui64: t.EUI64) -> bool:
        return self.tunnel_state(eui64) == "open"

    def messages_from(self, eui64: t.EUI64 | None) -> list[dict[str, Any]]:
        return [
            {"eui64": str(message.eui64), "time": iso_utc(message.time), "length": len(message.message),
             "message": message.message.hex()}
            for message in self.messages if eui64 is None or message.eui64 == eui64
        ]
