"""Key derivation and key confirmation of Smart Energy CBKE, all built on the AES-MMO hash.

MacKey = H(Z || 00000001), link key (KeyData) = H(Z || 00000002). The Confirm Key MACs are
HMAC-MMO (RFC 2104 with the 16-byte AES-MMO block) under MacKey:
MACU = HMAC(0x02 || U || V || QEU || QEV) and MACV = HMAC(0x03 || V || U || QEV || QEU).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.cbke.certificates import eui64_to_wire
from hubfw.ota.aes_mmo import BLOCK_SIZE, aes_mmo_hash

MAC_LENGTH = 16
INITIATOR_MAC_TAG = 0x02
RESPONDER_MAC_TAG = 0x03
_INNER_PAD = bytes([0x36] * BLOCK_SIZE)
_OUTER_PAD = bytes([0x5C] * BLOCK_SIZE)


def hmac_mmo(key: bytes, message: bytes) -> bytes:
    """HMAC with AES-MMO as the hash (block and output 16 bytes)."""
    if len(key) > BLOCK_SIZE:
        key = aes_mmo_hash(key)
    key = key.ljust(BLOCK_SIZE, b"\x00")
    inner = aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _INNER_PAD, strict=True)) + message)
    return aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _OUTER_PAD, strict=True)) + inner)


@dataclass(frozen=True)
class SessionKeys:
    """The two 128-bit keys derived from the shared secret Z."""

    mac_key: bytes = field(repr=False)
    link_key: bytes = field(repr=False)


def derive_session_keys(shared_secret: bytes) -> SessionKeys:
    return SessionKeys(
        mac_key=aes_mmo_hash(shared_secret + (1).to_bytes(4, "big")),
        link_key=aes_mmo_hash(shared_secret + (2).to_bytes(4, "big")),
    )


def confirm_key_mac(
    mac_key: bytes, tag: int, own_id: t.EUI64, other_id: t.EUI64, own_ephemeral: bytes, other_ephemeral: bytes
) -> bytes:
    """MAC(tag || own ID || other ID || own QE || other QE): tag 0x02 gives MACU, 0x03 MACV."""
    message = bytes([tag]) + eui64_to_wire(own_id) + eui64_to_wire(other_id) + own_ephemeral + other_ephemeral
    return hmac_mmo(mac_key, message)


def macs_equal(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison, so a peer cannot learn a MAC byte by byte."""
    return hmac.compare_digest(expected, received)
