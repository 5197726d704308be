"""Smart Energy ECQV implicit certificates: the 48-byte suite 1 and 74-byte suite 2 layouts.

Suite 1 (sect163k1): reconstruction point (22) | subject (8) | issuer (8) | profile attribute data (10).
Suite 2 (sect283k1): type (1) | serial (8) | curve (1) | hash (1) | issuer (8) | valid from (5) |
valid to (4) | subject (8) | key usage (1) | reconstruction point (37).
EUI-64s are written big-endian (display order). The whole encoding is what ECQV hashes, so a
certificate keeps its exact bytes in `encoded`.
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t

from hubfw.cbke.errors import BadCertificateError
from hubfw.cbke.suites import CryptoSuite
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

SUITE2_CERTIFICATE_TYPE = 0x00
SUITE2_CURVE_SECT283K1 = 0x0D
SUITE2_HASH_AES_MMO = 0x08
KEY_USAGE_KEY_AGREEMENT = 0x08
KEY_USAGE_DIGITAL_SIGNATURE = 0x80
NO_EXPIRY = 0xFFFF_FFFF  # suite 2 "valid to" value for a certificate that never expires

_SUITE1_PROFILE_DATA_LENGTH = 10
_EUI64_LENGTH = 8


def eui64_from_wire(data: bytes) -> t.EUI64:
    """An EUI-64 written big-endian in a certificate or MAC message."""
    return t.EUI64(data[::-1])


def eui64_to_wire(eui64: t.EUI64) -> bytes:
    return bytes(eui64)[::-1]


@dataclass(frozen=True)
class ImplicitCertificate:
    """A parsed implicit certificate; suite-specific fields are None for the other suite."""

    suite: CryptoSuite
    encoded: bytes
    subject: t.EUI64
    issuer: t.EUI64
    reconstruction_point: bytes  # compressed public-key reconstruction data P_U
    profile_data: bytes | None = None  # suite 1 only
    serial: int | None = None  # suite 2 only, from here on
    valid_from: int | None = None  # Unix seconds
    valid_to: int | None = None  # raw field: seconds after valid_from, NO_EXPIRY for none
    key_usage: int | None = None

    @classmethod
    def parse(cls, data: bytes, suite: CryptoSuite | None = None) -> ImplicitCertificate:
        """Parse a certificate; the suite is taken from its length unless given."""
        data = bytes(data)
        if suite is None:
            suite = CryptoSuite.for_certificate_length(len(data))
            if suite is None:
                raise BadCertificateError(f"a certificate is 48 (suite 1) or 74 (suite 2) bytes, got {len(data)}")
        elif len(data) != suite.certificate_length:
            raise BadCertificateError(
                f"a suite {suite.value} certificate is {suite.certificate_length} bytes, got {len(data)}"
            )
        return _parse_suite1(data) if suite is CryptoSuite.SUITE_1 else _parse_suite2(data)

    @property
    def expires_at(self) -> int | None:
        """Unix time after which the certificate is void; None when it never expires (or suite 1)."""
        if self.valid_from is None or self.valid_to is None or self.valid_to == NO_EXPIRY:
            return None
        return self.valid_from + self.valid_to

    def is_valid_at(self, when: float) -> bool:
        """Suite 1 certificates carry no validity period and are always valid."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        expires_at = self.expires_at
        return expires_at is None or when <= expires_at


def build_suite1(
    reconstruction_point: bytes, subject: t.EUI64, issuer: t.EUI64, profile_data: bytes | None = None
) -> ImplicitCertificate:
    """Encode a 48-byte certificate; profile data defaults to the SE profile id and zeros."""
    if profile_data is None:
        profile_data = SMART_ENERGY_PROFILE.to_bytes(2, "big") + bytes(_SUITE1_PROFILE_DATA_LENGTH - 2)
    encoded = reconstruction_point + eui64_to_wire(subject) + eui64_to_wire(issuer) + profile_data
    return ImplicitCertificate.parse(encoded, CryptoSuite.SUITE_1)


def build_suite2(
    reconstruction_point: bytes,
    subject: t.EUI64,
    issuer: t.EUI64,
    *,
    serial: int,
    valid_from: int,
    valid_to: int = NO_EXPIRY,
    key_usage: int = KEY_USAGE_KEY_AGREEMENT | KEY_USAGE_DIGITAL_SIGNATURE,
) -> ImplicitCertificate:
    """Encode a 74-byte certificate (valid_to is seconds after valid_from, or NO_EXPIRY)."""
    try:
        encoded = b"".join(
            (
                bytes([SUITE2_CERTIFICATE_TYPE]),
                serial.to_bytes(8, "big"),
                bytes([SUITE2_CURVE_SECT283K1, SUITE2_HASH_AES_MMO]),
                eui64_to_wire(issuer),
                valid_from.to_bytes(5, "big"),
                valid_to.to_bytes(4, "big"),
                eui64_to_wire(subject),
                key_usage.to_bytes(1, "big"),
                reconstruction_point,
            )
        )
    except OverflowError as exc:
        raise BadCertificateError(f"a suite 2 certificate field is out of range: {exc}") from None
    return ImplicitCertificate.parse(encoded, CryptoSuite.SUITE_2)


def _parse_suite1(data: bytes) -> ImplicitCertificate:
    point_end = CryptoSuite.SUITE_1.point_length
    subject_end = point_end + _EUI64_LENGTH
    issuer_end = subject_end + _EUI64_LENGTH
    return ImplicitCertificate(
        suite=CryptoSuite.SUITE_1,
        encoded=data,
        reconstruction_point=data[:point_end],
        subject=eui64_from_wire(data[point_end:subject_end]),
        issuer=eui64_from_wire(data[subject_end:issuer_end]),
        profile_data=data[issuer_end:],
    )


def _parse_suite2(data: bytes) -> ImplicitCertificate:
    if data[0] != SUITE2_CERTIFICATE_TYPE:
        raise BadCertificateError(f"suite 2 certificate type {data[0]:#04x} is not {SUITE2_CERTIFICATE_TYPE:#04x}")
    if data[9] != SUITE2_CURVE_SECT283K1:
        raise BadCertificateError(f"suite 2 certificate curve {data[9]:#04x} is not sect283k1 (0x0d)")
    if data[10] != SUITE2_HASH_AES_MMO:
        raise BadCertificateError(f"suite 2 certificate hash {data[10]:#04x} is not AES-MMO (0x08)")
    if not data[36] & KEY_USAGE_KEY_AGREEMENT:
        raise BadCertificateError(f"suite 2 certificate key usage {data[36]:#04x} does not allow key agreement")
    return ImplicitCertificate(
        suite=CryptoSuite.SUITE_2,
        encoded=data,
        serial=int.from_bytes(data[1:9], "big"),
        issuer=eui64_from_wire(data[11:19]),
        valid_from=int.from_bytes(data[19:24], "big"),
        valid_to=int.from_bytes(data[24:28], "big"),
        subject=eui64_from_wire(data[28:36]),
        key_usage=data[36],
        reconstruction_point=data[37:],
    )
