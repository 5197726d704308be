"""What the hub's HAN services report: key establishment outcomes and the GBCS tunnel's traffic."""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import TransferAlert
from hubfw.han.key_establishment.events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished


@dataclass(frozen=True)
class TunnelOpened:
    """`eui64` opened a GB-HRGP tunnel; its GBCS messages flow through `tunnel_id` from now on."""

    eui64: t.EUI64
    tunnel_id: int


@dataclass(frozen=True)
class TunnelClosed:
    """The tunnel ended: the device closed it, it replaced it, or it stayed idle past CloseTunnelTimeout."""

    eui64: t.EUI64
    tunnel_id: int
    reason: str


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


TunnelEvent = TunnelOpened | TunnelClosed | GbcsMessageReceived | DeviceAlertReceived
HanEvent = KeyEstablishmentEvent | TunnelEvent

__all__ = [
    "DeviceAlertReceived",
    "GbcsMessageReceived",
    "HanEvent",
    "KeyEstablishmentEvent",
    "KeyEstablishmentFailed",
    "LinkKeyEstablished",
    "TunnelClosed",
    "TunnelEvent",
    "TunnelOpened",
]
