"""The GBCS alert model: DER checked with pyasn1 (an independent decoder) and with `hubfw.gbcs.alert_content`, JSON
round trips (the GBCS keys too), bad input. The 0x8F8B content is the RTDS form: no entity id, an outcome INTEGER
(tests/gbcs/rtds/README.md)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.type import namedtype, univ, useful

from hubfw.alerts import (
    ActivationOutcome,
    AlertCode,
    AlertError,
    TransferAlert,
    TransferResponse,
    activation_alert,
    transfer_alert,
)
from hubfw.gbcs.alert_content import FirmwareActivationAlert, FirmwareTransferAlert
from hubfw.gbcs.alert_message import activation_message
from hubfw.gbcs.framing import GbcsFramingError
from hubfw.ota.keys import new_private_key

PPMID = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
NEW_YEAR_2026 = 1_767_225_600.0


class _TransferAlertSpec(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("alertCode", univ.Integer()),
        namedtype.NamedType("executionDateTime", useful.GeneralizedTime()),
        namedtype.NamedType("entityId", univ.OctetString()),
        namedtype.NamedType("firmwareVersion", univ.OctetString()),
        namedtype.OptionalNamedType("transferResponseCode", univ.Integer()),
    )


class _ActivationAlertSpec(univ.Sequence):
    """The RTDS 0x8F8B content: no entityId; the last INTEGER is the activation outcome."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("alertCode", univ.Integer()),
        namedtype.NamedType("executionDateTime", useful.GeneralizedTime()),
        namedtype.NamedType("firmwareVersion", univ.OctetString()),
        namedtype.NamedType("outcome", univ.Integer()),
    )


def _pyasn1_decode(der: bytes) -> univ.Sequence:
    spec = _ActivationAlertSpec() if der[4:7] == b"\x00\x8f\x8b" else _TransferAlertSpec()
    decoded, rest = der_decoder.decode(der, asn1Spec=spec)
    assert rest == b""
    return decoded


def test_success_alert_decodes_field_by_field_with_pyasn1():
    alert = transfer_alert(7, PPMID, 0x00000020, TransferResponse.SUCCESS, NEW_YEAR_2026 + 3661)
    assert alert.code is AlertCode.TRANSFER_SUCCESS
    decoded = _pyasn1_decode(alert.der())
    assert int(decoded["alertCode"]) == 0x8F8A
    assert str(decoded["executionDateTime"]) == "20260101010101Z"
    assert bytes(decoded["entityId"]) == bytes.fromhex("000d6f000abcdef0")
    assert bytes(decoded["firmwareVersion"]) == bytes.fromhex("00000020")
    assert int(decoded["transferResponseCode"]) == 0


@pytest.mark.parametrize(
    "response, code",
    [
        (TransferResponse.IMAGE_DISCARDED, 0x8F89),
        (TransferResponse.HARDWARE_VERSION_MISMATCH, 0x8F89),
        (TransferResponse.FILE_TRANSFER_FAILURE, 0x8F89),
    ],
)
def test_failure_alerts_carry_their_response_code(response, code):
    alert = transfer_alert(1, PPMID, 0x01020304, response, NEW_YEAR_2026)
    assert alert.code == code
    decoded = _pyasn1_decode(alert.der())
    assert int(decoded["alertCode"]) == code
    assert int(decoded["transferResponseCode"]) == int(response)
    assert bytes(decoded["firmwareVersion"]) == b"\x01\x02\x03\x04"


@pytest.mark.parametrize("outcome", list(ActivationOutcome))
def test_activation_alert_has_no_entity_id_and_carries_its_outcome(outcome):
    alert = activation_alert(3, PPMID, 0x00000021, NEW_YEAR_2026, outcome)
    assert alert.outcome is outcome
    decoded = _pyasn1_decode(alert.der())
    assert int(decoded["alertCode"]) == 0x8F8B
    assert bytes(decoded["firmwareVersion"]) == bytes.fromhex("00000021")
    assert int(decoded["outcome"]) == outcome
    assert FirmwareActivationAlert.from_der(alert.der()) == FirmwareActivationAlert(
        0x8F8B, datetime(2026, 1, 1, tzinfo=timezone.utc), bytes.fromhex("00000021"), int(outcome))
    with pytest.raises(Exception):  # noqa: B017 - pyasn1's own error: a CCS08 schema does not fit
        der_decoder.decode(alert.der(), asn1Spec=_TransferAlertSpec())


def test_only_an_activation_alert_has_an_outcome():
    with pytest.raises(AlertError, match="only a 0x8F8B"):
        dataclasses.replace(transfer_alert(1, PPMID, 1, TransferResponse.SUCCESS, NEW_YEAR_2026),
                            outcome=ActivationOutcome.FAILURE)


def test_execution_time_is_utc_generalized_time_in_whole_seconds():
    alert = transfer_alert(1, PPMID, 1, TransferResponse.SUCCESS, NEW_YEAR_2026 + 0.75)
    decoded = _pyasn1_decode(alert.der())
    when = decoded["executionDateTime"].asDateTime
    assert str(decoded["executionDateTime"]).endswith("Z")
    assert when == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert alert.time == NEW_YEAR_2026
    assert alert.to_json()["time"] == "2026-01-01T00:00:00Z"


def test_json_shape():
    record = transfer_alert(9, PPMID, 0x20, TransferResponse.HARDWARE_VERSION_MISMATCH, NEW_YEAR_2026).to_json()
    assert record == {
        "alert_id": 9,
        "code": "0x8F89",
        "code_int": 0x8F89,
        "entity": "00:0d:6f:00:0a:bc:de:f0",
        "firmware_version": "0x00000020",
        "transfer_response_code": 2,
        "transfer_response": "HARDWARE_VERSION_MISMATCH",
        "activation_outcome": None,
        "time": "2026-01-01T00:00:00Z",
        "source": "hub",
        "der": record["der"],
        "originator_counter": None,
        "gbcs": None,
        "signature": None,
    }
    assert FirmwareTransferAlert.from_der(bytes.fromhex(record["der"])) == FirmwareTransferAlert(
        0x8F89, datetime(2026, 1, 1, tzinfo=timezone.utc), bytes.fromhex("000d6f000abcdef0"), bytes.fromhex("00000020"),
        2)


SIGNER = new_private_key()


def _tunnel_activation(counter: int = 5000) -> TransferAlert:
    alert = activation_alert(4, PPMID, 0x0102, NEW_YEAR_2026, ActivationOutcome.FAILURE)
    return dataclasses.replace(alert, source="tunnel", counter=counter,
                               message=activation_message(alert, counter, key=SIGNER), signature="unchecked")


def test_json_of_the_gbcs_keys():
    alert = _tunnel_activation()
    record = alert.to_json()
    assert (record["activation_outcome"], record["originator_counter"], record["signature"]) == (1, 5000, "unchecked")
    assert record["gbcs"] == alert.message.hex() and record["transfer_response_code"] is None
    assert TransferAlert.from_json(record) == alert
    assert TransferAlert.from_json(record).message == alert.message


def test_a_record_from_before_gbcs_messages_still_reads():
    """An older release wrote neither `gbcs` nor the other GBCS keys (and its 0x8F8B `der` was another form): the
    record is read by its fields alone."""
    record = activation_alert(4, PPMID, 0x0102, NEW_YEAR_2026).to_json()
    for key in ("gbcs", "originator_counter", "signature", "activation_outcome"):
        del record[key]
    record["der"] = "3000"  # not checked without `gbcs`
    assert TransferAlert.from_json(record) == activation_alert(4, PPMID, 0x0102, NEW_YEAR_2026)


def test_a_gbcs_message_whose_content_mismatches_the_fields_is_refused():
    record = _tunnel_activation().to_json()
    other = activation_alert(4, PPMID, 0x0103, NEW_YEAR_2026, ActivationOutcome.FAILURE)
    with pytest.raises(AlertError, match="GBCS message does not carry the alert's fields") as info:
        TransferAlert.from_json({**record, "gbcs": activation_message(other, 5000).hex()})
    assert "\n" not in str(info.value)
    with pytest.raises(AlertError, match="does not carry"):
        TransferAlert.from_json({**record, "gbcs": "dfdf"})
    with pytest.raises(AlertError, match="der field does not match"):
        TransferAlert.from_json({**record, "activation_outcome": 0})


@pytest.mark.parametrize("change, message", [
    ({"signature": "maybe"}, "signature must be one of"),
    ({"originator_counter": 2**64}, "8 octets"),
    ({"activation_outcome": 2}, "not a hubfw alert record"),
    ({"gbcs": "zz"}, "not a hubfw alert record"),
])
def test_bad_gbcs_keys_are_refused_with_one_line(change, message):
    with pytest.raises(AlertError, match=message) as info:
        TransferAlert.from_json({**_tunnel_activation().to_json(), **change})
    assert "\n" not in str(info.value)


_alerts = st.one_of(
    st.builds(
        transfer_alert,
        alert_id=st.integers(0, 2**63),
        entity=st.binary(min_size=8, max_size=8).map(t.EUI64),
        firmware_version=st.integers(0, 0xFFFFFFFF),
        response=st.sampled_from(TransferResponse),
        time=st.floats(0, 4_102_444_800),
    ),
    st.builds(
        activation_alert,
        alert_id=st.integers(0, 2**63),
        entity=st.binary(min_size=8, max_size=8).map(t.EUI64),
        firmware_version=st.integers(0, 0xFFFFFFFF),
        time=st.floats(0, 4_102_444_800),
        outcome=st.sampled_from(ActivationOutcome),
    ),
)


@given(_alerts, st.sampled_from(["hub", "tunnel"]))
def test_json_and_der_round_trip(alert, source):
    alert = dataclasses.replace(alert, source=source)
    assert TransferAlert.from_json(alert.to_json()) == alert
    decoded = _pyasn1_decode(alert.der())
    assert int(decoded["alertCode"]) == alert.code
    assert int.from_bytes(bytes(decoded["firmwareVersion"]), "big") == alert.firmware_version
    assert decoded["executionDateTime"].asDateTime.timestamp() == alert.time
    if alert.code is AlertCode.ACTIVATION:
        assert int(decoded["outcome"]) == alert.outcome
        assert FirmwareActivationAlert.from_der(alert.der()).outcome == alert.outcome
    else:
        assert bytes(decoded["entityId"])[::-1] == bytes(alert.entity)
        assert FirmwareTransferAlert.from_der(alert.der()).entity_id == bytes(alert.entity)[::-1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"code_int": 0x8F8A}, "does not go with transfer response FILE_TRANSFER_FAILURE"),
        ({"transfer_response_code": 9}, "not a hubfw alert record"),
        ({"firmware_version": "0x100000000"}, "4 octets"),
        ({"entity": "00:0d"}, "not a hubfw alert record"),
        ({"time": "2026-01-01T00:00:00"}, "no time zone"),
        ({"source": "meter"}, "source"),
        ({"der": "3000"}, "der field does not match"),
    ],
)
def test_bad_json_records_are_refused_with_one_line(change, message):
    record = transfer_alert(1, PPMID, 1, TransferResponse.FILE_TRANSFER_FAILURE, NEW_YEAR_2026).to_json()
    with pytest.raises(AlertError, match=message) as info:
        TransferAlert.from_json({**record, **change})
    assert "\n" not in str(info.value)


def test_missing_json_key_is_refused():
    record = activation_alert(1, PPMID, 1, NEW_YEAR_2026).to_json()
    del record["entity"]
    with pytest.raises(AlertError, match="not a hubfw alert record"):
        TransferAlert.from_json(record)


def _pyasn1_encode(code: int, entity_id: bytes, response: int | None, when: str = "20260101000000Z") -> bytes:
    spec = _TransferAlertSpec()
    spec["alertCode"] = code
    spec["executionDateTime"] = when
    spec["entityId"] = entity_id
    spec["firmwareVersion"] = b"\x00\x00\x00\x01"
    if response is not None:
        spec["transferResponseCode"] = response
    return ber_encoder.encode(spec)  # BER: lets the tests build what DER forbids


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30\x00",
        b"\x02\x01\x00",
        transfer_alert(1, PPMID, 1, TransferResponse.SUCCESS, NEW_YEAR_2026).der() + b"\x00",
        _pyasn1_encode(0x8F8B, bytes(8), 0),  # activation alert with a transfer response code
        _pyasn1_encode(0x8F8A, bytes(7), 0),  # short entityId
        _pyasn1_encode(0x1234, bytes(8), 0),  # not a firmware alert code
        _pyasn1_encode(0x8F8A, bytes(8), 0, when="20260101000000"),  # local time
        _pyasn1_encode(0x8F8A, bytes(8), 0, when="20260101010000+0100"),  # offset, not 'Z'
    ],
)
def test_garbage_der_is_refused(der):
    for schema in (FirmwareTransferAlert, FirmwareActivationAlert):
        with pytest.raises(GbcsFramingError) as info:
            schema.from_der(der)
        assert "\n" not in str(info.value)


def test_a_success_code_with_a_failure_response_reads_but_is_no_alert():
    """The content layer reads the fields; the model refuses a 0x8F8A that carries a failure's response code."""
    content = FirmwareTransferAlert.from_der(_pyasn1_encode(0x8F8A, bytes(8), 3))
    with pytest.raises(AlertError, match="does not go with transfer response FILE_TRANSFER_FAILURE"):
        TransferAlert(1, AlertCode(content.alert_code), PPMID, 1, TransferResponse(content.transfer_response_code),
                      NEW_YEAR_2026)


def test_an_independent_encoder_produces_the_same_bytes():
    der = _pyasn1_encode(0x8F89, bytes.fromhex("000d6f000abcdef0"), 1)
    assert der == transfer_alert(5, PPMID, 1, TransferResponse.IMAGE_DISCARDED, NEW_YEAR_2026).der()
