"""Manufacturer signatures on OTA images: verify embedded or detached, make detached ones.

The signed message is `raw_header ‖ Manufacturer Image` of the file as delivered [SEC
Appendix AB 2.2(a)(ii)]. An embedded signature is hubfw's sub-element 0xFE00 (64-byte raw
r||s); a detached signature file is DER or raw r||s — see FORMAT.md. Zigbee crypto-suite 1/2
signature sub-elements (sect163k1/sect283k1) are reported but can never be verified here:
`cryptography` dropped binary curves, so they are never called valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.image import MANUFACTURER_SIGNATURE_TAG, ImageFormatError, OtaImage
from hubfw.ota.keys import (
    RAW_SIGNATURE_SIZE,
    SignatureEncodingError,
    decode_detached_signature,
    key_fingerprint,
    raw_to_der,
    sign_message,
    verify_message,
)
from hubfw.ota.status import Verdict

_SIGNER_SIZE = 8


@dataclass(frozen=True)
class _ZigbeeSuite:
    suite: int
    curve: str
    signature_size: int


_ZIGBEE_SIGNATURE_TAGS = {0x0001: _ZigbeeSuite(1, "sect163k1", 42), 0x0005: _ZigbeeSuite(2, "sect283k1", 72)}


@dataclass(frozen=True)
class ZigbeeSuiteSignature:
    """A ZCL crypto-suite 1/2 ECDSA signature sub-element: parsed, reported, never verified."""

    suite: int
    curve: str
    signer: t.EUI64 | None  # None when the sub-element has the wrong length
    length: int

    def describe(self) -> str:
        if self.signer is None:
            return f"crypto suite {self.suite} ({self.curve}) signature sub-element is malformed ({self.length} bytes)"
        return (
            f"crypto suite {self.suite} ({self.curve}) signature by {self.signer} present but unverifiable: "
            "the cryptography library does not support binary curves"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "suite": self.suite,
            "curve": self.curve,
            "signer": None if self.signer is None else str(self.signer),
            "verdict": Verdict.UNCHECKED.value,
            "detail": self.describe(),
        }


@dataclass(frozen=True)
class SignatureStatus:
    """The manufacturer signature verdict, where the signature came from, and why."""

    verdict: Verdict
    source: str | None  # "embedded", "detached", or None when absent
    detail: str
    trusted_key: str | None = None  # fingerprint of the trust anchor that verified it
    zigbee_signatures: tuple[ZigbeeSuiteSignature, ...] = ()

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.value,
            "source": self.source,
            "detail": self.detail,
            "trusted_key": self.trusted_key,
            "zigbee_signatures": [signature.to_json() for signature in self.zigbee_signatures],
        }


def zigbee_suite_signatures(image: OtaImage) -> tuple[ZigbeeSuiteSignature, ...]:
    found = []
    for element in image.sub_elements:
        suite = _ZIGBEE_SIGNATURE_TAGS.get(element.tag)
        if suite is None:
            continue
        well_formed = len(element.data) == _SIGNER_SIZE + suite.signature_size
        signer = t.EUI64.deserialize(element.data[:_SIGNER_SIZE])[0] if well_formed else None
        found.append(ZigbeeSuiteSignature(suite.suite, suite.curve, signer, len(element.data)))
    return tuple(found)


def verify_signature(
    image: OtaImage, public_keys: Sequence[ec.EllipticCurvePublicKey], detached: bytes | None = None
) -> SignatureStatus:
    """Check the detached signature if given, else the embedded one, against the trust anchors."""
    zigbee = zigbee_suite_signatures(image)

    def status(verdict: Verdict, source: str | None, detail: str, key: str | None = None) -> SignatureStatus:
        return SignatureStatus(verdict, source, detail, key, zigbee)

    source = "detached" if detached is not None else "embedded"
    try:
        raw = _signature_bytes(image, detached)
    except SignatureEncodingError as exc:
        return status(Verdict.INVALID, source, str(exc))
    if raw is None:
        return status(Verdict.ABSENT, None, "no manufacturer signature (no sub-element 0xFE00, no detached signature)")
    try:
        message = image.signed_message
    except ImageFormatError as exc:
        return status(Verdict.INVALID, source, f"nothing to check the signature against: {exc}")
    if not public_keys:
        return status(Verdict.UNCHECKED, source, f"{source} signature present; no trust anchor given to check it")
    for key in public_keys:
        if verify_message(key, message, raw):
            fingerprint = key_fingerprint(key)
            detail = f"{source} signature verified by trusted key {fingerprint}"
            return status(Verdict.VALID, source, detail, fingerprint)
    return status(
        Verdict.INVALID,
        source,
        f"{source} signature does not verify against any of the {len(public_keys)} trusted key(s)",
    )


def detached_signature(image: OtaImage, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DER signature over raw_header ‖ Manufacturer Image, to hand to a supplier separately."""
    return raw_to_der(sign_message(key, image.signed_message))


def _signature_bytes(image: OtaImage, detached: bytes | None) -> bytes | None:
    if detached is not None:
        return decode_detached_signature(detached)
    embedded = image.with_tag(MANUFACTURER_SIGNATURE_TAG)
    if not embedded:
        return None
    if len(embedded) > 1:
        raise SignatureEncodingError(
            f"image has {len(embedded)} manufacturer signature sub-elements (0xFE00); want one"
        )
    if len(embedded[0].data) != RAW_SIGNATURE_SIZE:
        raise SignatureEncodingError(
            f"embedded signature sub-element is {len(embedded[0].data)} bytes; want {RAW_SIGNATURE_SIZE} (raw r||s)"
        )
    return embedded[0].data
