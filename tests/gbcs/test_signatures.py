"""Every GBCS message hubfw signs verifies with its signer's key and no other, and stops verifying when any bit of
its signed span changes; hubfw rebuilds the RTDS messages from their fields up to the signature; `GbcsIdentity.deliver`
gives each alert the message the DCC side receives. References: the RTDS README (tests/gbcs/rtds/README.md), GBCS
section 4 "General-Signing", Wireshark's GBCS dissector (epan/dissectors/packet-zbee-zcl-se.c)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import ActivationOutcome, TransferAlert, TransferResponse, activation_alert, transfer_alert
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, GbcsIdentity, activation_message, entity_id
from hubfw.gbcs.device_alert import find_device_alert
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, GeneralSigning, MessageCode
from hubfw.gbcs.signing import verify
from hubfw.sim.devices import ppmid
from tests.gbcs.rtds import ACB, CH, ESME, PPMID, SUPPLIER, certificate, message

NEW_YEAR_2015 = 1_420_070_400.0
CH_EUI = t.EUI64(CH[::-1])
PPMID_EUI = t.EUI64(PPMID[::-1])
CH_KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
PPMID_KEY = ec.derive_private_key(0x8F8B, ec.SECP256R1())
RTDS_ACTIVATION = message("ppmid-8f8b-alert")
RTDS_CCS08 = message("ccs08-8f8a-alert")


def _ccs08() -> bytes:
    alert = replace(transfer_alert(3, PPMID_EUI, 0x0123ABCD, TransferResponse.SUCCESS, NEW_YEAR_2015), counter=4000)
    return GbcsIdentity(CH_EUI, CH_KEY).transfer_message(alert)


def _simulated_activation() -> bytes:
    """What a simulated PPMID PUTs through its tunnel when it activates (`hubfw.sim.devices.client`)."""
    device = ppmid(PPMID_EUI, 0x1234, manufacturer_code=0x1234, image_type=0x0101, file_version=0x100,
                   ds_key=PPMID_KEY)
    counter = device.next_originator_counter(NEW_YEAR_2015)
    alert = activation_alert(1, PPMID_EUI, 0x0200, NEW_YEAR_2015)
    return activation_message(alert, counter, DEFAULT_ACB_ID, key=device.ds_key)


SIGNED = {"ccs08-by-the-ch": (_ccs08(), CH_KEY), "8f8b-by-a-simulated-ppmid": (_simulated_activation(), PPMID_KEY)}
OTHER_KEYS = [certificate(party).public_key() for party in (CH, PPMID, ESME, SUPPLIER)] + [
    ec.derive_private_key(n, ec.SECP256R1()).public_key() for n in (1, 2, 3)]


def _verifies(data: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    try:
        return verify(data, key)
    except GbcsFramingError:  # a changed length octet: not even a message any more
        return False


@pytest.mark.parametrize("name", SIGNED)
def test_what_hubfw_signs_verifies_with_its_signers_key_and_no_other(name: str) -> None:
    signed, key = SIGNED[name]
    assert verify(signed, key.public_key())
    assert not any(verify(signed, other) for other in OTHER_KEYS)


@pytest.mark.parametrize("name", SIGNED)
@given(data=st.data())
def test_a_flipped_bit_anywhere_in_the_signed_span_fails(name: str, data: st.DataObject) -> None:
    signed, key = SIGNED[name]
    span_bits = (len(signed) - 1 - 65) * 8  # message[1:-65]
    bit = data.draw(st.integers(0, span_bits - 1), label="bit")
    changed = bytearray(signed)
    changed[1 + bit // 8] ^= 1 << (bit % 8)
    assert not _verifies(bytes(changed), key.public_key())


@pytest.mark.parametrize("name", SIGNED)
@given(data=st.data())
def test_a_flipped_bit_in_the_signature_fails(name: str, data: st.DataObject) -> None:
    signed, key = SIGNED[name]
    bit = data.draw(st.integers(0, 64 * 8 - 1), label="bit")
    changed = bytearray(signed)
    changed[len(signed) - 64 + bit // 8] ^= 1 << (bit % 8)
    assert not _verifies(bytes(changed), key.public_key())


def test_negative_control_the_unchanged_message_still_verifies_through_the_same_helper() -> None:
    for signed, key in SIGNED.values():
        assert _verifies(signed, key.public_key())


def test_the_rtds_8f8b_verifies_with_the_ppmids_certificate_and_rebuilds_from_hubfws_model() -> None:
    assert verify(RTDS_ACTIVATION, certificate(PPMID))
    alert = activation_alert(0, PPMID_EUI, 0x1234ABCD, NEW_YEAR_2015)
    rebuilt = activation_message(alert, 5000, DEFAULT_ACB_ID)
    assert rebuilt[:-1] == RTDS_ACTIVATION[:-65]  # all but the signature element ("00" unsigned)
    assert GeneralSigning.parse(rebuilt).with_signature(RTDS_ACTIVATION[-64:]).encode() == RTDS_ACTIVATION
    assert bytes(DEFAULT_ACB_ID)[::-1] == ACB
    failed = activation_message(replace(alert, outcome=ActivationOutcome.FAILURE), 5000)
    assert failed[:-1] != RTDS_ACTIVATION[:-65]  # negative control: the outcome is in the content


def test_the_rtds_ccs08_rebuilds_from_gbcs_identity_up_to_the_signature() -> None:
    """The CH's key is not in the RTDS keystore, so only the signed span can match; it does, octet for octet."""
    assert _ccs08()[:-65] == RTDS_CCS08[:-65]
    assert not verify(_ccs08(), certificate(CH))  # another CH key: the RTDS CH's certificate does not check it


# ------------------------------------------------------------------ GbcsIdentity.deliver


IDENTITY = GbcsIdentity(CH_EUI, CH_KEY, device_keys={PPMID_EUI: PPMID_KEY.public_key()})


def test_deliver_gives_a_transfer_alert_its_ccs08_message() -> None:
    alert = replace(transfer_alert(9, PPMID_EUI, 0x20, TransferResponse.IMAGE_DISCARDED, NEW_YEAR_2015), counter=77)
    delivered = IDENTITY.deliver(alert)
    parsed = GeneralSigning.parse(delivered.message)
    assert (parsed.message_code, parsed.cra, parsed.originator_counter) == (0x0128, CraFlag.ALERT, 77)
    assert (parsed.originator, parsed.target, parsed.content) == (entity_id(CH_EUI), ACB, alert.der())
    assert parsed.date_time is None and parsed.supplementary_party is None
    assert verify(delivered.message, CH_KEY.public_key()) and delivered.signature is None
    assert replace(delivered, message=None) == alert
    again = IDENTITY.deliver(alert)
    assert again.message == delivered.message  # handed over again after a crash: byte for byte the same
    other_counter = IDENTITY.deliver(replace(alert, counter=78)).message
    assert other_counter != delivered.message  # negative control: the counter is in the signed span


def test_deliver_an_inferred_activation_unsigned_and_absent() -> None:
    alert = replace(activation_alert(4, PPMID_EUI, 0x200, NEW_YEAR_2015), counter=12)
    delivered = IDENTITY.deliver(alert)
    assert delivered.signature == "absent"
    parsed = GeneralSigning.parse(delivered.message)
    assert (parsed.message_code, parsed.originator, parsed.target, parsed.signature) == (
        MessageCode.FIRMWARE_ACTIVATION_ALERT, entity_id(PPMID_EUI), ACB, None)
    assert (parsed.originator_counter, parsed.content) == (12, alert.der())
    assert IDENTITY.deliver(alert) == delivered


def _tunnel(message_bytes: bytes) -> TransferAlert:
    found = find_device_alert(message_bytes, PPMID_EUI)
    assert found is not None and found.alert is not None
    return replace(found.alert, alert_id=5, counter=13)


@pytest.mark.parametrize("signer, identity, state", [
    (PPMID_KEY, IDENTITY, "valid"),
    (CH_KEY, IDENTITY, "invalid"),
    (PPMID_KEY, GbcsIdentity(CH_EUI, CH_KEY), "unchecked"),
    (PPMID_KEY, GbcsIdentity(CH_EUI, CH_KEY, device_keys={CH_EUI: PPMID_KEY.public_key()}), "unchecked"),
])
def test_deliver_a_devices_own_activation_verbatim_with_its_signatures_state(signer, identity, state) -> None:
    device_message = activation_message(activation_alert(1, PPMID_EUI, 0x300, NEW_YEAR_2015), 900, key=signer)
    alert = _tunnel(device_message)
    delivered = identity.deliver(alert)
    assert delivered.message == device_message and delivered.signature == state


def test_deliver_refuses_an_alert_without_its_counter() -> None:
    with pytest.raises(ValueError, match="no originator counter"):
        IDENTITY.deliver(transfer_alert(1, PPMID_EUI, 1, TransferResponse.SUCCESS, NEW_YEAR_2015))
