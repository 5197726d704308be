"""Tunnel commands cut into TransferData payloads and joined again, whatever the cut size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han.tunneling.stream import (
    TunnelOverflowError,
    TunnelReassembler,
    TunnelStreamError,
    TunnelUnit,
    tunnel_payloads,
)
from hubfw.han.tunneling.wire import GbcsTunnelCommand

PUT, GET, GET_RESPONSE = GbcsTunnelCommand.PUT, GbcsTunnelCommand.GET, GbcsTunnelCommand.GET_RESPONSE


def gbcs(content: bytes) -> bytes:
    return general_signing(CraFlag.RESPONSE, 5, bytes(8), bytes(8), 0x0002, content)


@given(content=st.binary(max_size=400), size=st.integers(3, 120), remaining=st.integers(0, 300),
       command=st.sampled_from([PUT, GET_RESPONSE]))
def test_any_cut_reassembles(content: bytes, size: int, remaining: int, command: GbcsTunnelCommand) -> None:
    unit = TunnelUnit(command, gbcs(content), remaining if command is GET_RESPONSE else None)
    payloads = tunnel_payloads(unit, size)
    assert all(len(payload) <= size for payload in payloads)
    reassembler = TunnelReassembler(max_message_size=1000)
    results = [reassembler.feed(payload) for payload in payloads]
    expected = TunnelUnit(command, unit.message, min(remaining, 255) if command is GET_RESPONSE else None)
    assert results == [None] * (len(payloads) - 1) + [expected]
    assert not reassembler.pending


def test_get_and_an_empty_get_response_are_one_payload() -> None:
    reassembler = TunnelReassembler(100)
    assert tunnel_payloads(TunnelUnit(GET), 3) == [b"\x01"]
    assert reassembler.feed(b"\x01") == TunnelUnit(GET)
    assert tunnel_payloads(TunnelUnit(GET_RESPONSE, remaining=0), 3) == [b"\x02\x00"]
    assert reassembler.feed(b"\x02\x00") == TunnelUnit(GET_RESPONSE, remaining=0)


def test_an_unframed_message_travels_only_whole() -> None:
    assert tunnel_payloads(TunnelUnit(PUT, b"hello"), 6) == [b"\x03hello"]
    with pytest.raises(TunnelStreamError, match="not GBCS-framed"):
        tunnel_payloads(TunnelUnit(PUT, b"hello"), 5)
    assert TunnelReassembler(100).feed(b"\x03hello") == TunnelUnit(PUT, b"hello")


def test_overflow_and_broken_streams_drop_the_partial_message() -> None:
    reassembler = TunnelReassembler(max_message_size=50)
    payloads = tunnel_payloads(TunnelUnit(PUT, gbcs(bytes(100))), 30)
    assert reassembler.feed(payloads[0]) is None
    with pytest.raises(TunnelOverflowError):
        reassembler.feed(payloads[1])
    assert not reassembler.pending
    message = gbcs(b"abc")
    with pytest.raises(TunnelStreamError, match="2 octets after the end"):
        reassembler.feed(b"\x03" + message + b"zz")
    assert not reassembler.pending and reassembler.feed(b"\x03" + message) == TunnelUnit(PUT, message)


@given(content=st.binary(max_size=400), size=st.integers(1, 120))
def test_without_a_header_any_cut_reassembles(content: bytes, size: int) -> None:
    """A tunnel the hub opened: the message is the whole payload, no GBCS tunnel command in front."""
    message = gbcs(content)
    payloads = tunnel_payloads(TunnelUnit(None, message), size)
    assert all(len(payload) <= size for payload in payloads) and b"".join(payloads) == message
    reassembler = TunnelReassembler(max_message_size=1000, headers=False)
    results = [reassembler.feed(payload) for payload in payloads]
    assert results == [None] * (len(payloads) - 1) + [TunnelUnit(None, message)]


def test_without_a_header_no_octet_is_a_tunnel_command() -> None:
    assert tunnel_payloads(TunnelUnit(None, b"\x03hello"), 6) == [b"\x03hello"]
    assert TunnelReassembler(100, headers=False).feed(b"\x03hello") == TunnelUnit(None, b"\x03hello")
    assert TunnelReassembler(100, headers=False).feed(b"\x01") == TunnelUnit(None, b"\x01")  # not a GET
    with pytest.raises(TunnelStreamError, match="unknown GBCS tunnel command 0xDF"):
        TunnelReassembler(100).feed(gbcs(b"x"))  # and a header is required where there is one
    with pytest.raises(TunnelStreamError, match="empty"):
        TunnelReassembler(100, headers=False).feed(b"")


def test_a_transfer_longer_than_this_end_announced_overflows_and_drops_the_partial_message() -> None:
    reassembler = TunnelReassembler(100)
    message = general_signing(CraFlag.ALERT, 1, bytes(8), bytes(8), 0x0001, bytes(30))
    assert reassembler.feed(b"\x03" + message[:20], max_transfer=21) is None and reassembler.pending
    with pytest.raises(TunnelOverflowError, match="over the 8 announced"):
        reassembler.feed(b"\x03" + bytes(8), max_transfer=8)
    assert not reassembler.pending
    assert reassembler.feed(b"\x03hi", max_transfer=8) == TunnelUnit(PUT, b"hi")  # a payload that fits is taken
