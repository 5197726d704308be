"""ASH framing on the NCP side, checked against UG101's examples and bellows' own host code."""

from __future__ import annotations

import bellows.ash as host_ash
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.sim.ncp.ash import (
    CANCEL,
    FLAG,
    SUBSTITUTE,
    XOFF,
    XON,
    AshFrame,
    AshFramingError,
    FrameKind,
    FrameSplitter,
    crc,
    decode,
    randomise,
    stuff,
    unstuff,
)


@pytest.mark.parametrize(("frame", "wire"), [
    (AshFrame(FrameKind.RST), "c038bc7e"),
    (AshFrame(FrameKind.RSTACK, payload=bytes([0x02, 0x02])), "c102029b7b7e"),
    (AshFrame(FrameKind.ACK, ack_num=1), "8160597e"),
    (AshFrame(FrameKind.NAK, ack_num=6), "a634dc7e"),
])
def test_control_frames_match_the_ug101_examples(frame: AshFrame, wire: str) -> None:
    assert frame.encode().hex() == wire
    assert decode(bytes.fromhex(wire)[:-1]) == frame


def test_randomisation_sequence_starts_as_specified() -> None:
    assert randomise(bytes(5)) == bytes([0x42, 0x21, 0xA8, 0x54, 0x2A])


data_frames = st.builds(
    lambda frm, re_tx, ack, payload: AshFrame(FrameKind.DATA, frm, re_tx, ack, payload),
    st.integers(0, 7), st.booleans(), st.integers(0, 7), st.binary(min_size=3, max_size=220))


@given(data_frames)
def test_data_frames_agree_with_bellows_host_side(frame: AshFrame) -> None:
    ours = frame.encode()
    bellows_frame = host_ash.DataFrame(frm_num=frame.frm_num, re_tx=frame.re_tx, ack_num=frame.ack_num,
                                       ezsp_frame=frame.payload)
    assert ours == host_ash.AshProtocol._stuff_bytes(bellows_frame.to_bytes()) + bytes([FLAG])
    parsed = host_ash.parse_frame(host_ash.AshProtocol._unstuff_bytes(ours[:-1]))
    assert (parsed.frm_num, bool(parsed.re_tx), parsed.ack_num, parsed.ezsp_frame) == (
        frame.frm_num, frame.re_tx, frame.ack_num, frame.payload)
    assert decode(ours[:-1]) == frame


@given(st.binary(max_size=300))
def test_stuffing_round_trips_and_hides_every_reserved_byte(data: bytes) -> None:
    stuffed = stuff(data)
    assert not {FLAG, XON, XOFF, SUBSTITUTE, CANCEL} & set(stuffed)
    assert unstuff(stuffed) == data


@pytest.mark.parametrize(("wire", "problem"), [
    ("7d41", "escape"),  # 0x41 ^ 0x20 = 0x61 needs no escape
    ("c07d", "escape"),  # ends inside an escape
    ("c038", "short"),
    ("c038bd", "CRC"),
    ("e0" + crc(b"\xe0").hex(), "control"),  # valid CRC, undefined control byte
])
def test_untrustworthy_frames_are_rejected(wire: str, problem: str) -> None:
    with pytest.raises(AshFramingError, match=problem):
        decode(bytes.fromhex(wire))


def test_splitter_honours_cancel_substitute_and_flow_control() -> None:
    splitter = FrameSplitter()
    rst = bytes.fromhex("c038bc")
    stream = (b"\x99\x98" + bytes([CANCEL]) + rst + bytes([XON]) + bytes([FLAG])  # cancelled junk, then RST
              + b"\x01\x02" + bytes([SUBSTITUTE]) + b"\x03" + bytes([FLAG])      # a damaged frame: dropped
              + bytes([FLAG]) + rst[:1] + bytes([XOFF]) + rst[1:] + bytes([FLAG]))
    assert list(splitter.feed(stream)) == [rst, rst]


@given(st.lists(data_frames, min_size=1, max_size=4), st.data())
def test_splitter_is_independent_of_chunking(frames: list[AshFrame], data: st.DataObject) -> None:
    wire = b"".join(frame.encode() for frame in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    splitter = FrameSplitter()
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    found = [decode(stuffed) for piece in pieces for stuffed in splitter.feed(piece)]
    assert found == frames
