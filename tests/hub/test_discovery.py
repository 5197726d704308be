"""Service discovery: a Smart Energy device finds the hub's OTA server with ZDO Match_Desc_req."""

from __future__ import annotations

import asyncio

import zigpy.types as t

from hubfw.hub.service import Hub
from hubfw.radio.virtual import BROADCAST_IEEE
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import SE_ENDPOINT
from tests.hub.helpers import join_client
from tests.hub.ota_client import OtaHan

MATCH_DESC_REQ, MATCH_DESC_RSP = 0x0006, 0x8006


def match_desc_req(tsn: int, profile: int, in_clusters: list[int], out_clusters: tuple[int, ...] = ()) -> bytes:
    def cluster_list(clusters: list[int] | tuple[int, ...]) -> bytes:
        return bytes([len(clusters)]) + b"".join(t.uint16_t(cluster).serialize() for cluster in clusters)

    return bytes([tsn]) + t.NWK(0xFFFD).serialize() + t.uint16_t(profile).serialize() + cluster_list(in_clusters) \
        + cluster_list(out_clusters)


async def ask(hub: Hub, han: OtaHan, tsn: int, profile: int, in_clusters: list[int],
              out_clusters: tuple[int, ...] = ()) -> list[bytes]:
    client = next(iter(han.clients.values()))
    assert hub.app.receive(ApsFrame(client.ieee, client.nwk, BROADCAST_IEEE, t.NWK(0xFFFD), 0, MATCH_DESC_REQ, 0, 0,
                                     match_desc_req(tsn, profile, in_clusters, out_clusters)))
    for _ in range(500):
        answers = [f.payload for f in han.other_frames if f.cluster == MATCH_DESC_RSP and f.payload[0] == tsn]
        if answers:
            break
        await asyncio.sleep(0)
    for _ in range(50):  # room for a second, unwanted answer to show up
        await asyncio.sleep(0)
    return [f.payload for f in han.other_frames if f.cluster == MATCH_DESC_RSP and f.payload[0] == tsn]


async def test_the_smart_energy_ota_server_endpoint_is_found(hub: Hub, han: OtaHan) -> None:
    await join_client(hub, han, "00:0d:6f:00:00:00:d0:01", 0xD001)
    (answer,) = await ask(hub, han, 0x21, 0x0109, [0x0019])
    assert answer == bytes([0x21, 0x00, 0x00, 0x00, 1, SE_ENDPOINT])  # tsn, SUCCESS, NWK 0x0000, one endpoint


async def test_the_hubs_endpoint_is_a_tunneling_client_too(hub: Hub, han: OtaHan) -> None:
    """GBCS 10.2.2.1: the hub requests the tunnels of ESMEs, HCALCSs and PPMIDs, so its Smart Energy endpoint lists
    Tunneling among its client (output) clusters as well as its server ones."""
    await join_client(hub, han, "00:0d:6f:00:00:00:d0:04", 0xD004)
    (answer,) = await ask(hub, han, 0x24, 0x0109, [], (0x0704,))
    assert answer == bytes([0x24, 0x00, 0x00, 0x00, 1, SE_ENDPOINT])
    assert await ask(hub, han, 0x25, 0x0109, [], (0x0019,)) == []  # OTA it serves only, as a server


async def test_an_unserved_smart_energy_cluster_gets_no_broadcast_answer(hub: Hub, han: OtaHan) -> None:
    await join_client(hub, han, "00:0d:6f:00:00:00:d0:02", 0xD002)
    assert await ask(hub, han, 0x22, 0x0109, [0x0700]) == []  # Price: not served by the hub


async def test_home_automation_discovery_is_still_zigpys(hub: Hub, han: OtaHan) -> None:
    await join_client(hub, han, "00:0d:6f:00:00:00:d0:03", 0xD003)
    (answer,) = await ask(hub, han, 0x23, 0x0104, [0x0019])
    assert answer[-2:] == bytes([1, 1])  # zigpy's own answer: endpoint 1
