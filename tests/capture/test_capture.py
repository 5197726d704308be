"""The capture of a hub on bellows and the simulated NCP, read back with the specification reader (tests/capture/
reader.py) and held against the frames the hub recorded and the frames the device got on the (simulated) air:
ZDO, Key Establishment, the tunnel, OTA, the GBCS message in APS fragments both ways with the acknowledgements."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.alerts import activation_alert
from hubfw.capture.frames import CapturedFrame, Direction
from hubfw.cbke.suites import CryptoSuite
from hubfw.gbcs.alert_message import activation_message, entity_id
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.credentials import issue_sim_credentials
from hubfw.hub.service import Hub, HubConfig
from hubfw.sim import SimulatedNcp
from hubfw.zigbee.aps import ApsFrame
from tests.capture.reader import decode, read_pcap
from tests.hub.han_device import INSTALL_CODE, DeviceAir, HanDevice
from tests.hub.helpers import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, bellows_hub

WAIT = 60
METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f1")
METER_NWK = 0x4D2B
ZDO_PROFILE, SE_PROFILE = 0x0000, 0x0109
OTA, KEY_ESTABLISHMENT, TUNNELING = 0x0019, 0x0800, 0x0704


def number(eui64: t.EUI64) -> int:
    return int(str(eui64).replace(":", ""), 16)


class Recorder:
    """A capture sink keeping what the hub handed it."""

    name = "recorder"

    def __init__(self) -> None:
        self.recorded: list[tuple[float, CapturedFrame]] = []

    @property
    def frames(self) -> int:
        return len(self.recorded)

    def write(self, timestamp: float, frame: CapturedFrame) -> None:
        self.recorded.append((timestamp, frame))

    def close(self) -> None:
        pass


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def captured(tmp_path: Path) -> AsyncIterator[tuple[Hub, SimulatedNcp, HanDevice, Recorder, Path]]:
    han = DeviceAir()
    on_air: list[ApsFrame] = []
    deliver = han.deliver
    han.deliver = lambda frame: on_air.append(frame) or deliver(frame)  # type: ignore[method-assign]
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    port = await ncp.start()
    hub = bellows_hub(tmp_path / "state", port, HubConfig(cbke_sim_ca=True))
    pcap = tmp_path / "hub.pcap"
    try:
        await asyncio.wait_for(hub.start(), WAIT)
        recorder = Recorder()
        hub.start_capture(pcap)
        hub.captures.append(recorder)
        credentials = issue_sim_credentials(hub.state_dir, METER, CryptoSuite.SUITE_1, hub.clock)
        device = han.add(HanDevice(METER, t.NWK(METER_NWK), credentials, ncp.ieee, hub.clock, uplink=ncp))
        await hub.permit(60, INSTALL_CODE, METER)
        assert device.join()
        await until(lambda: METER in hub.app.devices)
        device.start_key_establishment()
        await until(lambda: device.ke.outcome is not None)
        device.open_tunnel()
        await until(lambda: device.tunnel.is_open)
        message = general_signing(CraFlag.COMMAND, 7, entity_id(ncp.ieee), entity_id(METER), 0x0001, bytes(range(200)))
        hub.send_gbcs(METER, message)
        await until(lambda: device.gbcs_messages == [message])
        device.send(device.tunnel.send(activation_message(activation_alert(1, METER, 0x205, hub.clock.now()), 1)))
        await until(lambda: bool(read_alert_log(hub.alert_log.path)))
        device.raw(SE_PROFILE, OTA, bytes([0x01, 0x42, 0x01]) + struct.pack("<BHHI", 0, MANUFACTURER, IMAGE_TYPE,
                                                                              OLD_VERSION), encrypted=True)
        await until(lambda: any(frame.cluster == OTA for frame in device.received))
        await hub.app.permit(0)  # a ZDO broadcast
        await asyncio.sleep(0.2)
        device.on_air = on_air  # type: ignore[attr-defined]
        yield hub, ncp, device, recorder, pcap
    finally:
        await hub.stop()
        await ncp.stop()


async def test_every_recorded_frame_is_in_the_pcap_as_the_specifications_read_it(captured) -> None:
    hub, _, _, recorder, pcap = captured
    coordinator = number(hub.app.state.node_info.ieee)
    pan_id = int(hub.app.state.network_info.pan_id)
    hub.stop_capture()
    linktype, packets = read_pcap(pcap.read_bytes())
    assert linktype == 195
    assert len(packets) == len(recorder.recorded) > 20

    for (when, frame), packet in zip(recorder.recorded, packets, strict=True):
        assert packet.seconds + packet.micros / 1e6 == pytest.approx(when, abs=1e-6)
        got = decode(packet.data)
        assert got.fcs_ok and got.mac_frame_type == 1 and got.pan_id == pan_id
        assert (got.nwk_frame_type, got.nwk_version, got.nwk_security, got.aps_security) == (0, 2, False, False)
        assert (got.nwk_src, got.nwk_dst, got.mac_src) == (frame.src_nwk, frame.dst_nwk, frame.src_nwk)
        broadcast = frame.dst_nwk >= 0xFFF8
        assert got.mac_dst == (0xFFFF if broadcast else frame.dst_nwk)
        assert got.mac_ack_request is not broadcast
        if frame.direction is Direction.TX:
            assert (got.nwk_src, got.nwk_src_ieee) == (0x0000, coordinator)
            assert got.nwk_dst_ieee == (None if broadcast else number(METER))
        else:
            assert (got.nwk_src, got.nwk_src_ieee) == (METER_NWK, number(METER))
            assert got.nwk_dst_ieee == (None if broadcast else coordinator)
        assert (got.profile, got.cluster, got.src_ep, got.dst_ep, got.aps_counter) == (
            frame.profile, frame.cluster, frame.src_ep, frame.dst_ep, frame.aps_counter)
        assert got.delivery_mode == (2 if broadcast else 0)
        if frame.ack_bitfield is not None:
            assert (got.aps_frame_type, got.ack_bitfield, got.block_number, got.payload) == (
                2, 0x01, frame.fragment.index, b"")
        elif frame.fragment is not None:
            first = frame.fragment.index == 0
            assert (got.aps_frame_type, got.fragmentation) == (0, 1 if first else 2)
            assert got.block_number == (frame.fragment.count if first else frame.fragment.index)
            assert got.payload == frame.payload
        else:
            assert (got.aps_frame_type, got.fragmentation, got.payload) == (0, 0, frame.payload)

    kinds = {(frame.direction, frame.profile, frame.cluster) for _, frame in recorder.recorded}
    assert {(Direction.RX, SE_PROFILE, KEY_ESTABLISHMENT), (Direction.TX, SE_PROFILE, KEY_ESTABLISHMENT),
            (Direction.RX, SE_PROFILE, TUNNELING), (Direction.TX, SE_PROFILE, TUNNELING),
            (Direction.RX, SE_PROFILE, OTA), (Direction.TX, SE_PROFILE, OTA)} <= kinds
    zdo = [frame for _, frame in recorder.recorded if frame.profile == ZDO_PROFILE]
    assert zdo and all(frame.src_ep == frame.dst_ep == 0 for frame in zdo)
    assert any(frame.dst_nwk == 0xFFFC and frame.direction is Direction.TX for frame in zdo)  # Mgmt_Permit_Joining_req


async def test_the_hubs_frames_carry_the_aps_counters_and_fragments_the_device_got_on_the_air(captured) -> None:
    hub, _, device, _, pcap = captured
    hub.stop_capture()
    sent = [decode(packet.data) for packet in read_pcap(pcap.read_bytes())[1]]
    sent = [frame for frame in sent if frame.nwk_dst == METER_NWK and frame.aps_frame_type == 0]
    on_air = [frame for frame in device.on_air if frame.dst_nwk == METER_NWK]
    assert [(frame.profile, frame.cluster, frame.src_ep, frame.dst_ep, frame.aps_counter, frame.payload)
            for frame in sent] == [(frame.profile, frame.cluster, frame.src_ep, frame.dst_ep, frame.aps_counter,
                                    frame.payload) for frame in on_air]
    assert [frame.block_number if frame.fragmentation == 2 else 0 for frame in sent] == [
        0 if frame.fragment is None else frame.fragment[0] for frame in on_air]

    outgoing = [frame for frame in sent if frame.fragmentation]
    assert len(outgoing) == len(device.fragments) >= 3
    assert [(frame.fragmentation, frame.block_number) for frame in outgoing] == [(1, len(outgoing))] + [
        (2, index) for index in range(1, len(outgoing))]
    assert len({frame.aps_counter for frame in outgoing}) == 1


async def test_each_incoming_fragment_is_its_own_frame_followed_by_its_acknowledgement(captured) -> None:
    hub, _, _, _, pcap = captured
    hub.stop_capture()
    frames = [decode(packet.data) for packet in read_pcap(pcap.read_bytes())[1]]
    incoming = [i for i, frame in enumerate(frames) if frame.nwk_src == METER_NWK and frame.fragmentation]
    assert len(incoming) >= 2
    for position, i in enumerate(incoming):
        fragment, ack = frames[i], frames[i + 1]
        assert fragment.block_number == (len(incoming) if position == 0 else position)
        assert (ack.aps_frame_type, ack.nwk_dst, ack.block_number, ack.ack_bitfield) == (2, METER_NWK, position, 1)
        assert (ack.aps_counter, ack.cluster, ack.src_ep, ack.dst_ep) == (
            fragment.aps_counter, fragment.cluster, fragment.dst_ep, fragment.src_ep)
    whole = b"".join(frames[i].payload for i in incoming)
    assert not any(frame.payload == whole for frame in frames)  # the reassembled message is not captured again
