"""The DER contents of the GBCS firmware commands CS06 and CS08 and their responses, as the DCC's Reference Test
Data Set (RTDS 4.5.0) has them.

- CS06 Activate Firmware (message code 0x0012), from the supplier, MAC'd by the ACB:

      command   SEQUENCE { manufacturerImageHash OCTET STRING (32, SHA-256), originatorCounter INTEGER }
      response  SEQUENCE { responseCode INTEGER, firmwareVersion OCTET STRING (4) }

  The command's originatorCounter repeats its transaction's originator counter (1000 in the RTDS, as in its
  transaction-id).

- CS08 Read PPMID/HCALCS Firmware Version (message code 0x0129), both directions MAC'd:

      command   NULL
      response  SEQUENCE { firmwareVersion OCTET STRING (4), responseCode INTEGER }

Source: the RTDS README (tests/gbcs/rtds/README.md, "Decoded") and its messages; GBCS section 4 for where the content
sits. Decoding is strict DER (what re-encodes to the same octets), as in `hubfw.gbcs.alert_content`. Response codes
are kept as the integers they are (0 is success in every RTDS response); no other code's name is assumed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core

from hubfw.gbcs.alert_content import FIRMWARE_VERSION_LENGTH, _build, _decode, _small_integer
from hubfw.gbcs.framing import GbcsFramingError

IMAGE_HASH_LENGTH = 32
NULL_CONTENT = core.Null().dump()
"""The CS08 command's content: DER NULL, `05 00`."""


class _ActivateCommandDer(core.Sequence):
    _fields = [("manufacturerImageHash", core.OctetString), ("originatorCounter", core.Integer)]


class _ActivateResponseDer(core.Sequence):
    _fields = [("responseCode", core.Integer), ("firmwareVersion", core.OctetString)]


class _ReadVersionResponseDer(core.Sequence):
    _fields = [("firmwareVersion", core.OctetString), ("responseCode", core.Integer)]


@dataclass(frozen=True)
class ActivateFirmwareCommand:
    """CS06 command content: activate the image whose Manufacturer Image hash is `image_hash` (SHA-256, 32 octets);
    `originator_counter` is the command's originator counter, repeated in the content."""

    image_hash: bytes
    originator_counter: int

    def __post_init__(self) -> None:
        if len(self.image_hash) != IMAGE_HASH_LENGTH:
            raise GbcsFramingError(f"manufacturer image hash of {len(self.image_hash)} octets (want 32)")
        if not 0 <= self.originator_counter < 1 << 64:
            raise GbcsFramingError(f"originator counter {self.originator_counter} does not fit 8 octets")

    def der(self) -> bytes:
        return _ActivateCommandDer({"manufacturerImageHash": self.image_hash,
                                    "originatorCounter": self.originator_counter}).dump()

    @classmethod
    def from_der(cls, der: bytes) -> ActivateFirmwareCommand:
        """The command `der` is exactly; GbcsFramingError for any other octets."""
        fields = _decode(_ActivateCommandDer, der, "CS06 command")
        return _build(cls, lambda: cls(*fields.values()))


@dataclass(frozen=True)
class ActivateFirmwareResponse:
    """CS06 response content: `response_code` (0 success) and the firmware version the device now runs."""

    response_code: int
    firmware_version: bytes

    def __post_init__(self) -> None:
        _small_integer("responseCode", self.response_code)
        _version(self.firmware_version)

    def der(self) -> bytes:
        return _ActivateResponseDer({"responseCode": self.response_code,
                                     "firmwareVersion": self.firmware_version}).dump()

    @classmethod
    def from_der(cls, der: bytes) -> ActivateFirmwareResponse:
        """The response `der` is exactly; GbcsFramingError for any other octets."""
        fields = _decode(_ActivateResponseDer, der, "CS06 response")
        return _build(cls, lambda: cls(*fields.values()))


@dataclass(frozen=True)
class ReadFirmwareVersionCommand:
    """CS08 command content: none beyond DER NULL."""

    def der(self) -> bytes:
        return NULL_CONTENT

    @classmethod
    def from_der(cls, der: bytes) -> ReadFirmwareVersionCommand:
        """The command `der` is exactly (`05 00`); GbcsFramingError for any other octets."""
        if bytes(der) != NULL_CONTENT:
            raise GbcsFramingError(f"not a CS08 command DER content: {bytes(der[:8]).hex()} is not NULL (0500)")
        return cls()


@dataclass(frozen=True)
class ReadFirmwareVersionResponse:
    """CS08 response content: the firmware version the PPMID or HCALCS runs, and `response_code` (0 success)."""

    firmware_version: bytes
    response_code: int

    def __post_init__(self) -> None:
        _version(self.firmware_version)
        _small_integer("responseCode", self.response_code)

    def der(self) -> bytes:
        return _ReadVersionResponseDer({"firmwareVersion": self.firmware_version,
                                        "responseCode": self.response_code}).dump()

    @classmethod
    def from_der(cls, der: bytes) -> ReadFirmwareVersionResponse:
        """The response `der` is exactly; GbcsFramingError for any other octets."""
        fields = _decode(_ReadVersionResponseDer, der, "CS08 response")
        return _build(cls, lambda: cls(*fields.values()))


def _version(firmware_version: bytes) -> None:
    if len(firmware_version) != FIRMWARE_VERSION_LENGTH:
        raise GbcsFramingError(f"firmware version of {len(firmware_version)} octets (want 4)")
