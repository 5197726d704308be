"""ZEP v2 to a local UDP socket, read by the layout of Wireshark's packet-zep.c; the control verbs and the CLI."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hubfw.capture.frames import CapturedFrame, Direction, FrameEncoder
from hubfw.capture.sinks import ZepCapture
from hubfw.cli.main import HubfwGroup
from hubfw.hub.capture_cli import capture
from hubfw.hub.control import ControlClient, ControlError, ControlServer
from hubfw.hub.service import Hub
from tests.capture.reader import decode, read_pcap
from tests.hub.helpers import join_client
from tests.hub.ota_client import OtaHan

NTP_TO_UNIX = 2_208_988_800
FRAME = CapturedFrame(Direction.TX, src_nwk=0x0000, dst_nwk=0xE001, profile=0x0109, cluster=0x0019, src_ep=1,
                      dst_ep=1, aps_counter=7, payload=bytes.fromhex("1906000000"), src_ieee=0x000D6FFFFE000001,
                      dst_ieee=0x000D6F000000E001)


def test_a_zep_v2_data_packet_reaches_a_udp_listener_as_packet_zep_reads_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        sink = ZepCapture(listener.getsockname(), pan_id=0x1A62, channel=15)
        sink.write(1_767_225_600.25, FRAME)
        sink.write(1_767_225_601.5, FRAME)
        sink.close()
        first, second = listener.recv(512), listener.recv(512)

    preamble, version, kind, channel, device, crc_mode, lqi = struct.unpack_from(">2sBBBHBB", first)
    seconds, fraction, sequence = struct.unpack_from(">IIL", first, 9)
    reserved, length = first[21:31], first[31]
    assert (preamble, version, kind, channel, device, crc_mode, lqi) == (b"EX", 2, 1, 15, 0, 1, 255)
    assert seconds - NTP_TO_UNIX + fraction / 2**32 == pytest.approx(1_767_225_600.25)
    assert reserved == bytes(10)
    frame = first[32:]
    assert length == len(frame) == len(FrameEncoder(0x1A62).encode(FRAME))
    decoded = decode(frame)
    assert decoded.fcs_ok and decoded.pan_id == 0x1A62
    assert (decoded.nwk_dst, decoded.cluster, decoded.aps_counter) == (0xE001, 0x0019, 7)
    assert decoded.payload == FRAME.payload
    assert struct.unpack_from(">L", second, 17)[0] == sequence + 1


def test_zep_skips_a_frame_longer_than_802_15_4_allows() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        sink = ZepCapture(listener.getsockname(), pan_id=1, channel=11)
        sink.write(0.0, CapturedFrame(**{**FRAME.__dict__, "payload": bytes(200)}))
        sink.close()
    assert (sink.frames, sink.too_long) == (0, 1)


@pytest.fixture
async def control(hub: Hub):
    server = ControlServer(hub)
    await server.start()
    yield server
    await server.stop()


def cli() -> click.Group:
    group = HubfwGroup("hubfw")
    group.add_command(capture)
    return group


async def test_capture_start_and_stop_through_the_control_socket(hub: Hub, han: OtaHan, control: ControlServer,
                                                                 state_dir: Path, tmp_path: Path) -> None:
    pcap = tmp_path / "live.pcap"
    started = await asyncio.to_thread(CliRunner().invoke, cli(), ["capture", "start", str(pcap), "--state",
                                                                  str(state_dir)])
    assert started.exit_code == 0, started.output
    assert f"capturing to {pcap}" in started.output
    with pytest.raises(ControlError, match="already being written"):
        await asyncio.to_thread(ControlClient(state_dir).call, "capture_start", file=str(tmp_path / "other.pcap"))

    await join_client(hub, han, "00:0d:6f:00:00:00:e0:01", 0xE001)
    await asyncio.sleep(0.1)
    stopped = await asyncio.to_thread(CliRunner().invoke, cli(), ["capture", "stop", "--state", str(state_dir)])
    assert stopped.exit_code == 0, stopped.output
    linktype, packets = read_pcap(pcap.read_bytes())
    assert linktype == 195 and packets
    assert f"stopped {pcap}: {len(packets)} frames" in stopped.output
    assert all(decode(packet.data).fcs_ok for packet in packets)
    again = await asyncio.to_thread(CliRunner().invoke, cli(), ["capture", "stop", "--state", str(state_dir)])
    assert "no capture was running" in again.output


async def test_capture_start_wants_a_file_or_zep(hub: Hub, control: ControlServer, state_dir: Path) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, cli(), ["capture", "start", "--state", str(state_dir)])
    assert result.exit_code != 0 and "give a FILE, --zep HOST:PORT, or both" in result.output
    zep = await asyncio.to_thread(ControlClient(state_dir).call, "capture_start", zep="127.0.0.1:17754")
    assert zep == {"zep": "127.0.0.1:17754"}
    assert (await asyncio.to_thread(ControlClient(state_dir).call, "capture_stop"))["stopped"][0]["capture"] == (
        "zep 127.0.0.1:17754")
