"""Key Establishment timing and capacity knobs, shared by the hub's server and the device-side client."""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.errors import HubfwError


class KeyEstablishmentConfigError(HubfwError):
    """A Key Establishment setting outside what the cluster's fields can carry."""


@dataclass(frozen=True)
class KeyEstablishmentConfig:
    ephemeral_data_generate_time: int = 10
    """Seconds we announce (Initiate, u8) that we need to produce our Ephemeral Data."""
    confirm_key_generate_time: int = 10
    """Seconds we announce (Initiate, u8) that we need to produce our Confirm Key MAC."""
    timeout_margin: float = 10.0
    """Added to the generate time the peer announced before its silence ends the exchange (radio latency)."""
    terminate_wait_time: int = 10
    """Wait Time (u8 seconds) in a Terminate for a failed exchange: how long before the peer may retry."""
    busy_wait_time: int = 30
    """Wait Time in a NO_RESOURCES Terminate, when `max_sessions` exchanges are already running."""
    max_sessions: int = 4
    """Exchanges the hub runs at once (each holds an ephemeral key and a derived key pair)."""
    check_certificate_validity: bool = True
    """Refuse suite-2 certificates outside their validity period at the clock's time."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("ephemeral_data_generate_time", "confirm_key_generate_time", "terminate_wait_time",
                     "busy_wait_time"):
            if not 0 <= getattr(self, name) <= 0xFF:
                problems.append(f"{name} must be 0..255 seconds")
        if self.timeout_margin < 0:
            problems.append("timeout_margin must not be negative")
        if self.max_sessions < 1:
            problems.append("max_sessions must be at least 1")
        if problems:
            raise KeyEstablishmentConfigError("bad Key Establishment config: " + "; ".join(problems))
