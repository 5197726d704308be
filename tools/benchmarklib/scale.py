"""Scale: N Smart Energy clients (APS-encrypted, as on a GB HAN) downloading from the hub at once.

One image may name as many targets as the hub's flash layout can journal (`Layout.limits`: 71 on
the default serial-nor part; there is no GBCS cap of 15), so the clients are PPMIDs on one image —
PPMIDs activate as soon as they have it, so nothing waits on a CS06 — and, past that limit, up to 4
ESMEs on an ESME image. N beyond both is reported as not possible rather than measured some other
way. The server's concurrency limit is set to N.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarklib.client import BenchOtaClient
from benchmarklib.hubrig import Download, bench_clients, median_download, running_hub, timed_download
from benchmarklib.images import ota_file
from hubfw.devices import DeviceType
from hubfw.flash.profiles import get_profile
from hubfw.hub.service import HubConfig
from hubfw.server import OtaServerConfig
from hubfw.store.layout import Layout
from hubfw.store.policy import MAX_ESME_TARGETS
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

DOWNLOAD_TIMEOUT_S = 300.0


def targets_per_image(config: HubConfig) -> int:
    """How many targets one (non-ESME) image may name on the store this hub formats."""
    return Layout.plan(get_profile(config.flash_profile), config.max_image_size).limits.targets_per_image


def download_groups(clients: Sequence[BenchOtaClient],
                    per_image: int) -> list[tuple[DeviceType, Sequence[BenchOtaClient]]]:
    """PPMIDs up to what one image may name, then ESMEs on the ESME block's image."""
    return [(DeviceType.PPMID, clients[:per_image]), (DeviceType.ESME, clients[per_image:])]


async def scale_download(devices: int, image_size: int) -> tuple[Download, int]:
    """All `devices` notified at once (one image per block) on a fresh hub, until every one has its
    UpgradeEndResponse; also the block size they were served."""
    data = ota_file(image_size)
    clients = bench_clients(devices, SMART_ENERGY_PROFILE, aps_encrypted=True)
    config = HubConfig(server=OtaServerConfig(max_concurrent_downloads=devices))
    groups = download_groups(clients, targets_per_image(config))
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
    per_image = targets_per_image(HubConfig())
    most = per_image + MAX_ESME_TARGETS
    points: dict[str, object] = {}
    for count in counts:
        if count > most:
            points[f"n_{count}"] = (
                f"not possible: at most {most} devices download at once "
                f"({per_image} targets per image on this flash layout, {MAX_ESME_TARGETS} ESMEs)"
            )
            continue
        points[f"n_{count}"] = await scale_point(count, image_size, rounds)
    measured = [point for point in points.values() if isinstance(point, dict)]
    first, last = measured[0], measured[-1]
    return {
        "image_bytes": image_size,
        "profile": f"0x{SMART_ENERGY_PROFILE:04X} with APS encryption",
        "rounds": rounds,
        "targets_per_image": per_image,
        "points": points,
        "cpu_per_block_growth": last["cpu_us_per_block"] / first["cpu_us_per_block"],
        "growth_between": [first["devices"], last["devices"]],
    }
