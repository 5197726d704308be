"""GBCS admission: the checks an OTA Upgrade Image passes before anything touches flash.

Order matters: the 750 KB size limit comes first, before a single byte is parsed [SECMP0007
Annex A 4.1.3 step 1]; a malformed image or one without a Manufacturer Image is fatal
(`ImageTooLargeError` / `ImageFormatError`). Everything else — hardware-version bounds,
manufacturer signature, image integrity code, CPL — is reported check by check so a bench
sees every reason at once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.errors import HubfwError
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, OtaImage, parse_ignoring_total_size
from hubfw.ota.integrity import IntegrityStatus, check_integrity_code
from hubfw.ota.signing import SignatureStatus, verify_signature
from hubfw.ota.status import Verdict


class ImageTooLargeError(HubfwError):
    """The whole OTA Upgrade Image exceeds the size limit (GBCS: 750 KB)."""


class ImageFileError(HubfwError):
    """The image file cannot be read."""


class AdmissionError(HubfwError):
    """An image failed one or more admission checks."""


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # not requested, or nothing to check


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    detail: str

    def line(self) -> str:
        return f"{self.outcome.value.upper():4} {self.name}: {self.detail}"


@dataclass(frozen=True)
class AdmissionReport:
    image: OtaImage
    checks: tuple[CheckResult, ...]
    signature: SignatureStatus
    integrity: IntegrityStatus

    @property
    def admitted(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.outcome is Outcome.FAIL)

    def raise_if_rejected(self) -> None:
        if self.failures:
            reasons = "; ".join(f"{check.name}: {check.detail}" for check in self.failures)
            raise AdmissionError(f"image rejected: {reasons}")


def check_size(size: int, max_size: int = DEFAULT_MAX_IMAGE_SIZE) -> None:
    if size > max_size:
        raise ImageTooLargeError(
            f"image is {size} bytes, over the {max_size}-byte limit (an OTA Upgrade Image must be at most 750 KB)"
        )


def read_image_file(path: Path, max_size: int = DEFAULT_MAX_IMAGE_SIZE) -> bytes:
    """The file's bytes; an oversized file is refused from its size alone, without reading it."""
    try:
        check_size(path.stat().st_size, max_size)
        return path.read_bytes()
    except OSError as exc:
        raise ImageFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def admit(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_IMAGE_SIZE,
    trust: Sequence[ec.EllipticCurvePublicKey] = (),
    detached_signature: bytes | None = None,
    cpl: CentralProductsList | None = None,
    require_signature: bool = False,
    allow_broken: bool = False,
) -> AdmissionReport:
    """Check an OTA Upgrade Image. Raises on a fatal problem (size, format); else reports each check.

    The signature check passes only on a verified signature; an absent or unchecked one (no
    trust anchors) fails only when `require_signature` is set. With `allow_broken` (a deliberately broken
    test image, `hubfw image build --break`) a header whose total size lies is not fatal but a failed
    "total-size" check, and the other checks run on the file as it is.
    """
    check_size(len(data), max_size)
    image, total_size = _parse(data, allow_broken)
    digest = image.manufacturer_image_sha256
    signature = verify_signature(image, trust, detached_signature)
    integrity = check_integrity_code(image)
    checks = (
        CheckResult("size", Outcome.PASS, f"{len(data)} bytes, limit {max_size}"),
        CheckResult(
            "format",
            Outcome.PASS,
            f"{len(image.sub_elements)} sub-element(s); Manufacturer Image {len(image.manufacturer_image)} bytes, "
            f"SHA-256 {digest.hex()}",
        ),
        *total_size,
        _hardware_versions(image),
        _signature(signature, require_signature),
        *(CheckResult("zigbee-signature", Outcome.SKIP, found.describe()) for found in signature.zigbee_signatures),
        _integrity(integrity),
        _cpl(image, digest, cpl),
    )
    return AdmissionReport(image, checks, signature, integrity)


def _parse(data: bytes, allow_broken: bool) -> tuple[OtaImage, tuple[CheckResult, ...]]:
    """The image, and a failed total-size check when it is let through with a lying header."""
    if not allow_broken:
        return OtaImage.parse(data), ()
    image = parse_ignoring_total_size(data)
    claimed = image.header.total_size
    if claimed == len(data):
        return image, ()
    detail = f"total image size in the header is {claimed} bytes but the file has {len(data)} bytes"
    return image, (CheckResult("total-size", Outcome.FAIL, detail),)


def _hardware_versions(image: OtaImage) -> CheckResult:
    low, high = image.header.min_hw_version, image.header.max_hw_version
    if low is None or high is None:
        return CheckResult("hardware-versions", Outcome.SKIP, "header carries no hardware versions")
    if low > high:
        return CheckResult(
            "hardware-versions", Outcome.FAIL, f"min hardware version 0x{low:04X} is above max 0x{high:04X}"
        )
    return CheckResult("hardware-versions", Outcome.PASS, f"0x{low:04X}..0x{high:04X}")


def _signature(status: SignatureStatus, required: bool) -> CheckResult:
    if status.verdict is Verdict.VALID:
        return CheckResult("signature", Outcome.PASS, status.detail)
    if status.verdict is Verdict.INVALID or required:
        reason = status.detail if status.verdict is not Verdict.ABSENT else f"required but {status.detail}"
        return CheckResult("signature", Outcome.FAIL, reason)
    return CheckResult("signature", Outcome.SKIP, status.detail)


def _integrity(status: IntegrityStatus) -> CheckResult:
    outcome = {Verdict.VALID: Outcome.PASS, Verdict.INVALID: Outcome.FAIL}.get(status.verdict, Outcome.SKIP)
    return CheckResult("integrity-code", outcome, status.detail)


def _cpl(image: OtaImage, digest: bytes, cpl: CentralProductsList | None) -> CheckResult:
    if cpl is None:
        return CheckResult("cpl", Outcome.SKIP, "no Central Products List given")
    verdict = cpl.check(image.header, digest)
    return CheckResult("cpl", Outcome.PASS if verdict.passed else Outcome.FAIL, verdict.detail)
