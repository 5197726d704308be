"""The hub's GB HAN presence beside OTA: the Smart Energy endpoint's Basic, Time, Metering, Tunneling and
Key Establishment servers (`HanServer`, which is also the Tunneling client of the tunnels the hub requests),
transport-free and clock-driven like `hubfw.server`, with the device-side Key Establishment client, the
Tunneling client and server both ends use, and the finder for a device's GBCS alert (`hubfw.gbcs.device_alert`)."""

from hubfw.gbcs.device_alert import FoundAlert, find_device_alert
from hubfw.han.config import HanConfig, HanConfigError
from hubfw.han.events import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    HanEvent,
    TunnelClosed,
    TunnelEvent,
    TunnelOpened,
    TunnelRequestFailed,
)
from hubfw.han.key_establishment.client import KeyEstablishmentClient
from hubfw.han.key_establishment.config import KeyEstablishmentConfig, KeyEstablishmentConfigError
from hubfw.han.key_establishment.events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.key_establishment.server import KeyEstablishmentServer
from hubfw.han.key_establishment.wire import KeRequest, KeResponse, TerminateStatus
from hubfw.han.server import HanServer
from hubfw.han.tunneling.client import TunnelClient, TunnelClientError, TunnelState
from hubfw.han.tunneling.server import TunnelError

__all__ = [
    "DeviceAlertReceived",
    "FoundAlert",
    "GbcsMessageReceived",
    "HanConfig",
    "HanConfigError",
    "HanEvent",
    "HanServer",
    "KeRequest",
    "KeResponse",
    "KeyEstablishmentClient",
    "KeyEstablishmentConfig",
    "KeyEstablishmentConfigError",
    "KeyEstablishmentEvent",
    "KeyEstablishmentFailed",
    "KeyEstablishmentServer",
    "LinkKeyEstablished",
    "TerminateStatus",
    "TunnelClient",
    "TunnelClientError",
    "TunnelClosed",
    "TunnelError",
    "TunnelEvent",
    "TunnelOpened",
    "TunnelRequestFailed",
    "TunnelState",
    "find_device_alert",
]
