"""The EZSP commands of the library and CBKE interface, answered as EmberZNet answers them.

With the CBKE library stubbed (stock firmware) each command returns LIBRARY_NOT_PRESENT, which is
SL_STATUS_NOT_AVAILABLE on EZSP v14+. With the library, generateCbkeKeys and calculateSmacs
answer at once and deliver their result in a later callback, as the real library does after its
background computation. The DSA sign/verify libraries are stubs in every simulated build.
"""

from __future__ import annotations

import logging
from typing import Protocol

import bellows.types as t
import zigpy.types as zt

from hubfw.cbke import CbkeError, CryptoSuite, DeviceCredentials, ImplicitCertificate, KeyPair
from hubfw.sim.ncp.cbke import CbkeLibrary, CbkeStateError, library_status
from hubfw.sim.ncp.handlers import Emit, Fields, Handler

LOGGER = logging.getLogger(__name__)

NOT_PRESENT: Fields = {"status": t.sl_Status.NOT_AVAILABLE}
"""SL_STATUS_NOT_AVAILABLE: EMBER_LIBRARY_NOT_PRESENT for the EmberStatus of EZSP v13."""
INVALID_CALL: Fields = {"status": t.sl_Status.INVALID_STATE}


class CbkeStack(Protocol):
    """What these commands use of the stack: `EmberStack` is one, and they need no more of it."""

    cbke: CbkeLibrary | None
    """The CBKE library, or None for stock firmware built with its stubs."""
    emit: Emit

    def store_link_key(self, ieee: zt.EUI64, key: zt.KeyData) -> None: ...


def get_library_status(stack: CbkeStack, request: Fields) -> Fields:
    return {"status": library_status(request["libraryId"], cbke=stack.cbke is not None)}


def dsa(stack: CbkeStack, request: Fields) -> Fields:
    return NOT_PRESENT


def generate_cbke_keys(stack: CbkeStack, request: Fields) -> Fields:
    return _generate_keys(stack, CryptoSuite.SUITE_1, "generateCbkeKeysHandler")


def generate_cbke_keys_283k1(stack: CbkeStack, request: Fields) -> Fields:
    return _generate_keys(stack, CryptoSuite.SUITE_2, "generateCbkeKeysHandler283k1")


def calculate_smacs(stack: CbkeStack, request: Fields) -> Fields:
    return _calculate_smacs(stack, CryptoSuite.SUITE_1, request, "calculateSmacsHandler")


def calculate_smacs_283k1(stack: CbkeStack, request: Fields) -> Fields:
    return _calculate_smacs(stack, CryptoSuite.SUITE_2, request, "calculateSmacsHandler283k1")


def clear_temporary_data(stack: CbkeStack, request: Fields) -> Fields:
    return _clear_temporary_data(stack, CryptoSuite.SUITE_1, bool(request["storeLinkKey"]))


def clear_temporary_data_283k1(stack: CbkeStack, request: Fields) -> Fields:
    return _clear_temporary_data(stack, CryptoSuite.SUITE_2, bool(request["storeLinkKey"]))


def get_certificate(stack: CbkeStack, request: Fields) -> Fields:
    return _certificate(stack, CryptoSuite.SUITE_1)


def get_certificate_283k1(stack: CbkeStack, request: Fields) -> Fields:
    return _certificate(stack, CryptoSuite.SUITE_2)


def set_preinstalled_cbke_data(stack: CbkeStack, request: Fields) -> Fields:
    """Install the NCP's suite 1 identity (CA public key, certificate, private key) from the host."""
    if stack.cbke is None:
        return NOT_PRESENT
    suite = CryptoSuite.SUITE_1
    try:
        stack.cbke.install(DeviceCredentials(
            certificate=ImplicitCertificate.parse(bytes(request["myCert"]), suite),
            static_key=KeyPair.from_bytes(suite, bytes(request["myKey"])),
            ca_public_key=suite.curve.decode_point(bytes(request["caPublic"]))))
    except CbkeError as exc:
        LOGGER.warning("setPreinstalledCbkeData refused: %s", exc)
        return {"status": t.sl_Status.INVALID_PARAMETER}
    return {}


def save_preinstalled_cbke_data_283k1(stack: CbkeStack, request: Fields) -> Fields:
    """Suite 2 data comes from manufacturing tokens (the `SimulatedNcp` credentials): already in place."""
    if stack.cbke is None:
        return NOT_PRESENT
    return {} if stack.cbke.has_credentials(CryptoSuite.SUITE_2) else INVALID_CALL


def _generate_keys(stack: CbkeStack, suite: CryptoSuite, callback: str) -> Fields:
    if stack.cbke is None:
        return NOT_PRESENT
    try:
        ephemeral_public_key = stack.cbke.generate_keys(suite)
    except CbkeStateError as exc:
        LOGGER.warning("%s", exc)
        return INVALID_CALL
    stack.emit(callback, {"status": t.sl_Status.OK, "ephemeralPublicKey": ephemeral_public_key})
    return {}


def _calculate_smacs(stack: CbkeStack, suite: CryptoSuite, request: Fields, callback: str) -> Fields:
    if stack.cbke is None:
        return NOT_PRESENT
    try:
        initiator_smac, responder_smac = stack.cbke.calculate_smacs(
            suite, bool(request["amInitiator"]), bytes(request["partnerCertificate"]),
            bytes(request["partnerEphemeralPublicKey"]))
    except CbkeStateError as exc:
        LOGGER.warning("%s", exc)
        return INVALID_CALL
    except CbkeError as exc:  # the library accepted the command; its computation then fails
        LOGGER.info("calculateSmacs failed: %s", exc)
        stack.emit(callback, {"status": t.sl_Status.FAIL})
        return {}
    stack.emit(callback, {"status": t.sl_Status.OK, "initiatorSmac": initiator_smac,
                          "responderSmac": responder_smac})
    return {}


def _clear_temporary_data(stack: CbkeStack, suite: CryptoSuite, store_link_key: bool) -> Fields:
    if stack.cbke is None:
        return NOT_PRESENT
    try:
        stored = stack.cbke.clear_temporary_data(suite, store_link_key)
    except CbkeStateError as exc:
        LOGGER.warning("%s", exc)
        return INVALID_CALL
    if stored is not None:
        stack.store_link_key(*stored)
    return {}


def _certificate(stack: CbkeStack, suite: CryptoSuite) -> Fields:
    if stack.cbke is None:
        return NOT_PRESENT
    try:
        return {"localCert": stack.cbke.certificate(suite).encoded}
    except CbkeStateError as exc:
        LOGGER.warning("%s", exc)
        return INVALID_CALL


COMMANDS: dict[str, Handler[CbkeStack]] = {
    "getLibraryStatus": get_library_status,
    "dsaSign": dsa,
    "dsaVerify": dsa,
    "dsaVerify283k1": dsa,
    "generateCbkeKeys": generate_cbke_keys,
    "generateCbkeKeys283k1": generate_cbke_keys_283k1,
    "calculateSmacs": calculate_smacs,
    "calculateSmacs283k1": calculate_smacs_283k1,
    "clearTemporaryDataMaybeStoreLinkKey": clear_temporary_data,
    "clearTemporaryDataMaybeStoreLinkKey283k1": clear_temporary_data_283k1,
    "getCertificate": get_certificate,
    "getCertificate283k1": get_certificate_283k1,
    "setPreinstalledCbkeData": set_preinstalled_cbke_data,
    "savePreinstalledCbkeData283k1": save_preinstalled_cbke_data_283k1,
}
