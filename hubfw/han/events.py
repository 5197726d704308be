"""What the hub's HAN services report: key establishment outcomes and the GBCS tunnel's traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import zigpy.types as t

from hubfw.alerts import TransferAlert
from hubfw.gbcs.device_alert import find_device_alert
from hubfw.han.key_establishment.events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished

OpenedBy = Literal["hub", "device"]
"""Who sent the RequestTunnel: the hub (to an ESME, HCALCS or PPMID; messages without a tunnel header) or the
device (a GSME; GET / GET-RESPONSE / PUT)."""


@dataclass(frozen=True)
class TunnelOpened:
    """A GB-HRGP tunnel with `eui64` is open; its GBCS messages flow through `tunnel_id` from now on."""

    eui64: t.EUI64
    tunnel_id: int
    opened_by: OpenedBy = "device"


@dataclass(frozen=True)
class TunnelClosed:
    """The tunnel ended: either end closed it, it was replaced, or it stayed idle past CloseTunnelTimeout."""

    eui64: t.EUI64
    tunnel_id: int
    reason: str
    opened_by: OpenedBy = "device"


@dataclass(frozen=True)
class TunnelRequestFailed:
    """The hub's RequestTunnel to `eui64` got no tunnel (`reason` says why); it asks again at `retry_at`, or
    not at all (None) until the device establishes a new key or the hub restarts."""

    eui64: t.EUI64
    reason: str
    retry_at: float | None


@dataclass(frozen=True)
class GbcsMessageReceived:
    """One complete GBCS message the device PUT through its tunnel; `time` is when its last byte arrived."""

    eui64: t.EUI64
    message: bytes
    time: float


@dataclass(frozen=True)
class DeviceAlertReceived:
    """A GBCS alert found in a message from `eui64`. `alert` is None when its payload could not be decoded
    as a firmware alert (`problem` says why); `raw` is always the whole GBCS message, kept for the alert log."""

    eui64: t.EUI64
    alert: TransferAlert | None
    raw: bytes
    time: float
    problem: str | None = None


TunnelEvent = TunnelOpened | TunnelClosed | TunnelRequestFailed | GbcsMessageReceived | DeviceAlertReceived
HanEvent = KeyEstablishmentEvent | TunnelEvent


def message_events(eui64: t.EUI64, message: bytes, time: float) -> list[TunnelEvent]:
    """What one whole GBCS message from `eui64` reports, whichever tunnel it came through: the message, and
    an alert inside it."""
    events: list[TunnelEvent] = [GbcsMessageReceived(eui64, message, time)]
    found = find_device_alert(message, eui64)
    if found is not None:
        events.append(DeviceAlertReceived(eui64, found.alert, found.raw, time, found.problem))
    return events

__all__ = [
    "DeviceAlertReceived",
    "GbcsMessageReceived",
    "HanEvent",
    "KeyEstablishmentEvent",
    "KeyEstablishmentFailed",
    "LinkKeyEstablished",
    "OpenedBy",
    "TunnelClosed",
    "TunnelEvent",
    "TunnelOpened",
    "TunnelRequestFailed",
    "message_events",
]
