"""Deliberately broken OTA images, for testing that a device refuses them (`hubfw image build --break KIND`).

Each kind breaks one thing and keeps the rest of the file right, so the device's refusal can only come from
the check under test:
- `signature`: the embedded manufacturer signature (sub-element 0xFE00) with one bit flipped: it no longer
  verifies against the manufacturer key (needs a signed image, `--sign-key`);
- `integrity`: the image integrity code (sub-element 0x0003, AES-MMO over the file before it) with one bit
  flipped (needs `--integrity-code`);
- `size`: the OTA header's total image size one byte larger than the file (the signature and integrity code
  are made over that lying header, so they still hold);
- `image-type`: the OTA header names the image type one above `--image-type` (everything made for that header).
  A hub serves an image only to devices that query with its image type, so this one tests admission against a
  Central Products List (the CPL lists the intended model, not this one).
A hub's admission refuses each (signature: with the manufacturer key as trust anchor; integrity: always;
size: always, as a format error; image-type: with a CPL); `hubfw distribute --allow-broken` lets it through.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.errors import HubfwError
from hubfw.ota.aes_mmo import aes_mmo_hash
from hubfw.ota.image import (
    IMAGE_INTEGRITY_CODE_TAG,
    MANUFACTURER_SIGNATURE_TAG,
    OtaImage,
    SubElement,
)
from hubfw.ota.keys import sign_message

TOTAL_SIZE_OFFSET = 52
"""Where the 32-bit total image size sits in the OTA header (after magic, versions, field control, codes,
file and stack versions and the 32-byte header string)."""


class BreakError(HubfwError):
    """A break that the image being built cannot take (the message says what it needs)."""


class Break(enum.Enum):
    SIGNATURE = "signature"
    INTEGRITY = "integrity"
    SIZE = "size"
    IMAGE_TYPE = "image-type"


def broken_image_type(image_type: int) -> int:
    """The image type `--break image-type` writes instead of the one asked for."""
    return (image_type + 1) & 0xFFFF


def break_image(image: OtaImage, breaks: Iterable[Break], sign_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """The file of `image` (built with `broken_image_type` already applied for IMAGE_TYPE) with the other breaks
    applied; `sign_key` is the key it was signed with (to sign the lying header of a SIZE break)."""
    wanted = set(breaks)
    signed = bool(image.with_tag(MANUFACTURER_SIGNATURE_TAG))
    has_code = bool(image.with_tag(IMAGE_INTEGRITY_CODE_TAG))
    if Break.SIGNATURE in wanted and not signed:
        raise BreakError("--break signature needs a signed image: give --sign-key")
    if Break.INTEGRITY in wanted and not has_code:
        raise BreakError("--break integrity needs an image integrity code: give --integrity-code")
    elements = list(image.sub_elements)
    header = image.raw_header
    if Break.SIZE in wanted:
        lie = image.header.total_size + 1
        header = header[:TOTAL_SIZE_OFFSET] + lie.to_bytes(4, "little") + header[TOTAL_SIZE_OFFSET + 4:]
        if signed:
            assert sign_key is not None, "a signed image is built with its key"
            elements = _replace(elements, MANUFACTURER_SIGNATURE_TAG,
                                sign_message(sign_key, header + image.manufacturer_image))
    if Break.SIGNATURE in wanted:
        elements = _replace(elements, MANUFACTURER_SIGNATURE_TAG, _flip(_data(elements, MANUFACTURER_SIGNATURE_TAG)))
    if has_code:  # last: the code covers everything before it, as broken so far
        covered = header + b"".join(element.to_bytes() for element in elements[:-1])
        code = aes_mmo_hash(covered)
        elements[-1] = SubElement(IMAGE_INTEGRITY_CODE_TAG, _flip(code) if Break.INTEGRITY in wanted else code)
    return header + b"".join(element.to_bytes() for element in elements)


def warning(breaks: Iterable[Break]) -> str:
    names = ", ".join(sorted(found.value for found in set(breaks)))
    return f"warning: this image is deliberately broken ({names}): a device must refuse it; a hub admits it only " \
           "with --allow-broken"


def _data(elements: list[SubElement], tag: int) -> bytes:
    return next(element.data for element in elements if element.tag == tag)


def _replace(elements: list[SubElement], tag: int, data: bytes) -> list[SubElement]:
    return [replace(element, data=data) if element.tag == tag else element for element in elements]


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])
