"""GBCS firmware alerts the hub owes the DCC: the model, its DER content, its GBCS message and a JSON form.

Two alerts, as the DCC's Reference Test Data Set has them (tests/gbcs/rtds/README.md; `hubfw.gbcs.alert_content`
has the ASN.1):

- the **Firmware Transfer Alert** (0x8F89 failure / 0x8F8A success), which the Communications Hub raises for a
  device's transfer and sends as CCS08: a General-Signing message, message code 0x0128, from the CH's entity id
  to the access control broker, signed by the CH (`hubfw.gbcs.alert_message`);
- the **Firmware Activation alert** 0x8F8B, which a PPMID raises itself: its own General-Signing message, message
  code 0x012B, signed by the PPMID, content `{alertCode, executionDateTime, firmwareVersion, outcome}` with no
  entity id (the message's originator is the PPMID). The hub relays it verbatim (source "tunnel"); where the hub
  only infers the activation (source "hub") it has no message the PPMID signed.

`counter` is the originator counter the store gave the alert when it became owed (strictly increasing, never
reused: hubfw/store/FORMAT.md); `message` is the GBCS message that carries the alert; `signature` says whether the
device's signature on a 0x8F8B checked out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import zigpy.types as t

from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.gbcs.alert_content import (
    ActivationOutcome,
    AlertCode,
    FirmwareActivationAlert,
    FirmwareTransferAlert,
    TransferResponse,
)
from hubfw.gbcs.framing import GbcsFramingError, GeneralSigning

SOURCES = ("hub", "tunnel")
"""Who raised the alert: the hub itself, or a device's own alert relayed through the GBCS tunnel."""

_MAX_FIRMWARE_VERSION = 0xFFFF_FFFF


class AlertError(HubfwError):
    """An alert (JSON record or DER payload) that is not what the GBCS alert model allows."""


SIGNATURE_STATES = ("valid", "invalid", "unchecked", "absent")
"""A 0x8F8B's device signature: checked against the device's key (valid / invalid), no key to check it with
(unchecked), or no device-signed message at all (absent: the hub inferred the activation)."""


@dataclass(frozen=True)
class TransferAlert:
    """One alert the hub owes. `time` is executionDateTime: Unix seconds UTC, kept to whole seconds
    because GeneralizedTime in the content carries no fraction (so JSON and DER never disagree)."""

    alert_id: int
    code: AlertCode
    entity: t.EUI64
    firmware_version: int
    transfer_response: TransferResponse | None
    time: float
    source: str = "hub"
    outcome: ActivationOutcome | None = None
    """0x8F8B only (and then never None): the activation outcome its content carries."""
    counter: int | None = None
    """The originator counter the store gave the alert when it became owed (None until then)."""
    message: bytes | None = None
    """The GBCS message carrying the alert: the device's own for a tunnel 0x8F8B (kept by the store), the hub's
    once it is handed over (`hubfw.gbcs.alert_message`)."""
    signature: str | None = None
    """0x8F8B only, once handed over: one of SIGNATURE_STATES."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", AlertCode(self.code))
        object.__setattr__(self, "entity", t.EUI64(self.entity))
        if self.transfer_response is not None:
            object.__setattr__(self, "transfer_response", TransferResponse(self.transfer_response))
        if self.code is AlertCode.ACTIVATION:
            object.__setattr__(self, "outcome", ActivationOutcome(self.outcome or 0))
        elif self.outcome is not None or self.signature is not None:
            raise AlertError("only a 0x8F8B activation alert has an activation outcome and a device signature")
        if not math.isfinite(self.time):
            raise AlertError(f"alert time must be a finite Unix time, got {self.time!r}")
        object.__setattr__(self, "time", float(math.floor(self.time)))
        if self.alert_id < 0:
            raise AlertError(f"alert id must be non-negative, got {self.alert_id}")
        if self.counter is not None and not 0 <= self.counter < 1 << 64:
            raise AlertError(f"originator counter must fit 8 octets, got {self.counter}")
        if not 0 <= self.firmware_version <= _MAX_FIRMWARE_VERSION:
            raise AlertError(f"firmware version must fit 4 octets, got {self.firmware_version:#x}")
        if self.source not in SOURCES:
            raise AlertError(f"alert source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.signature is not None and self.signature not in SIGNATURE_STATES:
            raise AlertError(f"signature must be one of {', '.join(SIGNATURE_STATES)}, got {self.signature!r}")
        _check_code_matches_response(self.code, self.transfer_response)

    @property
    def execution_time(self) -> datetime:
        return datetime.fromtimestamp(self.time, timezone.utc)

    def der(self) -> bytes:
        """The alert's DER content, as the RTDS has it (`hubfw.gbcs.alert_content`)."""
        version = self.firmware_version.to_bytes(4, "big")
        if self.code is AlertCode.ACTIVATION:
            return FirmwareActivationAlert(self.code, self.execution_time, version, int(self.outcome)).der()
        return FirmwareTransferAlert(self.code, self.execution_time, bytes(self.entity)[::-1], version,
                                     int(self.transfer_response)).der()  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "code": f"0x{self.code:04X}",
            "code_int": int(self.code),
            "entity": str(self.entity),
            "firmware_version": f"0x{self.firmware_version:08X}",
            "transfer_response_code": None if self.transfer_response is None else int(self.transfer_response),
            "transfer_response": None if self.transfer_response is None else self.transfer_response.name,
            "activation_outcome": None if self.outcome is None else int(self.outcome),
            "time": _iso_utc(self.time),
            "source": self.source,
            "der": self.der().hex(),
            "originator_counter": self.counter if self.message is None else _counter_of(self.message),
            "gbcs": None if self.message is None else self.message.hex(),
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TransferAlert:
        """Inverse of `to_json`; the redundant keys (code, transfer_response, der, gbcs's content) are checked, not
        trusted. A record from before GBCS messages (no `gbcs` key) is read by its fields alone."""
        try:
            response_code = d["transfer_response_code"]
            outcome = d.get("activation_outcome")
            message = d.get("gbcs")
            alert = cls(
                alert_id=int(d["alert_id"]),
                code=AlertCode(int(d["code_int"])),
                entity=parse_eui64(d["entity"]),
                firmware_version=int(d["firmware_version"], 16),
                transfer_response=None if response_code is None else TransferResponse(int(response_code)),
                time=_parse_iso_utc(d["time"]),
                source=d.get("source", "hub"),
                outcome=None if outcome is None else ActivationOutcome(int(outcome)),
                counter=None if d.get("originator_counter") is None else int(d["originator_counter"]),
                message=None if message is None else bytes.fromhex(message),
                signature=d.get("signature"),
            )
        except AlertError:
            raise
        except (KeyError, TypeError, ValueError, HubfwError) as exc:
            raise AlertError(f"not a hubfw alert record: {_one_line(exc)}") from None
        if "gbcs" in d:
            if d.get("der") != alert.der().hex():
                raise AlertError(f"alert {alert.alert_id}: der field does not match the alert's fields")
            if alert.message is not None and _content(alert.message) != alert.der():
                raise AlertError(f"alert {alert.alert_id}: its GBCS message does not carry the alert's fields")
        return alert


def _counter_of(message: bytes) -> int | None:
    """The originator counter the DCC side sees: the message's own (a device's for a relayed 0x8F8B)."""
    try:
        return GeneralSigning.parse(message).originator_counter
    except GbcsFramingError:
        return None


def _content(message: bytes) -> bytes | None:
    try:
        return GeneralSigning.parse(message).content
    except GbcsFramingError:
        return None


def transfer_alert(
    alert_id: int, entity: t.EUI64, firmware_version: int, response: TransferResponse, time: float
) -> TransferAlert:
    """A Firmware Transfer Alert; success (0x8F8A) or failure (0x8F89) follows the response code."""
    response = TransferResponse(response)
    code = AlertCode.TRANSFER_SUCCESS if response is TransferResponse.SUCCESS else AlertCode.TRANSFER_FAILURE
    return TransferAlert(alert_id, code, entity, firmware_version, response, time)


def activation_alert(alert_id: int, entity: t.EUI64, firmware_version: int, time: float,
                     outcome: ActivationOutcome = ActivationOutcome.SUCCESS) -> TransferAlert:
    """The 0x8F8B Firmware Activation alert of a PPMID now running `firmware_version`."""
    return TransferAlert(alert_id, AlertCode.ACTIVATION, entity, firmware_version, None, time, outcome=outcome)


def _check_code_matches_response(code: AlertCode, response: TransferResponse | None) -> None:
    expected = {
        None: AlertCode.ACTIVATION,
        TransferResponse.SUCCESS: AlertCode.TRANSFER_SUCCESS,
    }.get(response, AlertCode.TRANSFER_FAILURE)
    if code is not expected:
        shown = "no transfer response" if response is None else f"transfer response {response.name}"
        raise AlertError(f"alert code 0x{code:04X} does not go with {shown}")


def _iso_utc(time: float) -> str:
    return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso_utc(text: str) -> float:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone (want ISO 8601 with Z)")
    return when.timestamp()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
