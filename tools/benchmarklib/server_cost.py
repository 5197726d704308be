"""Server cost per block: hubfw's OTA server against zigpy's `Device.update_firmware`, same app, same run.

One radio-less zigpy application (hubfw's virtual radio) carries both. In hubfw's rounds its OTA
interception hands the client's frames to the hub (OTA server, flash reads, progress checkpoints,
alert journal); in zigpy's rounds the application's own `packet_received` is put back in front of the
interception for the duration, so the same frames reach zigpy's `OTAManager` instead. The client,
the radio and the event loop are the same; rounds alternate so machine load hits both alike.
`ratio_wall` is the ratio of the two medians; `ratio_wall_paired` the median of each round's hubfw/zigpy
ratio, which a shared machine's changing load disturbs less; `ratio_cpu` uses process CPU time.

zigpy 2.4 drops Smart Energy (0x0109) frames before any cluster sees them, so the comparison runs on
the Home Automation profile without APS encryption (hubfw's Smart Energy downloads are measured in
`scale` and `serial`).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

import zigpy.application
import zigpy.ota
import zigpy.ota.providers
from zigpy.ota.image import parse_ota_image
from zigpy.zcl.clusters.general import Ota

from benchmarklib.client import MAX_DATA_SIZE, BenchOtaClient
from benchmarklib.hubrig import Download, bench_clients, median_download, running_hub, timed_download
from benchmarklib.images import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, ota_file
from hubfw.devices import DeviceType
from hubfw.hub.service import Hub
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.server import max_block_data_size
from hubfw.zigbee.aps import MAX_APS_PAYLOAD as DEFAULT_APS_MAX_PAYLOAD
from hubfw.zigbee.ids import HOME_AUTOMATION_PROFILE

CLIENT_ENDPOINT = 1
DOWNLOAD_TIMEOUT_S = 300.0


@contextlib.contextmanager
def zigpy_serves_ota(app: zigpy.application.ControllerApplication) -> Iterator[None]:
    """Let received frames go straight to zigpy, past hubfw's OTA interception, while inside."""
    app.packet_received = zigpy.application.ControllerApplication.packet_received.__get__(app)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del app.packet_received


def zigpy_image(data: bytes) -> zigpy.ota.OtaImageWithMetadata:
    firmware, _ = parse_ota_image(data)
    metadata = zigpy.ota.providers.BaseOtaImageMetadata(
        file_version=NEW_VERSION, manufacturer_id=MANUFACTURER, image_type=IMAGE_TYPE
    )
    return zigpy.ota.OtaImageWithMetadata(metadata=metadata, firmware=firmware)


def give_zigpy_an_ota_client(hub: Hub, client: BenchOtaClient) -> None:
    """What zigpy would have learnt from the device's simple descriptor: an OTA client cluster on an HA endpoint."""
    device = hub.app.get_device(ieee=client.ieee)  # type: ignore[attr-defined]
    endpoint = device.add_endpoint(CLIENT_ENDPOINT)
    endpoint.profile_id = HOME_AUTOMATION_PROFILE
    endpoint.add_output_cluster(Ota.cluster_id)


async def hubfw_round(hub: Hub, client: BenchOtaClient, data: bytes) -> Download:
    client.current_version = OLD_VERSION
    return await timed_download(
        [client], data, lambda: hub.distribute(data, [client.ieee], DeviceType.PPMID), DOWNLOAD_TIMEOUT_S
    )


async def zigpy_round(hub: Hub, client: BenchOtaClient, data: bytes,
                      image: zigpy.ota.OtaImageWithMetadata) -> Download:
    """Until the client has its UpgradeEndResponse; zigpy's post-update attribute read (after a fixed
    10 s sleep) is not part of the transfer and is cancelled."""
    client.current_version = OLD_VERSION
    device = hub.app.get_device(ieee=client.ieee)  # type: ignore[attr-defined]
    with zigpy_serves_ota(hub.app):  # type: ignore[arg-type]
        return await timed_download(
            [client], data, lambda: asyncio.create_task(device.update_firmware(image)), DOWNLOAD_TIMEOUT_S
        )


async def bench_server(rounds: int, image_size: int = DEFAULT_MAX_IMAGE_SIZE) -> dict[str, object]:
    data = ota_file(image_size)
    image = zigpy_image(data)
    (client,) = bench_clients(1, HOME_AUTOMATION_PROFILE, aps_encrypted=False)
    hubfw_runs: list[Download] = []
    zigpy_runs: list[Download] = []
    with tempfile.TemporaryDirectory(prefix="hubfw-bench-") as state:
        async with running_hub(Path(state), [client]) as hub:
            give_zigpy_an_ota_client(hub, client)
            for _ in range(rounds):
                hubfw_runs.append(await hubfw_round(hub, client, data))
                hubfw_block = max(client.block_sizes)
                zigpy_runs.append(await zigpy_round(hub, client, data, image))
                zigpy_block = max(client.block_sizes)
    hubfw, zigpy = median_download(hubfw_runs), median_download(zigpy_runs)
    return {
        "image_bytes": len(data),
        "rounds": rounds,
        "profile": f"0x{HOME_AUTOMATION_PROFILE:04X} (zigpy serves no Smart Energy frames)",
        "client_max_data_size": MAX_DATA_SIZE,
        "hubfw_blocks": hubfw_runs[0].blocks,
        "hubfw_block_bytes": hubfw_block,
        "hubfw_wall_us_per_block": hubfw["wall_us_per_block"],
        "hubfw_cpu_us_per_block": hubfw["cpu_us_per_block"],
        "hubfw_download_s": hubfw["wall_s"],
        "zigpy_blocks": zigpy_runs[0].blocks,
        "zigpy_block_bytes": zigpy_block,
        "zigpy_wall_us_per_block": zigpy["wall_us_per_block"],
        "zigpy_cpu_us_per_block": zigpy["cpu_us_per_block"],
        "zigpy_download_s": zigpy["wall_s"],
        "ratio_wall": hubfw["wall_us_per_block"] / zigpy["wall_us_per_block"],
        "ratio_wall_paired": statistics.median(
            ours.wall_us_per_block / theirs.wall_us_per_block for ours, theirs in zip(hubfw_runs, zigpy_runs)
        ),
        "ratio_cpu": hubfw["cpu_us_per_block"] / zigpy["cpu_us_per_block"],
        "ratio_download_time": hubfw["wall_s"] / zigpy["wall_s"],
        "rounds_us_per_block": {
            "hubfw": [round(d.wall_us_per_block, 1) for d in hubfw_runs],
            "zigpy": [round(d.wall_us_per_block, 1) for d in zigpy_runs],
        },
    }


def block_economy(image_size: int, se_block: int, ha_block: int, zigpy_block: int) -> dict[str, object]:
    """Block data size and block count for one image: hubfw on HA and on SE with APS encryption, and
    zigpy on HA (all three as served in this run's downloads), next to the frame-layer limits."""
    def blocks(size: int) -> int:
        return -(-image_size // size)

    return {
        "image_bytes": image_size,
        "hubfw_ha_block_bytes": ha_block,
        "hubfw_ha_blocks": blocks(ha_block),
        "hubfw_se_aps_block_bytes": se_block,
        "hubfw_se_aps_blocks": blocks(se_block),
        "zigpy_block_bytes": zigpy_block,
        "zigpy_blocks": blocks(zigpy_block),
        "zigpy_se_aps": "not served: zigpy 2.4 drops Smart Energy profile frames",
        "frame_limit_ha": max_block_data_size(DEFAULT_APS_MAX_PAYLOAD, aps_encrypted=False),
        "frame_limit_se_aps": max_block_data_size(DEFAULT_APS_MAX_PAYLOAD, aps_encrypted=True),
        "blocks_saved_vs_zigpy_ha": 1 - blocks(ha_block) / blocks(zigpy_block),
    }
