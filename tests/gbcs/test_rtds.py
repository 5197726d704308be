"""hubfw reads, rebuilds and verifies the DCC's own GBCS messages (RTDS 4.5.0) byte for byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
import zigpy.types as t

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.gbcs.alert_content import FirmwareActivationAlert, FirmwareTransferAlert
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode, general_signing_inside, parse_message
from hubfw.gbcs.signing import verify
from tests.gbcs.rtds import ACB, CH, ESME, PPMID, SUPPLIER, certificate, message

NEW_YEAR_2015 = datetime(2015, 1, 1, tzinfo=timezone.utc)
CCS08 = message("ccs08-8f8a-alert")
ACTIVATION = message("ppmid-8f8b-alert")


def test_the_ccs08_alert_has_every_field_the_rtds_lists() -> None:
    signed = GeneralSigning.parse(CCS08)
    assert (signed.cra, signed.originator_counter) == (CraFlag.ALERT, 4000)
    assert (signed.originator, signed.target) == (CH, ACB)
    assert signed.message_code == MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT == 0x0128
    assert signed.date_time is None and signed.supplementary_party is None and len(signed.signature or b"") == 64
    assert FirmwareTransferAlert.from_der(signed.content) == FirmwareTransferAlert(
        alert_code=0x8F8A, execution_time=NEW_YEAR_2015, entity_id=PPMID, firmware_version=bytes.fromhex("0123ABCD"),
        transfer_response_code=0)


def test_the_ppmid_activation_alert_has_every_field_the_rtds_lists() -> None:
    signed = GeneralSigning.parse(ACTIVATION)
    assert (signed.cra, signed.originator_counter) == (CraFlag.ALERT, 5000)
    assert (signed.originator, signed.target) == (PPMID, ACB)
    assert signed.message_code == MessageCode.FIRMWARE_ACTIVATION_ALERT == 0x012B
    assert FirmwareActivationAlert.from_der(signed.content) == FirmwareActivationAlert(
        alert_code=0x8F8B, execution_time=NEW_YEAR_2015, firmware_version=bytes.fromhex("1234ABCD"), outcome=0)


@pytest.mark.parametrize("original, content", [
    (CCS08, FirmwareTransferAlert(0x8F8A, NEW_YEAR_2015, PPMID, bytes.fromhex("0123ABCD"), 0).der()),
    (ACTIVATION, FirmwareActivationAlert(0x8F8B, NEW_YEAR_2015, bytes.fromhex("1234ABCD"), 0).der()),
], ids=["ccs08", "8f8b"])
def test_rebuilt_from_the_fields_byte_for_byte_up_to_the_signature(original: bytes, content: bytes) -> None:
    code = MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT if original is CCS08 else MessageCode.FIRMWARE_ACTIVATION_ALERT
    originator, counter = (CH, 4000) if original is CCS08 else (PPMID, 5000)
    rebuilt = GeneralSigning(CraFlag.ALERT, counter, originator, ACB, code, content)
    assert rebuilt.encode()[:-1] == original[:-65]  # all but the signature element ("00" unsigned, "40 ..." signed)
    assert rebuilt.signed_span() == original[1:-65]
    assert rebuilt.with_signature(original[-64:]).encode() == original


@pytest.mark.parametrize("original, signer", [(CCS08, CH), (ACTIVATION, PPMID)], ids=["ccs08-by-ch", "8f8b-by-ppmid"])
def test_the_rtds_signatures_verify_with_the_signers_certificates(original: bytes, signer: bytes) -> None:
    assert verify(original, certificate(signer))
    assert verify(GeneralSigning.parse(original), certificate(signer).public_key())


@pytest.mark.parametrize("original, other", [(CCS08, PPMID), (ACTIVATION, CH), (CCS08, SUPPLIER), (ACTIVATION, ESME)])
def test_negative_control_the_rtds_signatures_fail_with_another_partys_certificate(original: bytes,
                                                                                   other: bytes) -> None:
    assert not verify(original, certificate(other))


def test_negative_control_an_rtds_alert_with_its_content_changed_fails() -> None:
    signed = GeneralSigning.parse(CCS08)
    changed = FirmwareTransferAlert(0x8F89, NEW_YEAR_2015, PPMID, bytes.fromhex("0123ABCD"), 3).der()
    assert not verify(replace(signed, content=changed), certificate(CH))


def test_a_response_with_a_date_time_and_a_maced_command_verify_too() -> None:
    """The CS06 response carries a 12-octet DLMS date-time; the CS06 command's General-Signing message sits
    inside a MAC'd General-Ciphering message and is signed by the supplier."""
    response = GeneralSigning.parse(message("cs06-activate-response"))
    assert response.date_time == bytes.fromhex("07DF0101FF000000008000FF")
    assert (response.cra, response.originator, response.target) == (CraFlag.RESPONSE, ESME, SUPPLIER)
    assert verify(message("cs06-activate-response"), certificate(ESME))
    command = general_signing_inside(message("cs06-activate-command"))
    assert GeneralSigning.parse(command).originator_counter == 1000
    assert verify(command, certificate(SUPPLIER)) and not verify(command, certificate(ESME))


def test_supplementary_remote_party_fields_round_trip() -> None:
    inner = general_signing_inside(message("cs08-read-version-command"))
    parsed = GeneralSigning.parse(inner)
    assert (parsed.message_code, parsed.supplementary_party, parsed.supplementary_counter) == (0x0129, SUPPLIER, 1000)
    assert (parsed.content, parsed.signature) == (bytes.fromhex("0500"), None)
    assert parsed.encode() == inner
    assert parse_message(message("cs08-read-version-command")).message_code == 0x0129
    assert not verify(inner, certificate(SUPPLIER))  # unsigned: nothing to verify


def test_hubfws_ccs08_der_is_the_rtds_content() -> None:
    """`hubfw.alerts.TransferAlert`, the alert the hub owes, encodes the CCS08 content exactly as the RTDS."""
    alert = TransferAlert(alert_id=0, code=AlertCode.TRANSFER_SUCCESS, entity=t.EUI64(PPMID[::-1]),
                          firmware_version=0x0123ABCD, transfer_response=TransferResponse.SUCCESS,
                          time=NEW_YEAR_2015.timestamp())
    assert alert.der() == GeneralSigning.parse(CCS08).content


def test_hubfws_8f8b_der_is_the_rtds_content() -> None:
    """`hubfw.alerts.TransferAlert` encodes the PPMID's 0x8F8B content exactly as the RTDS (no entity id, outcome 0);
    the PPMID is the message's originator, not a field of the content."""
    alert = TransferAlert(alert_id=0, code=AlertCode.ACTIVATION, entity=t.EUI64(PPMID[::-1]),
                          firmware_version=0x1234ABCD, transfer_response=None, time=NEW_YEAR_2015.timestamp())
    assert alert.der() == GeneralSigning.parse(ACTIVATION).content
    assert PPMID not in alert.der()


def test_negative_control_a_failed_activation_is_not_the_rtds_content() -> None:
    alert = TransferAlert(alert_id=0, code=AlertCode.ACTIVATION, entity=t.EUI64(PPMID[::-1]),
                          firmware_version=0x1234ABCD, transfer_response=None, time=NEW_YEAR_2015.timestamp(),
                          outcome=ActivationOutcome.FAILURE)
    assert alert.der() != GeneralSigning.parse(ACTIVATION).content
