"""A PPMID's 0x8F8B Firmware Activation alert as a GBCS message, and the hub-side finder for alerts.

What is GBCS: a device alert is a GBCS message whose transaction-id carries CRA flag 3 (Alert), whose
business originator id is the device's entity id (its EUI-64, big-endian) and whose other-information
carries a message code (0x1000 generic critical alert, signed; 0x1001 generic non-critical alert,
unsigned). See `hubfw.gbcs.framing` for the framing and its sources.

What is hubfw's choice, because GBCS publishes no ASN.1 for 0x8F8B (SECMP0007 names the alert but the
payload lands in a later GBCS release; see `hubfw.alerts`):
- the content is the DER `FirmwareTransferAlert` of `hubfw.alerts` without transferResponseCode
  (alertCode 0x8F8B, executionDateTime, entityId, firmwareVersion) — the same payload the hub relays;
- the message code is 0x1001 (non-critical, so no signature), the business target id is eight zero
  octets (a bench has no DCC access control broker to address), and the date-time element is absent
  (the execution time is in the payload);
- the originator counter is the alert's id unless the caller gives one (GBCS wants it to increase).

The finder accepts any GBCS message: not an alert (or not GBCS at all) → None; an alert whose content
is a firmware alert naming the sender → the decoded `TransferAlert` (source "tunnel", alert id 0: the
hub's alert log numbers it); any other alert (a GBZ or DLMS payload, a block-transferred one, one
naming another device) → no decoded alert, raw bytes kept, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import AlertError, TransferAlert
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, MessageCode, general_signing, parse_message

NO_TARGET = bytes(8)
"""Business target id of the alerts hubfw builds (see the module docstring)."""


@dataclass(frozen=True)
class FoundAlert:
    """A GBCS alert found in a received message: decoded, or only kept raw with the reason why not."""

    alert: TransferAlert | None
    raw: bytes
    problem: str | None = None


def entity_id(eui64: t.EUI64) -> bytes:
    """A device's GBCS entity id: its EUI-64 in display (big-endian) order."""
    return bytes(eui64)[::-1]


def gbcs_alert_message(alert: TransferAlert, *, originator_counter: int | None = None) -> bytes:
    """The GBCS message a PPMID PUTs through its tunnel to raise `alert` (normally its 0x8F8B)."""
    counter = alert.alert_id if originator_counter is None else originator_counter
    return general_signing(CraFlag.ALERT, counter, entity_id(alert.entity), NO_TARGET,
                           MessageCode.NON_CRITICAL_ALERT, alert.der())


def find_device_alert(message: bytes, sender: t.EUI64) -> FoundAlert | None:
    """The alert in `message` from `sender`, or None when the message is not a GBCS alert."""
    try:
        parsed = parse_message(message)
    except GbcsFramingError:
        return None
    if parsed.cra != CraFlag.ALERT:
        return None
    if parsed.content is None:
        return FoundAlert(None, message, "alert content arrives by General Block Transfer")
    if parsed.originator != entity_id(sender):
        return FoundAlert(None, message, f"alert names originator {parsed.originator.hex()}, not the sender")
    try:
        alert = TransferAlert.from_der(parsed.content, alert_id=0, source="tunnel")
    except AlertError as error:
        return FoundAlert(None, message, str(error))
    if alert.entity != sender:
        return FoundAlert(None, message, f"alert is about {alert.entity}, not the sender")
    return FoundAlert(alert, message)
