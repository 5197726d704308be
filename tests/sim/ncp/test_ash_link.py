"""The NCP's ASH state machine, driven frame by frame as a host would."""

from __future__ import annotations

import asyncio

import pytest

from hubfw.sim.ncp.ash import (
    RESET_SOFTWARE,
    RESET_WATCHDOG,
    AshFaults,
    AshFrame,
    AshFramingError,
    AshNcp,
    FrameKind,
    FrameSplitter,
    decode,
)


class Wire:
    """Both ends of the NCP: what it sent to the host, what it delivered upward, resets."""

    def __init__(self) -> None:
        self.sent: list[AshFrame] = []
        self.delivered: list[bytes] = []
        self.resets = 0
        self.garbled = 0
        self.new_frame = asyncio.Event()
        self._splitter = FrameSplitter()

    def write(self, data: bytes) -> None:
        for stuffed in self._splitter.feed(data):
            try:
                self.sent.append(decode(stuffed))
            except AshFramingError:
                self.garbled += 1
        self.new_frame.set()

    def deliver(self, payload: bytes) -> None:
        self.delivered.append(payload)

    def reset_stack(self) -> None:
        self.resets += 1

    def kinds(self) -> list[FrameKind]:
        return [frame.kind for frame in self.sent]

    def take(self) -> list[AshFrame]:
        sent, self.sent = self.sent, []
        return sent


def host_data(frm: int, payload: bytes = b"\x01\x00\x01\x05\x00", *, ack: int = 0, re_tx: bool = False) -> bytes:
    return AshFrame(FrameKind.DATA, frm, re_tx, ack, payload).encode()


def link(wire: Wire, **kwargs: object) -> AshNcp:
    return AshNcp(wire.write, wire.deliver, wire.reset_stack, **kwargs)


async def test_rst_is_answered_with_rstack_and_a_fresh_stack() -> None:
    wire = Wire()
    ncp = link(wire)
    ncp.feed(bytes([0x1A] * 32) + AshFrame(FrameKind.RST).encode())  # bellows' cancel run + RST
    assert wire.take() == [AshFrame(FrameKind.RSTACK, payload=bytes([0x02, RESET_SOFTWARE]))]
    assert wire.resets == 1


async def test_host_data_is_delivered_once_in_sequence_and_acknowledged() -> None:
    wire = Wire()
    ncp = link(wire)
    ncp.feed(host_data(0, b"first") + host_data(1, b"second"))
    assert wire.delivered == [b"first", b"second"]
    assert wire.take() == [AshFrame(FrameKind.ACK, ack_num=1), AshFrame(FrameKind.ACK, ack_num=2)]

    ncp.feed(host_data(1, b"second", re_tx=True))  # host missed our ACK and resends
    assert wire.delivered == [b"first", b"second"]
    assert wire.take() == [AshFrame(FrameKind.ACK, ack_num=2)]
    assert ncp.stats.duplicates_ignored == 1


async def test_out_of_sequence_and_garbled_data_is_naked_once_per_reject_condition() -> None:
    wire = Wire()
    ncp = link(wire)
    ncp.feed(host_data(3))
    ncp.feed(host_data(4))
    garbled = bytearray(host_data(0))
    garbled[-2] ^= 0x01
    ncp.feed(bytes(garbled))
    assert wire.take() == [AshFrame(FrameKind.NAK, ack_num=0)]
    assert wire.delivered == []

    ncp.feed(host_data(0, b"ok", re_tx=True))  # the resend clears the reject condition
    ncp.feed(host_data(2))
    assert wire.delivered == [b"ok"]
    assert wire.take() == [AshFrame(FrameKind.ACK, ack_num=1), AshFrame(FrameKind.NAK, ack_num=1)]


async def test_one_data_frame_in_flight_until_acknowledged() -> None:
    wire = Wire()
    ncp = link(wire)
    ncp.send(b"response")
    ncp.send(b"callback")
    (first,) = wire.take()
    assert (first.kind, first.frm_num, first.re_tx, first.payload) == (FrameKind.DATA, 0, False, b"response")

    ncp.feed(AshFrame(FrameKind.ACK, ack_num=0).encode())  # acknowledges nothing new
    assert wire.take() == []
    ncp.feed(AshFrame(FrameKind.ACK, ack_num=1).encode())
    (second,) = wire.take()
    assert (second.frm_num, second.payload) == (1, b"callback")

    ncp.feed(host_data(0, ack=2))  # a piggy-backed acknowledgement counts too
    await asyncio.wait_for(ncp.wait_idle(), 1)


async def test_nak_from_the_host_makes_the_ncp_resend_the_same_frame() -> None:
    wire = Wire()
    ncp = link(wire)
    ncp.send(b"response")
    wire.take()
    ncp.feed(AshFrame(FrameKind.NAK, ack_num=0).encode())
    (again,) = wire.take()
    assert (again.frm_num, again.re_tx, again.payload) == (0, True, b"response")
    assert ncp.stats.retransmissions == 1


async def test_unacknowledged_frames_are_resent_then_the_link_fails_until_rst() -> None:
    wire = Wire()
    ncp = link(wire, ack_timeout=0.001, max_attempts=3)
    ncp.send(b"response")
    while len(wire.sent) < 4:
        wire.new_frame.clear()
        await asyncio.wait_for(wire.new_frame.wait(), 1)
    assert [(f.kind, f.re_tx) for f in wire.take()] == [
        (FrameKind.DATA, False), (FrameKind.DATA, True), (FrameKind.DATA, True), (FrameKind.ERROR, False)]

    ncp.feed(host_data(0))  # a failed NCP ignores everything but RST
    assert wire.delivered == [] and wire.take() == []
    ncp.feed(AshFrame(FrameKind.RST).encode())
    assert wire.kinds() == [FrameKind.RSTACK]


@pytest.mark.parametrize("fault", ["corrupt_crc", "drop_host_ack", "nak_host_data", "unexpected_rstack"])
async def test_each_fault_fires_exactly_as_often_as_asked(fault: str) -> None:
    wire = Wire()
    ncp = link(wire, faults=AshFaults(**{fault: 1}))
    for round_ in range(2):
        ncp.send(b"out")
        ncp.feed(AshFrame(FrameKind.ACK, ack_num=(round_ + 1) % 8).encode())
    ncp.feed(host_data(0, b"in"))
    assert ncp.stats.faults_fired[fault] == 1
    assert getattr(ncp.faults, fault) == 0
    assert wire.garbled == (1 if fault == "corrupt_crc" else 0)


async def test_unexpected_rstack_loses_the_frame_and_restarts_the_stack() -> None:
    wire = Wire()
    ncp = link(wire, faults=AshFaults(unexpected_rstack=1))
    ncp.feed(host_data(0, b"lost"))
    assert wire.delivered == []
    assert wire.take() == [AshFrame(FrameKind.RSTACK, payload=bytes([0x02, RESET_WATCHDOG]))]
    assert wire.resets == 1
