"""The Zigbee AES-128 Matyas-Meyer-Oseas hash (Zigbee spec B.6), long messages included.

zigpy's `zigpy.util.aes_mmo_hash` only knows the short padding (16-bit bit-length), which is
wrong for messages of 2**16 bits (8192 bytes) or more — i.e. for every real OTA image. This
one implements both paddings so the OTA image integrity code (tag 0x0003) can be checked.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 16
_LONG_MESSAGE_BITS = 1 << 16  # from here on the bit-length is written as 32 bits + 16 zero bits
_MAX_MESSAGE_BITS = 1 << 32


def aes_mmo_hash(message: bytes) -> bytes:
    """The 16-byte AES-MMO digest of `message` (any length below 2**32 bits)."""
    bit_length = len(message) * 8
    if bit_length >= _MAX_MESSAGE_BITS:
        raise ValueError("AES-MMO is defined only for messages shorter than 2**32 bits")
    digest = bytes(BLOCK_SIZE)
    view = memoryview(message + _padding(bit_length))
    for start in range(0, len(view), BLOCK_SIZE):
        block = view[start : start + BLOCK_SIZE]
        encryptor = Cipher(algorithms.AES(digest), modes.ECB()).encryptor()
        cipher_block = encryptor.update(block) + encryptor.finalize()
        digest = bytes(c ^ p for c, p in zip(cipher_block, block, strict=True))
    return digest


def _padding(bit_length: int) -> bytes:
    """A 1 bit, zero bits, then the length field, filling the last block exactly.

    Short form: zeros up to 14 mod 16 bytes, then the 16-bit length. Long form: zeros up to
    10 mod 16 bytes, then the 32-bit length and 16 zero bits. Messages are whole bytes here, so
    the 1 bit and the first seven zero bits make the byte 0x80.
    """
    byte_length = bit_length // 8
    if bit_length < _LONG_MESSAGE_BITS:
        tail = bit_length.to_bytes(2, "big")
    else:
        tail = bit_length.to_bytes(4, "big") + bytes(2)
    zeros = (BLOCK_SIZE - (byte_length + 1 + len(tail)) % BLOCK_SIZE) % BLOCK_SIZE
    return b"\x80" + bytes(zeros) + tail
