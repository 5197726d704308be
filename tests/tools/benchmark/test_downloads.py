"""The benchmark's downloads are real: whole images, verified, through the paths they claim to measure."""

from __future__ import annotations

import math
import struct

import pytest
from benchmark import SERIAL_VERSIONS, headline
from benchmarklib.client import BenchAir, DownloadError
from benchmarklib.hubrig import bench_clients, timed_download
from benchmarklib.images import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, ota_file
from benchmarklib.scale import bench_scale
from benchmarklib.serial import bench_serial, serial_download
from benchmarklib.server_cost import bench_server

from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import HOME_AUTOMATION_PROFILE

IMAGE_BYTES = 4096


async def test_hubfw_and_zigpy_each_serve_the_whole_image_to_the_same_client() -> None:
    figures = await bench_server(rounds=1, image_size=IMAGE_BYTES)
    assert (figures["hubfw_block_bytes"], figures["zigpy_block_bytes"]) == (65, 50)
    assert figures["hubfw_blocks"] == math.ceil(IMAGE_BYTES / 65)
    assert figures["zigpy_blocks"] == math.ceil(IMAGE_BYTES / 50)
    assert figures["ratio_wall"] == figures["hubfw_wall_us_per_block"] / figures["zigpy_wall_us_per_block"]


async def test_concurrent_smart_energy_clients_get_aps_sized_blocks_and_the_hub_limit_is_reported() -> None:
    figures = await bench_scale((3, 50, 80), IMAGE_BYTES, rounds=1)
    per_image = figures["targets_per_image"]
    assert per_image >= 64  # what the default flash layout journals: no GBCS cap of 15
    for devices in (3, 50):  # 50 PPMIDs on one image
        point = figures["points"][f"n_{devices}"]
        assert point["block_bytes"] == 56
        assert point["blocks"] == devices * math.ceil(IMAGE_BYTES / 56)
    assert figures["points"]["n_80"] == (
        f"not possible: at most {per_image + 4} devices download at once "
        f"({per_image} targets per image on this flash layout, 4 ESMEs)"
    )
    assert figures["growth_between"] == [3, 50]


async def test_serial_path_counts_the_line_bytes_of_each_block_exchange() -> None:
    figures = await bench_serial(IMAGE_BYTES)
    assert figures["ezsp_version"] == 13
    assert figures["blocks"] == math.ceil(IMAGE_BYTES / 56)
    assert figures["ezsp_per_block"]["sendUnicast"] == pytest.approx(1, abs=0.05)
    assert figures["ezsp_per_block"]["incomingMessageHandler"] == pytest.approx(1, abs=0.05)
    # one block of data plus ASH/EZSP framing must cross towards the NCP for every block
    assert figures["bytes_per_block_host_to_ncp"] > 56
    both_ways = figures["bytes_per_block_ncp_to_host"] + figures["bytes_per_block_host_to_ncp"]
    busier = max(figures["bytes_per_block_ncp_to_host"], figures["bytes_per_block_host_to_ncp"])
    assert figures["line_limit_blocks_per_s"] == pytest.approx(11_520 / both_ways)
    assert figures["full_duplex_limit_blocks_per_s"] == pytest.approx(11_520 / busier)
    assert figures["ratio"] == pytest.approx(figures["achieved_blocks_per_s"] / figures["line_limit_blocks_per_s"])


async def test_the_serial_path_on_ezsp_18_is_the_same_block_exchange() -> None:
    """`make bench` measures it as `serial_v18` (bench_serial, one device and four); one device is enough here."""
    figures = await serial_download(IMAGE_BYTES, devices=1, ezsp_version=18)
    assert figures["ezsp_version"] == 18
    assert figures["blocks"] == math.ceil(IMAGE_BYTES / 56)
    assert figures["ezsp_per_block"]["sendUnicast"] == pytest.approx(1, abs=0.05)
    assert figures["ezsp_per_block"]["incomingMessageHandler"] == pytest.approx(1, abs=0.05)
    assert figures["bytes_per_block_host_to_ncp"] > 56


def test_the_serial_ratio_is_headlined_for_ezsp_13_and_18_under_their_own_keys() -> None:
    assert SERIAL_VERSIONS == {"serial": 13, "serial_v18": 18}
    figures = headline({"serial": {"ratio": 1.0}, "serial_v18": {"ratio": 0.9}})
    assert figures == {"serial_ratio": 1.0, "serial_ratio_v18": 0.9}
    assert headline({"serial": {"ratio": 1.0}}) == {"serial_ratio": 1.0}


class CorruptingRadio:
    """Answers every block request with the right header and wrong data."""

    def __init__(self, han: BenchAir, data: bytes) -> None:
        self.han, self.data = han, data

    def join(self, *_: object) -> bool:
        return True

    def receive(self, frame: ApsFrame) -> bool:
        zcl = frame.payload
        if zcl[2] == 0x01:  # QueryNextImage → offer the image
            self._answer(frame, 0x02, struct.pack("<BHHII", 0, MANUFACTURER, IMAGE_TYPE, NEW_VERSION, len(self.data)))
        elif zcl[2] == 0x03:  # ImageBlock → the right header, every data bit flipped
            offset = int.from_bytes(zcl[12:16], "little")
            chunk = bytes(b ^ 0xFF for b in self.data[offset : offset + 50])
            self._answer(frame, 0x05, bytes([0]) + zcl[4:12] + zcl[12:16] + bytes([len(chunk)]) + chunk)
        elif zcl[2] == 0x06:  # UpgradeEnd
            self._answer(frame, 0x07, zcl[4:12] + bytes(8))
        return True

    def _answer(self, request: ApsFrame, command: int, body: bytes) -> None:
        zcl = bytes([0x19, request.payload[1], command]) + body  # cluster command, server to client
        reply = ApsFrame(request.dst_ieee, request.dst_nwk, request.src_ieee, request.src_nwk, request.profile,
                         request.cluster, request.dst_ep, request.src_ep, zcl)
        self.han.deliver(reply)


async def test_a_client_that_received_wrong_bytes_fails_the_download() -> None:
    data = ota_file(1024)
    (client,) = bench_clients(1, HOME_AUTOMATION_PROFILE, aps_encrypted=False)
    han = BenchAir([client])
    han.attach(CorruptingRadio(han, data))
    with pytest.raises(DownloadError, match="not the image"):
        await timed_download([client], data, client.query, timeout_s=10)
