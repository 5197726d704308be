"""GBCS message framing, as far as the hub needs it to carry messages through the tunnel and spot alerts.

A GBCS message starts with one of two DLMS tags, each followed by length-prefixed elements (lengths
are BER: one octet below 0x80, else 0x81/0x82/0x83 and that many length octets):

- General-Signing (0xDF) — a "grouping header" then content and signature:
  transaction-id (9 octets: CRA flag 1 Command / 2 Response / 3 Alert, then an 8-octet originator
  counter), business originator id (8, the sender's entity id, big-endian EUI-64), business target id
  (8), date-time (0 or 12, a DLMS date-time), other-information (message code, 2 octets, then optional
  supplementary fields), content (the payload: GBZ, DLMS or ASN.1 DER), signature (0 or 64 octets).
- General-Ciphering (0xDD) — a MAC header (transaction-id absent) or, for General Block Transfer, a
  routing header (transaction-id present): six elements (transaction-id, originator, target, date-time,
  other-information, key-info) and then the ciphered content (security control octet, invocation
  counter, the General-Signing message or GBT block, and for MAC'd messages a 12-octet MAC at the end).

So the total length of any GBCS message follows from its first octets: seven length-prefixed
elements after the tag, either way. That is how the tunnel reassembles a message split over several
TransferData commands. Source: the GBCS message dissector in Wireshark (epan/dissectors/
packet-zbee-zcl-se.c, "GBCS Message"), which follows GBCS section 4; the GBCS specification itself
is public from the Smart Energy Code (SEC) site. The DCC's Reference Test Data Set (RTDS 4.5.0; see
tests/gbcs/rtds/README.md) gives byte-exact General-Signing messages. `GeneralSigning` is one General-Signing
message field by field; `hubfw.gbcs.signing` signs and verifies it. No MAC is checked here:
`hubfw.gbcs.ciphering` makes and checks the MAC of a General-Ciphering message with a MAC header.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from hubfw.errors import HubfwError

GENERAL_SIGNING = 0xDF
GENERAL_CIPHERING = 0xDD
_ELEMENTS_AFTER_TAG = 7
_TRANSACTION_ID_LENGTH = 9
_ENTITY_ID_LENGTH = 8
_DLMS_DATE_TIME_LENGTH = 12
_SIGNATURE_LENGTH = 64
_SECURITY_HEADER_LENGTH = 5
"""Security control octet and 4-octet invocation counter in front of ciphered content."""
_MAC_LENGTH = 12
_SUPPLEMENTARY_LENGTH = 16
"""Supplementary remote party id (8) and its counter (8) after the message code in other-information."""
_MAX_ELEMENT_LENGTH = 0xFF_FFFF
"""The longest element a BER length of three octets (0x83) can give, as `message_length` reads them."""


class GbcsFramingError(HubfwError):
    """Bytes that do not frame a GBCS message: malformed, truncated or oversized."""


class CraFlag(enum.IntEnum):
    """What a GBCS message is: the first octet of its transaction-id."""

    COMMAND = 0x01
    RESPONSE = 0x02
    ALERT = 0x03


class MessageCode(enum.IntEnum):
    """GBCS message codes (other-information): the generic device alerts and the firmware alerts."""

    CRITICAL_ALERT = 0x1000
    NON_CRITICAL_ALERT = 0x1001
    CCS08_FIRMWARE_TRANSFER_ALERT = 0x0128
    """CCS08: the CH's Firmware Transfer Alert (0x8F89 / 0x8F8A) for a PPMID or HCALCS [RTDS]."""
    FIRMWARE_ACTIVATION_ALERT = 0x012B
    """The PPMID's own 0x8F8B Firmware Activation alert (RTDS `CS09_NA_8F8B_ALERT`)."""
    CS06_ACTIVATE_FIRMWARE = 0x0012
    """CS06 Activate Firmware: the supplier's command (ACB-MAC'd) and the device's response [RTDS]."""
    CS08_READ_FIRMWARE_VERSION = 0x0129
    """CS08 Read PPMID/HCALCS Firmware Version: command and response, both MAC'd [RTDS]."""


@dataclass(frozen=True)
class GbcsMessage:
    """The header fields of one GBCS message and its content. `content` is None for a General Block
    Transfer block, whose content is one block of a larger message."""

    cra: int
    originator_counter: int
    originator: bytes
    target: bytes
    message_code: int | None
    content: bytes | None


def message_length(prefix: bytes) -> int | None:
    """The total length of the GBCS message that `prefix` begins, or None while `prefix` is too short to
    tell. Raises GbcsFramingError when `prefix` does not begin a GBCS message."""
    if not prefix:
        return None
    if prefix[0] not in (GENERAL_SIGNING, GENERAL_CIPHERING):
        raise GbcsFramingError(f"not a GBCS message: tag 0x{prefix[0]:02X}")
    position = 1
    for _ in range(_ELEMENTS_AFTER_TAG):
        header = _ber_length(prefix, position)
        if header is None:
            return None
        length, position = header
        position += length
    return position


def parse_message(message: bytes) -> GbcsMessage:
    """The header and content of a whole GBCS message; raises GbcsFramingError when it is not one."""
    _check_whole(message)
    reader = _Reader(message, 1)
    if message[0] == GENERAL_SIGNING:
        return _parse_signed(reader)
    transaction_id = reader.element()
    if not transaction_id:  # a MAC header: the General-Signing message is inside the ciphered content
        return parse_message(_maced_inner(reader))
    cra, counter = _transaction(transaction_id)
    originator, target = _entity(reader.element()), _entity(reader.element())
    reader.element()  # date-time
    return GbcsMessage(cra, counter, originator, target, _message_code(reader.element()), None)


def general_signing_inside(message: bytes) -> bytes:
    """The General-Signing message a whole GBCS message is or carries: itself, or the one inside a General-Ciphering
    message with a MAC header (its MAC unchecked). GbcsFramingError for anything else (a GBT block, say)."""
    _check_whole(message)
    if message[0] == GENERAL_SIGNING:
        return message
    reader = _Reader(message, 1)
    if reader.element():
        raise GbcsFramingError("a General-Ciphering routing header (General Block Transfer) carries no whole message")
    inner = _maced_inner(reader)
    _check_whole(inner)
    return inner


def general_signing(cra: CraFlag, originator_counter: int, originator: bytes, target: bytes, message_code: int,
                    content: bytes) -> bytes:
    """An unsigned General-Signing GBCS message (no date-time, no supplementary fields)."""
    return GeneralSigning(cra, originator_counter, originator, target, message_code, content).encode()


@dataclass(frozen=True)
class GeneralSigning:
    """One General-Signing (0xDF) message, every field [GBCS section 4; RTDS README "General-Signing"]:

        DF  09 <CRA> <originator counter, 8>  08 <business originator id>  08 <business target id>
            00 | 0C <date-time>  <len> <message code, 2> [<supplementary remote party id, 8> <its counter, 8>]
            <len> <content>  00 | 40 <signature, r||s>

    Entity ids are 8 octets, big-endian EUI-64s; `date_time` is the 12-octet DLMS date-time, kept as octets.
    The signature covers `signed_span()`: every octet after the tag up to the end of the content."""

    cra: int
    originator_counter: int
    originator: bytes
    target: bytes
    message_code: int
    content: bytes
    date_time: bytes | None = None
    supplementary_party: bytes | None = None
    supplementary_counter: int | None = None
    signature: bytes | None = None

    def __post_init__(self) -> None:
        if self.cra not in CraFlag._value2member_map_:
            raise GbcsFramingError(f"CRA flag 0x{self.cra:02X} (want 1 Command, 2 Response or 3 Alert)")
        _counter("originator counter", self.originator_counter)
        if len(self.originator) != _ENTITY_ID_LENGTH or len(self.target) != _ENTITY_ID_LENGTH:
            raise GbcsFramingError("business originator and target ids are 8 octets")
        if not 0 <= self.message_code <= 0xFFFF:
            raise GbcsFramingError(f"message code {self.message_code:#x} does not fit 2 octets")
        if self.date_time is not None and len(self.date_time) != _DLMS_DATE_TIME_LENGTH:
            raise GbcsFramingError(f"date-time of {len(self.date_time)} octets (want 12)")
        if (self.supplementary_party is None) != (self.supplementary_counter is None):
            raise GbcsFramingError("a supplementary remote party id goes with its counter")
        if self.supplementary_party is not None:
            _entity(self.supplementary_party)
            _counter("supplementary remote party counter", self.supplementary_counter)  # type: ignore[arg-type]
        if len(self.content) > _MAX_ELEMENT_LENGTH:
            raise GbcsFramingError(f"content of {len(self.content)} octets (at most {_MAX_ELEMENT_LENGTH})")
        if self.signature is not None and len(self.signature) != _SIGNATURE_LENGTH:
            raise GbcsFramingError(f"signature of {len(self.signature)} octets (want 64)")

    @property
    def other_information(self) -> bytes:
        """The message code, then the supplementary remote party id and its counter when there are."""
        other = self.message_code.to_bytes(2, "big")
        if self.supplementary_party is not None:
            other += self.supplementary_party + self.supplementary_counter.to_bytes(8, "big")  # type: ignore[union-attr]
        return other

    def signed_span(self) -> bytes:
        """What the signature covers: from the transaction-id's length octet to the end of the content."""
        elements = (bytes([self.cra]) + self.originator_counter.to_bytes(8, "big"), self.originator, self.target,
                    self.date_time or b"", self.other_information, self.content)
        return b"".join(_ber_prefix(len(element)) + element for element in elements)

    def encode(self) -> bytes:
        signature = self.signature or b""
        return bytes([GENERAL_SIGNING]) + self.signed_span() + _ber_prefix(len(signature)) + signature

    def with_signature(self, signature: bytes | None) -> GeneralSigning:
        return replace(self, signature=signature)

    @classmethod
    def parse(cls, message: bytes) -> GeneralSigning:
        """Every field of a whole, bare General-Signing message; raises GbcsFramingError when it is not one."""
        return cls.parse_with_span(message)[0]

    @classmethod
    def parse_with_span(cls, message: bytes) -> tuple[GeneralSigning, bytes]:
        """The message and the octets its signature covers as received (a length in a longer BER form than
        `encode` writes is kept as it came)."""
        _check_whole(message)
        if message[0] != GENERAL_SIGNING:
            raise GbcsFramingError(f"not a General-Signing message: tag 0x{message[0]:02X}")
        reader = _Reader(message, 1)
        cra, counter, originator, target, date_time, other_information, content = _signed_header(reader)
        span = message[1:reader.position]
        signature = _signature(reader.element())
        if len(other_information) not in (2, 2 + _SUPPLEMENTARY_LENGTH):
            raise GbcsFramingError(f"other-information of {len(other_information)} octets (want 2 or 18)")
        party, party_counter = None, None
        if len(other_information) > 2:
            party, party_counter = other_information[2:10], int.from_bytes(other_information[10:], "big")
        parsed = cls(cra, counter, originator, target, _message_code(other_information), content, date_time or None,
                     party, party_counter, signature or None)
        return parsed, span


def _parse_signed(reader: _Reader) -> GbcsMessage:
    cra, counter, originator, target, _, other_information, content = _signed_header(reader)
    _signature(reader.element())
    return GbcsMessage(cra, counter, originator, target, _message_code(other_information), content)


def _signed_header(reader: _Reader) -> tuple[int, int, bytes, bytes, bytes, bytes, bytes]:
    """The elements of a General-Signing message before its signature, their sizes checked."""
    cra, counter = _transaction(reader.element())
    originator, target = _entity(reader.element()), _entity(reader.element())
    date_time = reader.element()
    if len(date_time) not in (0, _DLMS_DATE_TIME_LENGTH):
        raise GbcsFramingError(f"date-time of {len(date_time)} octets (want 0 or 12)")
    return cra, counter, originator, target, date_time, reader.element(), reader.element()


def _signature(signature: bytes) -> bytes:
    if len(signature) not in (0, _SIGNATURE_LENGTH):
        raise GbcsFramingError(f"signature of {len(signature)} octets (want 0 or 64)")
    return signature


def _maced_inner(reader: _Reader) -> bytes:
    """The octets between the security header and the MAC of a MAC'd message, its transaction-id already read."""
    for _ in range(5):
        reader.element()
    ciphered = reader.element()
    inner = ciphered[_SECURITY_HEADER_LENGTH:len(ciphered) - _MAC_LENGTH]
    if len(ciphered) < _SECURITY_HEADER_LENGTH + _MAC_LENGTH or not inner or inner[0] != GENERAL_SIGNING:
        raise GbcsFramingError("MAC'd GBCS message without a General-Signing message inside")
    return inner


def _check_whole(message: bytes) -> None:
    total = message_length(message)
    if total is None or total > len(message):
        raise GbcsFramingError("GBCS message is truncated")
    if total < len(message):
        raise GbcsFramingError(f"{len(message) - total} octets after the end of the GBCS message")


def _counter(name: str, value: int) -> None:
    if not 0 <= value < 1 << 64:
        raise GbcsFramingError(f"{name} {value} does not fit 8 octets")


def _transaction(transaction_id: bytes) -> tuple[int, int]:
    if len(transaction_id) != _TRANSACTION_ID_LENGTH:
        raise GbcsFramingError(f"transaction-id of {len(transaction_id)} octets (want 9)")
    return transaction_id[0], int.from_bytes(transaction_id[1:], "big")


def _entity(entity_id: bytes) -> bytes:
    if len(entity_id) != _ENTITY_ID_LENGTH:
        raise GbcsFramingError(f"entity id of {len(entity_id)} octets (want 8)")
    return entity_id


def _message_code(other_information: bytes) -> int:
    if len(other_information) < 2:
        raise GbcsFramingError("other-information without a message code")
    return int.from_bytes(other_information[:2], "big")


class _Reader:
    """Walks the length-prefixed elements of a message already known to be whole."""

    def __init__(self, data: bytes, position: int) -> None:
        self._data = data
        self._position = position

    @property
    def position(self) -> int:
        return self._position

    def element(self) -> bytes:
        header = _ber_length(self._data, self._position)
        if header is None:
            raise GbcsFramingError("GBCS message is truncated")
        length, start = header
        self._position = start + length
        if self._position > len(self._data):
            raise GbcsFramingError("GBCS message is truncated")
        return self._data[start:self._position]


def _ber_length(data: bytes, position: int) -> tuple[int, int] | None:
    """(length, position after the length octets) of the BER length at `position`; None when cut short."""
    if position >= len(data):
        return None
    first = data[position]
    if first < 0x80:
        return first, position + 1
    count = first & 0x7F
    if not 1 <= count <= 3:
        raise GbcsFramingError(f"unsupported BER length octet 0x{first:02X}")
    if position + 1 + count > len(data):
        return None
    return int.from_bytes(data[position + 1:position + 1 + count], "big"), position + 1 + count


def _ber_prefix(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets
