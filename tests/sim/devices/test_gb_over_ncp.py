"""GB devices against the hub on unmodified bellows and the simulated NCP, on a virtual clock: the negative
cases of key establishment, the NOT_AUTHORIZED refusal after it, and GBCS messages that need APS fragments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import bellows.types as bt
import pytest
import pytest_asyncio
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.cbke import CryptoSuite
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.issuing import issue_credentials
from hubfw.devices import DeviceType
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import TerminateStatus
from hubfw.hub.service import HubConfig
from hubfw.sim.devices import OtaClientDevice, SessionState, gb_session, ppmid
from hubfw.sim.world import SimulatedWorld
from hubfw.zigbee.aps import payload_limit
from hubfw.zigbee.ids import SE_ENDPOINT
from hubfw.zigbee.zcl import TO_CLIENT, cluster_command
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui, ota_file

FOREIGN_ISSUER = eui(0xF0F0)
DAY = 86_400.0
IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION,
            "query_interval": None}


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[SimulatedWorld]:
    async with SimulatedWorld(tmp_path, config=HubConfig(max_image_size=64 * 1024), cbke=True) as running:
        yield running


def gb_ppmid(world: SimulatedWorld, n: int, **session: object) -> OtaClientDevice:
    ieee = eui(n)
    settings = session.pop("settings", None) or world.gb_session(ieee, DeviceType.PPMID, **session)
    return ppmid(ieee, 0x5000 + n, gb=settings, **IDENTITY)


async def test_foreign_ca_wrong_mac_and_no_cbke_devices_never_get_an_image_byte(world: SimulatedWorld) -> None:
    foreign_ca = CertificateAuthority.generate(CryptoSuite.SUITE_2, FOREIGN_ISSUER)
    foreign = gb_ppmid(world, 1, settings=gb_session(
        DeviceType.PPMID, issue_credentials(foreign_ca, eui(1), None, world.clock)))
    wrong_mac = gb_ppmid(world, 2, corrupts_confirm_mac=True)
    keyless = gb_ppmid(world, 3, settings=gb_session(DeviceType.PPMID, None))
    devices = [foreign, wrong_mac, keyless]
    await world.add(*devices)

    views = {entry["eui64"]: entry for entry in world.hub.devices()}
    failure = views[str(foreign.ieee)]["key_establishment_failure"]
    assert views[str(foreign.ieee)]["key_establishment"] is None and "UNKNOWN_ISSUER" in str(failure)
    # one refusal, or more when the settling took long enough (virtual time) for the device's retry: each the same
    assert foreign.gb.ke_outcomes and {outcome.status for outcome in foreign.gb.ke_outcomes} == {
        TerminateStatus.UNKNOWN_ISSUER}
    assert "BAD_KEY_CONFIRM" in str(views[str(wrong_mac.ieee)]["key_establishment_failure"])
    assert wrong_mac.gb.ke_outcomes[0].status is TerminateStatus.BAD_KEY_CONFIRM
    assert keyless.gb.state is SessionState.UNSECURED and not keyless.gb.ke_outcomes

    world.hub.distribute(ota_file(2000), [device.ieee for device in devices], DeviceType.PPMID)
    # the hub's ImageNotify goes under network security only: the NCP holds no key such a device shares for
    # the hub's frames (it joined under a transient key, and never got CBKE's), and a GB device takes no Smart
    # Energy frame without APS security
    await world.run_until(lambda: all("dropped a frame without APS encryption" in d.notes() for d in devices), DAY)
    await world.run_for(3600)
    for device in devices:
        assert device.download == b"" and device.received("image_block_response") == []
        assert device.received("image_notify") == [] and device.sent("query_next_image") == []
        assert device.link_key == device.join_key


async def test_after_cbke_an_unencrypted_ota_frame_from_the_ncp_is_refused(world: SimulatedWorld) -> None:
    device = gb_ppmid(world, 4)
    await world.add(device)
    assert device.gb.state is SessionState.SECURED and device.link_key != device.join_key
    await world.run_for(600)  # whatever the hub told it on joining is over
    queries = len(device.sent("query_next_image"))

    app = world.hub.app
    notify = cluster_command(0x5A, Ota.ClientCommandDefs.image_notify, TO_CLIENT, payload_type=0, query_jitter=100)
    aps = bt.EmberApsFrame(profileId=0x0109, clusterId=Ota.cluster_id, sourceEndpoint=SE_ENDPOINT,
                           destinationEndpoint=1, options=bt.EmberApsOption.APS_OPTION_RETRY, groupId=0, sequence=0x5A)
    status, _ = await app._ezsp.send_unicast(nwk=device.nwk, aps_frame=aps, message_tag=0x77, data=notify)
    assert status == bt.sl_Status.OK
    await world.run_until(lambda: device.sent("Default_Response"), 60)

    [refusal] = device.sent("Default_Response")
    assert (refusal.command.command_id, refusal.command.status) == (0x00, foundation.Status.NOT_AUTHORIZED)
    await world.run_for(600)
    assert len(device.sent("query_next_image")) == queries  # the unencrypted notify did nothing else


async def test_gbcs_messages_larger_than_an_aps_frame_cross_the_tunnel_both_ways(world: SimulatedWorld) -> None:
    device = gb_ppmid(world, 5)
    await world.add(device)
    await world.run_until(lambda: device.gb.tunnel_open, 600)
    entity = bytes(device.ieee)[::-1]
    to_device = general_signing(CraFlag.COMMAND, 7, bytes(8), entity, 0x0001, bytes(i % 251 for i in range(300)))
    from_device = general_signing(CraFlag.RESPONSE, 8, entity, bytes(8), 0x0001, bytes(range(250)))
    assert min(len(to_device), len(from_device)) > 3 * payload_limit(encrypted=True)  # four fragments at least

    world.hub.send_gbcs(device.ieee, to_device)
    await world.run_until(lambda: device.gb.gbcs_received, 60)
    assert device.gb.gbcs_received == [to_device]

    device.gb.queue_gbcs(from_device, world.clock.now())
    await world.run_until(lambda: world.hub.tunnel_messages(device.ieee), 60)
    [message] = world.hub.tunnel_messages(device.ieee)
    assert bytes.fromhex(message["message"]) == from_device


@pytest.mark.parametrize("version", [13, 18])
async def test_the_hub_opens_the_ppmids_tunnel_and_messages_cross_it_on_each_ezsp_version(
        tmp_path: Path, version: int) -> None:
    """GBCS 10.2.2.1 through bellows: after CBKE the hub's RequestTunnel opens the PPMID's tunnel, and GBCS messages
    that fit one APS frame cross it both ways without a tunnel header (longer ones on v14+ need the hub's own
    reassembly of incoming fragments, see test_gbcs_messages_larger_than_an_aps_frame_cross_the_tunnel_both_ways)."""
    async with SimulatedWorld(tmp_path, ezsp_version=version, cbke=True) as world:
        device = gb_ppmid(world, 6)
        await world.add(device)
        await world.run_until(lambda: device.gb.tunnel_open, 600)
        [view] = [entry for entry in world.hub.devices() if entry["eui64"] == str(device.ieee)]
        assert (view["tunnel"], view["tunnel_opened_by"]) == ("open", "hub")
        [tunnel] = world.hub.status()["han"]["tunnels"]
        assert (tunnel["eui64"], tunnel["opened_by"]) == (str(device.ieee), "hub")

        entity = bytes(device.ieee)[::-1]
        to_device = general_signing(CraFlag.COMMAND, 9, bytes(8), entity, 0x0001, b"ping")
        from_device = general_signing(CraFlag.RESPONSE, 10, entity, bytes(8), 0x0001, b"pong")
        assert max(len(to_device), len(from_device)) + 5 <= payload_limit(encrypted=True)  # one frame each
        world.hub.send_gbcs(device.ieee, to_device)
        await world.run_until(lambda: device.gb.gbcs_received, 60)
        assert device.gb.gbcs_received == [to_device]
        device.gb.queue_gbcs(from_device, world.clock.now())
        await world.run_until(lambda: world.hub.tunnel_messages(device.ieee), 60)
        assert [bytes.fromhex(m["message"]) for m in world.hub.tunnel_messages(device.ieee)] == [from_device]
