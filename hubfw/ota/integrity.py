"""The ZCL image integrity code (sub-element 0x0003): a 16-byte AES-MMO hash of the file.

Coverage (see `compute_integrity_code`): every byte from the start of the OTA header up to, not
including, the integrity-code sub-element, which must be the last sub-element.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.ota.image import IMAGE_INTEGRITY_CODE_TAG, INTEGRITY_CODE_SIZE, OtaImage, compute_integrity_code
from hubfw.ota.status import Verdict


@dataclass(frozen=True)
class IntegrityStatus:
    verdict: Verdict
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict.value, "detail": self.detail}


def check_integrity_code(image: OtaImage) -> IntegrityStatus:
    found = image.with_tag(IMAGE_INTEGRITY_CODE_TAG)
    if not found:
        return IntegrityStatus(Verdict.ABSENT, "no image integrity code sub-element (0x0003)")
    if len(found) > 1:
        return IntegrityStatus(Verdict.INVALID, f"{len(found)} image integrity code sub-elements; want at most one")
    if image.sub_elements[-1].tag != IMAGE_INTEGRITY_CODE_TAG:
        return IntegrityStatus(Verdict.INVALID, "the image integrity code is not the last sub-element")
    stored = found[0].data
    if len(stored) != INTEGRITY_CODE_SIZE:
        return IntegrityStatus(
            Verdict.INVALID, f"image integrity code is {len(stored)} bytes; want {INTEGRITY_CODE_SIZE}"
        )
    computed = compute_integrity_code(image)
    if computed != stored:
        return IntegrityStatus(
            Verdict.INVALID, f"image integrity code mismatch: file says {stored.hex()}, AES-MMO gives {computed.hex()}"
        )
    return IntegrityStatus(Verdict.VALID, f"image integrity code {stored.hex()} matches (AES-MMO)")
