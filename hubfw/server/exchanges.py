"""Why isn't it downloading? Each device's last OTA request, the hub's answer to it and, when that answer was not
image data, the reason in words; and the pace of its recent blocks.

The OTA server records an exchange where it decides the answer, with the reason the deciding rule gave
(`OtaServer._offer_refusal`, `_image_for_transfer`, the concurrency and rate limits, the faults on demand); the hub
core records its own refusals the same way (NOT_AUTHORIZED to a device without a CBKE link key, hubfw.hub.han, and
frames dropped by a SILENCE fault). Views read it back (`explain`) and never re-derive the rules.

Kept in memory only: nothing here survives a hub restart, and after one every device is "never heard from" until
it next asks. The rate is measured over the image data answers of the last `RATE_WINDOW_S` seconds.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.clock import iso_utc
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import OtaCommand, OtaReply, decode, parse_header

RATE_WINDOW_S = 30.0
"""Blocks per second and the ETA come from the image data answers of this many recent seconds."""
QUIET_S = 60.0
"""A download whose device has not asked for this long shows "not heard from since ..."."""

QUERY = "QueryNextImage"
IMAGE_BLOCK = "ImageBlock"
IMAGE_PAGE = "ImagePage"
UPGRADE_END = "UpgradeEnd"

_REQUESTS = {
    OtaCommand.query_next_image.id: (QUERY, OtaCommand.query_next_image),
    OtaCommand.image_block.id: (IMAGE_BLOCK, OtaCommand.image_block),
    OtaCommand.image_page.id: (IMAGE_PAGE, OtaCommand.image_page),
    OtaCommand.upgrade_end.id: (UPGRADE_END, OtaCommand.upgrade_end),
}
_REPLY_NAMES = {
    OtaReply.query_next_image_response.id: "QueryNextImageResponse",
    OtaReply.image_block_response.id: "ImageBlockResponse",
    OtaReply.upgrade_end_response.id: "UpgradeEndResponse",
}


@dataclass(frozen=True)
class OtaRequestSeen:
    """One OTA request as the device sent it (fields it did not carry, or that could not be read, are None)."""

    time: float
    command: str
    manufacturer_code: int | None = None
    image_type: int | None = None
    file_version: int | None = None
    """The device's current version in a QueryNextImage; the version asked for in a block, page or end."""
    hardware_version: int | None = None
    offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso_utc(self.time), "command": self.command,
            "manufacturer_code": _hex(self.manufacturer_code, 4), "image_type": _hex(self.image_type, 4),
            "file_version": _hex(self.file_version, 8), "hardware_version": self.hardware_version,
            "offset": self.offset,
        }


@dataclass
class LastExchange:
    """A device's last OTA request and the hub's answer; `reason` says why the answer was not image data."""

    request: OtaRequestSeen
    answer: str = "no answer"
    reason: str | None = None
    image_data: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.to_json(), "answer": self.answer, "reason": self.reason,
                "image_data": self.image_data}


class ExchangeLog:
    """The last exchange per device, the (manufacturer, image type) it last queried for, and its recent blocks."""

    def __init__(self, rate_window: float = RATE_WINDOW_S) -> None:
        self._window = rate_window
        self._last: dict[t.EUI64, LastExchange] = {}
        self._queried: dict[t.EUI64, tuple[int, int]] = {}
        self._blocks: dict[t.EUI64, collections.deque[tuple[float, int]]] = {}

    # ----- recording (the OTA server and the hub core)

    def asked(self, eui64: t.EUI64, request: OtaRequestSeen) -> None:
        """A new request from `eui64`: it has no answer until `answered`/`served` say one."""
        self._last[eui64] = LastExchange(request)
        if request.command == QUERY and request.manufacturer_code is not None and request.image_type is not None:
            self._queried[eui64] = (request.manufacturer_code, request.image_type)

    def answered(self, eui64: t.EUI64, frames: Sequence[OutgoingFrame], reason: str | None) -> None:
        """The answer to the last request was `frames` (none: no answer), not image data, because of `reason`."""
        exchange = self._last.get(eui64)
        if exchange is not None:
            exchange.answer, exchange.reason, exchange.image_data = describe_answer(frames), reason, False

    def served(self, eui64: t.EUI64, at: float, offset: int, length: int) -> None:
        """Image data from `offset`, `length` bytes, went (or goes, at `at`) to the device."""
        exchange = self._last.get(eui64)
        if exchange is not None:
            exchange.answer = f"ImageBlockResponse SUCCESS: {length} bytes at offset {offset}"
            exchange.reason, exchange.image_data = None, True
        blocks = self._blocks.setdefault(eui64, collections.deque())
        blocks.append((at, offset + length))
        while blocks and blocks[0][0] < at - self._window:
            blocks.popleft()

    def dropped(self, eui64: t.EUI64, reason: str) -> None:
        """The answer to the last request was withheld after all (the core's SILENCE fault)."""
        exchange = self._last.get(eui64)
        if exchange is not None:
            exchange.answer, exchange.reason, exchange.image_data = "no answer", reason, False

    # ----- reading

    def last(self, eui64: t.EUI64) -> LastExchange | None:
        return self._last.get(eui64)

    def queried(self, eui64: t.EUI64) -> tuple[int, int] | None:
        """(manufacturer code, image type) of the device's last QueryNextImage, if the hub has seen one."""
        return self._queried.get(eui64)

    def rate(self, eui64: t.EUI64, now: float) -> tuple[float, float] | None:
        """(blocks per second, bytes per second) over the recent window; None when the device is not downloading."""
        recent = [(at, end) for at, end in self._blocks.get(eui64, ()) if at >= now - self._window]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return None
        span = recent[-1][0] - recent[0][0]
        return (len(recent) - 1) / span, max(0, recent[-1][1] - recent[0][1]) / span

    def explain(self, eui64: t.EUI64, now: float, *, since: float | None = None, offset: int | None = None,
                total_size: int | None = None) -> dict[str, Any]:
        """What `hubfw transfers`, `status` and `devices` show for a device: its last request and answer, the
        reason, and while it downloads its blocks per second and ETA. `since`: when its current image was
        distributed (an exchange before then is about something else: "not heard from since ...")."""
        exchange = self._last.get(eui64)
        rate = self.rate(eui64, now)
        reason = None if exchange is None else exchange.reason
        if exchange is None:
            reason = "never heard from"
        elif since is not None and exchange.request.time < since:
            reason = f"not heard from since {iso_utc(exchange.request.time)}"
        elif exchange.image_data and now - exchange.request.time > QUIET_S:
            reason = f"not heard from since {iso_utc(exchange.request.time)}"
        eta = None
        if rate is not None and rate[1] > 0 and offset is not None and total_size is not None:
            eta = round(max(0, total_size - offset) / rate[1], 1)
        return {
            "last_request": None if exchange is None else exchange.request.to_json(),
            "last_answer": None if exchange is None else exchange.answer,
            "reason": reason,
            "blocks_per_second": None if rate is None else round(rate[0], 2),
            "eta_seconds": eta,
        }


def note_refusal(log: ExchangeLog, frame: IncomingFrame, now: float, answer: Sequence[OutgoingFrame],
                 reason: str) -> None:
    """An OTA request refused before the OTA server saw it (the hub's NOT_AUTHORIZED, hubfw.hub.han): its fields
    read from the frame as far as they can be, then the answer and the reason."""
    try:
        header, payload = parse_header(frame.zcl)
    except (ValueError, KeyError):
        return
    if header.is_general or not header.client_to_server or header.is_manufacturer_specific:
        return
    command = _REQUESTS.get(header.command_id)
    if command is None:
        return
    name, definition = command
    try:
        fields = decode(definition, payload)
    except ValueError:
        fields = None

    def field(name: str) -> int | None:
        value = getattr(fields, name, None)
        return None if value is None else int(value)
    version = field("current_file_version") if name == QUERY else field("file_version")
    log.asked(frame.source, OtaRequestSeen(
        now, name, field("manufacturer_code"), field("image_type"), version, field("hardware_version"),
        field("file_offset"),
    ))
    log.answered(frame.source, answer, reason)


def describe_answer(frames: Sequence[OutgoingFrame]) -> str:
    """The first frame of an OTA answer in words: its command and status ("no answer" for none)."""
    if not frames:
        return "no answer"
    try:
        header, payload = parse_header(frames[0].zcl)
    except (ValueError, KeyError):
        return "an unreadable frame"
    if header.is_general:
        if header.command_id == foundation.GeneralCommand.Default_Response and len(payload) >= 2:
            return f"Default Response {_status(payload[1])}"
        return f"general command 0x{header.command_id:02X}"
    name = _REPLY_NAMES.get(header.command_id, f"command 0x{header.command_id:02X}")
    if header.command_id == OtaReply.upgrade_end_response.id and len(payload) >= 4:
        upgrade_time = int.from_bytes(payload[-4:], "little")
        when = ("upgrade now" if upgrade_time == 0 else "wait for an activate command"
                if upgrade_time == 0xFFFFFFFF else f"upgrade in {upgrade_time} s")
        return f"{name} ({when})"
    waiting = payload[:1] == bytes([foundation.Status.WAIT_FOR_DATA])
    if header.command_id == OtaReply.image_block_response.id and waiting and len(payload) >= 9:
        return f"{name} WAIT_FOR_DATA (ask again in {int.from_bytes(payload[5:9], 'little')} s)"
    return f"{name} {_status(payload[0])}" if payload else name


def _status(value: int) -> str:
    try:
        return foundation.Status(value).name
    except ValueError:
        return f"0x{value:02X}"


def _hex(value: int | None, digits: int) -> str | None:
    return None if value is None else f"0x{value:0{digits}X}"
