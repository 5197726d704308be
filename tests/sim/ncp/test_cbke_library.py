"""The NCP's libraries and CBKE commands, driven directly: a stock build's stubs, and the CBKE
library checked against a device doing its half of the agreement with `hubfw.cbke`."""

from __future__ import annotations

from pathlib import Path

import bellows.types as t
import pytest
import zigpy.types as zt

from hubfw.cbke import CertificateAuthority, CryptoSuite, DeviceCredentials, KeyAgreement, Role
from hubfw.errors import HubfwError
from hubfw.sim.ncp import SimulatedNcp
from hubfw.sim.ncp.cbke import CbkeLibrary
from hubfw.zigbee.ids import LibraryId
from tests.sim.ncp.stack_harness import METER, NCP_IEEE, Harness

ISSUER = zt.EUI64.convert("54:45:53:54:53:45:43:41")
CBKE_COMMANDS = ["generateCbkeKeys", "generateCbkeKeys283k1", "calculateSmacs", "calculateSmacs283k1",
                 "clearTemporaryDataMaybeStoreLinkKey", "clearTemporaryDataMaybeStoreLinkKey283k1",
                 "getCertificate", "getCertificate283k1", "setPreinstalledCbkeData", "savePreinstalledCbkeData283k1",
                 "dsaSign", "dsaVerify", "dsaVerify283k1"]
CBKE_LIBRARIES = [LibraryId.CBKE_CORE, LibraryId.CBKE, LibraryId.ECC, LibraryId.CBKE_283K1, LibraryId.ECC_283K1]
SUITE_COMMANDS = {
    CryptoSuite.SUITE_1: ("generateCbkeKeys", "generateCbkeKeysHandler", "calculateSmacs", "calculateSmacsHandler",
                          "clearTemporaryDataMaybeStoreLinkKey", "getCertificate"),
    CryptoSuite.SUITE_2: ("generateCbkeKeys283k1", "generateCbkeKeysHandler283k1", "calculateSmacs283k1",
                          "calculateSmacsHandler283k1", "clearTemporaryDataMaybeStoreLinkKey283k1",
                          "getCertificate283k1"),
}


def credentials(ca: CertificateAuthority, subject: zt.EUI64) -> DeviceCredentials:
    certificate, key = ca.issue_key_pair(subject)
    return DeviceCredentials(certificate, key, ca.public_key)


def last_callback(hub: Harness, name: str) -> dict:
    return next(fields for callback, fields in reversed(hub.callbacks) if callback == name)


@pytest.fixture(scope="module")
def authorities() -> dict[CryptoSuite, CertificateAuthority]:
    return {suite: CertificateAuthority.generate(suite, ISSUER) for suite in CryptoSuite}


async def test_a_stock_build_reports_the_cbke_libraries_absent_and_refuses_their_commands(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    hub.callbacks.clear()
    assert [hub.call("getLibraryStatus", libraryId=library)["status"] for library in CBKE_LIBRARIES] == [0x00] * 5
    assert hub.call("getLibraryStatus", libraryId=LibraryId.ZIGBEE_PRO)["status"] == 0x81  # present, router capable
    assert hub.call("getLibraryStatus", libraryId=0x40)["status"] == 0xFF  # no such library
    for command in CBKE_COMMANDS:
        assert hub.call(command, amInitiator=False, storeLinkKey=True)["status"] == t.sl_Status.NOT_AVAILABLE
    assert hub.callbacks == []


async def test_a_cbke_build_reports_the_libraries_present_but_not_dsa(tmp_path: Path) -> None:
    hub = Harness(tmp_path, cbke=CbkeLibrary())
    assert [hub.call("getLibraryStatus", libraryId=library)["status"] for library in CBKE_LIBRARIES] == [0x80] * 5
    assert hub.call("getLibraryStatus", libraryId=LibraryId.CBKE_DSA_SIGN)["status"] == 0x00
    assert hub.call("dsaSign", messageContents=b"meter reading")["status"] == t.sl_Status.NOT_AVAILABLE


@pytest.mark.parametrize("suite", list(CryptoSuite))
async def test_the_library_agrees_the_same_keys_as_the_device(tmp_path: Path, suite: CryptoSuite,
                                                              authorities: dict) -> None:
    ca = authorities[suite]
    hub_credentials, meter_credentials = credentials(ca, NCP_IEEE), credentials(ca, METER)
    hub = Harness(tmp_path, 14, cbke=CbkeLibrary([hub_credentials]))
    generate, generated, calculate, calculated, clear, get_certificate = SUITE_COMMANDS[suite]

    assert hub.call(get_certificate)["localCert"] == hub_credentials.certificate.encoded
    assert hub.call(generate) == {}
    assert last_callback(hub, generated)["status"] == t.sl_Status.OK
    ncp_ephemeral = bytes(last_callback(hub, generated)["ephemeralPublicKey"])

    meter = KeyAgreement(meter_credentials, Role.INITIATOR)
    expected = meter.complete(hub_credentials.certificate.encoded, ncp_ephemeral)
    assert hub.call(calculate, amInitiator=False, partnerCertificate=meter_credentials.certificate.encoded,
                    partnerEphemeralPublicKey=meter.ephemeral_public_key) == {}
    smacs = last_callback(hub, calculated)
    assert smacs["status"] == t.sl_Status.OK
    assert (smacs["initiatorSmac"], smacs["responderSmac"]) == (expected.own_mac, expected.expected_peer_mac)

    assert hub.stack.tokens.table_key_for(METER) is None
    assert hub.call(clear, storeLinkKey=True) == {}
    assert hub.stack.tokens.table_key_for(METER) == zt.KeyData(expected.link_key)
    assert hub.call(clear, storeLinkKey=True) == {"status": t.sl_Status.INVALID_STATE}  # nothing left to store


async def test_commands_out_of_order_or_with_a_foreign_certificate_fail(tmp_path: Path, authorities: dict) -> None:
    ca = authorities[CryptoSuite.SUITE_1]
    hub = Harness(tmp_path, 13, cbke=CbkeLibrary([credentials(ca, NCP_IEEE)]))
    foreign = credentials(CertificateAuthority.generate(CryptoSuite.SUITE_1, METER), METER)
    stranger = KeyAgreement(foreign, Role.INITIATOR)
    smacs_request = {"amInitiator": False, "partnerCertificate": foreign.certificate.encoded,
                     "partnerEphemeralPublicKey": stranger.ephemeral_public_key}

    assert hub.call("calculateSmacs", **smacs_request) == {"status": t.sl_Status.INVALID_STATE}
    assert hub.call("generateCbkeKeys283k1") == {"status": t.sl_Status.INVALID_STATE}  # no suite 2 certificate
    assert hub.call("getCertificate283k1") == {"status": t.sl_Status.INVALID_STATE}
    hub.call("generateCbkeKeys")
    assert hub.call("calculateSmacs", **smacs_request) == {}
    assert last_callback(hub, "calculateSmacsHandler") == {"status": t.sl_Status.FAIL}
    assert hub.call("clearTemporaryDataMaybeStoreLinkKey", storeLinkKey=False) == {}
    assert hub.stack.tokens.key_table == []


async def test_the_host_can_install_the_suite_1_identity(tmp_path: Path, authorities: dict) -> None:
    ca = authorities[CryptoSuite.SUITE_1]
    hub = Harness(tmp_path, cbke=CbkeLibrary())
    mine = credentials(ca, NCP_IEEE)
    request = {"caPublic": ca.public_key.encode(), "myCert": mine.certificate.encoded,
               "myKey": mine.static_key.private_bytes()}

    assert hub.call("setPreinstalledCbkeData", **request) == {}
    assert hub.call("getCertificate")["localCert"] == mine.certificate.encoded
    someone_elses_key = credentials(ca, METER).static_key.private_bytes()
    assert hub.call("setPreinstalledCbkeData", **(request | {"myKey": someone_elses_key})) == {
        "status": t.sl_Status.INVALID_PARAMETER}
    assert hub.call("savePreinstalledCbkeData283k1") == {"status": t.sl_Status.INVALID_STATE}


def test_cbke_credentials_need_the_library_and_one_per_suite(tmp_path: Path, authorities: dict) -> None:
    mine = credentials(authorities[CryptoSuite.SUITE_1], NCP_IEEE)
    with pytest.raises(HubfwError, match="need an NCP built with the CBKE library"):
        SimulatedNcp(tmp_path, cbke_credentials=[mine])
    with pytest.raises(HubfwError, match="at most one CBKE certificate per crypto suite"):
        SimulatedNcp(tmp_path, cbke_library=True, cbke_credentials=[mine, mine])
