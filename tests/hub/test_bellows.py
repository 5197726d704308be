"""The bellows adapter end to end: hub → bellows → EZSP over a pty → the simulated NCP → a raw OTA client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.devices import DeviceType
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.service import Hub
from hubfw.radio import HubControllerApplication, SerialSettings
from hubfw.radio.config import hub_zigpy_config
from hubfw.sim import SimulatedNcp
from hubfw.zigbee.ids import SE_ENDPOINT
from tests.hub.helpers import CLIENT_LINK_KEY, IMAGE_TYPE, MANUFACTURER, OLD_VERSION, bellows_hub, make_ota_file
from tests.hub.ota_client import IMAGE_BLOCK, OtaHan, RawOtaClient, assert_answered_in_kind

WAIT = 60  # bellows start-up over a pty on a loaded machine; never reached when things work
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


class JoinWaiter:
    """A zigpy listener: resolves with the first device that joins."""

    def __init__(self) -> None:
        self.device: asyncio.Future = asyncio.get_running_loop().create_future()

    def device_joined(self, device: object) -> None:
        if not self.device.done():
            self.device.set_result(device)


@pytest.fixture
async def ncp_hub(tmp_path: Path) -> AsyncIterator[tuple[Hub, SimulatedNcp, OtaHan]]:
    han = OtaHan()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    port = await ncp.start()
    hub = bellows_hub(tmp_path / "state", port)
    try:
        await asyncio.wait_for(hub.start(), WAIT)
        yield hub, ncp, han
    finally:
        await hub.stop()
        await ncp.stop()


async def test_a_smart_energy_device_downloads_through_bellows_and_the_ncp(ncp_hub) -> None:
    hub, ncp, han = ncp_hub
    assert isinstance(hub.app, HubControllerApplication)
    meter = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
    client = han.add(RawOtaClient(meter, t.NWK(0x4D2A), 0x0109, MANUFACTURER, IMAGE_TYPE, OLD_VERSION,
                                  encrypted=True, block_size=100, uplink=ncp, coordinator=ncp.ieee))
    joined = JoinWaiter()
    hub.app.add_listener(joined)
    await hub.permit(60, INSTALL_CODE, meter)
    assert ncp.join(meter, client.nwk, INSTALL_CODE)
    assert (await asyncio.wait_for(joined.device, WAIT)).ieee == meter  # via trustCenterJoinHandler
    await hub.app.install_link_key(meter, CLIENT_LINK_KEY)  # as CBKE leaves it: the key APS encryption needs
    ota_file = make_ota_file(payload_size=2000)
    hub.distribute(ota_file, [meter], DeviceType.PPMID)

    await asyncio.wait_for(client.finished, WAIT)

    assert bytes(client.image) == ota_file
    assert_answered_in_kind(client)
    assert max(len(reply.body) - 14 for reply in client.replies_to(IMAGE_BLOCK)) == 56
    assert [(a.entity, int(a.code)) for a in read_alert_log(hub.alert_log.path)] == [(meter, 0x8F8A)]


async def test_the_ncp_keeps_the_hubs_endpoints_after_the_first_network_formation(ncp_hub) -> None:
    """bellows resets the NCP after forming a network; the endpoints must be registered again, or the
    stack answers a device's Smart Energy Match_Desc_req with nothing until the next start."""
    hub, ncp, _ = ncp_hub
    assert ncp.stats.commands["formNetwork"] == 1  # this start formed the network (and reset the NCP after)

    assert SE_ENDPOINT in ncp.endpoints and ncp.endpoints[SE_ENDPOINT].profile == 0x0109
    assert ncp.endpoints[SE_ENDPOINT].output_clusters == [0x0704]  # the hub is a Tunneling client too


def test_serial_settings_and_the_se_endpoint_reach_the_bellows_config(tmp_path: Path) -> None:
    settings = SerialSettings("socket://192.0.2.7:6638", baudrate=460800, flow_control="hardware", channel=20)
    config = HubControllerApplication.SCHEMA(hub_zigpy_config(tmp_path, settings.device_config(), settings.channel))

    assert config["device"] == {"path": "socket://192.0.2.7:6638", "baudrate": 460800, "flow_control": "hardware"}
    assert config["network"]["channel"] == 20
    assert config["database_path"] == str(tmp_path / "zigbee.db")
    assert config["ota"]["enabled"] is False
    (endpoint,) = config["additional_endpoints"]
    assert (endpoint.endpoint, endpoint.profile) == (SE_ENDPOINT, 0x0109)
    assert set(endpoint.input_clusters) == {0x0000, 0x000A, 0x0019, 0x0702, 0x0704, 0x0800}  # what a GB device looks for
    assert endpoint.output_clusters == [0x0704]  # GBCS 10.2.2.1: the hub requests tunnels, as a Tunneling client
