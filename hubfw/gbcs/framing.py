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
is public from the Smart Energy Code (SEC) site. hubfw verifies no signature or MAC: it has no keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

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


class GbcsFramingError(HubfwError):
    """Bytes that do not frame a GBCS message."""


class CraFlag(enum.IntEnum):
    """What a GBCS message is: the first octet of its transaction-id."""

    COMMAND = 0x01
    RESPONSE = 0x02
    ALERT = 0x03


class MessageCode(enum.IntEnum):
    """GBCS message codes (other-information) of the generic device alerts."""

    CRITICAL_ALERT = 0x1000
    NON_CRITICAL_ALERT = 0x1001


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
    total = message_length(message)
    if total is None or total > len(message):
        raise GbcsFramingError("GBCS message is truncated")
    if total < len(message):
        raise GbcsFramingError(f"{len(message) - total} octets after the end of the GBCS message")
    reader = _Reader(message, 1)
    if message[0] == GENERAL_SIGNING:
        return _parse_signed(reader)
    transaction_id = reader.element()
    if not transaction_id:  # a MAC header: the General-Signing message is inside the ciphered content
        for _ in range(5):
            reader.element()
        ciphered = reader.element()
        inner = ciphered[_SECURITY_HEADER_LENGTH:len(ciphered) - _MAC_LENGTH]
        if len(ciphered) < _SECURITY_HEADER_LENGTH + _MAC_LENGTH or not inner or inner[0] != GENERAL_SIGNING:
            raise GbcsFramingError("MAC'd GBCS message without a General-Signing message inside")
        return parse_message(inner)
    cra, counter = _transaction(transaction_id)
    originator, target = _entity(reader.element()), _entity(reader.element())
    reader.element()  # date-time
    return GbcsMessage(cra, counter, originator, target, _message_code(reader.element()), None)


def general_signing(cra: CraFlag, originator_counter: int, originator: bytes, target: bytes, message_code: int,
                    content: bytes) -> bytes:
    """An unsigned General-Signing GBCS message (no date-time, no supplementary fields)."""
    if not 0 <= originator_counter < 1 << 64:
        raise GbcsFramingError(f"originator counter {originator_counter} does not fit 8 octets")
    if len(originator) != _ENTITY_ID_LENGTH or len(target) != _ENTITY_ID_LENGTH:
        raise GbcsFramingError("business originator and target ids are 8 octets")
    transaction_id = bytes([cra]) + originator_counter.to_bytes(8, "big")
    elements = (transaction_id, originator, target, b"", message_code.to_bytes(2, "big"), content, b"")
    return bytes([GENERAL_SIGNING]) + b"".join(_ber_prefix(len(element)) + element for element in elements)


def _parse_signed(reader: _Reader) -> GbcsMessage:
    cra, counter = _transaction(reader.element())
    originator, target = _entity(reader.element()), _entity(reader.element())
    date_time = reader.element()
    if len(date_time) not in (0, _DLMS_DATE_TIME_LENGTH):
        raise GbcsFramingError(f"date-time of {len(date_time)} octets (want 0 or 12)")
    message_code = _message_code(reader.element())
    content = reader.element()
    signature = reader.element()
    if len(signature) not in (0, _SIGNATURE_LENGTH):
        raise GbcsFramingError(f"signature of {len(signature)} octets (want 0 or 64)")
    return GbcsMessage(cra, counter, originator, target, message_code, content)


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
