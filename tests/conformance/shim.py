"""A test-only stand-in for the hub's fault injection (issue 14, item 1, wired by another branch): just the faults
the conformance scenarios set (silence, block-wait, block-abort, block-corrupt), applied around the hub's core
and radio so the runner's verdicts can be proven now. It keeps the `HilBench.set_fault / clear_faults /
fault_history` names and the `FaultBook` model; the real bench replaces it once faults land in the hub."""

from __future__ import annotations

from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.hub.faults import Fault, FaultBook, FaultError, FaultKind
from hubfw.sim.hil.bench import SimulatedBench
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER
from hubfw.zigbee.zcl import TO_CLIENT, OtaReply, cluster_command, parse_block_request, parse_header

Status = foundation.Status
IMAGE_BLOCK = 0x03
SHIMMED = {FaultKind.SILENCE, FaultKind.BLOCK_WAIT, FaultKind.BLOCK_ABORT, FaultKind.BLOCK_CORRUPT}
BLOCK_DATA_AT = 17
"""ImageBlockResponse SUCCESS: ZCL header (3), status, manufacturer, type, version, offset, size: data from here."""


class FaultShimBench(SimulatedBench):
    """A `SimulatedBench` whose hub honours the four faults the scenarios use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book = FaultBook()
        self._silent_until: dict[t.EUI64, float] = {}
        self._wrapped: object | None = None

    def _wrap(self) -> None:
        hub = self.hub
        if self._wrapped is hub.core:
            return
        self._wrapped = core = hub.core
        handle, app = core.handle_ota, hub.app
        send = app.send_ota_frames

        def handle_ota(frame: IncomingFrame) -> list[OutgoingFrame]:
            return self._faulted(frame, handle(frame))

        def send_ota_frames(frames: Any) -> Any:
            return send([frame for frame in frames if not self._silenced(frame.destination)])

        core.handle_ota = handle_ota  # type: ignore[method-assign]
        app.send_ota_frames = send_ota_frames  # type: ignore[method-assign]

    async def start(self) -> None:
        await super().start()
        self._wrap()

    async def restart_hub(self, down_for: float = 0.0) -> None:
        await super().restart_hub(down_for)
        self._wrap()

    def set_fault(self, eui64: t.EUI64, fault: Fault) -> None:
        if fault.kind not in SHIMMED:
            raise FaultError(f"the test shim does not inject {fault.kind.value}")
        now = self.hub.clock.now()
        self.book.set(eui64, fault, now)
        if fault.kind is FaultKind.SILENCE:
            self._silent_until[eui64] = now + (fault.seconds or 0)

    def clear_faults(self, eui64: t.EUI64 | None = None) -> int:
        for device in list(self._silent_until) if eui64 is None else [eui64]:
            self._silent_until.pop(device, None)
        return self.book.clear(self.hub.clock.now(), eui64)

    def fault_history(self, eui64: t.EUI64) -> list[dict[str, Any]]:
        return list(self.book.history.get(eui64, []))

    def _silenced(self, eui64: t.EUI64) -> bool:
        now = self.hub.clock.now()
        if now >= self._silent_until.get(eui64, -1.0):
            return False
        self.book.take(eui64, [FaultKind.SILENCE], now)
        return True

    def _faulted(self, frame: IncomingFrame, replies: list[OutgoingFrame]) -> list[OutgoingFrame]:
        eui64, now = frame.source, self.hub.clock.now()
        if self._silenced(eui64):
            return []
        if frame.cluster != OTA_CLUSTER:
            return replies
        try:
            header, payload = parse_header(frame.zcl)
            if header.is_general or header.command_id != IMAGE_BLOCK:
                return replies
            request = parse_block_request(payload)
        except ValueError:
            return replies
        offset = request.file_offset
        if self.book.take(eui64, [FaultKind.BLOCK_WAIT], now, offset=offset) is not None:
            fault = self.book.history[eui64][-1]
            zcl = cluster_command(header.tsn, OtaReply.image_block_response, TO_CLIENT, status=Status.WAIT_FOR_DATA,
                                  current_time=0, request_time=int(fault["seconds"]),
                                  minimum_block_period=int(fault.get("minimum_block_period") or 0))
            return [_replaced(replies, zcl)]
        abort = self.book.peek(eui64, [FaultKind.BLOCK_ABORT])
        if abort is not None and offset >= (abort.offset or 0):
            self.book.take(eui64, [FaultKind.BLOCK_ABORT], now, offset=offset)
            zcl = cluster_command(header.tsn, OtaReply.image_block_response, TO_CLIENT, status=Status.ABORT)
            return [_replaced(replies, zcl)]
        corrupt = self.book.peek(eui64, [FaultKind.BLOCK_CORRUPT])
        if corrupt is not None and replies and len(replies[0].zcl) > BLOCK_DATA_AT and replies[0].zcl[3] == 0:
            size = len(replies[0].zcl) - BLOCK_DATA_AT
            at = (corrupt.offset or 0) - offset
            if 0 <= at < size:
                self.book.take(eui64, [FaultKind.BLOCK_CORRUPT], now, offset=corrupt.offset)
                data = bytearray(replies[0].zcl)
                data[BLOCK_DATA_AT + at] ^= 0xFF
                return [_replaced(replies, bytes(data))]
        return replies


def _replaced(replies: list[OutgoingFrame], zcl: bytes) -> OutgoingFrame:
    from dataclasses import replace
    return replace(replies[0], zcl=zcl)
