"""OTA server policy knobs. Nothing here touches how the store checkpoints progress."""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.errors import HubfwError
from hubfw.server.blocksize import max_block_data_size
from hubfw.zigbee.aps import MAX_APS_PAYLOAD
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE


class ServerConfigError(HubfwError):
    """An OTA server setting outside what the protocol or the radio allows."""


@dataclass(frozen=True)
class OtaServerConfig:
    allow_reinstall: bool = False
    """Offer the image to a device already running its version (ZCL default policy: upgrades only)."""
    allow_downgrade: bool = False
    """Offer the image to a device running a newer version."""

    max_concurrent_downloads: int = 4
    """Devices downloading at once (a CH serves up to 4 ESMEs in parallel); others get WAIT_FOR_DATA."""
    busy_retry_seconds: int = 60
    """How long a device turned away by the concurrency limit is told to wait."""
    download_idle_seconds: float = 300.0
    """A download with no block request for this long no longer holds a concurrency slot."""
    minimum_block_period_ms: int = 0
    """MinimumBlockPeriod told to clients (ZCL rev 6+: milliseconds); 0 disables rate limiting."""

    notify_intervals: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0, 21600.0)
    """Seconds between ImageNotify re-sends until the target starts; the last gap repeats."""
    notify_jitter: float = 0.1
    """Each re-send gap is stretched or shrunk by up to this fraction, so targets spread out."""
    query_jitter: int = 100
    """ImageNotify QueryJitter (1..100); 100 makes every notified client query."""

    aps_max_payload: int = MAX_APS_PAYLOAD
    """The NCP's maximum APS payload; the radio adapter supplies the real one."""
    server_endpoint: int = 1
    default_client_endpoint: int = 1
    """Used for a device the hub has not heard from yet (later frames teach the real endpoints)."""
    default_profile: int = SMART_ENERGY_PROFILE

    version_read_delay: float = 60.0
    """After a PPMID is told to activate, wait this long before reading its current_file_version."""
    version_read_interval: float = 60.0
    version_read_attempts: int = 10
    """Reads until the PPMID reports the new version (or answers at all); its last answer is recorded."""
    tunnel_alert_grace: float = 300.0
    """A PPMID with an open GBCS tunnel sends its own 0x8F8B through it: the hub records one from the
    version read only if none came this many seconds after the read confirmed the version."""

    def __post_init__(self) -> None:
        problems = []
        if self.max_concurrent_downloads < 1:
            problems.append("max_concurrent_downloads must be at least 1")
        if not 1 <= self.query_jitter <= 100:
            problems.append("query_jitter must be 1..100")
        if not 0 <= self.minimum_block_period_ms <= 0xFFFF:
            problems.append("minimum_block_period_ms must fit 16 bits")
        if not 1 <= self.busy_retry_seconds <= 0xFFFFFFFE:
            problems.append("busy_retry_seconds must be 1..0xFFFFFFFE")
        if not self.notify_intervals or min(self.notify_intervals) <= 0:
            problems.append("notify_intervals must be positive seconds")
        if not 0 <= self.notify_jitter < 1:
            problems.append("notify_jitter must be a fraction in [0, 1)")
        if self.version_read_attempts < 1:
            problems.append("version_read_attempts must be at least 1")
        if not self.tunnel_alert_grace >= 0:
            problems.append("tunnel_alert_grace must be non-negative seconds")
        for name in ("server_endpoint", "default_client_endpoint"):
            if not 1 <= getattr(self, name) <= 240:
                problems.append(f"{name} must be 1..240")
        try:
            max_block_data_size(self.aps_max_payload, aps_encrypted=True)
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ServerConfigError("bad OTA server config: " + "; ".join(problems))
