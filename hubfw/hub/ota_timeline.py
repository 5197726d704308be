"""The OTA event timeline: what `hubfw transfers --plot` draws, recorded as the hub runs, read after it stopped.

The hub appends one JSON object per line to ``STATE/ota-timeline.jsonl`` (``TIMELINE_FILE``), times in the
hub's clock (Unix seconds; virtual on a simulated hub). It is a frame observer (``Hub.frame_observers``): what
it records is what went over the air, read back from the OTA frames the hub heard and sent, plus two things
only the hub knows — when it started (``start``, with ``clock``: ``virtual`` or ``wall``) and stopped, and
each distribution's targets with their device type and image size (``distribute``). Events:

* ``start`` / ``stop`` — the hub started (a restart when it is not the first) or stopped;
* ``distribute`` — ``eui64``, ``device_type``, ``file_version``, ``total_size``;
* ``notify`` — an ImageNotify went to ``eui64``;
* ``data`` — image data went to ``eui64``: ``offset``, ``size`` (an ImageBlockResponse SUCCESS, or one frame
  of an ImagePage answer at the time it is due);
* ``wait`` — WAIT_FOR_DATA answers to ``eui64`` from ``t`` to ``until`` (``answers`` of them, merged);
* ``end`` — the device's UpgradeEnd (``status``); ``end_response`` — the hub's UpgradeEndResponse.

Compaction keeps a month-long run small: a ``data`` point is written when the device has received another
``DATA_STEP`` (1 %) of its image since the last one written, when the image ends, when the offset goes back,
and on both sides of any pause longer than ``GAP_S`` (the last point before it is held back until the next
one shows whether there was a pause), so the drawn line is the real progress to within 1 % and no pause is
hidden; WAIT_FOR_DATA answers that follow one another within ``GAP_S`` of the last one's wait are merged into
one ``wait`` event. Every other event is written as it happens. ``flush`` (on stop, and before a picture is
drawn from a running hub) writes what is held back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.clock import Clock, VirtualClock
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import OtaCommand, OtaReply, parse_header

TIMELINE_FILE = "ota-timeline.jsonl"
DATA_STEP = 0.01
"""A data point is written after each further 1 % of the image (besides pauses, rewinds and the end)."""
GAP_S = 300.0
"""A pause longer than this (hub seconds) is kept exactly: the points either side of it are both written."""
OTA_CLUSTER = 0x0019


def timeline_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / TIMELINE_FILE


def read_timeline(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every event in the file, in order (a torn last line, from a hub killed mid-write, is skipped)."""
    events = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event and "t" in event:
            events.append(event)
    return events


class OtaTimeline:
    """Records the OTA timeline of one hub to its file; ``observe`` is the Hub's frame observer."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._totals: dict[str, int] = {}
        self._written: dict[str, dict[str, Any]] = {}  # each target's last data point written
        self._held: dict[str, dict[str, Any]] = {}  # each target's data point or wait not written yet

    # ----- what the hub tells it

    def started(self) -> None:
        self._write({"t": self._clock.now(), "event": "start",
                     "clock": "virtual" if isinstance(self._clock, VirtualClock) else "wall"})

    def stopped(self) -> None:
        self.flush()
        self._write({"t": self._clock.now(), "event": "stop"})

    def distributed(self, targets: list[t.EUI64] | tuple[t.EUI64, ...], device_type: str, file_version: str,
                    total_size: int) -> None:
        now = self._clock.now()
        for eui64 in targets:
            key = str(eui64)
            self._flush_one(key)
            self._totals[key] = total_size
            self._write({"t": now, "event": "distribute", "eui64": key, "device_type": device_type,
                         "file_version": file_version, "total_size": total_size})

    def flush(self) -> None:
        """Write every held-back point and wait."""
        for key in list(self._held):
            self._flush_one(key)

    # ----- the frame observer

    def observe(self, direction: str, frame: IncomingFrame | OutgoingFrame) -> None:
        if frame.cluster != OTA_CLUSTER:
            return
        try:
            header, payload = parse_header(frame.zcl)
        except (ValueError, KeyError):
            return
        if header.is_general:
            return
        if direction == "rx" and isinstance(frame, IncomingFrame):
            if header.client_to_server and header.command_id == OtaCommand.upgrade_end.id and payload:
                self._event(str(frame.source), {"t": self._clock.now(), "event": "end", "status": _status(payload[0])})
            return
        if direction != "tx" or not isinstance(frame, OutgoingFrame) or header.client_to_server:
            return
        key = str(frame.destination)
        at = frame.not_before if frame.not_before is not None else self._clock.now()
        if header.command_id == OtaReply.image_notify.id:
            self._event(key, {"t": at, "event": "notify"})
        elif header.command_id == OtaReply.upgrade_end_response.id:
            self._event(key, {"t": at, "event": "end_response"})
        elif header.command_id == OtaReply.image_block_response.id and payload:
            if payload[0] == foundation.Status.SUCCESS and len(payload) >= 14:
                offset = int.from_bytes(payload[9:13], "little")
                self._data(key, at, offset, payload[13])
            elif payload[0] == foundation.Status.WAIT_FOR_DATA and len(payload) >= 9:
                wait = int.from_bytes(payload[5:9], "little") - int.from_bytes(payload[1:5], "little")
                self._wait(key, at, max(0, wait))
        elif header.command_id == OtaReply.query_next_image_response.id and payload[:1] == b"\x00" \
                and len(payload) >= 13:
            self._totals[key] = int.from_bytes(payload[9:13], "little")

    # ----- compaction

    def _data(self, key: str, at: float, offset: int, size: int) -> None:
        point = {"t": at, "event": "data", "eui64": key, "offset": offset, "size": size}
        end = offset + size
        held = self._held.get(key)
        if held is not None and held["event"] == "wait":
            self._flush_one(key)
            held = None
        last = held or self._written.get(key)
        total = self._totals.get(key)
        step = max(1, int((total or 0) * DATA_STEP))
        written = self._written.get(key)
        due = (written is None or last is None or end - (written["offset"] + written["size"]) >= step
               or offset < last["offset"] + last["size"] or at - last["t"] > GAP_S
               or (total is not None and end >= total))
        if held is not None and (at - held["t"] > GAP_S or offset < held["offset"] + held["size"]):
            self._flush_one(key)  # the last point before a pause or a rewind
        if due:
            self._held.pop(key, None)
            self._write(point)
            self._written[key] = point
        else:
            self._held[key] = point

    def _wait(self, key: str, at: float, seconds: int) -> None:
        held = self._held.get(key)
        if held is not None and held["event"] == "wait" and at <= held["until"] + GAP_S:
            held["until"] = max(held["until"], at + seconds)
            held["answers"] += 1
            return
        self._flush_one(key)
        self._held[key] = {"t": at, "event": "wait", "eui64": key, "until": at + seconds, "answers": 1}

    def _event(self, key: str, event: dict[str, Any]) -> None:
        self._flush_one(key)
        self._write({**event, "eui64": key} if "eui64" not in event else event)

    def _flush_one(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            self._write(held)
            if held["event"] == "data":
                self._written[key] = held

    def _write(self, event: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as file:
                file.write(json.dumps(event, separators=(",", ":")) + "\n")
        except OSError:
            pass  # a picture is never worth stopping the hub for


def iter_targets(events: list[dict[str, Any]]) -> Iterator[str]:
    """Each EUI-64 the timeline names, in order of first appearance."""
    seen: dict[str, None] = {}
    for event in events:
        if "eui64" in event:
            seen.setdefault(event["eui64"], None)
    yield from seen


def _status(value: int) -> str:
    try:
        return foundation.Status(value).name
    except ValueError:
        return f"0x{value:02X}"
