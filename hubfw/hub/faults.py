"""Faults the hub injects on purpose, per target device: the hub misbehaving so a bench can see whether the device
under test survives it.

Silicon Labs' OTA server plugin offers the loose primitives (its policy CLI: `policy query`, `policy
blockRequest`, `policy upgrade`; the test-harness component's `cert-mangle`, `delay-cbke`, `key-mangle`), and
HenryGiraldo/gbcs injects per-device query and block statuses. hubfw keeps them as data: a `Fault` names what
goes wrong and for how long, a `FaultBook` holds the faults set for each device and records every time one acts,
in that device's history. The core consults the book; the control socket (`hubfw fault set/list/clear`) and the
HIL bench set and clear faults at run time. No clock of its own: callers pass the time.

By its imports this module is of layer 1 (nothing from hubfw but its errors), so the OTA server (hubfw.server) and
the HAN servers (hubfw.han) consult the book directly although it lives with the hub.

Window faults (`WINDOWS`: SILENCE, BLOCK_WAIT) last `seconds` from when they were set (`set_at`, `window_end`)
and act on everything in that window; the others act `times` times (None: until cleared).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import zigpy.types as t

from hubfw.errors import HubfwError


class FaultError(HubfwError):
    """A fault that cannot be set as asked (the message says which option it lacks or why)."""


class FaultKind(enum.Enum):
    """What goes wrong. The value is the name `hubfw fault set EUI64 KIND` takes."""

    # QueryNextImage
    QUERY_NO_IMAGE = "query-no-image"
    """Answer NO_IMAGE_AVAILABLE although an image waits."""
    QUERY_NOT_AUTHORIZED = "query-not-authorized"
    QUERY_SILENT = "query-silent"
    """No answer at all."""
    # ImageBlock / ImagePage
    BLOCK_WAIT = "block-wait"
    """WAIT_FOR_DATA for `seconds` (with `minimum_block_period` ms as MinimumBlockPeriod, if given)."""
    BLOCK_ABORT = "block-abort"
    """ABORT the first request at or after `offset`."""
    BLOCK_DROP = "block-drop"
    """No answer to every `every`-th request."""
    BLOCK_DELAY = "block-delay"
    """Each answer goes out `seconds` late."""
    BLOCK_SHORT = "block-short"
    """Blocks of at most `size` bytes, whatever the device asks."""
    BLOCK_CORRUPT = "block-corrupt"
    """The byte at `offset` served flipped (the stored image is untouched, so the device's integrity check fails)."""
    # The whole conversation
    SILENCE = "silence"
    """The hub sends the device nothing for `seconds` (frames to it are dropped); the device must carry on after."""
    # UpgradeEnd
    END_LATER = "end-later"
    """UpgradeEndResponse with upgrade time `seconds` from now instead of the device type's own."""
    END_WAIT = "end-wait"
    """UpgradeEndResponse with upgrade time 0xFFFFFFFF: wait for an activate command."""
    END_SILENT = "end-silent"
    """No UpgradeEndResponse."""
    # Key establishment
    CBKE_FOREIGN_CA = "cbke-foreign-ca"
    """The hub presents a certificate from a CA the device does not trust."""
    CBKE_MANGLED_CERT = "cbke-mangled-cert"
    """The hub's certificate with `variant` changed: "byte" (one byte), "subject" or "issuer"."""
    CBKE_BAD_MAC = "cbke-bad-mac"
    """A wrong key-confirm MAC in the Confirm Key Response."""
    CBKE_DELAY = "cbke-delay"
    """Each key establishment answer goes out `seconds` late."""
    CBKE_TERMINATE = "cbke-terminate"
    """Terminate Key Establishment with `status` (UNKNOWN_ISSUER, BAD_KEY_CONFIRM, BAD_MESSAGE, NO_RESOURCES,
    UNSUPPORTED_SUITE, INVALID_CERTIFICATE)."""
    # Tunnel
    TUNNEL_REFUSE = "tunnel-refuse"
    """A RequestTunnel from the device is refused (status NO_RESOURCES)."""
    TUNNEL_NEVER = "tunnel-never"
    """The hub never sends its RequestTunnel to the device."""
    TUNNEL_CLOSE_MID = "tunnel-close-mid"
    """The tunnel is closed in the middle of the next message the device sends through it."""


NEEDS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.BLOCK_WAIT: ("seconds",),
    FaultKind.BLOCK_ABORT: ("offset",),
    FaultKind.BLOCK_DROP: ("every",),
    FaultKind.BLOCK_DELAY: ("seconds",),
    FaultKind.BLOCK_SHORT: ("size",),
    FaultKind.BLOCK_CORRUPT: ("offset",),
    FaultKind.SILENCE: ("seconds",),
    FaultKind.END_LATER: ("seconds",),
    FaultKind.CBKE_MANGLED_CERT: ("variant",),
    FaultKind.CBKE_DELAY: ("seconds",),
    FaultKind.CBKE_TERMINATE: ("status",),
}
"""The options each kind needs (the others take none of their own)."""

WINDOWS: frozenset[FaultKind] = frozenset({FaultKind.SILENCE, FaultKind.BLOCK_WAIT})
"""Kinds that last `seconds` from when they were set: they act on everything in that window, however often
(`times` is not consulted), and are spent when it ends."""


def parse_kind(name: str) -> FaultKind:
    """The kind `hubfw fault set EUI64 KIND` names (its value, or the enum name in any case)."""
    try:
        return FaultKind(name)
    except ValueError:
        pass
    try:
        return FaultKind[name.upper().replace("-", "_")]
    except KeyError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise FaultError(f"unknown fault kind {name!r} (known: {known})") from None


@dataclass(frozen=True)
class Fault:
    """One fault for one device. `times` is how often it acts before it is spent (None: until cleared)."""

    kind: FaultKind
    times: int | None = 1
    seconds: float | None = None
    offset: int | None = None
    every: int | None = None
    size: int | None = None
    minimum_block_period: int | None = None
    variant: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.kind if isinstance(self.kind, FaultKind) else parse_kind(self.kind))
        missing = [name for name in NEEDS.get(self.kind, ()) if getattr(self, name) is None]
        if missing:
            raise FaultError(f"fault {self.kind.value} needs --{missing[0].replace('_', '-')}")
        if self.times is not None and self.times < 1:
            raise FaultError(f"a fault acts at least once (times {self.times}); leave it out for one-shot")
        for name in ("seconds", "offset", "every", "size", "minimum_block_period"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise FaultError(f"fault {self.kind.value}: {name} must not be negative")
        if self.every is not None and self.every < 1:
            raise FaultError(f"fault {self.kind.value}: every must be at least 1")
        if self.size is not None and self.size < 1:
            raise FaultError(f"fault {self.kind.value}: size must be at least 1")
        if self.variant is not None and self.variant not in ("byte", "subject", "issuer"):
            raise FaultError(f"fault {self.kind.value}: variant is byte, subject or issuer, not {self.variant!r}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return {key: value for key, value in data.items() if value is not None or key == "times"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        try:
            return cls(**{**data, "kind": parse_kind(str(data["kind"]))})
        except (KeyError, TypeError, ValueError) as exc:
            raise FaultError(f"not a fault: {exc}") from None


@dataclass
class _Armed:
    fault: Fault
    set_at: float
    acted: int = 0
    seen: int = 0
    """Requests of the fault's kind seen (for `every`)."""

    def window_end(self) -> float | None:
        """When a window fault (SILENCE, BLOCK_WAIT) is spent; None for the others."""
        if self.fault.kind not in WINDOWS:
            return None
        assert self.fault.seconds is not None
        return self.set_at + self.fault.seconds


@dataclass
class FaultBook:
    """The faults set for each device, and each device's history of faults set, acting and cleared."""

    _armed: dict[t.EUI64, list[_Armed]] = field(default_factory=dict)
    history: dict[t.EUI64, list[dict[str, Any]]] = field(default_factory=dict)

    def set(self, eui64: t.EUI64, fault: Fault, now: float) -> None:
        """Arm `fault` for `eui64`; it replaces a fault of the same kind already set for it."""
        armed = [entry for entry in self._armed.get(eui64, []) if entry.fault.kind is not fault.kind]
        self._armed[eui64] = [*armed, _Armed(fault, now)]
        self._record(eui64, now, "set", fault)

    def clear(self, now: float, eui64: t.EUI64 | None = None) -> int:
        """Disarm every fault of `eui64` (of every device when None); how many were disarmed."""
        devices = list(self._armed) if eui64 is None else [eui64]
        cleared = 0
        for device in devices:
            for entry in self._armed.pop(device, []):
                self._record(device, now, "cleared", entry.fault)
                cleared += 1
        return cleared

    def armed_for(self, eui64: t.EUI64) -> bool:
        """Whether any fault is armed for `eui64`: the one look the OTA server's hot path takes when none is."""
        return bool(self._armed.get(eui64))

    def listed(self, now: float | None = None) -> dict[t.EUI64, list[Fault]]:
        """The armed faults per device; given `now`, window faults whose window has ended are spent first."""
        if now is not None:
            self.expire(now)
        return {eui64: [entry.fault for entry in armed] for eui64, armed in self._armed.items() if armed}

    def set_at(self, eui64: t.EUI64, kind: FaultKind) -> float | None:
        """When the armed fault of `kind` was set for `eui64` (None: none is armed)."""
        return next((entry.set_at for entry in self._armed.get(eui64, []) if entry.fault.kind is kind), None)

    def window_end(self, eui64: t.EUI64, kind: FaultKind) -> float | None:
        """When the armed window fault (SILENCE, BLOCK_WAIT) of `kind` for `eui64` is spent."""
        return next((entry.window_end() for entry in self._armed.get(eui64, []) if entry.fault.kind is kind), None)

    def expire(self, now: float) -> None:
        """Spend the window faults whose window has ended (recorded as "expired")."""
        for eui64, armed in self._armed.items():
            for entry in list(armed):
                end = entry.window_end()
                if end is not None and now >= end:
                    armed.remove(entry)
                    self._record(eui64, now, "expired", entry.fault)

    def peek(self, eui64: t.EUI64, kinds: Iterable[FaultKind]) -> Fault | None:
        """The armed fault of one of `kinds` for `eui64`, without spending it."""
        wanted = set(kinds)
        return next((entry.fault for entry in self._armed.get(eui64, []) if entry.fault.kind in wanted), None)

    def take(self, eui64: t.EUI64, kinds: Iterable[FaultKind], now: float, **detail: Any) -> Fault | None:
        """The armed fault of one of `kinds` for `eui64` if it acts on this request, spending one of its `times`
        and recording it; None when none is set or (for `every`) this request is not its turn."""
        wanted = set(kinds)
        for entry in list(self._armed.get(eui64, [])):
            if entry.fault.kind not in wanted:
                continue
            end = entry.window_end()
            if end is not None:
                if now >= end:
                    self._armed[eui64].remove(entry)
                    self._record(eui64, now, "expired", entry.fault)
                    continue
                entry.acted += 1
                self._record(eui64, now, "acted", entry.fault, **detail)
                return entry.fault
            entry.seen += 1
            if entry.fault.every is not None and entry.seen % entry.fault.every:
                return None
            entry.acted += 1
            if entry.fault.times is not None and entry.acted >= entry.fault.times:
                self._armed[eui64].remove(entry)
            self._record(eui64, now, "acted", entry.fault, **detail)
            return entry.fault
        return None

    def history_of(self, eui64: t.EUI64) -> list[dict[str, Any]]:
        """`eui64`'s history, oldest first: each fault set, each time one acted, cleared or expired."""
        return list(self.history.get(eui64, []))

    def _record(self, eui64: t.EUI64, now: float, event: str, fault: Fault, **detail: Any) -> None:
        self.history.setdefault(eui64, []).append({"time": now, "event": event, **fault.to_json(), **detail})
