"""Which EmberZNet libraries the NCP was built with, and its optional CBKE library.

Consumer dongle firmware links the CBKE libraries as stubs: `getLibraryStatus` reports them
absent and every CBKE command answers "library not present". A Smart Energy build links the real
ones; here `CbkeLibrary` plays that library with `hubfw.cbke` arithmetic: one key agreement at a
time per crypto suite, holding the ephemeral key and the derived link key between commands as
the library's temporary data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import zigpy.types as zt

from hubfw.cbke import CryptoSuite, DeviceCredentials, KeyAgreement, KeyPair, Role
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.errors import HubfwError
from hubfw.zigbee.ids import LIBRARY_ERROR, LIBRARY_IS_STUB, LIBRARY_PRESENT, LIBRARY_ROUTER_SUPPORT, LibraryId

STOCK_LIBRARIES = {
    LibraryId.ZIGBEE_PRO: LIBRARY_PRESENT | LIBRARY_ROUTER_SUPPORT,
    LibraryId.SECURITY_CORE: LIBRARY_PRESENT | LIBRARY_ROUTER_SUPPORT,
    LibraryId.SECURITY_LINK_KEYS: LIBRARY_PRESENT,
    LibraryId.INSTALL_CODE: LIBRARY_PRESENT,
    LibraryId.NCP: LIBRARY_PRESENT,
}
CBKE_LIBRARIES = {
    LibraryId.CBKE_CORE: LIBRARY_PRESENT,
    LibraryId.CBKE: LIBRARY_PRESENT,
    LibraryId.ECC: LIBRARY_PRESENT,
    LibraryId.CBKE_283K1: LIBRARY_PRESENT,
    LibraryId.ECC_283K1: LIBRARY_PRESENT,
}
"""What a Smart Energy build adds; the DSA sign/verify libraries stay stubs (their commands are not simulated)."""


def library_status(library_id: int, *, cbke: bool) -> int:
    """`getLibraryStatus`: present (0x80 | library bits), stub (0x00), or 0xFF for an unknown ID."""
    if library_id not in LibraryId._value2member_map_:
        return LIBRARY_ERROR
    present = STOCK_LIBRARIES | (CBKE_LIBRARIES if cbke else {})
    return present.get(LibraryId(library_id), LIBRARY_IS_STUB)


class CbkeStateError(HubfwError):
    """A CBKE library command that the library's state does not allow (answered INVALID_CALL)."""


@dataclasses.dataclass
class _Agreement:
    """The temporary data of one suite: the ephemeral key, then the partner and the link key."""

    ephemeral_key: KeyPair
    partner: zt.EUI64 | None = None
    link_key: zt.KeyData | None = None


class CbkeLibrary:
    """The NCP's CBKE library: its credentials per suite and the agreement in progress per suite."""

    def __init__(self, credentials: Iterable[DeviceCredentials] = ()) -> None:
        self._credentials: dict[CryptoSuite, DeviceCredentials] = {}
        self._agreements: dict[CryptoSuite, _Agreement] = {}
        for entry in credentials:
            self.install(entry)

    def install(self, credentials: DeviceCredentials) -> None:
        """What `setPreinstalledCbkeData` (suite 1) or manufacturing tokens (suite 2) put in place."""
        self._credentials[credentials.suite] = credentials
        self._agreements.pop(credentials.suite, None)

    def certificate(self, suite: CryptoSuite) -> ImplicitCertificate:
        return self._own(suite).certificate

    def has_credentials(self, suite: CryptoSuite) -> bool:
        return suite in self._credentials

    def generate_keys(self, suite: CryptoSuite) -> bytes:
        """A fresh ephemeral key pair for a new agreement; returns its compressed public key."""
        self._own(suite)  # no certificate, no key agreement
        ephemeral_key = KeyPair.generate(suite)
        self._agreements[suite] = _Agreement(ephemeral_key)
        return ephemeral_key.public_bytes()

    def calculate_smacs(self, suite: CryptoSuite, am_initiator: bool, partner_certificate: bytes,
                        partner_ephemeral_key: bytes) -> tuple[bytes, bytes]:
        """The initiator's and the responder's SMAC (Confirm Key MACs); keeps the link key until
        `clear_temporary_data`. Raises CbkeError for a certificate or key the arithmetic refuses."""
        state = self._agreements.get(suite)
        if state is None:
            raise CbkeStateError(f"suite {suite.value}: calculateSmacs before generateCbkeKeys")
        role = Role.INITIATOR if am_initiator else Role.RESPONDER
        agreement = KeyAgreement(self._own(suite), role, state.ephemeral_key)
        result = agreement.complete(partner_certificate, partner_ephemeral_key)
        state.partner, state.link_key = result.peer, zt.KeyData(result.link_key)
        if am_initiator:
            return result.own_mac, result.expected_peer_mac
        return result.expected_peer_mac, result.own_mac

    def clear_temporary_data(self, suite: CryptoSuite, store_link_key: bool) -> tuple[zt.EUI64, zt.KeyData] | None:
        """End the agreement; with `store_link_key`, return the partner and link key to store."""
        state = self._agreements.pop(suite, None)
        if not store_link_key:
            return None
        if state is None or state.partner is None or state.link_key is None:
            raise CbkeStateError(f"suite {suite.value}: no link key calculated to store")
        return state.partner, state.link_key

    def _own(self, suite: CryptoSuite) -> DeviceCredentials:
        credentials = self._credentials.get(suite)
        if credentials is None:
            raise CbkeStateError(f"no suite {suite.value} certificate installed in the NCP")
        return credentials
