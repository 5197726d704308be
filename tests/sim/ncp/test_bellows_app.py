"""Unmodified bellows + zigpy against the simulated NCP over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import zigpy.exceptions
import zigpy.types as zt
import zigpy.util
from bellows.exception import InvalidCommandError
from bellows.zigbee.application import ControllerApplication

from hubfw.sim import SimulatedNcp
from hubfw.sim.ncp import RadioSurroundings
from hubfw.zigbee.aps import ApsFrame
from tests.sim.ncp.bellows_harness import (
    INSTALL_CODE,
    INSTALL_CODE_KEY,
    METER,
    METER_NWK,
    WAIT,
    BenchAir,
    Events,
    joined_meter,
)


async def stop(app: ControllerApplication, cleanup: list) -> None:
    cleanup.remove(app)
    await app.shutdown()


@pytest.mark.parametrize("version", [13, 14])
async def test_bellows_forms_a_network_on_the_simulated_ncp(tmp_path: Path, start: Callable, version: int) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=version)
    app = await start(ncp)

    assert app._ezsp.ezsp_version == version  # what bellows negotiated
    assert ncp.network_formed and ncp.network_up
    assert ncp.stats.commands["formNetwork"] == 1
    assert ncp.stats.unknown_commands == {}
    info = app.state.network_info
    assert info.channel == 15
    assert app.state.node_info.ieee == ncp.ieee
    assert app.state.node_info.nwk == 0x0000
    tokens = json.loads((tmp_path / "ncp" / "ncp.json").read_text())
    assert bytes.fromhex(tokens["network_key"]) == bytes(info.network_key.key)
    assert tokens["pan_id"] == info.pan_id
    # zigpy's Node_Desc request to the coordinator went out and came back through the stack
    assert ncp.stats.commands["sendUnicast"] >= 1
    assert ncp.stats.callbacks["incomingMessageHandler"] >= 1


@pytest.mark.parametrize("version", [13, 14])
async def test_a_network_formed_without_a_channel_goes_where_the_energy_scan_is_quietest(
        tmp_path: Path, start: Callable, version: int) -> None:
    noisy_but_20 = RadioSurroundings(energy_dbm={channel: -40 for channel in range(11, 27)} | {20: -90})
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=version, surroundings=noisy_but_20)
    app = await start(ncp, channel=None)

    assert app.state.network_info.channel == 20
    assert json.loads((tmp_path / "ncp" / "ncp.json").read_text())["channel"] == 20
    assert ncp.network_up
    assert ncp.stats.callbacks["energyScanResultHandler"] == 16  # every channel, once
    assert ncp.stats.callbacks["scanCompleteHandler"] == 1
    assert ncp.stats.unknown_commands == {}


async def test_an_active_scan_finds_the_networks_in_range(tmp_path: Path, start: Callable) -> None:
    neighbour = zt.NetworkBeacon(pan_id=zt.PanId(0x1B2C), extended_pan_id=zt.ExtendedPanId.convert(
        "00:0d:6f:00:00:00:ab:cd"), channel=25, permit_joining=True, stack_profile=2, nwk_update_id=0, lqi=200,
        src=zt.NWK(0x0000), rssi=-60, depth=0, router_capacity=True, device_capacity=True, protocol_version=2)
    ncp = SimulatedNcp(tmp_path / "ncp", surroundings=RadioSurroundings(networks=(neighbour,)))
    app = await start(ncp)

    async def scan(channels: list[int]) -> list[zt.NetworkBeacon]:
        return [beacon async for beacon in app.network_scan(zt.Channels.from_channel_list(channels), 2)]

    (found,) = await asyncio.wait_for(scan([11, 15, 20, 25]), WAIT)
    assert (found.pan_id, found.extended_pan_id, found.channel) == (0x1B2C, neighbour.extended_pan_id, 25)
    assert (found.permit_joining, found.lqi, found.rssi) == (True, 200, -60)
    assert await asyncio.wait_for(scan([11, 15, 20]), WAIT) == []


async def test_restarted_hub_resumes_the_persisted_network(tmp_path: Path, start: Callable, cleanup: list) -> None:
    first_ncp = SimulatedNcp(tmp_path / "ncp", han=BenchAir())
    app = await start(first_ncp)
    formed = app.state.network_info
    await app.permit_with_link_key(METER, zt.KeyData(INSTALL_CODE_KEY), time_s=60)
    assert first_ncp.join(METER, METER_NWK, INSTALL_CODE)
    await stop(app, cleanup)
    cleanup.remove(first_ncp)
    await first_ncp.stop()

    second_ncp = SimulatedNcp(tmp_path / "ncp")  # a new NCP process reading the same tokens
    app = await start(second_ncp)

    assert second_ncp.stats.commands["formNetwork"] == 0
    assert second_ncp.stats.commands["networkInit"] >= 1
    resumed = app.state.network_info
    assert (resumed.pan_id, resumed.extended_pan_id, resumed.channel) == (
        formed.pan_id, formed.extended_pan_id, formed.channel)
    assert resumed.network_key.key == formed.network_key.key
    assert second_ncp.receive(ApsFrame(METER, METER_NWK, second_ncp.ieee, zt.NWK(0), 0x0104, 0x0006, 1, 1,
                                       b"\x18\x01\x0a\x00\x00\x10\x01"))  # the joined meter is still known


async def test_install_code_join_reaches_zigpy(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", han=BenchAir())
    app = await start(ncp)
    events = Events()
    app.add_listener(events)
    assert zigpy.util.convert_install_code(INSTALL_CODE) == zt.KeyData(INSTALL_CODE_KEY)

    assert not ncp.join(METER, METER_NWK, INSTALL_CODE), "joined while the network was closed"
    await app.permit_with_link_key(METER, zigpy.util.convert_install_code(INSTALL_CODE), time_s=60)
    joined = events.next("device_joined")
    assert ncp.join(METER, METER_NWK, INSTALL_CODE)
    (device,) = await asyncio.wait_for(joined, WAIT)

    assert device.ieee == METER and device.nwk == METER_NWK
    assert METER in app.devices
    assert ncp.stats.callbacks["trustCenterJoinHandler"] == 1


async def test_join_with_a_wrong_install_code_is_refused(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp")
    app = await start(ncp)
    await app.permit_with_link_key(METER, zt.KeyData(INSTALL_CODE_KEY), time_s=60)
    other_code = bytes.fromhex("11223344556677884AF7")  # valid CRC, different key
    assert zigpy.util.convert_install_code(other_code) != zt.KeyData(INSTALL_CODE_KEY)

    assert not ncp.join(METER, METER_NWK, other_code)
    assert METER not in app.devices
    assert ncp.stats.callbacks["trustCenterJoinHandler"] == 0


async def test_unicast_to_a_powered_off_device_fails_delivery(tmp_path: Path, start: Callable) -> None:
    han = BenchAir()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    app = await start(ncp)
    device = await joined_meter(ncp, app)
    on_off_toggle = b"\x01\x42\x02"

    han.powered.add(METER)
    await app.request(device, 0x0104, 0x0006, 1, 1, 0x42, on_off_toggle, expect_reply=False, aps_encryption=True)
    sent = [f for f in han.frames if f.cluster == 0x0006]
    assert sent[-1].payload == on_off_toggle and sent[-1].aps_encrypted and sent[-1].dst_nwk == METER_NWK

    han.powered.discard(METER)
    with pytest.raises(zigpy.exceptions.DeliveryError):
        await app.request(device, 0x0104, 0x0006, 1, 1, 0x43, on_off_toggle, expect_reply=False)
    assert ncp.stats.callbacks["messageSentHandler"] >= 2


async def test_a_device_frame_reaches_zigpy(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=14, han=BenchAir())
    app = await start(ncp)
    await joined_meter(ncp, app)
    events = Events()
    app.add_listener(events)
    packets: list[zt.ZigbeePacket] = []
    original = app.packet_received
    app.packet_received = lambda packet: (packets.append(packet), original(packet))[1]
    report = b"\x18\x07\x0a\x00\x00\x10\x01"  # ZCL attribute report: OnOff = on

    message = events.next("handle_message")
    assert ncp.receive(ApsFrame(METER, METER_NWK, ncp.ieee, zt.NWK(0), 0x0104, 0x0006, 1, 1, report,
                                aps_encrypted=True, aps_counter=9))
    device, profile, cluster, src_ep, dst_ep, data = await asyncio.wait_for(message, WAIT)

    assert (device.ieee, profile, cluster, src_ep, dst_ep, data) == (METER, 0x0104, 0x0006, 1, 1, report)
    assert zt.TransmitOptions.APS_Encryption in packets[-1].tx_options
    stranger = zt.EUI64.convert("00:0d:6f:00:00:00:00:01")
    assert not ncp.receive(ApsFrame(stranger, zt.NWK(0x1234), ncp.ieee, zt.NWK(0), 0x0104, 6, 1, 1, report))


@pytest.mark.parametrize(("fault", "count"), [
    ("corrupt_crc", 1),  # host NAKs the garbled DATA frame, the NCP resends it
    ("drop_host_ack", 2),  # first lost ACK is covered by the next command's piggy-backed ack,
                           # the second only by the NCP's retransmission after its ACK timeout
    ("nak_host_data", 1),  # the host resends the NAKed command
])
async def test_ash_faults_are_recovered_without_losing_a_frame(tmp_path: Path, start: Callable, fault: str,
                                                               count: int) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp")
    app = await start(ncp)
    await ncp.wait_idle()
    before = ncp.stats
    ash_before = (before.ash.retransmissions, before.ash.frames_in["DATA"], before.ash.frames_out["NAK"])

    setattr(ncp.faults, fault, count)
    await asyncio.wait_for(app.watchdog_feed(), WAIT)  # readCounters + getValue, both must complete
    await asyncio.wait_for(ncp.wait_idle(), WAIT)

    after = ncp.stats
    assert after.ash.faults_fired[fault] == count and getattr(ncp.faults, fault) == 0
    # each command executed exactly once: no frame lost, none duplicated
    assert after.commands["readCounters"] - before.commands["readCounters"] == 1
    assert after.commands["getValue"] - before.commands["getValue"] == 1
    retransmitted, host_data, naks_sent = (after.ash.retransmissions - ash_before[0],
                                           after.ash.frames_in["DATA"] - ash_before[1],
                                           after.ash.frames_out["NAK"] - ash_before[2])
    if fault == "nak_host_data":
        assert (naks_sent, host_data, retransmitted) == (1, 3, 0)
    else:
        assert (naks_sent, host_data, retransmitted) == (0, 2, 1)


async def test_unexpected_rstack_is_survived_by_reconnecting(tmp_path: Path, start: Callable,
                                                             cleanup: list) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp")
    app = await start(ncp)
    events = Events()
    app.add_listener(events)
    lost = events.next("connection_lost")

    ncp.faults.unexpected_rstack = 1
    with contextlib.suppress(Exception):  # the command in flight dies with the NCP, as on hardware
        await asyncio.wait_for(app.watchdog_feed(), WAIT)
    await asyncio.wait_for(lost, WAIT)
    assert ncp.stats.ash.faults_fired["unexpected_rstack"] == 1
    assert not ncp.network_up

    await stop(app, cleanup)  # what a hub does on connection_lost: start over on the same port
    app = await start(ncp)
    assert ncp.network_up
    assert ncp.stats.commands["formNetwork"] == 1
    await asyncio.wait_for(app.watchdog_feed(), WAIT)


async def test_an_unsupported_command_fails_fast_instead_of_hanging(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp")
    app = await start(ncp)
    with pytest.raises(InvalidCommandError):  # well before bellows' own 10 s command timeout
        await asyncio.wait_for(app._ezsp.getNeighbor(index=0), 5)
    assert ncp.stats.unknown_commands == {"getNeighbor": 1}
    await asyncio.wait_for(app.watchdog_feed(), WAIT)  # and the link carries on


async def test_a_paced_ncp_still_brings_bellows_up_at_line_speed(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", baudrate_pacing=115200)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await start(ncp)
    elapsed = loop.time() - started

    stats = ncp.stats
    assert stats.bytes_to_host > 10_000 and stats.bytes_from_host > 5_000
    assert elapsed >= 0.9 * stats.bytes_to_host * 10 / 115200  # never faster than the line allows
