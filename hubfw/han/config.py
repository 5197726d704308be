"""What the hub's Smart Energy endpoint says about itself, and the tunnel's limits."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from hubfw.errors import HubfwError

_U16 = 0xFFFF


class HanConfigError(HubfwError):
    """A HAN setting outside what its ZCL attribute or the tunnel can carry."""


@dataclass(frozen=True)
class HanConfig:
    manufacturer_name: str = "hubfw"
    """Basic ManufacturerName (0x0004), a ZCL character string of at most 32 characters."""
    model_identifier: str = "hubfw comms hub"
    """Basic ModelIdentifier (0x0005), at most 32 characters."""
    zcl_version: int = 0x03
    """Basic ZCLVersion (0x0000)."""
    power_source: int = 0x01
    """Basic PowerSource (0x0007): 0x01 mains, single phase — a Communications Hub is mains powered."""
    time_zone: str = "Europe/London"
    """IANA zone for the Time cluster's TimeZone/DST attributes (GB: GMT, BST from March to October)."""
    close_tunnel_timeout: int = _U16
    """Tunneling CloseTunnelTimeout (0x0000, seconds): a tunnel idle this long is closed. SE's default."""
    max_incoming_transfer_size: int = 1500
    """Octets the hub accepts in one TransferData (RequestTunnelResponse MaximumIncomingTransferSize)."""
    max_message_size: int = 16384
    """Largest GBCS message the hub reassembles from several TransferData commands."""
    max_tunnels: int = 64
    """Tunnels open at once; a RequestTunnel beyond this gets NO_MORE_TUNNEL_IDS."""
    max_queued_messages: int = 16
    """GBCS messages waiting per device for delivery; `send_gbcs` refuses more."""
    tunnel_response_timeout: float = 10.0
    """Seconds the hub waits for a device's RequestTunnelResponse before it counts the request unanswered."""
    tunnel_retry_after: float = 60.0
    """Seconds before the hub asks a device for a tunnel again after a refusal or no answer; each further
    failure doubles the wait, up to `tunnel_max_backoff`."""
    tunnel_max_backoff: float = 3600.0
    """The longest wait between the hub's RequestTunnels to a device that does not open one."""
    require_key_establishment: bool = True
    """Refuse RequestTunnel (NOT_AUTHORIZED) from a device without a CBKE link key, when the hub runs
    Key Establishment: GBCS traffic must be protected by the key only the two ends hold."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("manufacturer_name", "model_identifier"):
            if len(getattr(self, name).encode()) > 32:
                problems.append(f"{name} must be at most 32 bytes")
        for name, low, high in (
            ("zcl_version", 0, 0xFF),
            ("power_source", 0, 0xFF),
            ("close_tunnel_timeout", 1, _U16),
            ("max_incoming_transfer_size", 16, _U16),
            ("max_tunnels", 1, _U16),
            ("max_queued_messages", 1, 1 << 16),
        ):
            if not low <= getattr(self, name) <= high:
                problems.append(f"{name} must be {low}..{high}")
        for name in ("tunnel_response_timeout", "tunnel_retry_after", "tunnel_max_backoff"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive")
        if self.tunnel_max_backoff < self.tunnel_retry_after:
            problems.append("tunnel_max_backoff must be at least tunnel_retry_after")
        if self.max_message_size < self.max_incoming_transfer_size:
            problems.append("max_message_size must be at least max_incoming_transfer_size")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {self.time_zone!r}")
        if problems:
            raise HanConfigError("bad HAN config: " + "; ".join(problems))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)
