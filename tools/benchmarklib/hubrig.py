"""A hub on a radio with benchmark clients on its HAN, and how a measured download is timed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import zigpy.types as t

from benchmarklib.client import BenchAir, BenchOtaClient
from benchmarklib.images import IMAGE_TYPE, MANUFACTURER, OLD_VERSION
from hubfw.clock import SystemClock
from hubfw.devices import parse_eui64
from hubfw.hub.service import Hub, HubConfig
from hubfw.radio import OtaRadio, open_virtual_radio

JOIN_TIMEOUT_S = 30.0


def bench_clients(count: int, profile: int, aps_encrypted: bool) -> list[BenchOtaClient]:
    return [
        BenchOtaClient(
            ieee=parse_eui64(f"00:0d:6f:00:00:b0:{n >> 8:02x}:{n & 0xFF:02x}"), nwk=t.NWK(0x1000 + n), profile=profile,
            aps_encrypted=aps_encrypted, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
            current_version=OLD_VERSION,
        )
        for n in range(1, count + 1)
    ]


@dataclass(frozen=True)
class Download:
    """One measured download by one or more clients at once."""

    wall_s: float
    cpu_s: float
    blocks: int

    @property
    def wall_us_per_block(self) -> float:
        return 1e6 * self.wall_s / self.blocks

    @property
    def cpu_us_per_block(self) -> float:
        return 1e6 * self.cpu_s / self.blocks


async def timed_download(clients: Sequence[BenchOtaClient], data: bytes, start: Callable[[], object],
                         timeout_s: float) -> Download:
    """Arm the clients, call `start` (which makes the server offer `data`), wait until every client has
    received all of it and its UpgradeEndResponse.

    The clocks (wall and process CPU) start after `start` returns: the server holds the image (hubfw
    has admitted and stored it, zigpy has it in memory) and nothing has gone on the air yet — the
    ImageNotify leaves from a task that runs once this coroutine waits."""
    digest = hashlib.sha256(data).digest()
    finished = [client.start(digest) for client in clients]
    outcome = start()
    wall, cpu = time.perf_counter(), time.process_time()
    async with asyncio.timeout(timeout_s):
        await asyncio.gather(*finished)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if isinstance(outcome, asyncio.Task):
        outcome.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outcome
    return Download(wall, cpu, sum(client.blocks for client in clients))


def median_download(downloads: Sequence[Download]) -> dict[str, float]:
    return {
        "wall_us_per_block": statistics.median(d.wall_us_per_block for d in downloads),
        "cpu_us_per_block": statistics.median(d.cpu_us_per_block for d in downloads),
        "wall_s": statistics.median(d.wall_s for d in downloads),
    }


@contextlib.asynccontextmanager
async def running_hub(state_dir: Path, clients: Sequence[BenchOtaClient],
                      open_radio: Callable[[Path, BenchAir], Awaitable[OtaRadio]] | None = None,
                      uplink: Callable[[OtaRadio], object] | None = None,
                      config: HubConfig | None = None) -> AsyncIterator[Hub]:
    """A hub on the system clock (as `hubfw serve` runs: its timer, alert log and flash file live),
    with `clients` joined. By default the radio is the in-process virtual radio."""
    han = BenchAir(list(clients))
    opener = open_radio or (lambda directory, air: open_virtual_radio(directory, air))
    hub = Hub(state_dir, lambda directory: opener(directory, han), SystemClock(), config)
    await hub.start()
    try:
        han.attach(uplink(hub.app) if uplink is not None else hub.app)  # type: ignore[arg-type]
        await hub.permit(254)
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            for client in clients:
                while not client.join():
                    await asyncio.sleep(0.05)
            while not all(client.ieee in hub.app.devices for client in clients):
                await asyncio.sleep(0.01)
        yield hub
    finally:
        await hub.stop()
