"""The DER contents of two GBCS firmware alerts, as the DCC's Reference Test Data Set (RTDS 4.5.0) has them.

- CCS08 Firmware Transfer Alert (message code 0x0128), sent by the Communications Hub for a PPMID or HCALCS:

      SEQUENCE { alertCode INTEGER (0x8F89 failure / 0x8F8A success), executionDateTime GeneralizedTime,
                 entityId OCTET STRING (the device's EUI-64, big-endian), firmwareVersion OCTET STRING (4),
                 transferResponseCode INTEGER }

- the PPMID's own Firmware Activation alert 0x8F8B (message code 0x012B, RTDS `CS09_NA_8F8B_ALERT`):

      SEQUENCE { alertCode INTEGER (0x8F8B), executionDateTime GeneralizedTime, firmwareVersion OCTET STRING (4),
                 INTEGER (activation outcome: 0 success, 1 failure) }

  with no entity id: the message's business originator is the PPMID itself.

Source: the RTDS README (tests/gbcs/rtds/README.md) and its messages; GBCS section 4 for where the content sits.
Decoding is strict DER (what re-encodes to the same octets), so a content is read one way only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import core

from hubfw.gbcs.framing import GbcsFramingError

ENTITY_ID_LENGTH = 8
FIRMWARE_VERSION_LENGTH = 4


class AlertCode(enum.IntEnum):
    """The GBCS alert codes of a firmware transfer and activation."""

    TRANSFER_FAILURE = 0x8F89
    TRANSFER_SUCCESS = 0x8F8A
    ACTIVATION = 0x8F8B


class TransferResponse(enum.IntEnum):
    """GBCS transferResponseCode (CSP North Table 4)."""

    SUCCESS = 0
    IMAGE_DISCARDED = 1
    HARDWARE_VERSION_MISMATCH = 2
    FILE_TRANSFER_FAILURE = 3


class ActivationOutcome(enum.IntEnum):
    """The last INTEGER of the 0x8F8B content [RTDS README]."""

    SUCCESS = 0
    FAILURE = 1


class _TransferAlertDer(core.Sequence):
    _fields = [
        ("alertCode", core.Integer),
        ("executionDateTime", core.GeneralizedTime),
        ("entityId", core.OctetString),
        ("firmwareVersion", core.OctetString),
        ("transferResponseCode", core.Integer),
    ]


class _ActivationAlertDer(core.Sequence):
    _fields = [
        ("alertCode", core.Integer),
        ("executionDateTime", core.GeneralizedTime),
        ("firmwareVersion", core.OctetString),
        ("activationOutcome", core.Integer),
    ]


@dataclass(frozen=True)
class FirmwareTransferAlert:
    """CCS08 (message code 0x0128): the CH reports a firmware transfer to `entity_id` (8 octets, big-endian)."""

    alert_code: int
    execution_time: datetime
    entity_id: bytes
    firmware_version: bytes
    transfer_response_code: int

    def __post_init__(self) -> None:
        _check_common(self.alert_code, (AlertCode.TRANSFER_FAILURE, AlertCode.TRANSFER_SUCCESS),
                      self.execution_time, self.firmware_version)
        if len(self.entity_id) != ENTITY_ID_LENGTH:
            raise GbcsFramingError(f"entity id of {len(self.entity_id)} octets (want 8)")
        _small_integer("transferResponseCode", self.transfer_response_code)

    def der(self) -> bytes:
        return _TransferAlertDer({
            "alertCode": self.alert_code, "executionDateTime": self.execution_time, "entityId": self.entity_id,
            "firmwareVersion": self.firmware_version, "transferResponseCode": self.transfer_response_code,
        }).dump()

    @classmethod
    def from_der(cls, der: bytes) -> FirmwareTransferAlert:
        """The alert `der` is exactly; GbcsFramingError for any other octets."""
        fields = _decode(_TransferAlertDer, der, "CCS08 alert")
        return _build(cls, lambda: cls(*fields.values()))


@dataclass(frozen=True)
class FirmwareActivationAlert:
    """The PPMID's 0x8F8B (message code 0x012B): it now runs `firmware_version`; `outcome` 0 success, 1 failure."""

    alert_code: int
    execution_time: datetime
    firmware_version: bytes
    outcome: int

    def __post_init__(self) -> None:
        _check_common(self.alert_code, (AlertCode.ACTIVATION,), self.execution_time, self.firmware_version)
        _small_integer("activation outcome", self.outcome)

    def der(self) -> bytes:
        return _ActivationAlertDer({
            "alertCode": self.alert_code, "executionDateTime": self.execution_time,
            "firmwareVersion": self.firmware_version, "activationOutcome": self.outcome,
        }).dump()

    @classmethod
    def from_der(cls, der: bytes) -> FirmwareActivationAlert:
        """The alert `der` is exactly; GbcsFramingError for any other octets."""
        fields = _decode(_ActivationAlertDer, der, "0x8F8B alert")
        return _build(cls, lambda: cls(*fields.values()))


def _check_common(code: int, codes: tuple[int, ...], time: datetime, firmware_version: bytes) -> None:
    if code not in codes:
        raise GbcsFramingError(f"alert code 0x{code:04X} is not {' or '.join(f'0x{each:04X}' for each in codes)}")
    offset = time.utcoffset()
    if offset is None or offset.total_seconds() or time.microsecond:
        raise GbcsFramingError(f"executionDateTime {time} is not whole seconds UTC")
    if len(firmware_version) != FIRMWARE_VERSION_LENGTH:
        raise GbcsFramingError(f"firmware version of {len(firmware_version)} octets (want 4)")


def _decode(schema: type[core.Sequence], der: bytes, what: str) -> dict[str, Any]:
    """The fields of `der`, which must be exactly `schema`'s DER; GbcsFramingError otherwise."""
    try:
        fields = schema.load(bytes(der), strict=True).native
        canonical = schema(fields).dump()
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, AttributeError) as exc:
        raise GbcsFramingError(f"not a {what} DER content: {_one_line(exc)}") from None
    if canonical != der:
        raise GbcsFramingError(f"not a {what} DER content: not in DER's one encoding")
    return fields


_Alert = TypeVar("_Alert")


def _build(cls: type[_Alert], make: Callable[[], _Alert]) -> _Alert:
    try:
        return make()
    except (TypeError, AttributeError) as exc:  # a field of another type, say an absent one read as None
        raise GbcsFramingError(f"not a {cls.__name__} DER content: {_one_line(exc)}") from None


def _small_integer(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise GbcsFramingError(f"{name} {value} is not an octet-sized code")


def _one_line(exc: Exception) -> str:
    """The first line of asn1crypto's message, without the name of hubfw's private schema class it cites."""
    text = re.sub(r"^Error parsing [\w.]+ - ", "", str(exc).strip())
    return text.splitlines()[0] if text else type(exc).__name__
