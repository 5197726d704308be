"""Injected clocks: the core never reads wall time itself, so 14-day scenarios run in milliseconds."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch, UTC."""


class SystemClock:
    """The real clock, for the hub process."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that only moves when told to: tests and accelerated scenarios drive it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a virtual clock does not run backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a virtual clock does not run backwards")
        self._now = float(when)


def iso_utc(when: float) -> str:
    """A clock reading as the hub shows times: ISO 8601 UTC to the second, e.g. 2026-01-01T00:00:00Z."""
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
