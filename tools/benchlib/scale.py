"""Scale: N Smart Energy clients (APS-encrypted, as on a GB HAN) downloading from the hub at once.

The store admits at most 15 targets per image in the GSME block (PPMID/HCALCS/GSME) and 4 ESMEs in
the ESME block (GBCS), so a hub serves at most 19 concurrent downloads; N beyond that is reported
as not possible rather than measured some other way. The server's concurrency limit is set to N.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlib.hubrig import Download, bench_clients, median_download, running_hub, timed_download
from benchlib.images import ota_file
from hubfw.devices import DeviceType
from hubfw.hub import HubConfig
from hubfw.server import SMART_ENERGY_PROFILE, OtaServerConfig
from hubfw.store.policy import MAX_ESME_TARGETS, MAX_TARGETS

DOWNLOAD_TIMEOUT_S = 300.0
MAX_CONCURRENT = MAX_TARGETS + MAX_ESME_TARGETS


async def scale_download(devices: int, image_size: int) -> tuple[Download, int]:
    """All `devices` notified at once (one image per block) on a fresh hub, until every one has its
    UpgradeEndResponse; also the block size they were served."""
    data = ota_file(image_size)
    clients = bench_clients(devices, SMART_ENERGY_PROFILE, aps_encrypted=True)
    groups = [(DeviceType.PPMID, clients[:MAX_TARGETS]), (DeviceType.ESME, clients[MAX_TARGETS:])]
    config = HubConfig(server=OtaServerConfig(max_concurrent_downloads=devices))
    with tempfile.TemporaryDirectory(prefix="hubfw-bench-") as state:
        async with running_hub(Path(state), clients, config=config) as hub:

            def distribute() -> None:
                for device_type, members in groups:
                    if members:
                        hub.distribute(data, [client.ieee for client in members], device_type)

            download = await timed_download(clients, data, distribute, DOWNLOAD_TIMEOUT_S)
    return download, max(size for client in clients for size in client.block_sizes)


async def scale_point(devices: int, image_size: int, rounds: int) -> dict[str, object]:
    downloads = []
    for _ in range(rounds):
        download, block_bytes = await scale_download(devices, image_size)
        downloads.append(download)
    return {"devices": devices, "blocks": downloads[0].blocks, "block_bytes": block_bytes,
            **median_download(downloads)}


async def bench_scale(counts: tuple[int, ...], image_size: int, rounds: int) -> dict[str, object]:
    points: dict[str, object] = {}
    for count in counts:
        if count > MAX_CONCURRENT:
            points[f"n_{count}"] = (
                f"not possible: at most {MAX_CONCURRENT} devices download at once "
                f"({MAX_TARGETS} targets per image, {MAX_ESME_TARGETS} ESMEs)"
            )
            continue
        points[f"n_{count}"] = await scale_point(count, image_size, rounds)
    measured = [point for point in points.values() if isinstance(point, dict)]
    first, last = measured[0], measured[-1]
    return {
        "image_bytes": image_size,
        "profile": f"0x{SMART_ENERGY_PROFILE:04X} with APS encryption",
        "rounds": rounds,
        "points": points,
        "cpu_per_block_growth": last["cpu_us_per_block"] / first["cpu_us_per_block"],
        "growth_between": [first["devices"], last["devices"]],
    }
