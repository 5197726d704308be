"""The hub's finder for a device's own GBCS alert in a message it PUT through its tunnel (bytes in, bytes out).

The one device alert the hub decodes is a PPMID's **0x8F8B Firmware Activation alert** as the DCC's Reference Test
Data Set has it (RTDS 4.5.0 `CS09_NA_8F8B_ALERT`, tests/gbcs/rtds/README.md): a bare General-Signing message (tag
0xDF) whose transaction-id carries CRA flag 3 (Alert) and the PPMID's originator counter, whose business originator
id is the PPMID's entity id (its EUI-64, big-endian), target the access control broker, message code 0x012B, and
content the DER `{alertCode 0x8F8B, executionDateTime, firmwareVersion OCTET STRING (4), INTEGER outcome}`
(`hubfw.gbcs.alert_content`), signed by the PPMID [GBCS section 4 "General-Signing"; the element layout is the one
Wireshark's GBCS dissector walks, epan/dissectors/packet-zbee-zcl-se.c].

- Not GBCS, or GBCS but not an alert (CRA flag 1 Command / 2 Response) → None.
- That 0x8F8B from the sender → `FoundAlert` with the decoded `TransferAlert` (alert id 0: the hub's alert log
  numbers it; source "tunnel"; `message` = the whole message verbatim, which the hub relays).
- Any other alert → `FoundAlert(None, raw, problem)`, `problem` one line: another message code, an alert wrapped in
  General-Ciphering (MAC'd) or sent by General Block Transfer, an originator that is not the sender, content that
  is not the 0x8F8B DER, an alert header on bytes that do not frame.

An alert is never credited to a device other than the sender: the originator must be the sender's entity id (the
0x8F8B content names no device). The device's signature is **not** checked here: the hub checks it when it hands the
alert over (`hubfw.gbcs.alert_message.GbcsIdentity.device_signature`), against the key it has for the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import AlertError, TransferAlert
from hubfw.gbcs.alert_content import ActivationOutcome, AlertCode, FirmwareActivationAlert
from hubfw.gbcs.alert_message import entity_id
from hubfw.gbcs.framing import (
    GENERAL_CIPHERING,
    GENERAL_SIGNING,
    CraFlag,
    GbcsFramingError,
    GeneralSigning,
    MessageCode,
    parse_message,
)

_ALERT_TRANSACTION_ID = bytes([9, CraFlag.ALERT])
"""A transaction-id element of an alert: length 9, CRA flag 3."""


@dataclass(frozen=True)
class FoundAlert:
    """A GBCS alert found in a received message: decoded, or only kept raw with the reason why not."""

    alert: TransferAlert | None
    raw: bytes
    problem: str | None = None


def find_device_alert(message: bytes, sender: t.EUI64) -> FoundAlert | None:
    """The alert in `message`, PUT through the tunnel by `sender`, or None when the message is not a GBCS alert.
    Never raises for any octets."""
    message = bytes(message)
    try:
        parsed = parse_message(message)
    except GbcsFramingError as error:
        if _looks_like_alert(message):
            return _problem(message, f"GBCS alert that does not frame: {error}")
        return None
    if parsed.cra != CraFlag.ALERT:
        return None
    if parsed.content is None:
        return _problem(message, "alert content arrives by General Block Transfer (hubfw reads bare 0x8F8B only)")
    if parsed.originator != entity_id(sender):
        return _problem(message, f"alert from originator {t.EUI64(parsed.originator[::-1])}, not the sender {sender}")
    if message[0] == GENERAL_CIPHERING:
        return _problem(message, f"alert (message code 0x{parsed.message_code:04X}) wrapped in General-Ciphering; "
                                 "a 0x8F8B is a bare General-Signing message")
    if parsed.message_code != MessageCode.FIRMWARE_ACTIVATION_ALERT:
        return _problem(message, f"alert message code 0x{parsed.message_code:04X} is not the 0x8F8B Firmware "
                                 f"Activation alert (0x{MessageCode.FIRMWARE_ACTIVATION_ALERT:04X})")
    try:
        signed = GeneralSigning.parse(message)
        content = FirmwareActivationAlert.from_der(signed.content)
        outcome = _outcome(content.outcome)
        alert = TransferAlert(alert_id=0, code=AlertCode.ACTIVATION, entity=sender,
                              firmware_version=int.from_bytes(content.firmware_version, "big"),
                              transfer_response=None, time=content.execution_time.timestamp(), source="tunnel",
                              outcome=outcome, message=message)
    except (GbcsFramingError, AlertError) as error:
        return _problem(message, str(error))
    except (ValueError, OverflowError, OSError) as error:  # a time out of the platform's range, say
        return _problem(message, f"0x8F8B alert content out of range: {error}")
    return FoundAlert(alert, message)


def _outcome(value: int) -> ActivationOutcome:
    try:
        return ActivationOutcome(value)
    except ValueError:
        raise GbcsFramingError(f"activation outcome {value} is neither 0 (success) nor 1 (failure)") from None


def _looks_like_alert(message: bytes) -> bool:
    """Bytes that open as a GBCS alert does (a tag, then a transaction-id with CRA flag 3) though they do not frame."""
    return len(message) >= 3 and message[0] in (GENERAL_SIGNING, GENERAL_CIPHERING) \
        and message[1:3] == _ALERT_TRANSACTION_ID


def _problem(message: bytes, problem: str) -> FoundAlert:
    return FoundAlert(None, message, " ".join(problem.split()))
