"""AES-MMO: the Zigbee spec's test vectors (short and long padding) and agreement with zigpy."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zigpy.util import aes_mmo_hash as zigpy_aes_mmo_hash

from hubfw.ota.aes_mmo import aes_mmo_hash


def counting(length: int) -> bytes:
    return bytes(i & 0xFF for i in range(length))


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        # Zigbee specification 05-3474, C.5.1 .. C.5.4
        (b"\xc0", "ae3a102a28d43ee0d4a09e22788b206c"),
        (bytes(range(0xC0, 0xD0)), "a7977e88bc0b61e8210827109a228f2d"),
        (counting(8191), "24ec2fe75bbffcb34789bc0610e7f165"),  # last length with the 16-bit padding
        (counting(8192), "dc6b0687f09f8607131c170b3bd31591"),  # 2**16 bits: the long padding
    ],
    ids=["one-byte", "one-block", "8191-bytes-short-form", "8192-bytes-long-form"],
)
def test_spec_vectors(message: bytes, digest: str) -> None:
    assert aes_mmo_hash(message).hex() == digest


@given(st.binary(max_size=300))
def test_agrees_with_zigpy_for_short_messages(message: bytes) -> None:
    assert aes_mmo_hash(message) == bytes(zigpy_aes_mmo_hash(message))


@pytest.mark.parametrize("length", [0, 13, 14, 15, 16, 8190, 8191])
def test_agrees_with_zigpy_around_block_and_form_boundaries(length: int) -> None:
    assert aes_mmo_hash(counting(length)) == bytes(zigpy_aes_mmo_hash(counting(length)))


def test_zigpy_short_form_is_wrong_for_long_messages() -> None:
    """Why hubfw has its own: zigpy truncates the bit length of a long message to 16 bits."""
    assert aes_mmo_hash(counting(8192)) != bytes(zigpy_aes_mmo_hash(counting(8192)))


def test_digest_depends_on_every_byte_of_a_long_message() -> None:
    message = bytearray(counting(20_000))
    before = aes_mmo_hash(bytes(message))
    message[-1] ^= 1
    assert aes_mmo_hash(bytes(message)) != before
