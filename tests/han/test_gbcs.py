"""GBCS message framing and the 0x8F8B alert: lengths from any prefix, round trips, and alerts that can
only be kept raw."""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse, activation_alert, transfer_alert
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, MessageCode, general_signing, message_length, parse_message
from hubfw.han import find_device_alert, gbcs_alert_message
from hubfw.han.gbcs_alert import entity_id
from tests.han.harness import OTHER_PPMID, PPMID

NEW_YEAR_2026 = 1_767_225_600.0
TARGET = bytes.fromhex("9000000000000001")


def signed(content: bytes, cra: CraFlag = CraFlag.ALERT, originator: t.EUI64 = PPMID) -> bytes:
    return general_signing(cra, 42, entity_id(originator), TARGET, MessageCode.NON_CRITICAL_ALERT, content)


def maced(inner: bytes) -> bytes:
    """`inner` wrapped as GBCS does for a MAC'd message: General-Ciphering with a MAC header."""
    ciphered = b"\x10" + (7).to_bytes(4, "big") + inner + bytes(12)
    return bytes([0xDD, 0, 0, 0, 0, 0, 0]) + _ber(len(ciphered)) + ciphered


def _ber(length: int) -> bytes:
    return bytes([length]) if length < 0x80 else bytes([0x82]) + length.to_bytes(2, "big")


@given(content=st.binary(max_size=600))
def test_the_length_is_known_from_the_whole_message_and_beyond(content: bytes) -> None:
    for message in (signed(content), maced(signed(content))):
        assert message_length(message) == len(message)
        assert message_length(message + b"extra") == len(message)


def test_every_proper_prefix_is_incomplete() -> None:
    message = signed(bytes(300))
    assert b"\x82\x01\x2c" in message  # the content length in BER long form
    assert all(message_length(message[:cut]) is None for cut in range(len(message)))
    assert message_length(message) == len(message)


def test_parse_reads_back_what_general_signing_built() -> None:
    parsed = parse_message(signed(b"payload"))
    assert (parsed.cra, parsed.originator_counter, parsed.originator, parsed.target) == (
        CraFlag.ALERT, 42, bytes(PPMID)[::-1], TARGET)
    assert parsed.message_code == MessageCode.NON_CRITICAL_ALERT and parsed.content == b"payload"
    assert parse_message(maced(signed(b"payload"))) == parsed


def test_a_block_transfer_header_is_read_without_its_content() -> None:
    transaction = bytes([CraFlag.ALERT]) + (9).to_bytes(8, "big")
    elements = [transaction, entity_id(PPMID), TARGET, b"", b"\x10\x01", b""]
    block = b"\x10" + bytes(4) + bytes([0xE0, 0x81, 0x00, 0x01, 0x00, 0x00, 0x03]) + b"abc"
    message = bytes([0xDD]) + b"".join(bytes([len(e)]) + e for e in elements) + bytes([len(block)]) + block
    parsed = parse_message(message)
    assert parsed.cra == CraFlag.ALERT and parsed.content is None and parsed.originator_counter == 9


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"\x42abc", "tag 0x42"),
        (b"", "truncated"),
        (b"\xdf\x09\x03", "truncated"),
        (b"\xdf\x80", "BER length octet 0x80"),
        (b"\xdf\x01\x03" + bytes(6), "transaction-id of 1"),
    ],
)
def test_framing_errors_are_one_line(message: bytes, error: str) -> None:
    with pytest.raises(GbcsFramingError, match=error) as raised:
        parse_message(message)
    assert "\n" not in str(raised.value)


def test_trailing_octets_are_refused() -> None:
    with pytest.raises(GbcsFramingError, match="3 octets after the end"):
        parse_message(signed(b"x") + b"abc")


def test_0x8f8b_round_trip() -> None:
    alert = activation_alert(17, PPMID, 0x0000_0102, NEW_YEAR_2026 + 3600)
    message = gbcs_alert_message(alert)
    parsed = parse_message(message)
    assert parsed.cra == CraFlag.ALERT and parsed.originator_counter == 17
    assert parsed.originator == bytes.fromhex("000d6f0000000002") and parsed.target == bytes(8)
    assert parsed.content == alert.der()
    found = find_device_alert(message, PPMID)
    assert found is not None and found.raw == message and found.problem is None
    assert found.alert == TransferAlert(0, AlertCode.ACTIVATION, PPMID, 0x102, None, alert.time, "tunnel")


@given(
    version=st.integers(0, 0xFFFF_FFFF),
    seconds=st.integers(0, 40 * 365 * 86400),
    counter=st.integers(0, 2**64 - 1),
)
def test_any_activation_alert_round_trips(version: int, seconds: int, counter: int) -> None:
    alert = activation_alert(1, PPMID, version, NEW_YEAR_2026 - 20 * 365 * 86400 + seconds)
    found = find_device_alert(gbcs_alert_message(alert, originator_counter=counter), PPMID)
    assert found is not None and found.alert is not None
    assert (found.alert.firmware_version, found.alert.time, found.alert.entity) == (version, alert.time, PPMID)


def test_a_transfer_alert_in_the_tunnel_decodes_too() -> None:
    alert = transfer_alert(3, PPMID, 0x20, TransferResponse.IMAGE_DISCARDED, NEW_YEAR_2026)
    found = find_device_alert(gbcs_alert_message(alert), PPMID)
    assert found is not None and found.alert is not None and found.alert.code is AlertCode.TRANSFER_FAILURE


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (signed(bytes.fromhex("0109" "00" "8f8b" "00000000")), "not a firmware alert"),  # a GBZ alert
        (signed(b"\x30\x03\x02\x01\x05"), "not a firmware alert"),
        (signed(activation_alert(1, PPMID, 1, NEW_YEAR_2026).der(), originator=OTHER_PPMID), "not the sender"),
        (signed(activation_alert(1, OTHER_PPMID, 1, NEW_YEAR_2026).der()), "not the sender"),
    ],
)
def test_an_alert_that_cannot_be_decoded_keeps_its_raw_bytes(message: bytes, problem: str) -> None:
    found = find_device_alert(message, PPMID)
    assert found is not None and found.alert is None and found.raw == message
    assert problem in (found.problem or "")


@pytest.mark.parametrize(
    "message",
    [
        signed(activation_alert(1, PPMID, 1, NEW_YEAR_2026).der(), cra=CraFlag.RESPONSE),
        b"hello",
        b"",
        signed(b"x")[:-1],
    ],
)
def test_what_is_not_a_gbcs_alert_is_not_reported(message: bytes) -> None:
    assert find_device_alert(message, PPMID) is None


@given(st.binary(max_size=200))
def test_the_finder_never_raises(data: bytes) -> None:
    for message in (data, b"\xdf" + data, signed(data)):
        found = find_device_alert(message, PPMID)
        assert found is None or found.raw == message
