"""TransferAlert.from_der: the model back from its CCS08 payload, as the hub reads a device's alert."""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import AlertError, TransferAlert, TransferResponse, activation_alert, transfer_alert

PPMID = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
NEW_YEAR_2026 = 1_767_225_600.0


@given(
    version=st.integers(0, 0xFFFF_FFFF),
    offset=st.integers(0, 10 * 365 * 86400),
    response=st.none() | st.sampled_from(TransferResponse),
)
def test_from_der_inverts_der(version: int, offset: int, response: TransferResponse | None) -> None:
    time = NEW_YEAR_2026 + offset
    alert = (activation_alert(5, PPMID, version, time) if response is None
             else transfer_alert(5, PPMID, version, response, time))
    back = TransferAlert.from_der(alert.der(), alert_id=9, source="tunnel")
    assert back == TransferAlert(9, alert.code, PPMID, version, response, alert.time, "tunnel")
    assert back.der() == alert.der()


@pytest.mark.parametrize("der", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x05", b"\x04\x02ab"])
def test_from_der_refuses_what_is_not_an_alert_payload(der: bytes) -> None:
    with pytest.raises(AlertError, match="not a firmware alert payload") as raised:
        TransferAlert.from_der(der, alert_id=1)
    assert "\n" not in str(raised.value)
