"""General-Signing built, parsed, signed and verified by hubfw: properties over every field and every bit."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from hubfw.gbcs.alert_content import FirmwareActivationAlert, FirmwareTransferAlert
from hubfw.gbcs.framing import (
    CraFlag,
    GbcsFramingError,
    GeneralSigning,
    general_signing_inside,
    message_length,
    parse_message,
)
from hubfw.gbcs.signing import GbcsKeyError, sign, verify
from hubfw.ota.keys import sign_message
from tests.gbcs.rtds import ACB, CH, PPMID, certificate, message

KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
"""Signers: a message signed by KEYS[i] verifies with KEYS[i] and with no other."""

entity_ids = st.binary(min_size=8, max_size=8)
counters = st.integers(min_value=0, max_value=(1 << 64) - 1)


@st.composite
def messages(draw: st.DrawFn, *, signed: bool | None = None) -> GeneralSigning:
    supplementary = draw(st.booleans())
    has_signature = draw(st.booleans()) if signed is None else signed
    return GeneralSigning(
        cra=draw(st.sampled_from(CraFlag)), originator_counter=draw(counters), originator=draw(entity_ids),
        target=draw(entity_ids), message_code=draw(st.integers(0, 0xFFFF)),
        content=draw(st.binary(max_size=300)), date_time=draw(st.none() | st.binary(min_size=12, max_size=12)),
        supplementary_party=draw(entity_ids) if supplementary else None,
        supplementary_counter=draw(counters) if supplementary else None,
        signature=draw(st.binary(min_size=64, max_size=64)) if has_signature else None,
    )


@given(messages())
def test_build_then_parse_gives_every_field_back(built: GeneralSigning) -> None:
    encoded = built.encode()
    assert GeneralSigning.parse(encoded) == built
    assert GeneralSigning.parse_with_span(encoded)[1] == built.signed_span() == encoded[1:len(encoded) - (
        65 if built.signature else 1)]
    assert message_length(encoded) == len(encoded)
    header = parse_message(encoded)
    assert (header.cra, header.originator_counter, header.originator, header.target, header.message_code,
            header.content) == (built.cra, built.originator_counter, built.originator, built.target,
                                built.message_code, built.content)
    assert general_signing_inside(encoded) == encoded


@given(messages(signed=False), st.integers(0, len(KEYS) - 1))
def test_what_hubfw_signs_verifies_with_its_signers_key_and_no_other(unsigned: GeneralSigning, signer: int) -> None:
    signed = sign(unsigned, KEYS[signer])
    assert verify(signed.encode(), KEYS[signer].public_key())
    assert verify(signed, KEYS[signer].public_key())
    for other, key in enumerate(KEYS):
        if other != signer:
            assert not verify(signed.encode(), key.public_key())
    assert not verify(signed.encode(), certificate(CH))


@given(messages(signed=False), st.data())
def test_a_flipped_bit_anywhere_in_the_signed_span_fails_verification(unsigned: GeneralSigning,
                                                                      data: st.DataObject) -> None:
    encoded = bytearray(sign(unsigned, KEYS[0]).encode())
    position = data.draw(st.integers(1, len(encoded) - 66), label="position")  # the span is encoded[1:-65]
    encoded[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    assert not _verifies(bytes(encoded), KEYS[0].public_key())


@given(messages(signed=False), st.data())
def test_a_flipped_bit_in_the_signature_fails_verification(unsigned: GeneralSigning, data: st.DataObject) -> None:
    encoded = bytearray(sign(unsigned, KEYS[0]).encode())
    encoded[data.draw(st.integers(len(encoded) - 64, len(encoded) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    assert not verify(bytes(encoded), KEYS[0].public_key())


def test_negative_control_an_unflipped_message_does_verify() -> None:
    """The checker of the two flip tests above says yes to the message as signed."""
    signed = sign(GeneralSigning(CraFlag.ALERT, 1, CH, ACB, 0x0128, b"\x30\x00"), KEYS[0])
    assert _verifies(signed.encode(), KEYS[0].public_key())


def test_a_long_form_length_is_verified_as_received() -> None:
    """A sender may write a length in a longer BER form than hubfw does: the signature covers the octets sent."""
    built = GeneralSigning(CraFlag.ALERT, 7, CH, ACB, 0x0128, b"\x30\x00")
    span = built.signed_span().replace(b"\x02\x30\x00", b"\x81\x02\x30\x00")
    received = b"\xDF" + span + b"\x40" + sign_message(KEYS[1], span)
    parsed, received_span = GeneralSigning.parse_with_span(received)
    assert (parsed.content, received_span) == (b"\x30\x00", span)
    assert verify(received, KEYS[1].public_key())
    assert not verify(parsed, KEYS[1].public_key())  # re-encoded with the short form, it is other octets


def test_a_key_of_another_curve_is_refused_clearly() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    unsigned = GeneralSigning(CraFlag.ALERT, 1, CH, ACB, 0x0128, b"")
    with pytest.raises(GbcsKeyError):
        sign(unsigned, other)
    with pytest.raises(GbcsKeyError):
        verify(sign(unsigned, KEYS[0]), other.public_key())


@pytest.mark.parametrize("fields, error", [
    ({"cra": 4}, "CRA flag"),
    ({"originator_counter": 1 << 64}, "originator counter"),
    ({"originator_counter": -1}, "originator counter"),
    ({"originator": b"\x00" * 7}, "8 octets"),
    ({"target": b"\x00" * 9}, "8 octets"),
    ({"message_code": 0x10000}, "message code"),
    ({"date_time": b"\x00" * 11}, "date-time"),
    ({"supplementary_party": PPMID}, "supplementary"),
    ({"supplementary_counter": 5}, "supplementary"),
    ({"supplementary_party": PPMID[:4], "supplementary_counter": 5}, "want 8"),
    ({"signature": b"\x00" * 63}, "signature"),
    ({"content": bytes(0x100_0000)}, "content"),
])
def test_the_builder_refuses_fields_the_message_cannot_carry(fields: dict, error: str) -> None:
    base = {"cra": CraFlag.ALERT, "originator_counter": 1, "originator": CH, "target": ACB, "message_code": 0x0128,
            "content": b""}
    with pytest.raises(GbcsFramingError, match=error):
        GeneralSigning(**{**base, **fields})


@pytest.mark.parametrize("mend, error", [
    (lambda m: m[:-1], "truncated"),
    (lambda m: m + b"\x00", "after the end"),
    (lambda m: b"\xDD" + m[1:], "not a General-Signing"),
    (lambda m: m[:1] + b"\x0A" + m[2:11] + b"\x00" + m[11:], "transaction-id"),
    (lambda m: m[:-65] + b"\x41" + m[-64:] + b"\x00", "signature of 65"),
    (lambda m: m.replace(b"\x00\x02\x01\x28", b"\x00\x03\x01\x28\x00"), "other-information of 3"),
    (lambda m: m.replace(b"\x00\x02\x01\x28", b"\x01\x00\x02\x01\x28"), "date-time of 1"),
], ids=["truncated", "trailing", "tag", "transaction-id", "signature", "other-information", "date-time"])
def test_each_malformation_of_a_real_message_is_the_one_clean_error(mend, error: str) -> None:
    original = message("ccs08-8f8a-alert")
    GeneralSigning.parse(original)  # negative control: as sent, it parses
    with pytest.raises(GbcsFramingError, match=error):
        GeneralSigning.parse(mend(original))


def _verifies(data: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    """Verification as a receiver does it: bytes that do not even parse do not verify."""
    try:
        return verify(data, key)
    except GbcsFramingError:
        return False


def _only_the_clean_error(data: bytes) -> None:
    for read in (GeneralSigning.parse, parse_message, general_signing_inside, message_length,
                 FirmwareTransferAlert.from_der, FirmwareActivationAlert.from_der,
                 lambda octets: verify(octets, KEYS[0].public_key())):
        try:
            read(data)
        except GbcsFramingError:
            pass


@given(st.binary(max_size=200))
def test_random_bytes_give_only_the_clean_error(data: bytes) -> None:
    _only_the_clean_error(data)
    _only_the_clean_error(b"\xDF" + data)


REAL = [message(name) for name in ("ccs08-8f8a-alert", "ppmid-8f8b-alert", "cs06-activate-command",
                                   "cs06-activate-response", "cs08-read-version-command")]
CONTENTS = [GeneralSigning.parse(REAL[0]).content, GeneralSigning.parse(REAL[1]).content]


@given(st.sampled_from(REAL + CONTENTS), st.data())
def test_truncated_or_mutated_real_messages_give_only_the_clean_error(original: bytes, data: st.DataObject) -> None:
    _only_the_clean_error(original[:data.draw(st.integers(0, len(original) - 1), label="cut")])
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    _only_the_clean_error(bytes(mutated))
