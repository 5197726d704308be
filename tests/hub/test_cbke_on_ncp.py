"""`--cbke-on-ncp`: key establishment by the NCP's own CBKE library, end to end: hub → bellows → EZSP over a
pty → a simulated NCP built with the library and programmed with the hub's certificate → a scripted device."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import bellows.types as bt
import pytest
import zigpy.types as t

from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.issuing import issue_credentials
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.han import KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.hub.credentials import read_presented
from hubfw.hub.service import Hub, HubConfig, HubError
from hubfw.radio.ncp_cbke import NcpCbkeError
from hubfw.sim import SimulatedNcp
from tests.hub.han_device import INSTALL_CODE, DeviceAir, HanDevice
from tests.hub.helpers import bellows_hub

WAIT = 60  # bellows over a pty on a loaded machine; never reached when things work
HUB = t.EUI64.convert("00:0d:6f:00:0b:0b:0b:01")
METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f2")
ISSUER = t.EUI64.convert("54:45:53:54:43:41:30:32")
SUITE = CryptoSuite.SUITE_2  # what GBCS devices use
HA_PROFILE, OTA_CLUSTER, QUERY_NEXT_IMAGE = 0x0104, 0x0019, 0x01


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.generate(SUITE, ISSUER)


def ncp_hub(tmp_path: Path, port: str) -> Hub:
    return bellows_hub(tmp_path / "state", port, HubConfig(cbke_on_ncp=True))


@pytest.fixture
async def han_hub(request: pytest.FixtureRequest, tmp_path: Path,
                  ca: CertificateAuthority) -> AsyncIterator[tuple[Hub, SimulatedNcp, HanDevice]]:
    """A hub using the CBKE library of a Smart Energy NCP build (EZSP v13 unless the test names another
    version) whose certificate names the NCP, and a joined device with a certificate from the same CA."""
    han = DeviceAir()
    clock = VirtualClock()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han, ieee=HUB, ezsp_version=getattr(request, "param", 13),
                       cbke_library=True, cbke_credentials=[issue_credentials(ca, HUB, None, clock)])
    port = await ncp.start()
    hub = ncp_hub(tmp_path, port)
    try:
        await asyncio.wait_for(hub.start(), WAIT)
        device = han.add(HanDevice(METER, t.NWK(0x4D2C), issue_credentials(ca, METER, None, hub.clock), HUB,
                                   hub.clock, uplink=ncp))
        await hub.permit(60, INSTALL_CODE, METER)
        assert device.join()
        await until(lambda: METER in hub.app.devices)
        yield hub, ncp, device
    finally:
        await hub.stop()
        await ncp.stop()


async def key_table_entry(hub: Hub, eui64: t.EUI64) -> t.KeyData | None:
    """The link key the NCP's key table holds for `eui64`, as the host reads it (exportLinkKeyByIndex)."""
    ezsp = hub.app._ezsp  # type: ignore[attr-defined]
    (index,) = await ezsp.findKeyTableEntry(address=eui64, linkKey=True)
    if index == 0xFF:
        return None
    entry = dict(zip(ezsp.COMMANDS["exportLinkKeyByIndex"][2], await ezsp.exportLinkKeyByIndex(index=index)))
    return entry["plaintext_key"] if entry["status"] == bt.sl_Status.OK else None


async def key_establishment(device: HanDevice) -> LinkKeyEstablished | KeyEstablishmentFailed:
    device.start_key_establishment()
    await until(lambda: device.ke.outcome is not None)
    return device.ke.outcome


@pytest.mark.parametrize("han_hub", [13, 14], indirect=True, ids=["ezsp13", "ezsp14"])
async def test_the_ncp_agrees_the_key_and_keeps_it_the_device_derived_the_same(han_hub) -> None:
    hub, ncp, device = han_hub

    outcome = await key_establishment(device)

    assert isinstance(outcome, LinkKeyEstablished), outcome
    assert outcome.suite is SUITE
    key = t.KeyData(outcome.key)
    assert await key_table_entry(hub, METER) == key
    commands = ncp.stats.commands
    assert commands["calculateSmacs283k1"] == 1 and commands["clearTemporaryDataMaybeStoreLinkKey283k1"] == 1
    assert commands["importLinkKey"] == 0  # the key never passed through the host
    assert hub.devices()[0]["key_establishment"] == "suite2"
    assert hub.status()["han"]["cbke_on_ncp"] is True
    coordinator, [(certificate, ca_key)] = read_presented(hub.state_dir)
    assert (coordinator, certificate.subject, certificate.issuer) == (HUB, HUB, ISSUER)
    assert "held in the NCP" in ca_key
    # the hub's next unicast to the device is secured with that key
    device.received.clear()
    device.raw(HA_PROFILE, OTA_CLUSTER, bytes([0x01, 0x61, QUERY_NEXT_IMAGE, 0, 0x34, 0x12, 1, 1, 0, 0, 0, 1]),
               encrypted=True)
    await until(lambda: bool(device.received))
    assert all(frame.aps_encrypted and frame.link_key == key for frame in device.received)


async def test_a_wrong_confirm_mac_gets_bad_key_confirm_and_the_ncp_stores_nothing(han_hub) -> None:
    hub, ncp, device = han_hub
    device.tamper_confirm_mac = True

    outcome = await key_establishment(device)

    assert isinstance(outcome, KeyEstablishmentFailed)
    assert outcome.status == TerminateStatus.BAD_KEY_CONFIRM
    assert hub.devices()[0]["key_establishment_failure"]["status"] == "BAD_KEY_CONFIRM"
    await until(lambda: ncp.stats.commands["clearTemporaryDataMaybeStoreLinkKey283k1"] == 1)  # released, not stored
    assert hub.devices()[0]["key_establishment"] is None

    device.tamper_confirm_mac = False
    retried = await key_establishment(device)
    assert isinstance(retried, LinkKeyEstablished), retried
    assert await key_table_entry(hub, METER) == t.KeyData(retried.key)


async def test_a_stock_ncp_without_the_library_fails_start_with_one_clear_line(tmp_path: Path) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp")
    port = await ncp.start()
    hub = ncp_hub(tmp_path, port)
    try:
        with pytest.raises(NcpCbkeError) as failed:
            await asyncio.wait_for(hub.start(), WAIT)
    finally:
        await hub.stop()
        await ncp.stop()
    message = str(failed.value)
    assert "\n" not in message
    assert "lacks the Silicon Labs CBKE library" in message and "--cbke FILE" in message
    assert ncp.stats.commands["getLibraryStatus"] >= 2


def test_host_credentials_and_cbke_on_ncp_exclude_each_other(ca: CertificateAuthority) -> None:
    credentials = issue_credentials(ca, HUB, None, VirtualClock())
    with pytest.raises(HubError, match="either --cbke FILE .* or --cbke-on-ncp"):
        HubConfig(cbke_credentials=(credentials,), cbke_on_ncp=True)

