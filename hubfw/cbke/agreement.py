"""One side of a CBKE key agreement: certificates in, link key and Confirm Key MACs out.

The Key Establishment cluster drives it: the initiator (U) and responder (V) swap certificates
(Initiate Key Establishment), ephemeral public keys (Ephemeral Data), then MACs (Confirm Key).
Everything here is pure computation; timing, retries and ZCL framing belong to the cluster.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.curves import Point
from hubfw.cbke.ecmqv import shared_secret
from hubfw.cbke.ecqv import reconstruct_public_key
from hubfw.cbke.errors import BadCertificateError, InvalidKeyError, IssuerMismatchError, KeyConfirmationError
from hubfw.cbke.kdf import INITIATOR_MAC_TAG, RESPONDER_MAC_TAG, confirm_key_mac, derive_session_keys, macs_equal
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite


class Role(enum.Enum):
    INITIATOR = "U"
    RESPONDER = "V"

    @property
    def mac_tag(self) -> int:
        return INITIATOR_MAC_TAG if self is Role.INITIATOR else RESPONDER_MAC_TAG

    @property
    def peer(self) -> Role:
        return Role.RESPONDER if self is Role.INITIATOR else Role.INITIATOR


@dataclass(frozen=True)
class DeviceCredentials:
    """A device's CBKE identity: its implicit certificate, the matching static key and the CA key."""

    certificate: ImplicitCertificate
    static_key: KeyPair = field(repr=False)
    ca_public_key: Point

    def __post_init__(self) -> None:
        if self.static_key.suite is not self.certificate.suite or self.ca_public_key.curve is not self.suite.curve:
            raise InvalidKeyError(f"credentials of {self.certificate.subject} mix crypto suites")
        if reconstruct_public_key(self.certificate, self.ca_public_key) != self.static_key.public:
            raise InvalidKeyError(f"the private key does not belong to the certificate of {self.certificate.subject}")

    @property
    def suite(self) -> CryptoSuite:
        return self.certificate.suite

    @property
    def eui64(self) -> t.EUI64:
        return self.certificate.subject


@dataclass(frozen=True)
class KeyAgreementResult:
    """The outcome on our side: send `own_mac`, check the peer's with `verify_peer_mac`."""

    role: Role
    peer: t.EUI64
    mac_key: bytes = field(repr=False)
    link_key: bytes = field(repr=False)
    own_mac: bytes
    expected_peer_mac: bytes = field(repr=False)

    def verify_peer_mac(self, received: bytes) -> None:
        """Raise KeyConfirmationError unless the peer derived the same keys as we did."""
        verify_mac(self.expected_peer_mac, received, self.peer)


def verify_mac(expected: bytes, received: bytes, peer: t.EUI64) -> None:
    """Raise KeyConfirmationError unless the Confirm Key MAC `peer` sent is the one we expect."""
    if not macs_equal(expected, bytes(received)):
        raise KeyConfirmationError(
            f"Confirm Key MAC from {peer} does not match: keys differ, link key must not be used"
        )


def check_peer_certificate(
    own_certificate: ImplicitCertificate,
    peer_certificate: bytes | ImplicitCertificate,
    *,
    peer_eui64: t.EUI64 | None = None,
    now: float | None = None,
) -> ImplicitCertificate:
    """Parse and vet a peer's certificate against our own: same suite and issuer, subject `peer_eui64`
    and (suite 2) valid at `now`. Needs only our certificate, so a hub whose private key stays in its
    NCP vets peers the same way."""
    suite = own_certificate.suite
    if isinstance(peer_certificate, ImplicitCertificate):
        certificate = peer_certificate
        if certificate.suite is not suite:
            raise BadCertificateError(
                f"peer certificate is suite {certificate.suite.value}, we use suite {suite.value}"
            )
    else:
        certificate = ImplicitCertificate.parse(peer_certificate, suite)
    if certificate.issuer != own_certificate.issuer:
        raise IssuerMismatchError(
            f"certificate of {certificate.subject} was issued by {certificate.issuer}, "
            f"we trust {own_certificate.issuer}"
        )
    if peer_eui64 is not None and certificate.subject != peer_eui64:
        raise BadCertificateError(f"certificate is for {certificate.subject}, but the peer is {peer_eui64}")
    if now is not None and not certificate.is_valid_at(now):
        raise BadCertificateError(f"certificate of {certificate.subject} is not valid at Unix time {int(now)}")
    return certificate


class KeyAgreement:
    """Our half of one key establishment, holding the ephemeral key for its duration."""

    def __init__(self, credentials: DeviceCredentials, role: Role, ephemeral_key: KeyPair | None = None) -> None:
        self.credentials = credentials
        self.role = role
        self.ephemeral_key = ephemeral_key if ephemeral_key is not None else KeyPair.generate(credentials.suite)
        if self.ephemeral_key.suite is not credentials.suite:
            raise InvalidKeyError("the ephemeral key and the certificate are of different crypto suites")

    @property
    def ephemeral_public_key(self) -> bytes:
        """Our Ephemeral Data payload."""
        return self.ephemeral_key.public_bytes()

    def check_peer_certificate(
        self,
        peer_certificate: bytes | ImplicitCertificate,
        *,
        peer_eui64: t.EUI64 | None = None,
        now: float | None = None,
    ) -> ImplicitCertificate:
        """Parse and vet the peer's certificate: suite, issuer, subject and (suite 2) validity."""
        return check_peer_certificate(self.credentials.certificate, peer_certificate, peer_eui64=peer_eui64, now=now)

    def complete(
        self,
        peer_certificate: bytes | ImplicitCertificate,
        peer_ephemeral_public_key: bytes,
        *,
        peer_eui64: t.EUI64 | None = None,
        now: float | None = None,
    ) -> KeyAgreementResult:
        """Derive Z, MacKey, the link key and both MACs from the peer's certificate and ephemeral key."""
        certificate = self.check_peer_certificate(peer_certificate, peer_eui64=peer_eui64, now=now)
        peer_static = reconstruct_public_key(certificate, self.credentials.ca_public_key)
        peer_ephemeral = self.credentials.suite.curve.decode_point(bytes(peer_ephemeral_public_key))
        keys = derive_session_keys(
            shared_secret(self.credentials.static_key, self.ephemeral_key, peer_static, peer_ephemeral)
        )
        own_id, peer_id = self.credentials.eui64, certificate.subject
        own_qe, peer_qe = self.ephemeral_public_key, bytes(peer_ephemeral_public_key)
        return KeyAgreementResult(
            role=self.role,
            peer=peer_id,
            mac_key=keys.mac_key,
            link_key=keys.link_key,
            own_mac=confirm_key_mac(keys.mac_key, self.role.mac_tag, own_id, peer_id, own_qe, peer_qe),
            expected_peer_mac=confirm_key_mac(keys.mac_key, self.role.peer.mac_tag, peer_id, own_id, peer_qe, own_qe),
        )
