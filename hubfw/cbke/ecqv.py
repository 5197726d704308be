"""ECQV implicit certificates (SEC 4): public-key reconstruction and a test CA that issues them.

The hash is AES-MMO over the whole encoded certificate, read as a big-endian integer:
Q_U = H(Cert_U) * P_U + Q_CA, and the subject's private key is d_U = H(Cert_U) * k_U + r. Nothing
in an implicit certificate proves it genuine by itself; a forged one simply yields a public key
whose private key nobody holds, which the key-confirmation MACs then expose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.cbke.certificates import NO_EXPIRY, ImplicitCertificate, build_suite1, build_suite2
from hubfw.cbke.curves import Point
from hubfw.cbke.errors import BadCertificateError, InvalidKeyError, InvalidPointError
from hubfw.cbke.keys import SYSTEM_RANDOMNESS, KeyPair, Randomness
from hubfw.cbke.suites import CryptoSuite
from hubfw.ota.aes_mmo import aes_mmo_hash


def certificate_hash(certificate: ImplicitCertificate) -> int:
    """e = H(Cert): the AES-MMO digest of the encoded certificate as an integer (128 bits < n)."""
    return int.from_bytes(aes_mmo_hash(certificate.encoded), "big") % certificate.suite.curve.order


def reconstruction_point(certificate: ImplicitCertificate) -> Point:
    try:
        return certificate.suite.curve.decode_point(certificate.reconstruction_point)
    except InvalidPointError as exc:
        raise BadCertificateError(f"certificate of {certificate.subject}: bad reconstruction point: {exc}") from None


def reconstruct_public_key(certificate: ImplicitCertificate, ca_public_key: Point) -> Point:
    """The subject's static public key Q_U = e * P_U + Q_CA."""
    curve = certificate.suite.curve
    if ca_public_key.curve is not curve:
        raise BadCertificateError(f"a suite {certificate.suite.value} certificate needs a {curve.name} CA key")
    public = curve.add(curve.multiply(certificate_hash(certificate), reconstruction_point(certificate)), ca_public_key)
    if public is None:
        raise BadCertificateError(f"certificate of {certificate.subject} reconstructs to the point at infinity")
    return public


def reconstruct_private_key(
    certificate: ImplicitCertificate, request_key: KeyPair, reconstruction_data: int, ca_public_key: Point
) -> KeyPair:
    """The subject's side of issuance: d_U = e * k_U + r, checked against the reconstructed Q_U."""
    order = certificate.suite.curve.order
    private = (certificate_hash(certificate) * request_key.private + reconstruction_data) % order
    if private == 0:
        raise InvalidKeyError(f"certificate of {certificate.subject} yields the private key 0")
    key = KeyPair(certificate.suite, private)
    if key.public != reconstruct_public_key(certificate, ca_public_key):
        raise InvalidKeyError(f"private key reconstruction data does not fit the certificate of {certificate.subject}")
    return key


@dataclass(frozen=True)
class IssuedCertificate:
    """What a CA returns for a certificate request: the certificate and r (private-key reconstruction data)."""

    certificate: ImplicitCertificate
    reconstruction_data: int = field(repr=False)


@dataclass(frozen=True)
class CertificateAuthority:
    """An ECQV certificate authority for one suite: hubfw as its own test CA."""

    issuer: t.EUI64
    key: KeyPair = field(repr=False)

    @classmethod
    def generate(cls, suite: CryptoSuite, issuer: t.EUI64) -> CertificateAuthority:
        return cls(issuer, KeyPair.generate(suite))

    @property
    def suite(self) -> CryptoSuite:
        return self.key.suite

    @property
    def public_key(self) -> Point:
        return self.key.public

    def issue(
        self,
        subject: t.EUI64,
        request: Point,
        *,
        valid_from: int = 0,
        valid_to: int = NO_EXPIRY,
        serial: int | None = None,
        randomness: Randomness = SYSTEM_RANDOMNESS,
    ) -> IssuedCertificate:
        """Certify the subject's request point R_U = k_U * G (validity fields are suite 2 only)."""
        curve = self.suite.curve
        if request.curve is not curve:
            raise InvalidPointError(f"a suite {self.suite.value} certificate request must be a {curve.name} point")
        if serial is None:
            serial = randomness.randbits(64)
        while True:
            k = 1 + randomness.randbelow(curve.order - 1)
            point = curve.add(request, curve.multiply(k, curve.generator))
            if point is None:
                continue
            certificate = self._encode(subject, point.encode(), valid_from, valid_to, serial)
            r = (certificate_hash(certificate) * k + self.key.private) % curve.order
            return IssuedCertificate(certificate, r)

    def issue_key_pair(
        self, subject: t.EUI64, *, valid_from: int = 0, valid_to: int = NO_EXPIRY, serial: int | None = None,
        randomness: Randomness = SYSTEM_RANDOMNESS,
    ) -> tuple[ImplicitCertificate, KeyPair]:
        """Play both sides for a test device: make its request key, certify it, finish its private key."""
        request_key = KeyPair.generate(self.suite, randomness)
        issued = self.issue(subject, request_key.public, valid_from=valid_from, valid_to=valid_to, serial=serial,
                            randomness=randomness)
        private = reconstruct_private_key(issued.certificate, request_key, issued.reconstruction_data, self.public_key)
        return issued.certificate, private

    def _encode(
        self, subject: t.EUI64, point: bytes, valid_from: int, valid_to: int, serial: int
    ) -> ImplicitCertificate:
        if self.suite is CryptoSuite.SUITE_1:
            return build_suite1(point, subject, self.issuer)
        return build_suite2(point, subject, self.issuer, serial=serial, valid_from=valid_from, valid_to=valid_to)
