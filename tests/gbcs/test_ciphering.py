"""The GBCS command MAC and signatures against the DCC's own CS06 and CS08 messages (RTDS 4.5.0): hubfw checks every
MAC and signature the RTDS has keys for, rebuilds all four messages octet for octet from their fields and keys, and
refuses any one flipped bit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from hubfw.gbcs.ciphering import (
    MAC_HEADER,
    GbcsMacError,
    MacedMessage,
    check_mac,
    check_mac_with_key,
    compute_mac,
    derive_key,
    mac_key,
    seal,
    shared_secret,
)
from hubfw.gbcs.firmware_content import (
    ActivateFirmwareCommand,
    ActivateFirmwareResponse,
    ReadFirmwareVersionCommand,
    ReadFirmwareVersionResponse,
)
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, GeneralSigning, MessageCode, parse_message
from hubfw.gbcs.signing import sign, verify
from tests.gbcs.rtds import ACB, ESME, PPMID, RTDS, SUPPLIER, certificate, message

CS06_COMMAND = message("cs06-activate-command")
CS06_RESPONSE = message("cs06-activate-response")
CS08_COMMAND = message("cs08-read-version-command")
CS08_RESPONSE = message("cs08-read-version-response")
MACED = {"cs06-command": CS06_COMMAND, "cs08-command": CS08_COMMAND, "cs08-response": CS08_RESPONSE}

IMAGE_HASH = bytes.fromhex("AA758690730934FF0685AA758690730934FF0685657788990011223344556677")
RTDS_DATE_TIME = bytes.fromhex("07DF0101FF000000008000FF")


def private_key(name: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((RTDS / "keys" / name).read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


ACB_KA = private_key("90b3d51f30000002-ka.key")
SUPPLIER_DS = private_key("90b3d51f30010000-ds.key")
DEVICE_OF = {"cs06-command": ESME, "cs08-command": PPMID, "cs08-response": PPMID}
"""The device whose public KA certificate pairs with the ACB's private KA key for each MAC'd message. For the CS08
response the device's private key is not in the keystore: ECDH is symmetric, so the ACB's private key and the
PPMID's certificate give the same shared secret the PPMID used."""


def device_ka(name: str):
    return certificate(DEVICE_OF[name], "ka")


# -- the RTDS MACs and signatures verify ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MACED)
def test_the_rtds_macs_verify_with_the_keystore_keys(name: str) -> None:
    assert check_mac(MACED[name], ACB_KA, device_ka(name))
    assert check_mac(MacedMessage.parse(MACED[name]), ACB_KA, device_ka(name).public_key())


@pytest.mark.parametrize("name", MACED)
def test_negative_control_an_rtds_mac_fails_with_another_devices_key(name: str) -> None:
    other = ESME if DEVICE_OF[name] == PPMID else PPMID
    assert not check_mac(MACED[name], ACB_KA, certificate(other, "ka"))
    assert not check_mac(MACED[name], ec.generate_private_key(ec.SECP256R1()), device_ka(name))


def test_ecdh_is_symmetric_so_either_end_derives_the_same_key() -> None:
    device = ec.generate_private_key(ec.SECP256R1())
    acb = ec.generate_private_key(ec.SECP256R1())
    assert shared_secret(acb, device.public_key()) == shared_secret(device, acb.public_key())
    inner = GeneralSigning(CraFlag.RESPONSE, 7, PPMID, ACB, MessageCode.CS08_READ_FIRMWARE_VERSION,
                           ReadFirmwareVersionResponse(bytes(4), 0).der())
    assert check_mac(seal(inner, device, acb.public_key()), acb, device.public_key())


def test_the_cs06_signatures_verify_with_the_signers_certificates() -> None:
    command = MacedMessage.parse(CS06_COMMAND)
    assert verify(command.general_signing, certificate(SUPPLIER))
    assert verify(CS06_RESPONSE, certificate(ESME))
    assert not verify(command.general_signing, certificate(ESME))
    assert not verify(CS06_RESPONSE, certificate(SUPPLIER))


def test_the_cs08_messages_are_unsigned() -> None:
    for maced in (CS08_COMMAND, CS08_RESPONSE):
        assert MacedMessage.parse(maced).signed.signature is None


# -- the fields --------------------------------------------------------------------------------------------------


def test_the_mac_header_fields_of_every_rtds_maced_message() -> None:
    for maced in MACED.values():
        parsed = MacedMessage.parse(maced)
        assert maced.startswith(MAC_HEADER)
        assert (parsed.security_control, parsed.invocation_counter) == (0x11, 0)
        assert parsed.security_header == bytes.fromhex("1100000000")
        assert parsed.mac == maced[-12:]
        assert parsed.encode() == maced
        assert parse_message(maced) == parse_message(parsed.general_signing)


def test_the_cs06_command_has_every_field_the_rtds_lists() -> None:
    parsed = MacedMessage.parse(CS06_COMMAND)
    signed = parsed.signed
    assert parsed.transaction_id == bytes.fromhex("0100000000000003E8")
    assert (signed.cra, signed.originator_counter, signed.originator, signed.target) == (
        CraFlag.COMMAND, 1000, SUPPLIER, ESME)
    assert signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE == 0x0012
    assert signed.date_time is None and signed.supplementary_party is None
    assert ActivateFirmwareCommand.from_der(signed.content) == ActivateFirmwareCommand(IMAGE_HASH, 1000)


def test_the_cs06_response_has_every_field_the_rtds_lists() -> None:
    signed = GeneralSigning.parse(CS06_RESPONSE)
    assert (signed.cra, signed.originator_counter, signed.originator, signed.target) == (
        CraFlag.RESPONSE, 1000, ESME, SUPPLIER)
    assert signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE
    assert signed.date_time == RTDS_DATE_TIME
    assert ActivateFirmwareResponse.from_der(signed.content) == ActivateFirmwareResponse(0, bytes.fromhex("0123ABCE"))


def test_the_cs08_command_and_response_have_every_field_the_rtds_lists() -> None:
    command = MacedMessage.parse(CS08_COMMAND).signed
    assert (command.cra, command.originator_counter, command.originator, command.target) == (
        CraFlag.COMMAND, 1300, ACB, PPMID)
    assert command.message_code == MessageCode.CS08_READ_FIRMWARE_VERSION == 0x0129
    assert (command.supplementary_party, command.supplementary_counter) == (SUPPLIER, 1000)
    assert ReadFirmwareVersionCommand.from_der(command.content) == ReadFirmwareVersionCommand()
    response = MacedMessage.parse(CS08_RESPONSE).signed
    assert (response.cra, response.originator_counter, response.originator, response.target) == (
        CraFlag.RESPONSE, 1300, PPMID, ACB)
    assert (response.supplementary_party, response.supplementary_counter) == (SUPPLIER, 1000)
    assert ReadFirmwareVersionResponse.from_der(response.content) == ReadFirmwareVersionResponse(
        bytes.fromhex("0123ABCD"), 0)


# -- rebuilt from fields and keys, octet for octet -----------------------------------------------------------------


def cs06_command_inner() -> GeneralSigning:
    return GeneralSigning(CraFlag.COMMAND, 1000, SUPPLIER, ESME, MessageCode.CS06_ACTIVATE_FIRMWARE,
                          ActivateFirmwareCommand(IMAGE_HASH, 1000).der())


def cs08_inner(cra: CraFlag) -> GeneralSigning:
    originator, target = (ACB, PPMID) if cra == CraFlag.COMMAND else (PPMID, ACB)
    content = (ReadFirmwareVersionCommand().der() if cra == CraFlag.COMMAND
               else ReadFirmwareVersionResponse(bytes.fromhex("0123ABCD"), 0).der())
    return GeneralSigning(cra, 1300, originator, target, MessageCode.CS08_READ_FIRMWARE_VERSION, content,
                          supplementary_party=SUPPLIER, supplementary_counter=1000)


def test_the_cs06_command_is_rebuilt_up_to_its_signature_and_then_its_mac_is_the_rtds_mac() -> None:
    inner = cs06_command_inner()
    original = MacedMessage.parse(CS06_COMMAND)
    assert inner.signed_span() == original.general_signing[1:-65]
    signed_by_hubfw = seal(sign(inner, SUPPLIER_DS), ACB_KA, device_ka("cs06-command"))
    assert signed_by_hubfw[:-(64 + 12)] == CS06_COMMAND[:-(64 + 12)]  # all but the signature's octets and the MAC
    assert verify(MacedMessage.parse(signed_by_hubfw).general_signing, certificate(SUPPLIER))
    assert check_mac(signed_by_hubfw, ACB_KA, device_ka("cs06-command"))
    rebuilt = seal(inner.with_signature(original.signed.signature), ACB_KA, device_ka("cs06-command"))
    assert rebuilt == CS06_COMMAND
    assert MacedMessage.parse(rebuilt).mac == original.mac


def test_the_cs06_response_is_rebuilt_up_to_its_signature() -> None:
    inner = GeneralSigning(CraFlag.RESPONSE, 1000, ESME, SUPPLIER, MessageCode.CS06_ACTIVATE_FIRMWARE,
                           ActivateFirmwareResponse(0, bytes.fromhex("0123ABCE")).der(), date_time=RTDS_DATE_TIME)
    assert inner.encode()[:-1] == CS06_RESPONSE[:-65]
    assert inner.with_signature(CS06_RESPONSE[-64:]).encode() == CS06_RESPONSE


@pytest.mark.parametrize("name, cra", [("cs08-command", CraFlag.COMMAND), ("cs08-response", CraFlag.RESPONSE)])
def test_the_cs08_messages_are_rebuilt_octet_for_octet_mac_included(name: str, cra: CraFlag) -> None:
    rebuilt = seal(cs08_inner(cra), ACB_KA, device_ka(name))
    assert rebuilt == MACED[name]
    assert seal(cs08_inner(cra).encode(), ACB_KA, device_ka(name)) == MACED[name]


@pytest.mark.parametrize("name", MACED)
def test_the_mac_from_the_derived_key_is_the_rtds_mac(name: str) -> None:
    parsed = MacedMessage.parse(MACED[name])
    signed = parsed.signed
    key = derive_key(shared_secret(ACB_KA, device_ka(name)), signed.originator, signed.cra,
                     signed.originator_counter, signed.target)
    assert key == mac_key(ACB_KA, device_ka(name), MACED[name]) == mac_key(ACB_KA, device_ka(name), signed)
    assert len(key) == 16
    assert compute_mac(key, parsed.general_signing) == parsed.mac
    assert check_mac_with_key(MACED[name], key)


@pytest.mark.parametrize("name", MACED)
def test_the_key_is_bound_to_the_transaction(name: str) -> None:
    """Another counter, CRA flag, originator or target gives another key, so the RTDS MAC no longer holds."""
    signed = MacedMessage.parse(MACED[name]).signed
    z = shared_secret(ACB_KA, device_ka(name))
    key = derive_key(z, signed.originator, signed.cra, signed.originator_counter, signed.target)
    others = [
        derive_key(z, signed.originator, signed.cra, signed.originator_counter + 1, signed.target),
        derive_key(z, signed.originator, CraFlag.ALERT, signed.originator_counter, signed.target),
        derive_key(z, signed.target, signed.cra, signed.originator_counter, signed.originator),
    ]
    assert key not in others and len(set(others)) == 3


# -- one flipped bit fails -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MACED)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_one_flipped_bit_anywhere_fails_the_mac(name: str, data: st.DataObject) -> None:
    original = MACED[name]
    position = data.draw(st.integers(0, len(original) * 8 - 1), label="bit")
    flipped = bytearray(original)
    flipped[position // 8] ^= 1 << (position % 8)
    assert not check_mac(bytes(flipped), ACB_KA, device_ka(name))


@pytest.mark.parametrize("name", MACED)
def test_every_single_bit_flip_fails_the_mac(name: str) -> None:
    """The exhaustive version of the property: every bit of every MAC'd RTDS message, one at a time."""
    original = MACED[name]
    for position in range(len(original) * 8):
        flipped = bytearray(original)
        flipped[position // 8] ^= 1 << (position % 8)
        assert not check_mac(bytes(flipped), ACB_KA, device_ka(name)), position


def test_a_security_header_other_than_11_00000000_is_refused() -> None:
    parsed = MacedMessage.parse(CS08_COMMAND)
    for header in (replace(parsed, invocation_counter=1), replace(parsed, security_control=0x31)):
        assert not check_mac(header.encode(), ACB_KA, device_ka("cs08-command"))


# -- malformed -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    CS06_RESPONSE,  # a bare General-Signing message: no MAC header
    CS08_COMMAND[:-1],
    CS08_COMMAND + b"\x00",
    bytes.fromhex("DD00000000000001") + b"\x11",
    bytes.fromhex("DD000000000000") + bytes([17]) + bytes.fromhex("1100000000") + bytes(12),
    bytes.fromhex("DD000000000109") + CS08_COMMAND[7:],
])
def test_not_a_maced_message_is_refused(bad: bytes) -> None:
    with pytest.raises(GbcsFramingError):
        MacedMessage.parse(bad)
    assert not check_mac(bad, ACB_KA, device_ka("cs08-command"))


def test_a_mac_of_another_length_is_refused() -> None:
    with pytest.raises(GbcsMacError):
        MacedMessage(GeneralSigning.parse(CS06_RESPONSE).encode(), bytes(11))


@pytest.mark.parametrize("der", ["", "0501", "3000", "30260420" + "00" * 32 + "0201", "300902010004030123AB"])
def test_contents_are_strict(der: str) -> None:
    for content in (ActivateFirmwareCommand, ActivateFirmwareResponse, ReadFirmwareVersionCommand,
                    ReadFirmwareVersionResponse):
        with pytest.raises(GbcsFramingError):
            content.from_der(bytes.fromhex(der))


@given(st.binary(min_size=32, max_size=32), st.integers(0, (1 << 64) - 1), st.binary(min_size=4, max_size=4),
       st.integers(0, 255))
def test_contents_round_trip(image_hash: bytes, counter: int, version: bytes, code: int) -> None:
    for content in (ActivateFirmwareCommand(image_hash, counter), ActivateFirmwareResponse(code, version),
                    ReadFirmwareVersionCommand(), ReadFirmwareVersionResponse(version, code)):
        assert type(content).from_der(content.der()) == content
