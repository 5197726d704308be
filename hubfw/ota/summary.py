"""A plain-data description of an image: what `hubfw image inspect` shows, as text or JSON.

Field names and values follow zigpy's parser (integers as integers, the destination as zigpy
prints an EUI-64) so a bench can compare the two field for field.
"""

from __future__ import annotations

from hubfw.ota.image import ImageFormatError, OtaImage, tag_name
from hubfw.ota.integrity import IntegrityStatus
from hubfw.ota.signing import SignatureStatus

_STRUCTURED = {"sub_elements", "signature", "integrity_code"}
# Integer fields shown in hex in text output, with their width in hex digits.
_HEX_WIDTHS = {
    "header_version": 4,
    "field_control": 4,
    "manufacturer_code": 4,
    "image_type": 4,
    "file_version": 8,
    "stack_version": 4,
    "min_hw_version": 4,
    "max_hw_version": 4,
}


def image_summary(image: OtaImage, signature: SignatureStatus, integrity: IntegrityStatus) -> dict[str, object]:
    header = image.header
    try:
        manufacturer_image: bytes | None = image.manufacturer_image
    except ImageFormatError:
        manufacturer_image = None
    return {
        "header_version": header.header_version,
        "header_length": header.header_length,
        "field_control": header.field_control,
        "manufacturer_code": header.manufacturer_code,
        "image_type": header.image_type,
        "file_version": header.file_version,
        "stack_version": header.stack_version,
        "header_string": header.header_text,
        "header_string_hex": header.header_string.hex(),
        "total_size": header.total_size,
        "security_credential_version": header.security_credential_version,
        "destination": None if header.destination is None else str(header.destination),
        "min_hw_version": header.min_hw_version,
        "max_hw_version": header.max_hw_version,
        "header_extra_hex": header.extra.hex(),
        "sub_elements": [
            {"tag": element.tag, "name": tag_name(element.tag), "offset": offset, "length": len(element.data)}
            for offset, element in zip(image.sub_element_offsets, image.sub_elements, strict=True)
        ],
        "manufacturer_image_size": None if manufacturer_image is None else len(manufacturer_image),
        "manufacturer_image_sha256": None if manufacturer_image is None else image.manufacturer_image_sha256.hex(),
        "signature": signature.to_json(),
        "integrity_code": integrity.to_json(),
    }


def summary_lines(image: OtaImage, signature: SignatureStatus, integrity: IntegrityStatus) -> list[str]:
    """Human-readable rendering: one `name: value` line per field, sub-elements indented."""
    lines = []
    for key, value in image_summary(image, signature, integrity).items():
        if key in _STRUCTURED:
            continue
        if key in _HEX_WIDTHS and isinstance(value, int):
            lines.append(f"{key}: 0x{value:0{_HEX_WIDTHS[key]}X} ({value})")
        else:
            lines.append(f"{key}: {'-' if value is None or value == '' else value}")
    lines.append(f"sub_elements: {len(image.sub_elements)}")
    for offset, element in zip(image.sub_element_offsets, image.sub_elements, strict=True):
        lines.append(f"  tag 0x{element.tag:04X} {tag_name(element.tag)}: {len(element.data)} bytes at offset {offset}")
    lines.append(f"signature: {signature.verdict.value} — {signature.detail}")
    lines.extend(f"  {found.describe()}" for found in signature.zigbee_signatures)
    lines.append(f"integrity_code: {integrity.verdict.value} — {integrity.detail}")
    return lines
