"""The OTA file format: byte-exact round trips, header_length, every tag, and every lie rejected."""

import hashlib
import struct
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.devices import parse_eui64
from hubfw.ota.image import (
    DEFAULT_MAX_IMAGE_SIZE,
    IMAGE_INTEGRITY_CODE_TAG,
    MANUFACTURER_SIGNATURE_TAG,
    UPGRADE_IMAGE_TAG,
    ImageFormatError,
    OtaHeader,
    OtaImage,
    SubElement,
    build_image,
    tag_name,
)
from tests.ota.strategies import assemble, headers, images, sub_elements


def plain_image(payload: bytes = b"firmware", **options: object) -> OtaImage:
    return build_image(manufacturer_code=0x1234, image_type=0x0001, file_version=0x20, payload=payload, **options)


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_build_with_every_option_round_trips(manufacturer_key) -> None:
    image = build_image(
        manufacturer_code=0x1234,
        image_type=0x0001,
        file_version=0x00000020,
        payload=b"\x00\x01firmware" * 100,
        stack_version=2,
        header_string="PPMID test firmware",
        min_hw_version=1,
        max_hw_version=3,
        destination=parse_eui64("00:0d:6f:00:0a:bc:de:f0"),
        security_credential_version=2,
        sign_key=manufacturer_key,
        extra_sub_elements=[SubElement(0xF123, b"vendor data")],
        integrity_code=True,
        header_extra=b"\xaa\xbb",
    )
    data = image.to_bytes()
    parsed = OtaImage.parse(data)
    assert parsed == image
    assert parsed.to_bytes() == data
    assert parsed.header.header_length == 56 + 1 + 8 + 4 + 2
    assert parsed.header.field_control == 0b111
    assert parsed.header.total_size == len(data)
    assert parsed.header.header_text == "PPMID test firmware"
    assert str(parsed.header.destination) == "00:0d:6f:00:0a:bc:de:f0"
    assert [element.tag for element in parsed.sub_elements] == [
        UPGRADE_IMAGE_TAG,
        0xF123,
        MANUFACTURER_SIGNATURE_TAG,
        IMAGE_INTEGRITY_CODE_TAG,
    ]
    assert parsed.raw_header == data[: parsed.header.header_length]


def test_minimal_header_layout_is_the_zcl_one() -> None:
    data = plain_image(b"abc").to_bytes()
    assert data[:4] == bytes.fromhex("1ef1ee0b")
    assert struct.unpack_from("<HHHHHIH", data, 4) == (0x0100, 56, 0, 0x1234, 0x0001, 0x20, 2)
    assert struct.unpack_from("<I", data, 52) == (len(data),)
    assert data[56:] == struct.pack("<HI", 0, 3) + b"abc"


def test_longer_header_with_unknown_trailing_bytes_parses_and_round_trips() -> None:
    base = plain_image(b"payload").to_bytes()
    extra = b"future-field"
    longer = bytearray(base[:56] + extra + base[56:])
    struct.pack_into("<H", longer, 6, 56 + len(extra))
    struct.pack_into("<I", longer, 52, len(longer))
    parsed = OtaImage.parse(bytes(longer))
    assert parsed.header.extra == extra
    assert parsed.manufacturer_image == b"payload"
    assert parsed.to_bytes() == bytes(longer)


def test_unknown_field_control_bits_are_kept() -> None:
    data = patched(plain_image().to_bytes(), 8, "<H", 0x8000)
    parsed = OtaImage.parse(data)
    assert parsed.header.field_control_reserved == 0x8000
    assert parsed.to_bytes() == data


def test_every_tag_is_preserved_in_order() -> None:
    tags = [0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x1234, 0xF000, 0xFFFF]
    image = assemble(plain_image().header, [SubElement(tag, bytes([tag & 0xFF]) * 3) for tag in tags])
    parsed = OtaImage.parse(image.to_bytes())
    assert [(e.tag, e.data) for e in parsed.sub_elements] == [(tag, bytes([tag & 0xFF]) * 3) for tag in tags]


def test_empty_sub_elements_and_no_sub_elements_are_well_formed() -> None:
    header = plain_image().header
    for elements in ([], [SubElement(UPGRADE_IMAGE_TAG, b"")], [SubElement(0xF000, b""), SubElement(0, b"x")]):
        image = assemble(header, elements)
        assert OtaImage.parse(image.to_bytes()) == image


def test_manufacturer_image_and_its_hash() -> None:
    image = plain_image(b"the manufacturer image")
    assert image.manufacturer_image == b"the manufacturer image"
    assert image.manufacturer_image_sha256 == hashlib.sha256(b"the manufacturer image").digest()
    assert image.signed_message == image.raw_header + b"the manufacturer image"


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ([SubElement(0xF000, b"x")], "no upgrade image sub-element"),
        ([SubElement(0, b"a"), SubElement(0, b"b")], "2 upgrade image sub-elements"),
    ],
)
def test_missing_or_ambiguous_manufacturer_image_is_a_clear_error(elements, message) -> None:
    image = assemble(plain_image().header, elements)
    with pytest.raises(ImageFormatError, match=message):
        _ = image.manufacturer_image


def test_a_full_size_image_round_trips() -> None:
    payload = bytes(range(256)) * ((DEFAULT_MAX_IMAGE_SIZE - 62) // 256)
    data = plain_image(payload).to_bytes()
    parsed = OtaImage.parse(data)
    assert parsed.manufacturer_image == payload
    assert parsed.to_bytes() == data


VALID = plain_image(b"0123456789", min_hw_version=1, max_hw_version=2).to_bytes()  # header 60, total 76

MALFORMED = [
    ("empty", b"", "truncated OTA header"),
    ("bad magic", b"\x00" * 4 + VALID[4:], "bad magic 0x00000000"),
    ("text file", b"hello, this is not firmware at all" * 3, "bad magic"),
    ("truncated header", VALID[:40], "truncated OTA header: 40 bytes"),
    ("header version", patched(VALID, 4, "<H", 0x0200), "unsupported OTA header version 0x0200"),
    ("header length below fields", patched(VALID, 6, "<H", 58), "header length 58 is shorter than the 60 bytes"),
    ("header length below minimum", patched(VALID, 6, "<H", 20), "shorter than the 60 bytes"),
    ("optional field not covered", patched(VALID, 8, "<H", 0x0007), "shorter than the 69 bytes"),
    ("header length past end", patched(VALID, 6, "<H", 500), "header length is 500 bytes but the file has only 76"),
    ("total size larger", patched(VALID, 52, "<I", 77), "size in the header is 77 bytes but the file has 76"),
    ("total size smaller", patched(VALID, 52, "<I", 70), "is 70 bytes but the file has 76"),
    ("trailing garbage", patched(VALID + b"xyz", 52, "<I", 79), "3 stray bytes at offset 76"),
    ("truncated file", VALID[:-1], "total image size"),
    ("sub-element overflow", patched(VALID, 62, "<I", 11), "at offset 60 claims 11 bytes but only 10 remain"),
    ("sub-element length huge", patched(VALID, 62, "<I", 0xFFFFFFFF), "claims 4294967295 bytes"),
]


@pytest.mark.parametrize(("data", "message"), [(d, m) for _, d, m in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_input_is_rejected_with_its_reason(data: bytes, message: str) -> None:
    with pytest.raises(ImageFormatError, match=message) as caught:
        OtaImage.parse(data)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"header_string": b"short"}, "header string must be 32 bytes"),
        ({"min_hw_version": 1}, "both min and max hardware versions"),
        ({"manufacturer_code": 0x10000}, "manufacturer_code 65536 does not fit in 16 bits"),
        ({"field_control_reserved": 0x0001}, "known bits"),
        ({"extra": bytes(0x10000)}, "does not fit the 16-bit header length"),
    ],
)
def test_inconsistent_headers_cannot_be_made(changes, message) -> None:
    with pytest.raises(ImageFormatError, match=message):
        replace(plain_image().header, **changes)


def test_an_image_cannot_lie_about_its_total_size() -> None:
    image = plain_image()
    with pytest.raises(ImageFormatError, match="does not match"):
        OtaImage(replace(image.header, total_size=image.header.total_size + 1), image.sub_elements)


def test_header_string_longer_than_32_bytes_is_refused() -> None:
    with pytest.raises(ImageFormatError, match="at most 32"):
        plain_image(header_string="x" * 33)


@given(images())
def test_random_images_round_trip(image: OtaImage) -> None:
    data = image.to_bytes()
    parsed = OtaImage.parse(data)
    assert parsed == image
    assert parsed.to_bytes() == data


@given(headers(), st.lists(sub_elements, max_size=4))
def test_random_headers_round_trip_on_their_own(header: OtaHeader, elements) -> None:
    image = assemble(header, elements)
    assert OtaHeader.parse(image.to_bytes()) == image.header
    assert image.raw_header == image.to_bytes()[: image.header.header_length]


@given(images(), st.data())
def test_any_byte_mutation_parses_to_the_same_bytes_or_is_rejected_cleanly(image: OtaImage, data) -> None:
    original = image.to_bytes()
    mutated = bytearray(original)
    position = data.draw(st.integers(0, len(original) - 1))
    mutated[position] = data.draw(st.integers(0, 255).filter(lambda value: value != original[position]))
    try:
        parsed = OtaImage.parse(bytes(mutated))
    except ImageFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parsed.to_bytes() == bytes(mutated)


@given(images(), st.data())
def test_insertions_and_deletions_are_rejected_or_reparse_exactly(image: OtaImage, data) -> None:
    original = image.to_bytes()
    position = data.draw(st.integers(0, len(original)))
    inserted = data.draw(st.binary(max_size=8))
    deleted = data.draw(st.integers(0, 8))
    edited = original[:position] + inserted + original[position + deleted :]
    try:
        parsed = OtaImage.parse(edited)
    except ImageFormatError:
        return
    assert parsed.to_bytes() == edited


@given(images(), st.data())
def test_every_strict_prefix_is_rejected(image: OtaImage, data) -> None:
    original = image.to_bytes()
    cut = data.draw(st.integers(0, len(original) - 1))
    with pytest.raises(ImageFormatError):
        OtaImage.parse(original[:cut])


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x0000, "upgrade_image"),
        (0x0003, "image_integrity_code"),
        (0x0005, "ecdsa_signature_crypto_suite_2"),
        (0x0042, "reserved"),
        (0xF000, "manufacturer_specific"),
        (MANUFACTURER_SIGNATURE_TAG, "hubfw_manufacturer_signature"),
    ],
)
def test_tag_names(tag: int, name: str) -> None:
    assert tag_name(tag) == name
