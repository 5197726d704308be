"""The Zigbee OTA upgrade file (ZCL OTA cluster, 11.4): strict parser and byte-exact builder.

A GB "OTA Upgrade Image" is this file: OTA header ‖ sub-elements. The parser honours
`header_length` (unknown trailing header bytes are kept in `OtaHeader.extra`), keeps every
sub-element whatever its tag, and rejects every lie it can see — total size ≠ file size, a
sub-element running past the end, stray bytes after the last one — with a one-line
`ImageFormatError`. Whatever it accepts, `to_bytes()` reproduces byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import construct as cs
import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.ota.image import ElementTagId

from hubfw.errors import HubfwError
from hubfw.ota.aes_mmo import aes_mmo_hash
from hubfw.ota.keys import RAW_SIGNATURE_SIZE, sign_message

DEFAULT_MAX_IMAGE_SIZE = 768_000  # 750 KiB: the GBCS limit on a whole OTA Upgrade Image
OTA_MAGIC = 0x0BEEF11E
HEADER_VERSION = 0x0100
HEADER_STRING_SIZE = 32

_ZCL_TAGS = frozenset(int(member) for member in ElementTagId)
UPGRADE_IMAGE_TAG = int(ElementTagId.UPGRADE_IMAGE)
IMAGE_INTEGRITY_CODE_TAG = int(ElementTagId.IMAGE_INTEGRITY_CODE)
# hubfw's manufacturer signature: ECDSA P-256/SHA-256, raw r||s, over raw_header ‖ Manufacturer Image.
MANUFACTURER_SIGNATURE_TAG = 0xFE00
INTEGRITY_CODE_SIZE = 16

_SECURITY_CREDENTIAL_VERSION_PRESENT = 0x0001
_DEVICE_SPECIFIC_FILE = 0x0002
_HARDWARE_VERSIONS_PRESENT = 0x0004
_KNOWN_FIELD_CONTROL_BITS = 0x0007

_HEADER = cs.Struct(
    "magic" / cs.Const(OTA_MAGIC, cs.Int32ul),
    "header_version" / cs.Int16ul,
    "header_length" / cs.Int16ul,
    "field_control" / cs.Int16ul,
    "manufacturer_code" / cs.Int16ul,
    "image_type" / cs.Int16ul,
    "file_version" / cs.Int32ul,
    "stack_version" / cs.Int16ul,
    "header_string" / cs.Bytes(HEADER_STRING_SIZE),
    "total_size" / cs.Int32ul,
    "security_credential_version" / cs.If(cs.this.field_control & _SECURITY_CREDENTIAL_VERSION_PRESENT, cs.Int8ul),
    "destination" / cs.If(cs.this.field_control & _DEVICE_SPECIFIC_FILE, cs.Bytes(8)),
    "min_hw_version" / cs.If(cs.this.field_control & _HARDWARE_VERSIONS_PRESENT, cs.Int16ul),
    "max_hw_version" / cs.If(cs.this.field_control & _HARDWARE_VERSIONS_PRESENT, cs.Int16ul),
    "extra" / cs.GreedyBytes,
)
_HEADER_PREFIX = cs.Struct(
    "magic" / cs.Int32ul, "header_version" / cs.Int16ul, "header_length" / cs.Int16ul, "field_control" / cs.Int16ul
)
_MANDATORY_HEADER_SIZE = 56
_OPTIONAL_FIELD_SIZES = {
    _SECURITY_CREDENTIAL_VERSION_PRESENT: 1,
    _DEVICE_SPECIFIC_FILE: 8,
    _HARDWARE_VERSIONS_PRESENT: 4,
}
_SUB_ELEMENT_HEADER = cs.Struct("tag" / cs.Int16ul, "length" / cs.Int32ul)
SUB_ELEMENT_HEADER_SIZE = 6

_FIELD_BITS = {
    "header_version": 16,
    "manufacturer_code": 16,
    "image_type": 16,
    "file_version": 32,
    "stack_version": 16,
    "total_size": 32,
    "security_credential_version": 8,
    "min_hw_version": 16,
    "max_hw_version": 16,
    "field_control_reserved": 16,
}


class ImageFormatError(HubfwError):
    """The bytes are not a well-formed Zigbee OTA upgrade file (or a header/sub-element cannot be encoded)."""


def tag_name(tag: int) -> str:
    """A readable name for a sub-element tag (the ZCL names as zigpy spells them)."""
    if tag == MANUFACTURER_SIGNATURE_TAG:
        return "hubfw_manufacturer_signature"
    if tag in _ZCL_TAGS:
        return ElementTagId(tag).name.lower()
    return "manufacturer_specific" if tag >= 0xF000 else "reserved"


def header_field_size(field_control: int) -> int:
    """Bytes the known header fields take for this field control (56 plus the optional fields)."""
    return _MANDATORY_HEADER_SIZE + sum(size for bit, size in _OPTIONAL_FIELD_SIZES.items() if field_control & bit)


@dataclass(frozen=True, kw_only=True)
class OtaHeader:
    """Every OTA header field. `field_control` and `header_length` follow from the others."""

    manufacturer_code: int
    image_type: int
    file_version: int
    stack_version: int
    header_string: bytes  # exactly 32 bytes, as in the file (NUL padded)
    total_size: int  # of the whole file, header included
    security_credential_version: int | None = None
    destination: t.EUI64 | None = None  # "upgrade file destination" of a device-specific file
    min_hw_version: int | None = None
    max_hw_version: int | None = None
    extra: bytes = b""  # header bytes past the known fields (a longer header_length)
    header_version: int = HEADER_VERSION
    field_control_reserved: int = 0  # field-control bits 3..15, kept as found

    def __post_init__(self) -> None:
        for name, bits in _FIELD_BITS.items():
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1 << bits:
                raise ImageFormatError(f"OTA header {name} {value} does not fit in {bits} bits")
        if len(self.header_string) != HEADER_STRING_SIZE:
            raise ImageFormatError(
                f"OTA header string must be {HEADER_STRING_SIZE} bytes, got {len(self.header_string)}"
            )
        if (self.min_hw_version is None) != (self.max_hw_version is None):
            raise ImageFormatError("OTA header needs both min and max hardware versions, or neither")
        if self.field_control_reserved & _KNOWN_FIELD_CONTROL_BITS:
            raise ImageFormatError("field_control_reserved must not hold the known bits 0..2")
        if self.header_length > 0xFFFF:
            raise ImageFormatError(f"OTA header of {self.header_length} bytes does not fit the 16-bit header length")

    @property
    def field_control(self) -> int:
        bits = self.field_control_reserved
        if self.security_credential_version is not None:
            bits |= _SECURITY_CREDENTIAL_VERSION_PRESENT
        if self.destination is not None:
            bits |= _DEVICE_SPECIFIC_FILE
        if self.min_hw_version is not None:
            bits |= _HARDWARE_VERSIONS_PRESENT
        return bits

    @property
    def header_length(self) -> int:
        return header_field_size(self.field_control) + len(self.extra)

    @property
    def header_text(self) -> str:
        """The header string for display: up to the first NUL, undecodable bytes escaped."""
        return self.header_string.split(b"\x00", 1)[0].decode("utf-8", errors="backslashreplace")

    def to_bytes(self) -> bytes:
        return bytes(
            _HEADER.build(
                {
                    "header_version": self.header_version,
                    "header_length": self.header_length,
                    "field_control": self.field_control,
                    "manufacturer_code": self.manufacturer_code,
                    "image_type": self.image_type,
                    "file_version": self.file_version,
                    "stack_version": self.stack_version,
                    "header_string": self.header_string,
                    "total_size": self.total_size,
                    "security_credential_version": self.security_credential_version,
                    "destination": None if self.destination is None else self.destination.serialize(),
                    "min_hw_version": self.min_hw_version,
                    "max_hw_version": self.max_hw_version,
                    "extra": self.extra,
                }
            )
        )

    @classmethod
    def parse(cls, data: bytes) -> OtaHeader:
        """The header at the start of `data` (which may continue with sub-elements)."""
        if len(data) >= 4 and data[:4] != OTA_MAGIC.to_bytes(4, "little"):
            found = int.from_bytes(data[:4], "little")
            raise ImageFormatError(f"not a Zigbee OTA image: bad magic 0x{found:08X} (want 0x{OTA_MAGIC:08X})")
        if len(data) < _MANDATORY_HEADER_SIZE:
            raise ImageFormatError(
                f"truncated OTA header: {len(data)} bytes, the header alone needs at least {_MANDATORY_HEADER_SIZE}"
            )
        prefix = _HEADER_PREFIX.parse(data)
        if prefix.header_version != HEADER_VERSION:
            raise ImageFormatError(
                f"unsupported OTA header version 0x{prefix.header_version:04X} (want 0x{HEADER_VERSION:04X})"
            )
        needed = header_field_size(prefix.field_control)
        if prefix.header_length < needed:
            raise ImageFormatError(
                f"OTA header length {prefix.header_length} is shorter than the {needed} bytes its fields need "
                f"(field control 0x{prefix.field_control:04X})"
            )
        if prefix.header_length > len(data):
            raise ImageFormatError(
                f"truncated OTA header: header length is {prefix.header_length} bytes but the file has only {len(data)}"
            )
        fields = _HEADER.parse(data[: prefix.header_length])
        return cls(
            manufacturer_code=fields.manufacturer_code,
            image_type=fields.image_type,
            file_version=fields.file_version,
            stack_version=fields.stack_version,
            header_string=fields.header_string,
            total_size=fields.total_size,
            security_credential_version=fields.security_credential_version,
            destination=None if fields.destination is None else t.EUI64.deserialize(fields.destination)[0],
            min_hw_version=fields.min_hw_version,
            max_hw_version=fields.max_hw_version,
            extra=fields.extra,
            header_version=fields.header_version,
            field_control_reserved=fields.field_control & ~_KNOWN_FIELD_CONTROL_BITS,
        )


@dataclass(frozen=True)
class SubElement:
    """One tag-length-value element after the header; the length is always len(data)."""

    tag: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= 0xFFFF:
            raise ImageFormatError(f"sub-element tag {self.tag} does not fit in 16 bits")
        if len(self.data) > 0xFFFFFFFF:
            raise ImageFormatError("sub-element data does not fit the 32-bit length field")

    @property
    def size(self) -> int:
        return SUB_ELEMENT_HEADER_SIZE + len(self.data)

    def to_bytes(self) -> bytes:
        return bytes(_SUB_ELEMENT_HEADER.build({"tag": self.tag, "length": len(self.data)})) + self.data


@dataclass(frozen=True)
class OtaImage:
    """A whole OTA upgrade file. Always self-consistent: header.total_size is the file's size."""

    header: OtaHeader
    sub_elements: tuple[SubElement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sub_elements", tuple(self.sub_elements))
        actual = self.header.header_length + sum(element.size for element in self.sub_elements)
        if self.header.total_size != actual:
            raise ImageFormatError(
                f"header total size {self.header.total_size} does not match the {actual} bytes "
                "of header and sub-elements"
            )

    @classmethod
    def parse(cls, data: bytes) -> OtaImage:
        """Strictly parse a whole file; any lie or truncation raises a one-line ImageFormatError."""
        data = bytes(data)
        header = OtaHeader.parse(data)
        if header.total_size != len(data):
            raise ImageFormatError(
                f"total image size in the header is {header.total_size} bytes but the file has {len(data)} bytes"
            )
        return cls(header, tuple(_parse_sub_elements(data, header.header_length)))

    def to_bytes(self) -> bytes:
        return self.raw_header + b"".join(element.to_bytes() for element in self.sub_elements)

    @cached_property
    def raw_header(self) -> bytes:
        """The header bytes exactly as they are in the file (what the manufacturer signs)."""
        return self.header.to_bytes()

    @property
    def sub_element_offsets(self) -> tuple[int, ...]:
        """File offset of each sub-element's tag."""
        offsets, offset = [], self.header.header_length
        for element in self.sub_elements:
            offsets.append(offset)
            offset += element.size
        return tuple(offsets)

    def with_tag(self, tag: int) -> tuple[SubElement, ...]:
        return tuple(element for element in self.sub_elements if element.tag == tag)

    @property
    def manufacturer_image(self) -> bytes:
        """GBCS "Manufacturer Image": the payload of the single upgrade-image sub-element."""
        found = self.with_tag(UPGRADE_IMAGE_TAG)
        if len(found) != 1:
            raise ImageFormatError(
                "image has no upgrade image sub-element (tag 0x0000), so no Manufacturer Image"
                if not found
                else f"image has {len(found)} upgrade image sub-elements (tag 0x0000); "
                "the Manufacturer Image is ambiguous"
            )
        return found[0].data

    @cached_property
    def manufacturer_image_sha256(self) -> bytes:
        """GBCS "Manufacturer Image Hash"."""
        return hashlib.sha256(self.manufacturer_image).digest()

    @property
    def signed_message(self) -> bytes:
        """What the manufacturer signature covers: raw OTA header ‖ Manufacturer Image."""
        return self.raw_header + self.manufacturer_image


def compute_integrity_code(image: OtaImage) -> bytes:
    """The image integrity code for `image`, whose last sub-element is the integrity code.

    ZCL OTA: the AES-MMO hash covers the file from its first byte up to, not including, the
    integrity-code sub-element (its tag and length are not covered either); the sub-element
    must be the last one.
    """
    if not image.sub_elements or image.sub_elements[-1].tag != IMAGE_INTEGRITY_CODE_TAG:
        raise ImageFormatError("the image integrity code must be the last sub-element")
    return aes_mmo_hash(image.to_bytes()[: image.sub_element_offsets[-1]])


def build_image(
    *,
    manufacturer_code: int,
    image_type: int,
    file_version: int,
    payload: bytes,
    stack_version: int = 2,
    header_string: bytes | str = b"",
    min_hw_version: int | None = None,
    max_hw_version: int | None = None,
    destination: t.EUI64 | None = None,
    security_credential_version: int | None = None,
    sign_key: ec.EllipticCurvePrivateKey | None = None,
    extra_sub_elements: Iterable[SubElement] = (),
    integrity_code: bool = False,
    header_extra: bytes = b"",
) -> OtaImage:
    """A complete image: upgrade image (the payload), extra sub-elements, then — if asked — the
    manufacturer signature and, last, the image integrity code.

    Signing happens after every size is fixed (the raw signature is always 64 bytes), so the
    signed header is the final one, total size included.
    """
    text = header_string.encode("utf-8") if isinstance(header_string, str) else bytes(header_string)
    if len(text) > HEADER_STRING_SIZE:
        raise ImageFormatError(f"header string is {len(text)} bytes; the OTA header holds at most {HEADER_STRING_SIZE}")
    body = (SubElement(UPGRADE_IMAGE_TAG, bytes(payload)), *extra_sub_elements)
    placeholder = SubElement(MANUFACTURER_SIGNATURE_TAG, bytes(RAW_SIGNATURE_SIZE))
    signature = (placeholder,) if sign_key is not None else ()
    integrity = (SubElement(IMAGE_INTEGRITY_CODE_TAG, bytes(INTEGRITY_CODE_SIZE)),) if integrity_code else ()
    draft = OtaHeader(
        manufacturer_code=manufacturer_code,
        image_type=image_type,
        file_version=file_version,
        stack_version=stack_version,
        header_string=text.ljust(HEADER_STRING_SIZE, b"\x00"),
        total_size=0,
        security_credential_version=security_credential_version,
        destination=destination,
        min_hw_version=min_hw_version,
        max_hw_version=max_hw_version,
        extra=header_extra,
    )
    sizes = sum(element.size for element in (*body, *signature, *integrity))
    header = replace(draft, total_size=draft.header_length + sizes)
    if sign_key is not None:
        signed = sign_message(sign_key, header.to_bytes() + bytes(payload))
        signature = (SubElement(MANUFACTURER_SIGNATURE_TAG, signed),)
    image = OtaImage(header, (*body, *signature, *integrity))
    if integrity_code:
        integrity = (SubElement(IMAGE_INTEGRITY_CODE_TAG, compute_integrity_code(image)),)
        image = OtaImage(header, (*body, *signature, *integrity))
    return image


def _parse_sub_elements(data: bytes, start: int) -> Sequence[SubElement]:
    elements: list[SubElement] = []
    view, offset = memoryview(data), start
    while offset < len(data):
        remaining = len(data) - offset
        if remaining < SUB_ELEMENT_HEADER_SIZE:
            raise ImageFormatError(
                f"{remaining} stray bytes at offset {offset} after the last sub-element "
                f"(a sub-element header needs {SUB_ELEMENT_HEADER_SIZE})"
            )
        head = _SUB_ELEMENT_HEADER.parse(view[offset : offset + SUB_ELEMENT_HEADER_SIZE])
        body_start = offset + SUB_ELEMENT_HEADER_SIZE
        if head.length > len(data) - body_start:
            raise ImageFormatError(
                f"sub-element #{len(elements)} (tag 0x{head.tag:04X}) at offset {offset} claims {head.length} bytes "
                f"but only {len(data) - body_start} remain in the image"
            )
        elements.append(SubElement(head.tag, bytes(view[body_start : body_start + head.length])))
        offset = body_start + head.length
    return elements


def parse_ignoring_total_size(data: bytes) -> OtaImage:
    """Parse a file whose header lies about its total size (a deliberately broken test image, `hubfw image build
    --break size`) as it is: every other rule of `OtaImage.parse` holds, and `to_bytes()` still gives `data`
    back, lie included. Only for images a hub was explicitly told to let through (`--allow-broken`)."""
    data = bytes(data)
    header = OtaHeader.parse(data)
    elements = tuple(_parse_sub_elements(data, header.header_length))
    if header.total_size == len(data):
        return OtaImage(header, elements)
    image = object.__new__(OtaImage)  # the one OtaImage whose header.total_size is not its size
    object.__setattr__(image, "header", header)
    object.__setattr__(image, "sub_elements", elements)
    return image
