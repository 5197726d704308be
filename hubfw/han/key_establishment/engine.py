"""Where the hub's half of a key agreement is computed: on the host (`HostEngine`, the default) or by the
NCP's own CBKE library (`NcpEngine`, `hubfw serve --cbke-on-ncp`).

The Key Establishment server keeps every protocol rule (steps, checks, Terminate codes, timeouts) and asks
its engine only for crypto: the certificate it presents per suite, and — once the device's Ephemeral Data
has arrived — our ephemeral public key and both Confirm Key MACs (`agree`). The host engine answers at
once. The NCP's library answers asynchronously (a command, then a callback), so the NCP engine answers
None and queues an `AgreementRequest`; the hub's async side takes it (`take_work`), runs it through bellows
(hubfw.radio.ncp_cbke) and feeds the keys back with `KeyEstablishmentServer.resume`, which sends the
Ephemeral Data Response then. The server core stays transport-free and clock-driven.

The NCP keeps one agreement's temporary data per suite, so the NCP engine runs one exchange at a time;
an exchange that ends without a key queues a `ReleaseAgreement` (clearTemporaryDataMaybeStoreLinkKey(False)),
and a confirmed one ends with `LinkKeyEstablished(key=None)`: the hub has the NCP store the key itself, so
it never leaves the NCP.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, Role, verify_mac
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.han.key_establishment.config import KeyEstablishmentConfigError

EphemeralKeySource = Callable[[CryptoSuite], KeyPair]


@dataclass(frozen=True, eq=False)
class AgreementRequest:
    """Compute the hub's (responder's) half of one exchange from the device's certificate and ephemeral key.
    Compared by identity: the server tells this exchange's answer from a late one of an abandoned exchange."""

    peer: t.EUI64
    peer_certificate: ImplicitCertificate
    peer_ephemeral_key: bytes

    @property
    def suite(self) -> CryptoSuite:
        return self.peer_certificate.suite


@dataclass(frozen=True)
class ReleaseAgreement:
    """The exchange of `suite` ended without a key: drop the NCP's temporary data, store nothing."""

    suite: CryptoSuite


NcpWork = AgreementRequest | ReleaseAgreement


@dataclass(frozen=True)
class ConfirmKeys:
    """The hub's half of an agreement: our Ephemeral Data and both Confirm Key MACs (the NCP's
    initiator and responder SMACs), with the link key when it was computed on the host."""

    ephemeral_public_key: bytes
    initiator_mac: bytes = field(repr=False)
    responder_mac: bytes
    link_key: bytes | None = field(default=None, repr=False)
    """None when the NCP computed it: the NCP stores it and it never reaches the host."""

    def verify_initiator_mac(self, received: bytes, peer: t.EUI64) -> None:
        """Raise KeyConfirmationError unless the device's Confirm Key MAC shows it derived the same keys."""
        verify_mac(self.initiator_mac, received, peer)


class KeyAgreementEngine(abc.ABC):
    """The crypto a Key Establishment responder needs."""

    max_sessions: int | None = None
    """Exchanges the engine can hold at once (None: only the server's config limits them)."""

    @property
    @abc.abstractmethod
    def certificates(self) -> Mapping[CryptoSuite, ImplicitCertificate]:
        """The certificate the hub presents, per suite it supports; all name the coordinator."""

    @abc.abstractmethod
    def agree(self, request: AgreementRequest) -> ConfirmKeys | None:
        """The keys now, or None when they come later through `KeyEstablishmentServer.resume`.
        Raises CbkeError for a certificate or point the arithmetic refuses."""

    def release(self, suite: CryptoSuite) -> None:
        """An exchange `agree` was asked about ended without a key: drop what was kept for it (the host
        engine keeps nothing between steps)."""


class HostEngine(KeyAgreementEngine):
    """Today's CBKE: the hub's certificates and private keys on the host, `hubfw.cbke` arithmetic."""

    def __init__(
        self,
        credentials_by_suite: Mapping[CryptoSuite, DeviceCredentials],
        ephemeral_keys: EphemeralKeySource = KeyPair.generate,
    ) -> None:
        self._credentials = dict(credentials_by_suite)
        self._ephemeral_keys = ephemeral_keys
        self._certificates = {suite: found.certificate for suite, found in self._credentials.items()}
        check_certificates(self._certificates)

    @property
    def certificates(self) -> Mapping[CryptoSuite, ImplicitCertificate]:
        return self._certificates

    def agree(self, request: AgreementRequest) -> ConfirmKeys:
        credentials = self._credentials[request.suite]
        agreement = KeyAgreement(credentials, Role.RESPONDER, self._ephemeral_keys(request.suite))
        result = agreement.complete(request.peer_certificate, request.peer_ephemeral_key)
        return ConfirmKeys(
            ephemeral_public_key=agreement.ephemeral_public_key,
            initiator_mac=result.expected_peer_mac,
            responder_mac=result.own_mac,
            link_key=result.link_key,
        )


class NcpEngine(KeyAgreementEngine):
    """The NCP's CBKE library does the arithmetic; this side only queues the work for the hub to run."""

    max_sessions = 1

    def __init__(self, certificates: Mapping[CryptoSuite, ImplicitCertificate]) -> None:
        self._certificates = dict(certificates)
        check_certificates(self._certificates)
        self._work: list[NcpWork] = []

    @property
    def certificates(self) -> Mapping[CryptoSuite, ImplicitCertificate]:
        return self._certificates

    def agree(self, request: AgreementRequest) -> None:
        self._work.append(request)

    def release(self, suite: CryptoSuite) -> None:
        self._work.append(ReleaseAgreement(suite))

    def take_work(self) -> list[NcpWork]:
        """What the NCP must do, in order (the NCP holds one agreement per suite: order matters)."""
        work, self._work = self._work, []
        return work


def check_certificates(certificates: Mapping[CryptoSuite, ImplicitCertificate]) -> None:
    """One certificate per suite, at least one, all for the same EUI-64 (the coordinator)."""
    if not certificates:
        raise KeyEstablishmentConfigError("the Key Establishment server needs credentials for suite 1 or 2")
    for suite, certificate in certificates.items():
        if certificate.suite is not suite:
            raise KeyEstablishmentConfigError(
                f"credentials given for suite {int(suite)} hold a suite {int(certificate.suite)} certificate"
            )
    if len({certificate.subject for certificate in certificates.values()}) != 1:
        raise KeyEstablishmentConfigError("the hub's certificates of the two suites name different EUI-64s")
