"""GBCS message framing, and the hub's finder for a PPMID's 0x8F8B (`hubfw.gbcs.device_alert`): lengths from any
prefix, the RTDS alert found, round trips of simulated ones, and alerts that can only be kept raw (with why)."""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse, activation_alert, transfer_alert
from hubfw.gbcs.alert_content import FirmwareActivationAlert
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, GbcsIdentity, activation_message, entity_id
from hubfw.gbcs.device_alert import FoundAlert, find_device_alert
from hubfw.gbcs.framing import (
    CraFlag,
    GbcsFramingError,
    GeneralSigning,
    MessageCode,
    general_signing,
    message_length,
    parse_message,
)
from hubfw.ota.keys import new_private_key
from tests.gbcs.rtds import ACB, CH
from tests.gbcs.rtds import PPMID as RTDS_PPMID_ID
from tests.gbcs.rtds import message as rtds_message
from tests.han.harness import OTHER_PPMID, PPMID

NEW_YEAR_2026 = 1_767_225_600.0
TARGET = bytes.fromhex("9000000000000001")


RTDS_ALERT = rtds_message("ppmid-8f8b-alert")
RTDS_PPMID = t.EUI64(RTDS_PPMID_ID[::-1])
KEY = new_private_key()


def signed(content: bytes, cra: CraFlag = CraFlag.ALERT, originator: t.EUI64 = PPMID,
           code: int = MessageCode.FIRMWARE_ACTIVATION_ALERT) -> bytes:
    return general_signing(cra, 42, entity_id(originator), TARGET, code, content)


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
    assert parsed.message_code == MessageCode.FIRMWARE_ACTIVATION_ALERT and parsed.content == b"payload"
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


def test_the_rtds_8f8b_is_found_for_its_ppmid_with_every_field() -> None:
    found = find_device_alert(RTDS_ALERT, RTDS_PPMID)
    assert found == FoundAlert(TransferAlert(0, AlertCode.ACTIVATION, RTDS_PPMID, 0x1234ABCD, None, 1_420_070_400.0,
                                             "tunnel", outcome=ActivationOutcome.SUCCESS, message=RTDS_ALERT),
                               RTDS_ALERT)
    assert found.alert is not None and found.alert.der() == GeneralSigning.parse(RTDS_ALERT).content


def test_negative_control_the_rtds_8f8b_from_anyone_else_is_credited_to_nobody() -> None:
    for sender in (PPMID, t.EUI64(CH[::-1]), t.EUI64(ACB[::-1])):
        found = find_device_alert(RTDS_ALERT, sender)
        assert found is not None and found.alert is None and found.raw == RTDS_ALERT
        assert "not the sender" in (found.problem or "")


def test_a_simulated_ppmids_0x8f8b_round_trips_and_its_signature_is_checked_at_hand_over() -> None:
    alert = activation_alert(17, PPMID, 0x0000_0102, NEW_YEAR_2026 + 3600, ActivationOutcome.FAILURE)
    message = activation_message(alert, 5001, DEFAULT_ACB_ID, key=KEY)
    parsed = GeneralSigning.parse(message)
    assert (parsed.cra, parsed.originator_counter, parsed.message_code) == (CraFlag.ALERT, 5001, 0x012B)
    assert parsed.originator == bytes.fromhex("000d6f0000000002") and parsed.target == ACB
    found = find_device_alert(message, PPMID)
    assert found is not None and found.raw == message and found.problem is None
    assert found.alert == TransferAlert(0, AlertCode.ACTIVATION, PPMID, 0x102, None, alert.time, "tunnel",
                                        outcome=ActivationOutcome.FAILURE, message=message)
    identity = GbcsIdentity(t.EUI64(CH[::-1]), new_private_key(), device_keys={PPMID: KEY.public_key()})
    assert identity.device_signature(PPMID, found.alert.message) == "valid"  # type: ignore[arg-type]


@given(
    version=st.integers(0, 0xFFFF_FFFF),
    seconds=st.integers(0, 40 * 365 * 86400),
    counter=st.integers(0, 2**64 - 1),
    outcome=st.sampled_from(ActivationOutcome),
)
def test_any_activation_alert_round_trips(version: int, seconds: int, counter: int, outcome: ActivationOutcome) -> None:
    alert = activation_alert(1, PPMID, version, NEW_YEAR_2026 - 20 * 365 * 86400 + seconds, outcome)
    found = find_device_alert(activation_message(alert, counter), PPMID)
    assert found is not None and found.alert is not None
    assert (found.alert.firmware_version, found.alert.time, found.alert.entity, found.alert.outcome) == (
        version, alert.time, PPMID, outcome)


CCS08_CONTENT = transfer_alert(3, PPMID, 0x20, TransferResponse.IMAGE_DISCARDED, NEW_YEAR_2026).der()
ACTIVATION_CONTENT = activation_alert(1, PPMID, 1, NEW_YEAR_2026).der()


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (signed(bytes.fromhex("0109" "00" "8f8b" "00000000")), "not a 0x8F8B alert DER content"),  # a GBZ alert
        (signed(b"\x30\x03\x02\x01\x05"), "not a 0x8F8B alert DER content"),
        (signed(CCS08_CONTENT), "not a 0x8F8B alert DER content"),  # a CCS08 content under 0x012B
        (signed(CCS08_CONTENT, code=MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT), "message code 0x0128"),
        (signed(ACTIVATION_CONTENT, code=MessageCode.NON_CRITICAL_ALERT), "message code 0x1001"),
        (signed(ACTIVATION_CONTENT, originator=OTHER_PPMID), "not the sender"),
        (signed(FirmwareActivationAlert(0x8F8B, FirmwareActivationAlert.from_der(ACTIVATION_CONTENT).execution_time,
                                        bytes(4), 7).der()), "activation outcome 7"),
        (maced(signed(ACTIVATION_CONTENT)), "wrapped in General-Ciphering"),
        (signed(ACTIVATION_CONTENT)[:-1], "does not frame"),
        (signed(ACTIVATION_CONTENT) + b"\x00", "does not frame"),
        (RTDS_ALERT[:-10], "does not frame"),
    ],
)
def test_an_alert_that_cannot_be_decoded_keeps_its_raw_bytes(message: bytes, problem: str) -> None:
    found = find_device_alert(message, PPMID if message[:12] != RTDS_ALERT[:12] else RTDS_PPMID)
    assert found is not None and found.alert is None and found.raw == message
    assert problem in (found.problem or "") and "\n" not in (found.problem or "")


def test_a_block_transferred_alert_is_kept_raw() -> None:
    transaction = bytes([CraFlag.ALERT]) + (9).to_bytes(8, "big")
    elements = [transaction, entity_id(PPMID), TARGET, b"", b"\x01\x2b", b""]
    block = b"\x10" + bytes(4) + bytes([0xE0, 0x81, 0x00, 0x01, 0x00, 0x00, 0x03]) + b"abc"
    message = bytes([0xDD]) + b"".join(bytes([len(e)]) + e for e in elements) + bytes([len(block)]) + block
    found = find_device_alert(message, PPMID)
    assert found is not None and found.alert is None and "General Block Transfer" in (found.problem or "")


@pytest.mark.parametrize(
    "message",
    [
        signed(ACTIVATION_CONTENT, cra=CraFlag.RESPONSE),
        signed(ACTIVATION_CONTENT, cra=CraFlag.COMMAND),
        b"hello",
        b"",
        b"\xdf",
        general_signing(CraFlag.COMMAND, 1, entity_id(PPMID), TARGET, 1, b"x")[:-1],
    ],
)
def test_what_is_not_a_gbcs_alert_is_not_reported(message: bytes) -> None:
    assert find_device_alert(message, PPMID) is None


@given(st.binary(max_size=200))
def test_the_finder_never_raises(data: bytes) -> None:
    for message in (data, b"\xdf" + data, b"\xdf\x09\x03" + data, signed(data)):
        found = find_device_alert(message, PPMID)
        assert found is None or found.raw == message
        assert found is None or found.alert is None or found.alert.entity == PPMID


def test_framing_errors_never_escape_as_anything_else() -> None:
    with pytest.raises(GbcsFramingError):
        parse_message(RTDS_ALERT[:-1])
