"""GBCS messages waiting for a device's tunnel, shared by the tunnels a device opens and those the hub opens.

A message is queued for a device whatever its tunnel: the hub's Tunneling server hands it out (a GSME's GET,
or a PUT to a device that listens) and the hub's Tunneling client sends it into the tunnel it opened to an
ESME, HCALCS or PPMID, as soon as one of them can.
"""

from __future__ import annotations

from collections import deque

import zigpy.types as t

from hubfw.errors import HubfwError
from hubfw.gbcs.framing import GbcsFramingError, message_length


class TunnelError(HubfwError):
    """A GBCS message the hub cannot queue for a device."""


class Outbox:
    """Whole GBCS messages per device, oldest first, at most `max_queued` each."""

    def __init__(self, max_queued: int) -> None:
        self._max_queued = max_queued
        self._queues: dict[t.EUI64, deque[bytes]] = {}

    def put(self, eui64: t.EUI64, message: bytes) -> None:
        """Queue `message`; raises TunnelError for bytes that are not one whole GBCS message, or a full queue."""
        try:
            whole = message_length(message) == len(message)
        except GbcsFramingError:
            whole = False
        if not whole:
            raise TunnelError(f"not a whole GBCS message for {eui64} ({len(message)} octets)")
        queue = self._queues.setdefault(eui64, deque())
        if len(queue) >= self._max_queued:
            raise TunnelError(f"{eui64} already has {len(queue)} GBCS messages waiting")
        queue.append(message)

    def take(self, eui64: t.EUI64) -> bytes | None:
        """The oldest message for `eui64`, now out of the queue; None when none waits."""
        queue = self._queues.get(eui64)
        return queue.popleft() if queue else None

    def take_all(self, eui64: t.EUI64) -> list[bytes]:
        queue = self._queues.pop(eui64, None)
        return [] if queue is None else list(queue)

    def count(self, eui64: t.EUI64) -> int:
        return len(self._queues.get(eui64, ()))
