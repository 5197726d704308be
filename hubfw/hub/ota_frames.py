"""The OTA frames a serving hub heard and sent, kept for the control socket's `ota_frames` verb.

`OtaFrameRing` is one of the hub's `frame_observers` (hubfw.hub.service): it keeps the last `capacity` OTA frames,
each with a sequence number (the cursor a client asks from), the hub's clock time and the frame's addressing and
ZCL bytes, so a client elsewhere (`hubfw check-device` on a serving hub, hubfw.conformance.control_bench) sees
what a `FrameLog` attached to the hub in-process would. Memory is bounded: the oldest frames fall off, and an
answer says how many the asker missed."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import zigpy.types as t

from hubfw.devices import parse_eui64
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER

DEFAULT_CAPACITY = 8192
"""Frames kept: a 750 KB image in 64-byte blocks is ~12,000 requests and as many answers; a client polling every
second or so needs only the last few hundred."""
MAX_ANSWER = 2000
"""Frames in one answer at most (the client asks again from `next`)."""


class OtaFrameRing:
    """The last `capacity` OTA frames, oldest first, numbered from 0 since the ring started."""

    def __init__(self, clock: Callable[[], float], capacity: int = DEFAULT_CAPACITY) -> None:
        self.clock = clock
        self.frames: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)
        self.next_seq = 0

    def observe(self, direction: str, frame: IncomingFrame | OutgoingFrame) -> None:
        if frame.cluster != OTA_CLUSTER:
            return
        self.frames.append(frame_to_json(self.next_seq, self.clock(), direction, frame))
        self.next_seq += 1

    def since(self, cursor: int = 0, eui64: t.EUI64 | None = None, limit: int = MAX_ANSWER) -> dict[str, Any]:
        """The frames numbered `cursor` on (of `eui64` only, if given): `{"frames", "next" (the cursor to ask from
        next), "missed" (frames after `cursor` that fell off the ring), "now" (the hub's clock)}`."""
        oldest = self.next_seq - len(self.frames)
        start = max(cursor, oldest)
        missed = max(0, oldest - cursor)
        found: list[dict[str, Any]] = []
        following = self.next_seq
        for index in range(start - oldest, len(self.frames)):
            entry = self.frames[index]
            if eui64 is not None and entry["eui64"] != str(eui64):
                continue
            if len(found) >= limit:
                following = entry["seq"]
                break
            found.append(entry)
        return {"frames": found, "next": following, "missed": missed, "now": self.clock()}


def frame_to_json(seq: int, at: float, direction: str, frame: IncomingFrame | OutgoingFrame) -> dict[str, Any]:
    incoming = isinstance(frame, IncomingFrame)
    return {"seq": seq, "at": at, "direction": direction,
            "eui64": str(frame.source if incoming else frame.destination), "cluster": frame.cluster,
            "profile": frame.profile, "src_ep": frame.src_ep, "dst_ep": frame.dst_ep, "zcl": frame.zcl.hex(),
            "aps_encrypted": frame.aps_encrypted if incoming else frame.aps_encrypt,
            **({"nwk": frame.nwk} if incoming else {})}


def frame_from_json(entry: dict[str, Any]) -> IncomingFrame | OutgoingFrame:
    """The frame `frame_to_json` wrote (an `OutgoingFrame` for "tx")."""
    eui64, zcl = parse_eui64(entry["eui64"]), bytes.fromhex(entry["zcl"])
    if entry["direction"] == "rx":
        return IncomingFrame(eui64, int(entry.get("nwk", 0)), entry["profile"], entry["src_ep"], entry["dst_ep"],
                             entry["cluster"], zcl, bool(entry["aps_encrypted"]))
    return OutgoingFrame(eui64, entry["profile"], entry["src_ep"], entry["dst_ep"], entry["cluster"], zcl,
                         bool(entry["aps_encrypted"]))
