"""The serial path: blocks per second through bellows, a pty and the simulated NCP at 115200 baud,
against the limit the line itself sets.

Model (also written into the JSON): a UART at 115200 baud 8N1 carries 11 520 bytes/s in each
direction. Every block exchange puts bytes on both directions — NCP→host: the request as an
`incomingMessageHandler` callback, the `sendUnicast` response, the `messageSentHandler` callback
and ASH ACKs of the host's DATA frames; host→NCP: the `sendUnicast` command and ASH ACKs of the
NCP's DATA frames; and whatever bellows adds per unicast (an extended-timeout lookup) — all after
ASH framing, CRC and byte stuffing. Those bytes are not computed but counted on the pty over a whole
download, divided by the blocks served. EZSP allows one command at a time (bellows waits for each
response) and ASH one outstanding frame, so an exchange's bytes follow one another on the line: the
line limit is 11 520 / (bytes of both directions per block), the fastest any host could move blocks
over this protocol and line. The full-duplex bound, 11 520 / (bytes of the busier direction), is
reported too: it is what the line could carry if EZSP let the two directions overlap.

Both directions are paced at the baud rate: the simulated NCP paces what it writes, and here what the
host writes reaches the NCP's ASH layer no sooner than the line would have carried it (the pty itself
delivers it at once, which would let the busier host→NCP direction run faster than any real line).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarklib.client import BenchAir
from benchmarklib.hubrig import bench_clients, running_hub, timed_download
from benchmarklib.images import ota_file
from hubfw.devices import DeviceType
from hubfw.hub.service import HubConfig
from hubfw.radio import HubControllerApplication, SerialSettings, open_bellows_radio
from hubfw.server import OtaServerConfig
from hubfw.sim.ncp import SimulatedNcp
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
LINE_BYTES_PER_S = BAUD / BITS_PER_BYTE
CHANNEL = 15
DOWNLOAD_TIMEOUT_S = 300.0
QUIET_S = 0.5
CONCURRENT_DEVICES = 4
MODEL = (
    "line_limit = (115200 baud / 10 bits per byte, 8N1) / bytes one block exchange puts on the line in both "
    "directions. EZSP allows one command at a time (bellows waits for each response) and ASH one outstanding "
    "frame, so the bytes of an exchange (incomingMessageHandler callback, sendUnicast and its response, "
    "messageSentHandler callback, what bellows adds per unicast, ASH ACKs, framing, CRC and byte stuffing) "
    "follow one another on the line; that sum is the protocol's physical limit. Bytes are counted on the pty "
    "over a whole download and divided by blocks served; both directions are paced at the baud rate. "
    "full_duplex_limit = 11520 / the busier direction's bytes: the bound if the two directions could overlap "
    "fully, which EZSP's request/response does not allow"
)


class LinePacedNcp(SimulatedNcp):
    """The simulated NCP hearing the host at line speed: each chunk the host wrote is handed to ASH when
    its last byte would have arrived over a `baudrate_pacing` line, after everything written before it."""

    def __init__(self, state_dir: Path, *, baudrate_pacing: int, **options: Any) -> None:
        super().__init__(state_dir, baudrate_pacing=baudrate_pacing, **options)
        self._byte_time = BITS_PER_BYTE / baudrate_pacing
        self._inbound_free_at = 0.0

    def _from_host(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._inbound_free_at = max(self._inbound_free_at, loop.time()) + len(data) * self._byte_time
        loop.call_at(self._inbound_free_at, super()._from_host, data)


async def line_quiet(ncp: SimulatedNcp) -> None:
    """Until no byte crossed the line for QUIET_S: bellows' start-up work (a 256-entry child table sweep
    after joins) must not be counted as block traffic, nor a stop cut an exchange short."""
    seen = None
    while True:
        stats = ncp.stats
        counters = (stats.bytes_to_host, stats.bytes_from_host)
        if counters == seen:
            return
        seen = counters
        await asyncio.sleep(QUIET_S)


async def bench_serial(image_size: int, ezsp_version: int = 13) -> dict[str, object]:
    """One device downloading `image_size` bytes, and four sharing the line with a quarter each (to show
    whether overlapping exchanges get closer to the busier-direction limit), on an NCP speaking `ezsp_version`."""
    single = await serial_download(image_size, devices=1, ezsp_version=ezsp_version)
    shared = await serial_download(image_size // CONCURRENT_DEVICES, devices=CONCURRENT_DEVICES,
                                   ezsp_version=ezsp_version)
    single["concurrent"] = {key: shared[key] for key in ("devices", "blocks", "achieved_blocks_per_s", "ratio",
                                                         "ratio_to_full_duplex_limit")}
    return single


async def serial_download(image_size: int, devices: int, ezsp_version: int = 13) -> dict[str, object]:
    """`devices` PPMIDs download `image_size` bytes each at once through the paced line."""
    data = ota_file(image_size)
    clients = bench_clients(devices, SMART_ENERGY_PROFILE, aps_encrypted=True)
    config = HubConfig(server=OtaServerConfig(max_concurrent_downloads=devices))
    ncps: list[SimulatedNcp] = []

    async def open_radio(directory: Path, han: BenchAir) -> HubControllerApplication:
        ncp = LinePacedNcp(directory / "ncp", ezsp_version=ezsp_version, baudrate_pacing=BAUD, han=han)
        ncps.append(ncp)
        port = await ncp.start()
        return await open_bellows_radio(SerialSettings(port, channel=CHANNEL), directory)

    with tempfile.TemporaryDirectory(prefix="hubfw-bench-") as state:
        try:
            async with running_hub(Path(state), clients, open_radio, lambda _app: ncps[0], config) as hub:
                ncp = ncps[0]
                await line_quiet(ncp)
                before = ncp.stats
                frames_before = before.ash.frames_out.copy()  # AshStats is live, not a snapshot
                targets = [client.ieee for client in clients]
                download = await timed_download(
                    clients, data, lambda: hub.distribute(data, targets, DeviceType.PPMID), DOWNLOAD_TIMEOUT_S
                )
                after = ncp.stats
                await line_quiet(ncp)  # let bellows finish its last exchange before the hub stops
        finally:
            for ncp in ncps:
                await ncp.stop()
    blocks = download.blocks
    to_host = (after.bytes_to_host - before.bytes_to_host) / blocks
    from_host = (after.bytes_from_host - before.bytes_from_host) / blocks
    limit = LINE_BYTES_PER_S / (to_host + from_host)
    full_duplex_limit = LINE_BYTES_PER_S / max(to_host, from_host)
    achieved = blocks / download.wall_s
    callbacks = after.callbacks - before.callbacks
    commands = after.commands - before.commands
    frames_out = after.ash.frames_out - frames_before
    return {
        "model": MODEL,
        "baud": BAUD,
        "ezsp_version": ezsp_version,
        "image_bytes": len(data),
        "profile": f"0x{SMART_ENERGY_PROFILE:04X} with APS encryption",
        "blocks": blocks,
        "devices": devices,
        "block_bytes": max(size for client in clients for size in client.block_sizes),
        "download_s": download.wall_s,
        "bytes_per_block_ncp_to_host": to_host,
        "bytes_per_block_host_to_ncp": from_host,
        "busier_direction": "ncp_to_host" if to_host >= from_host else "host_to_ncp",
        "line_limit_blocks_per_s": limit,
        "achieved_blocks_per_s": achieved,
        "ratio": achieved / limit,
        "full_duplex_limit_blocks_per_s": full_duplex_limit,
        "ratio_to_full_duplex_limit": achieved / full_duplex_limit,
        "line_busy_ncp_to_host": achieved * to_host / LINE_BYTES_PER_S,
        "line_busy_host_to_ncp": achieved * from_host / LINE_BYTES_PER_S,
        "cpu_us_per_block": download.cpu_us_per_block,
        "ezsp_per_block": {name: round(count / blocks, 2) for name, count in sorted({**commands, **callbacks}.items())},
        "ash_frames_to_host_per_block": {kind: round(count / blocks, 2) for kind, count in sorted(frames_out.items())},
    }
