"""GBCS firmware alerts the hub owes the DCC: the model, its CCS08 DER payload and a JSON form.

The Firmware Transfer Alert (CCS08, message code 0x0128) payload is the DER SEQUENCE the DCC's
GBCS parser decodes [REQUIREMENTS §5]:

    FirmwareTransferAlert ::= SEQUENCE {
        alertCode            INTEGER,          -- 0x8F89 failure / 0x8F8A success
        executionDateTime    GeneralizedTime,  -- UTC, whole seconds, 'Z'
        entityId             OCTET STRING,     -- target EUI-64, 8 octets, display (big-endian) order
        firmwareVersion      OCTET STRING,     -- OTA file version, 4 octets, big-endian
        transferResponseCode INTEGER           -- 0 success, 1 discarded, 2 hw mismatch, 3 failure
    }

0x8F8B (Firmware Activation, PPMID only) is the PPMID's own alert; the SECMP0007 papers name it
but give no ASN.1 (it lands in a later GBCS release). hubfw encodes it as the same SEQUENCE without
`transferResponseCode` — the leading fields follow GBCS's alert convention (alertCode INTEGER,
executionDateTime GeneralizedTime, as in the ActivateFirmware AlertPayload), entityId names the
PPMID and firmwareVersion carries the version it now runs. The PPMID sends it to the hub through its
GBCS tunnel inside a GBCS alert message (`hubfw.han.gbcs_alert`), and the hub reads it back with
`TransferAlert.from_der` (source "tunnel").
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

import zigpy.types as t
from asn1crypto import core

from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError

SOURCES = ("hub", "tunnel")
"""Who raised the alert: the hub itself, or a device's own alert relayed through the GBCS tunnel."""

_MAX_FIRMWARE_VERSION = 0xFFFF_FFFF


class AlertError(HubfwError):
    """An alert (JSON record or DER payload) that is not what the GBCS alert model allows."""


class AlertCode(enum.IntEnum):
    TRANSFER_FAILURE = 0x8F89
    TRANSFER_SUCCESS = 0x8F8A
    ACTIVATION = 0x8F8B


class TransferResponse(enum.IntEnum):
    """GBCS transferResponseCode (CSP North Table 4)."""

    SUCCESS = 0
    IMAGE_DISCARDED = 1
    HARDWARE_VERSION_MISMATCH = 2
    FILE_TRANSFER_FAILURE = 3


class _AlertPayload(core.Sequence):
    """CCS08 payload; `transferResponseCode` is absent only in the 0x8F8B activation alert."""

    _fields = [
        ("alertCode", core.Integer),
        ("executionDateTime", core.GeneralizedTime),
        ("entityId", core.OctetString),
        ("firmwareVersion", core.OctetString),
        ("transferResponseCode", core.Integer, {"optional": True}),
    ]


@dataclass(frozen=True)
class TransferAlert:
    """One alert the hub owes. `time` is executionDateTime: Unix seconds UTC, kept to whole seconds
    because GeneralizedTime in the payload carries no fraction (so JSON and DER never disagree)."""

    alert_id: int
    code: AlertCode
    entity: t.EUI64
    firmware_version: int
    transfer_response: TransferResponse | None
    time: float
    source: str = "hub"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", AlertCode(self.code))
        object.__setattr__(self, "entity", t.EUI64(self.entity))
        if self.transfer_response is not None:
            object.__setattr__(self, "transfer_response", TransferResponse(self.transfer_response))
        if not math.isfinite(self.time):
            raise AlertError(f"alert time must be a finite Unix time, got {self.time!r}")
        object.__setattr__(self, "time", float(math.floor(self.time)))
        if self.alert_id < 0:
            raise AlertError(f"alert id must be non-negative, got {self.alert_id}")
        if not 0 <= self.firmware_version <= _MAX_FIRMWARE_VERSION:
            raise AlertError(f"firmware version must fit 4 octets, got {self.firmware_version:#x}")
        if self.source not in SOURCES:
            raise AlertError(f"alert source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        _check_code_matches_response(self.code, self.transfer_response)

    def der(self) -> bytes:
        """The CCS08 payload as DER (see the module docstring for the ASN.1)."""
        payload = _AlertPayload(
            {
                "alertCode": int(self.code),
                "executionDateTime": datetime.fromtimestamp(self.time, timezone.utc),
                "entityId": bytes(self.entity)[::-1],
                "firmwareVersion": self.firmware_version.to_bytes(4, "big"),
            }
        )
        if self.transfer_response is not None:
            payload["transferResponseCode"] = int(self.transfer_response)
        return payload.dump()

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "code": f"0x{self.code:04X}",
            "code_int": int(self.code),
            "entity": str(self.entity),
            "firmware_version": f"0x{self.firmware_version:08X}",
            "transfer_response_code": None if self.transfer_response is None else int(self.transfer_response),
            "transfer_response": None if self.transfer_response is None else self.transfer_response.name,
            "time": _iso_utc(self.time),
            "source": self.source,
            "der": self.der().hex(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TransferAlert:
        """Inverse of `to_json`; the redundant keys (code, transfer_response, der) are checked, not trusted."""
        try:
            response_code = d["transfer_response_code"]
            alert = cls(
                alert_id=int(d["alert_id"]),
                code=AlertCode(int(d["code_int"])),
                entity=parse_eui64(d["entity"]),
                firmware_version=int(d["firmware_version"], 16),
                transfer_response=None if response_code is None else TransferResponse(int(response_code)),
                time=_parse_iso_utc(d["time"]),
                source=d.get("source", "hub"),
            )
        except AlertError:
            raise
        except (KeyError, TypeError, ValueError, HubfwError) as exc:
            raise AlertError(f"not a hubfw alert record: {_one_line(exc)}") from None
        if "der" in d and d["der"] != alert.der().hex():
            raise AlertError(f"alert {alert.alert_id}: der field does not match the alert's fields")
        return alert

    @classmethod
    def from_der(cls, der: bytes, *, alert_id: int, source: str = "hub") -> TransferAlert:
        """Inverse of `der` (the payload carries no id or source: the caller numbers and attributes it)."""
        fields = _load_der(der)
        return cls(alert_id, fields.code, t.EUI64(fields.entity_id[::-1]), fields.firmware_version,
                   fields.response, fields.time, source)


def transfer_alert(
    alert_id: int, entity: t.EUI64, firmware_version: int, response: TransferResponse, time: float
) -> TransferAlert:
    """A Firmware Transfer Alert; success (0x8F8A) or failure (0x8F89) follows the response code."""
    response = TransferResponse(response)
    code = AlertCode.TRANSFER_SUCCESS if response is TransferResponse.SUCCESS else AlertCode.TRANSFER_FAILURE
    return TransferAlert(alert_id, code, entity, firmware_version, response, time)


def activation_alert(alert_id: int, entity: t.EUI64, firmware_version: int, time: float) -> TransferAlert:
    """The 0x8F8B Firmware Activation alert for a PPMID now running `firmware_version`."""
    return TransferAlert(alert_id, AlertCode.ACTIVATION, entity, firmware_version, None, time)


def decode_der(der: bytes) -> dict[str, Any]:
    """Decode a CCS08 payload into its ASN.1 field names, validating it as strictly as it is encoded."""
    fields = _load_der(der)
    return {
        "alertCode": int(fields.code),
        "executionDateTime": _iso_utc(fields.time),
        "entityId": ":".join(f"{b:02x}" for b in fields.entity_id),
        "firmwareVersion": fields.firmware_version,
        "transferResponseCode": None if fields.response is None else int(fields.response),
    }


class _DerFields(NamedTuple):
    code: AlertCode
    time: float
    entity_id: bytes
    firmware_version: int
    response: TransferResponse | None


def _load_der(der: bytes) -> _DerFields:
    try:
        payload = _AlertPayload.load(der, strict=True)
        native = payload.native
    except (ValueError, TypeError, OverflowError) as exc:
        raise AlertError(f"not a firmware alert payload: {_one_line(exc)}") from None
    entity_id, firmware_version = native["entityId"], native["firmwareVersion"]
    when: datetime = native["executionDateTime"]
    if len(entity_id) != 8 or len(firmware_version) != 4:
        raise AlertError("not a firmware alert payload: entityId must be 8 octets and firmwareVersion 4")
    if not payload["executionDateTime"].contents.endswith(b"Z"):
        raise AlertError("not a firmware alert payload: executionDateTime must be UTC ('Z'), as DER requires")
    try:
        code = AlertCode(native["alertCode"])
        response_code = native["transferResponseCode"]
        response = None if response_code is None else TransferResponse(response_code)
        _check_code_matches_response(code, response)
    except ValueError as exc:
        raise AlertError(f"not a firmware alert payload: {_one_line(exc)}") from None
    return _DerFields(code, when.timestamp(), entity_id, int.from_bytes(firmware_version, "big"), response)


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
