"""CBKE, APS encryption under the new key, host-side APS fragmentation and the GBCS tunnel, end to end:
hub → bellows → EZSP over a pty → the simulated NCP → a scripted Smart Energy device."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import bellows.types as bt
import pytest
import zigpy.types as t
from click.testing import CliRunner

from hubfw.alerts import activation_alert
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.issuing import issue_credentials
from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import DeviceType
from hubfw.gbcs.alert_message import activation_message, entity_id
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.cli import alerts
from hubfw.hub.credentials import issue_sim_credentials
from hubfw.hub.service import Hub, HubConfig
from hubfw.sim import SimulatedNcp
from tests.hub.han_device import INSTALL_CODE, DeviceAir, HanDevice
from tests.hub.helpers import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, bellows_hub, make_ota_file

WAIT = 60  # bellows over a pty on a loaded machine; never reached when things work
METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f1")
HA_PROFILE, SE_PROFILE, OTA_CLUSTER = 0x0104, 0x0109, 0x0019
QUERY_NEXT_IMAGE, IMAGE_BLOCK, QUERY_NEXT_IMAGE_RESPONSE, DEFAULT_RESPONSE = 0x01, 0x03, 0x02, 0x0B
NOT_AUTHORIZED = 0x7E
ENCRYPTED_APS_FRAGMENT = 71


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def han_hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Hub, SimulatedNcp, DeviceAir]]:
    """A hub that is its own test CA (as on `--radio sim`), on bellows and the simulated NCP (EZSP v13 unless
    the test names another version)."""
    han = DeviceAir()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han, ezsp_version=getattr(request, "param", 13))
    port = await ncp.start()
    hub = bellows_hub(tmp_path / "state", port, HubConfig(cbke_sim_ca=True))
    try:
        await asyncio.wait_for(hub.start(), WAIT)
        yield hub, ncp, han
    finally:
        await hub.stop()
        await ncp.stop()


async def joined(hub: Hub, ncp: SimulatedNcp, han: DeviceAir, credentials=None) -> HanDevice:
    credentials = credentials or issue_sim_credentials(hub.state_dir, METER, CryptoSuite.SUITE_1, hub.clock)
    device = han.add(HanDevice(METER, t.NWK(0x4D2B), credentials, ncp.ieee, hub.clock, uplink=ncp))
    await hub.permit(60, INSTALL_CODE, METER)
    assert device.join()
    await until(lambda: METER in hub.app.devices)
    return device


async def established(hub: Hub, device: HanDevice) -> t.KeyData:
    device.start_key_establishment()
    await until(lambda: device.ke.outcome is not None)
    assert isinstance(device.ke.outcome, LinkKeyEstablished), device.ke.outcome
    return t.KeyData(device.ke.outcome.key)


async def ncp_key_table(hub: Hub) -> dict[t.EUI64, t.KeyData]:
    """The NCP's key table as the host reads it with exportLinkKeyByIndex (bellows' own read_link_keys reads
    EZSP v14's answer in v13's field order)."""
    ezsp = hub.app._ezsp  # type: ignore[attr-defined]
    names = list(ezsp.COMMANDS["exportLinkKeyByIndex"][2])
    (_, size) = await ezsp.getConfigurationValue(configId=bt.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
    table = {}
    for index in range(size):
        entry = dict(zip(names, await ezsp.exportLinkKeyByIndex(index=index)))
        if entry["status"] == bt.sl_Status.OK:
            table[entry["eui64"] if "eui64" in entry else entry["context"].eui64] = entry["plaintext_key"]
    return table


def ota_request(tsn: int, command: int, body: bytes) -> bytes:
    return bytes([0x01, tsn, command]) + body


def query_next_image(tsn: int) -> bytes:
    return ota_request(tsn, QUERY_NEXT_IMAGE, struct.pack("<BHHI", 0, MANUFACTURER, IMAGE_TYPE, OLD_VERSION))


def ota_frames(device: HanDevice) -> list:
    return [frame for frame in device.received if frame.cluster == OTA_CLUSTER]


@pytest.mark.parametrize("han_hub", [13, 14], indirect=True, ids=["ezsp13", "ezsp14"])
async def test_cbke_puts_the_key_in_the_ncp_and_every_later_unicast_uses_it(han_hub) -> None:
    hub, ncp, han = han_hub
    device = await joined(hub, ncp, han)

    key = await established(hub, device)

    assert (await ncp_key_table(hub))[METER] == key
    [entry] = hub.devices()
    assert entry["key_establishment"] == "suite1"
    # a Home Automation OTA query sent without APS security is answered under the CBKE key all the same
    device.raw(HA_PROFILE, OTA_CLUSTER, query_next_image(0x31), encrypted=False)
    await until(lambda: ota_frames(device))
    [answer] = ota_frames(device)
    assert (answer.profile, answer.payload[2]) == (HA_PROFILE, QUERY_NEXT_IMAGE_RESPONSE)
    assert answer.aps_encrypted and answer.link_key == key


async def test_a_device_of_a_foreign_ca_gets_unknown_issuer_and_never_an_image_byte(han_hub) -> None:
    hub, ncp, han = han_hub
    foreign = CertificateAuthority.generate(CryptoSuite.SUITE_1, t.EUI64.convert("46:4f:52:45:49:47:4e:31"))
    device = await joined(hub, ncp, han, issue_credentials(foreign, METER, None, hub.clock))

    device.start_key_establishment()
    await until(lambda: device.ke.outcome is not None)

    assert isinstance(device.ke.outcome, KeyEstablishmentFailed)
    assert device.ke.outcome.status == TerminateStatus.UNKNOWN_ISSUER
    [entry] = hub.devices()
    assert entry["key_establishment"] is None
    assert entry["key_establishment_failure"]["status"] == "UNKNOWN_ISSUER"
    hub.distribute(make_ota_file(payload_size=500), [METER], DeviceType.PPMID)
    block = struct.pack("<BHHIIB", 0, MANUFACTURER, IMAGE_TYPE, 0x205, 0, 50)
    device.raw(SE_PROFILE, OTA_CLUSTER, query_next_image(0x41), encrypted=True)
    device.raw(SE_PROFILE, OTA_CLUSTER, ota_request(0x42, IMAGE_BLOCK, block), encrypted=True)
    await until(lambda: len([f for f in ota_frames(device) if f.payload[2] == DEFAULT_RESPONSE]) == 2)
    refusals = [frame.payload for frame in ota_frames(device) if frame.payload[2] == DEFAULT_RESPONSE]
    assert refusals == [bytes([0x18, 0x41, DEFAULT_RESPONSE, QUERY_NEXT_IMAGE, NOT_AUTHORIZED]),
                        bytes([0x18, 0x42, DEFAULT_RESPONSE, IMAGE_BLOCK, NOT_AUTHORIZED])]
    assert [frame.payload[2] for frame in ota_frames(device)] == [0x00, DEFAULT_RESPONSE, DEFAULT_RESPONSE]  # notify
    assert hub.transfers()[0]["offset"] == 0


async def test_a_long_gbcs_message_goes_out_in_fragments_and_a_tunnel_alert_reaches_the_log(han_hub) -> None:
    hub, ncp, han = han_hub
    device = await joined(hub, ncp, han)
    key = await established(hub, device)
    device.open_tunnel()
    await until(lambda: device.tunnel.is_open)
    message = general_signing(CraFlag.COMMAND, 7, entity_id(ncp.ieee), entity_id(METER), 0x0001, bytes(range(256)) * 2)
    assert len(message) >= 300

    result = hub.send_gbcs(METER, message)
    await until(lambda: device.gbcs_messages == [message])

    assert result["sent"]
    assert len(device.fragments) >= 5
    assert all(len(part.payload) <= ENCRYPTED_APS_FRAGMENT and part.link_key == key for part in device.fragments)
    assert [part.fragment for part in device.fragments] == [(index, len(device.fragments))
                                                            for index in range(len(device.fragments))]

    alert_message = activation_message(activation_alert(1, METER, 0x205, hub.clock.now()), 1)
    device.send(device.tunnel.send(alert_message))
    await until(lambda: bool(read_alert_log(hub.alert_log.path)))

    logged = CliRunner().invoke(alerts, ["--state", str(hub.state_dir), "--json"])
    records = [json.loads(line) for line in logged.output.splitlines()]
    assert [(r["code"], r["entity"], r["firmware_version"], r["source"]) for r in records] == [
        ("0x8F8B", str(METER), "0x00000205", "tunnel")
    ]
    assert [entry["message"] for entry in hub.tunnel_messages(METER)] == [alert_message.hex()]


async def test_after_a_restart_the_hub_still_knows_the_key_and_serves_under_it(tmp_path: Path) -> None:
    han = DeviceAir()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    port = await ncp.start()

    def restartable() -> Hub:
        return bellows_hub(tmp_path / "state", port, HubConfig(cbke_sim_ca=True))

    try:
        first = restartable()
        await asyncio.wait_for(first.start(), WAIT)
        try:
            device = await joined(first, ncp, han)
            key = await established(first, device)
        finally:
            await first.stop()
        second = restartable()
        await asyncio.wait_for(second.start(), WAIT)
        try:
            assert device.join()  # a secured rejoin: zigpy never saved a device that skipped its interview
            await until(lambda: METER in second.app.devices)
            assert second.devices()[0]["key_establishment"] == "suite1"
            device.received.clear()
            device.raw(HA_PROFILE, OTA_CLUSTER, query_next_image(0x51), encrypted=False)
            device.raw(SE_PROFILE, OTA_CLUSTER, query_next_image(0x52), encrypted=True)
            await until(lambda: len(ota_frames(device)) == 2)
            assert [(frame.profile, frame.payload[2]) for frame in ota_frames(device)] == [
                (HA_PROFILE, QUERY_NEXT_IMAGE_RESPONSE), (SE_PROFILE, QUERY_NEXT_IMAGE_RESPONSE)
            ]
            assert all(frame.aps_encrypted and frame.link_key == key for frame in ota_frames(device))
        finally:
            await second.stop()
    finally:
        await ncp.stop()
