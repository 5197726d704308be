"""Fuzz target `ota-file`: the OTA upgrade file parser and GBCS admission, on untrusted bytes.

Properties, for every input:
- `OtaImage.parse` either accepts, and then `to_bytes()` gives back the input byte for byte, or
  raises a HubfwError whose message is one clean non-empty line;
- what `hubfw image inspect` shows of an accepted image (summary lines and JSON) never crashes;
- `admit` (with a trust anchor and a CPL, so the signature, integrity and CPL checks run) either
  reports, with one-line check details, or raises a clean HubfwError — the same rejection the
  parser gave, when the parser rejected the input.

Run it with tools/fuzz.py (`python tools/fuzz.py ota-file --runs 100000`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ec

from fuzzlib.engine import PropertyViolation, Target, judge_rejection, mutate_bytes
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.ota.admission import AdmissionError, admit
from hubfw.ota.cpl import CentralProductsList, CplEntry
from hubfw.ota.image import (
    MANUFACTURER_SIGNATURE_TAG,
    OtaImage,
    SubElement,
    build_image,
)
from hubfw.ota.integrity import check_integrity_code
from hubfw.ota.signing import verify_signature
from hubfw.ota.summary import image_summary, summary_lines

ADMISSION_LIMIT = 2048
"""admit()'s size limit here: small, so the fuzzer reaches the too-large rejection too."""
MAX_LEN = 4096
TOTAL_SIZE_OFFSET = 52
"""Where the 32-bit total image size sits in the OTA header."""
HEADER_LENGTH_OFFSET = 6

_SIGNING_KEY = ec.derive_private_key(0x5EED_F022, ec.SECP256R1())
_SIGNED = dict(manufacturer_code=0x1234, image_type=0x0201, file_version=0x00000020, min_hw_version=1, max_hw_version=3)


def check_ota_file(data: bytes) -> list[str]:
    """The outcome labels of parsing, inspecting and admitting `data`; raises on a broken property."""
    try:
        image = OtaImage.parse(data)
    except HubfwError as exc:
        parse_outcome = "parse: " + judge_rejection(exc, "OtaImage.parse")
        return [parse_outcome, _check_admission(data, parse_outcome)]
    if image.to_bytes() != data:
        raise PropertyViolation("to_bytes() differs from the input the parser accepted", data.hex())
    _inspect(image)
    return ["parse: accepted", _check_admission(data, None)]


def _inspect(image: OtaImage) -> None:
    """What `hubfw image inspect` prints: must not crash on anything the parser accepted."""
    signature = verify_signature(image, [_SIGNING_KEY.public_key()])
    integrity = check_integrity_code(image)
    json.dumps(image_summary(image, signature, integrity))
    summary_lines(image, signature, integrity)


def _check_admission(data: bytes, parse_rejection: str | None) -> str:
    try:
        report = admit(data, max_size=ADMISSION_LIMIT, trust=[_SIGNING_KEY.public_key()], cpl=_cpl())
    except HubfwError as exc:
        kind = judge_rejection(exc, "admit")
        if parse_rejection is None or len(data) > ADMISSION_LIMIT:
            return "admit: " + kind
        if "parse: " + kind != parse_rejection:
            raise PropertyViolation("admit rejected the file differently from the parser", kind) from None
        return "admit: the parser's rejection"
    if parse_rejection is not None:
        raise PropertyViolation("admit accepted a file the parser rejects", parse_rejection)
    for check in report.checks:
        if "\n" in check.line():
            raise PropertyViolation("an admission check detail spans lines", repr(check.line()))
    try:
        report.raise_if_rejected()
    except AdmissionError:
        return "admit: rejected (" + ", ".join(check.name for check in report.failures) + ")"
    return "admit: admitted"


@cache
def _cpl() -> CentralProductsList:
    """A CPL listing the signed seed image, so fuzzed variants of it walk every CPL branch."""
    image = _signed_seed()
    header = image.header
    entry = CplEntry(
        header.manufacturer_code, header.image_type, header.file_version, 2, image.manufacturer_image_sha256
    )
    return CentralProductsList((entry,), source="fuzz CPL")


@cache
def _signed_seed() -> OtaImage:
    return build_image(**_SIGNED, payload=bytes(range(200)), sign_key=_SIGNING_KEY, integrity_code=True)


def seeds() -> list[bytes]:
    """Valid images covering every optional header field and the sub-elements hubfw treats specially."""
    payload = random.Random(1).randbytes(96)
    images = [
        build_image(manufacturer_code=0x1234, image_type=1, file_version=1, payload=payload),
        build_image(manufacturer_code=0x1234, image_type=1, file_version=2, payload=b""),
        build_image(
            manufacturer_code=0xFFFF, image_type=0xFFFF, file_version=0xFFFFFFFF, payload=payload,
            header_string="hubfw fuzz seed", security_credential_version=1, min_hw_version=3, max_hw_version=1,
        ),
        build_image(
            manufacturer_code=0x1234, image_type=2, file_version=3, payload=payload,
            destination=parse_eui64("00:0d:6f:00:00:00:00:01"), header_extra=b"\x01\x02\x03",
        ),
        _signed_seed(),
        build_image(**_SIGNED, payload=bytes(range(200)), sign_key=_SIGNING_KEY),
        build_image(manufacturer_code=0x1234, image_type=1, file_version=4, payload=payload, integrity_code=True),
        build_image(manufacturer_code=0x1234, image_type=1, file_version=6, payload=bytes(ADMISSION_LIMIT)),
        build_image(
            manufacturer_code=0x1234, image_type=1, file_version=5, payload=payload,
            extra_sub_elements=(
                SubElement(0x0001, bytes(8 + 42)),  # crypto suite 1 signature
                SubElement(0x0005, bytes(8 + 72)),  # crypto suite 2 signature
                SubElement(0x0002, bytes(48)),  # signing certificate
                SubElement(0xF000, b"vendor"),
                SubElement(MANUFACTURER_SIGNATURE_TAG, bytes(10)),  # wrong size
            ),
        ),
    ]
    reserved_bits = replace(images[0].header, field_control_reserved=0x0008)
    images.append(OtaImage(reserved_bits, images[0].sub_elements))
    return [image.to_bytes() for image in images]


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Byte mutations, then often re-tell the sizes the mutation broke, so the parser goes deeper."""
    mutated = bytearray(mutate_bytes(data, rng, pool, MAX_LEN))
    if len(mutated) >= TOTAL_SIZE_OFFSET + 4 and rng.random() < 0.6:
        mutated[TOTAL_SIZE_OFFSET : TOTAL_SIZE_OFFSET + 4] = len(mutated).to_bytes(4, "little")
    if len(mutated) >= TOTAL_SIZE_OFFSET + 4 and rng.random() < 0.3:
        _fix_last_sub_element(mutated)
    return bytes(mutated)


def _fix_last_sub_element(mutated: bytearray) -> None:
    """Walk the sub-elements from the header's end and stretch or shrink the last to the file's end."""
    offset = int.from_bytes(mutated[HEADER_LENGTH_OFFSET : HEADER_LENGTH_OFFSET + 2], "little")
    last = None
    while offset + 6 <= len(mutated):
        last = offset
        offset += 6 + int.from_bytes(mutated[offset + 2 : offset + 6], "little")
    if last is not None:
        mutated[last + 2 : last + 6] = (len(mutated) - last - 6).to_bytes(4, "little")


TARGET = Target(
    name="ota-file",
    check=check_ota_file,
    seeds=seeds,
    mutate=mutate,
    max_len=MAX_LEN,
)
