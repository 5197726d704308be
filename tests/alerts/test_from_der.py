"""The alert model back from its DER content, as the hub reads a device's alert: `hubfw.gbcs.alert_content` inverts
`TransferAlert.der()` for both contents (CCS08 with entityId and transferResponseCode; the RTDS 0x8F8B without an
entityId, with an outcome INTEGER), and pyasn1 (an independent decoder) agrees on every field."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import namedtype, univ, useful

from hubfw.alerts import ActivationOutcome, TransferResponse, activation_alert, transfer_alert
from hubfw.gbcs.alert_content import FirmwareActivationAlert, FirmwareTransferAlert
from hubfw.gbcs.framing import GbcsFramingError

PPMID = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
NEW_YEAR_2026 = 1_767_225_600.0


class _Activation(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("alertCode", univ.Integer()),
        namedtype.NamedType("executionDateTime", useful.GeneralizedTime()),
        namedtype.NamedType("firmwareVersion", univ.OctetString()),
        namedtype.NamedType("outcome", univ.Integer()),
    )


@given(
    version=st.integers(0, 0xFFFF_FFFF),
    offset=st.integers(0, 10 * 365 * 86400),
    response=st.none() | st.sampled_from(TransferResponse),
    outcome=st.sampled_from(ActivationOutcome),
)
def test_from_der_inverts_der(version: int, offset: int, response: TransferResponse | None,
                              outcome: ActivationOutcome) -> None:
    time = NEW_YEAR_2026 + offset
    when = datetime.fromtimestamp(time, timezone.utc)
    if response is None:
        alert = activation_alert(5, PPMID, version, time, outcome)
        back = FirmwareActivationAlert.from_der(alert.der())
        assert back == FirmwareActivationAlert(0x8F8B, when, version.to_bytes(4, "big"), int(outcome))
        decoded, rest = der_decoder.decode(alert.der(), asn1Spec=_Activation())
        assert rest == b"" and int(decoded["outcome"]) == outcome
        assert der_encoder.encode(decoded) == alert.der()
    else:
        alert = transfer_alert(5, PPMID, version, response, time)
        back = FirmwareTransferAlert.from_der(alert.der())
        assert back == FirmwareTransferAlert(int(alert.code), when, bytes(PPMID)[::-1], version.to_bytes(4, "big"),
                                             int(response))
    assert back.der() == alert.der()


def _activation_der(code: int = 0x8F8B, outcome: int = 0, version: bytes = b"\0\0\0\1",
                    when: str = "20260101000000Z") -> bytes:
    spec = _Activation()
    spec["alertCode"], spec["executionDateTime"], spec["firmwareVersion"], spec["outcome"] = code, when, version, outcome
    return ber_encoder.encode(spec)  # BER: lets a test build what DER forbids (a local time)


def test_the_independent_encoder_builds_what_hubfw_reads() -> None:
    assert FirmwareActivationAlert.from_der(_activation_der(outcome=1)).outcome == 1
    assert _activation_der(outcome=1) == activation_alert(1, PPMID, 1, NEW_YEAR_2026, ActivationOutcome.FAILURE).der()


@pytest.mark.parametrize("der", [
    b"", b"\x30\x00", b"\x30\x03\x02\x01\x05", b"\x04\x02ab",
    transfer_alert(1, PPMID, 1, TransferResponse.SUCCESS, NEW_YEAR_2026).der(),  # a CCS08 content is not a 0x8F8B
    _activation_der(code=0x8F8A),
    _activation_der(version=b"\0\0\1"),
    _activation_der(outcome=256),
    _activation_der(when="20260101000000"),
    _activation_der() + b"\x00",
])
def test_from_der_refuses_what_is_not_a_0x8f8b_content(der: bytes) -> None:
    with pytest.raises(GbcsFramingError) as raised:
        FirmwareActivationAlert.from_der(der)
    assert "\n" not in str(raised.value)


def test_a_0x8f8b_content_is_not_a_ccs08_content() -> None:
    with pytest.raises(GbcsFramingError, match="not a CCS08 alert DER content"):
        FirmwareTransferAlert.from_der(activation_alert(1, PPMID, 1, NEW_YEAR_2026).der())
