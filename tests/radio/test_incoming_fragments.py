"""A device message in several APS fragments reaches the hub whole through unmodified bellows 1.2.1 and the
simulated NCP, on every EZSP version the NCP speaks.

bellows 1.2.1 reassembles incoming fragments by the field positions of EZSP v4-v13's incomingMessageHandler,
so from v14 on it loses every fragmented message; the hub's adapter (`HubControllerApplication`) joins them
itself, reading the callback by field name (see hubfw/radio/bellows.py). The negative controls run the same
exchange with that reassembly switched off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import zigpy.types as zt
from bellows.ezsp.fragmentation import FRAGMENT_TIMEOUT

from hubfw.devices import DeviceType
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.radio import HubControllerApplication
from hubfw.sim import SimulatedNcp
from hubfw.sim.devices import OtaClientDevice, ppmid
from hubfw.sim.ncp import SUPPORTED_EZSP_VERSIONS
from hubfw.sim.world import ScenarioTimeout, SimulatedWorld
from hubfw.zigbee.aps import payload_limit, split_payload
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui
from tests.sim.ncp.bellows_harness import (
    METER,
    METER_NWK,
    SE_PROFILE,
    TUNNELING,
    WAIT,
    BenchAir,
    app_config,
    capture_packets,
    from_meter,
    hashed_trust_centre_key,
    joined_meter,
)

VERSIONS = pytest.mark.parametrize("version", SUPPORTED_EZSP_VERSIONS, ids=lambda version: f"ezsp{version}")
MESSAGE = bytes([0x01, 0x07, 0x01]) + bytes(range(256)) + b"GBCS" * 10 + b"!"  # 300 bytes of TransferData
PIECES = split_payload(MESSAGE, payload_limit(encrypted=True, fragment=True))
AFTER = b"\x01\x08\x00after"
"""An unfragmented frame sent after the fragments: the NCP's callbacks reach the host in order, so once zigpy
has it, bellows and the adapter have seen every fragment before it."""
NO_BINDING = zt.NWK(0xFF)
"""EZSP v14's binding_index for a message that matched no binding: the field bellows 1.2.1 takes for the sender."""


class FragmentsLeftToBellows(HubControllerApplication):
    """The hub's adapter with incoming APS fragments left to bellows 1.2.1 (the negative control)."""

    reassembles_fragments = False


@pytest.fixture
async def radio(tmp_path: Path) -> AsyncIterator[Callable]:
    """Starts the hub's adapter (or `kind`) on a simulated NCP of some EZSP version, with the meter joined:
    (NCP, adapter, the meter's APS link key)."""
    owned: list = []

    async def start(version: int, kind: type[HubControllerApplication] = HubControllerApplication):
        ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=version, han=BenchAir())
        await ncp.start()
        owned.append(ncp)
        app = await asyncio.wait_for(kind.new(config=app_config(ncp.port, tmp_path), auto_form=True), WAIT)
        owned.append(app)
        await joined_meter(ncp, app)
        # the meter's APS link key as a real NCP holds it after the join: its hashed trust-centre key (bellows
        # forms the network with a hashed TC link key; the install-code key is transient and admits only the join)
        return ncp, app, await hashed_trust_centre_key(app, METER)

    yield start
    for thing in reversed(owned):
        await (thing.shutdown() if isinstance(thing, HubControllerApplication) else thing.stop())


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


def send_fragments(ncp: SimulatedNcp, key: zt.KeyData, indices: range | list[int]) -> None:
    for index in indices:
        frame = from_meter(ncp, PIECES[index], link_key=key, fragment=(index, len(PIECES)))
        assert ncp.receive(frame)


def send_after(ncp: SimulatedNcp, key: zt.KeyData) -> None:
    assert ncp.receive(from_meter(ncp, AFTER, link_key=key, counter=10))


def payloads(packets: list[zt.ZigbeePacket]) -> list[bytes]:
    return [packet.data.serialize() for packet in packets]


async def fragment_acks(ncp: SimulatedNcp, count: int) -> dict[zt.NWK, int]:
    """Where the host sent its fragment ACKs, once `count` of them reached the NCP."""
    await until(lambda: sum(ncp.stats.fragment_acks.values()) >= count)
    return dict(ncp.stats.fragment_acks)


def test_every_ezsp_version_of_emberznet_7_and_8_is_covered():
    assert set(SUPPORTED_EZSP_VERSIONS) >= {13, 14, 16, 17, 18, 19}


@VERSIONS
async def test_a_message_in_five_aps_fragments_reaches_zigpy_whole(radio: Callable, version: int) -> None:
    ncp, app, key = await radio(version)
    packets = capture_packets(app)
    assert len(PIECES) == 5

    send_fragments(ncp, key, range(5))
    await until(lambda: packets)

    [packet] = packets
    assert packet.data.serialize() == MESSAGE
    assert (packet.src.address, packet.profile_id, packet.cluster_id) == (METER_NWK, SE_PROFILE, TUNNELING)
    assert await fragment_acks(ncp, 5) == {METER_NWK: 5}  # one ACK per fragment, to the device
    assert len(app.incoming_fragments) == 0
    assert ncp.stats.unknown_commands == {}


@VERSIONS
async def test_negative_control_left_to_bellows_the_message_is_lost_from_ezsp_14_on(radio: Callable,
                                                                                     version: int) -> None:
    """bellows 1.2.1 alone gets v13 right. From v14 on it keys the fragments by binding index, ACKs them to
    NWK 0x00FF, and the last one fails to join (RSSI integers instead of payloads): no message, no last ACK."""
    ncp, app, key = await radio(version, FragmentsLeftToBellows)
    packets = capture_packets(app)

    send_fragments(ncp, key, range(5))
    send_after(ncp, key)
    await until(lambda: AFTER in payloads(packets))

    if version == 13:
        assert payloads(packets) == [MESSAGE, AFTER]
        assert await fragment_acks(ncp, 5) == {METER_NWK: 5}
    else:
        assert payloads(packets) == [AFTER]
        assert await fragment_acks(ncp, 4) == {NO_BINDING: 4}


async def test_an_incomplete_message_is_dropped_once_its_fragments_stop_coming(radio: Callable) -> None:
    """On the event loop's own clock (the adapter's timer runs there), so the timeout is cut to 0.2 s of real
    time here; the rules themselves are tested on injected time in tests/zigbee/test_aps.py."""
    ncp, app, key = await radio(18)
    assert app.incoming_fragments.timeout == FRAGMENT_TIMEOUT == 10  # bellows' own figure
    app.incoming_fragments.timeout = 0.2
    packets = capture_packets(app)

    send_fragments(ncp, key, range(4))  # the fifth is lost on the way
    assert await fragment_acks(ncp, 4) == {METER_NWK: 4}
    assert len(app.incoming_fragments) == 1
    await until(lambda: len(app.incoming_fragments) == 0)

    send_fragments(ncp, key, [4])  # too late: it starts a message of its own, whose fragment 0 never comes
    send_after(ncp, key)
    await until(lambda: AFTER in payloads(packets))
    assert payloads(packets) == [AFTER]
    assert len(app.incoming_fragments) == 1
    await until(lambda: len(app.incoming_fragments) == 0)


# ----- the same through the whole hub: a PPMID's GBCS response through the tunnel

async def gbcs_response_from_a_ppmid(world: SimulatedWorld) -> bytes:
    """A PPMID with a CBKE key and an open tunnel PUTs a GBCS response four APS fragments long; the response."""
    ieee = eui(5)
    device: OtaClientDevice = ppmid(ieee, 0x5005, gb=world.gb_session(ieee, DeviceType.PPMID),
                                    manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=OLD_VERSION,
                                    query_interval=None)
    await world.add(device)
    await world.run_until(lambda: device.gb.tunnel_open, 600)
    entity = bytes(ieee)[::-1]
    response = general_signing(CraFlag.RESPONSE, 8, entity, bytes(8), 0x0001, bytes(range(250)))
    assert len(response) > 3 * payload_limit(encrypted=True)
    device.gb.queue_gbcs(response, world.clock.now())
    return response


@VERSIONS
async def test_a_ppmid_s_fragmented_gbcs_response_reaches_the_hub(tmp_path: Path, version: int) -> None:
    async with SimulatedWorld(tmp_path, ezsp_version=version, cbke=True) as world:
        response = await gbcs_response_from_a_ppmid(world)
        await world.run_until(lambda: world.hub.tunnel_messages(eui(5)), 60)
        assert [bytes.fromhex(entry["message"]) for entry in world.hub.tunnel_messages(eui(5))] == [response]


async def test_negative_control_left_to_bellows_a_ppmid_s_gbcs_response_never_reaches_the_hub_on_ezsp_14(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HubControllerApplication, "reassembles_fragments", False)
    async with SimulatedWorld(tmp_path, ezsp_version=14, cbke=True) as world:
        await gbcs_response_from_a_ppmid(world)
        with pytest.raises(ScenarioTimeout):
            await world.run_until(lambda: world.hub.tunnel_messages(eui(5)), 60)
        assert world.hub.tunnel_messages(eui(5)) == []
