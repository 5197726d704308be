"""What a simulated OTA client is (its identity on the HAN) and how it behaves (the knobs real devices
differ in). Checked on construction, so a bad scenario fails with one clear line."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.util import convert_install_code

from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

BROADCAST_FLOOR = 0xFFF8
"""NWK addresses from here up are broadcasts."""


DEFECTS: dict[str, str] = {
    "ignores-wait-for-data": "asks for the next block at its usual pace after a WAIT_FOR_DATA, whatever the wait",
    "restarts-from-zero": "after an interruption (an unanswered request, a power cut) downloads from offset 0 again",
    "activates-corrupt-image": "skips its image checks: reports a corrupted download as SUCCESS and activates it",
    "ignores-image-notify": "ignores ImageNotify; queries only on its own schedule (its next poll)",
    "ignores-minimum-block-period": "paces its block requests by its own delay, never by the MinimumBlockPeriod",
    "reads-past-end": "asks for a block at the image's end (offset = image size) before ending the download",
    "no-8f8b": "a PPMID that never sends its own 0x8F8B after activating",
    "gives-up-after-silence": "gives the download up for good after one silent minute (no retry, no query)",
    "activates-any-hash": "activates on a CS06 whatever Manufacturer Image hash it names",
    "accepts-replays": "takes a CS06 or CS08 whose originator counter it has seen before (no replay protection)",
}
"""Known OTA client defects a simulated device can have (`Behaviour.defects`): the conformance run
(hubfw.conformance) must catch each one."""


class DeviceConfigError(HubfwError):
    """A simulated device set up with values the OTA protocol cannot carry."""


class BlockPeriodUnit(enum.Enum):
    """How a client reads MinimumBlockPeriod: ZCL revision 6 made it milliseconds, older clients read seconds."""

    MILLISECONDS = 0.001
    SECONDS = 1.0


@dataclass(frozen=True)
class Identity:
    """Who the device is on the HAN and to the OTA server."""

    ieee: t.EUI64
    nwk: t.NWK
    device_type: DeviceType
    manufacturer_code: int
    image_type: int
    file_version: int
    hardware_version: int | None = None
    endpoint: int = 1
    profile: int = SMART_ENERGY_PROFILE
    aps_encrypted: bool = True
    install_code: bytes | None = None
    """With its CRC; the device joins under the key derived from it (else under the well-known key)."""

    def __post_init__(self) -> None:
        problems = []
        for name, bits in (("manufacturer_code", 16), ("image_type", 16), ("file_version", 32),
                           ("hardware_version", 16)):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1 << bits:
                problems.append(f"{name} must fit {bits} bits")
        if not 0 < self.nwk < BROADCAST_FLOOR:
            problems.append("nwk must be 0x0001..0xFFF7 (0x0000 is the coordinator)")
        if not 1 <= self.endpoint <= 240:
            problems.append("endpoint must be 1..240")
        if self.install_code is not None:
            try:
                convert_install_code(self.install_code)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise DeviceConfigError(f"bad simulated device {self.ieee}: " + "; ".join(problems))


@dataclass(frozen=True)
class SleepyPolling:
    """A sleepy end device: its parent holds frames for it until it polls.

    It polls every `fast_poll` seconds after sending a request until the answer is in, and for
    `fast_after_join` seconds after joining (while the hub interviews it); every `long_poll` seconds
    otherwise (so an ImageNotify may wait that long).
    """

    fast_poll: float = 2.0
    long_poll: float = 3600.0
    fast_after_join: float = 60.0


@dataclass(frozen=True)
class PowerCut:
    """The device loses power once its download reaches `at_offset` bytes, for `off_for` seconds."""

    at_offset: int
    off_for: float


@dataclass(frozen=True)
class Behaviour:
    """How this device's OTA client differs from the next one's."""

    query_interval: float | None = 86_400.0
    """Seconds between unprompted QueryNextImage requests; None: only when notified."""
    query_jitter: float = 3_600.0
    """Each periodic query comes up to this much earlier, so a fleet spreads out."""
    notify_delay: float = 5.0
    """An ImageNotify is answered after a random delay of up to this many seconds."""
    max_data_size: int = 64
    page_size: int | None = None
    """Use ImagePageRequests of this many bytes (Silicon Labs clients: 1024); None: ImageBlockRequests."""
    response_spacing_ms: int = 50
    block_delay: float = 0.1
    """The device's own pause between block requests: writing the block to flash and the radio round trip
    (0.1 s makes a 350 KB image take the 10-15 minutes a real HAN transfer takes); longer for a battery
    device saving energy."""
    block_period_unit: BlockPeriodUnit = BlockPeriodUnit.MILLISECONDS
    announces_absent_block_period: bool = False
    """Quirk: ImageBlockRequests set the MinimumBlockPeriod field-control bit but carry no such field."""
    sleepy: SleepyPolling | None = None
    response_timeout: float = 15.0
    max_retries: int = 3
    retry_backoff: float = 600.0
    """After giving up on an unanswered exchange, query again this much later."""
    boot_delay: float = 10.0
    trust_anchors: tuple[ec.EllipticCurvePublicKey, ...] = ()
    """Manufacturer keys a downloaded image's signature must verify against; empty: no signature check."""
    rejects_image: bool = False
    """Quirk: report every finished download as INVALID_IMAGE (a device that dislikes the image)."""
    fails_activation: bool = False
    """Quirk: the new image does not start; a GBCS CS06 with the right hash is answered activationFailure (3) and the
    device keeps its old version (and the image)."""
    power_cuts: tuple[PowerCut, ...] = ()
    defects: frozenset[str] = frozenset()
    """Known defects (names from `DEFECTS`) the device's OTA client has; none by default."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", frozenset(self.defects))
        problems = []
        unknown = sorted(self.defects - DEFECTS.keys())
        if unknown:
            problems.append(f"unknown defect(s) {', '.join(unknown)} (known: {', '.join(DEFECTS)})")
        if not 1 <= self.max_data_size <= 0xFF:
            problems.append("max_data_size must be 1..255")
        if self.page_size is not None and not 1 <= self.page_size <= 0xFFFF:
            problems.append("page_size must be 1..65535")
        if not 0 <= self.response_spacing_ms <= 0xFFFF:
            problems.append("response_spacing_ms must fit 16 bits")
        if self.query_interval is not None and self.query_interval <= self.query_jitter:
            problems.append("query_interval must be longer than query_jitter")
        if self.response_timeout <= 0 or self.retry_backoff <= 0 or self.max_retries < 0:
            problems.append("response_timeout and retry_backoff must be positive, max_retries non-negative")
        if min(self.query_jitter, self.notify_delay, self.block_delay, self.boot_delay) < 0:
            problems.append("delays and jitters cannot be negative")
        if self.sleepy is not None and (min(self.sleepy.fast_poll, self.sleepy.long_poll) <= 0
                                        or self.sleepy.fast_after_join < 0):
            problems.append("sleepy polling periods must be positive, fast_after_join non-negative")
        if any(cut.off_for <= 0 for cut in self.power_cuts):
            problems.append("a power cut must last a positive time")
        if problems:
            raise DeviceConfigError("bad simulated device behaviour: " + "; ".join(problems))
