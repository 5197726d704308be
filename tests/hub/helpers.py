"""Helpers for the hub tests: test images, a hub on the virtual radio or on bellows over a simulated NCP's pty,
joining raw OTA test devices.

A module of its own (not conftest) so that `from hub_helpers import ...` cannot pick up another
directory's conftest when the whole suite runs."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import click
import zigpy.types as t
from click.testing import CliRunner, Result

from hubfw.cli.main import HubfwGroup
from hubfw.clock import VirtualClock
from hubfw.hub.cli import HUB_COMMANDS
from hubfw.hub.service import Hub, HubConfig
from hubfw.ota.image import build_image
from hubfw.radio import SerialSettings, open_bellows_radio, open_virtual_radio
from tests.hub.ota_client import OtaHan, RawOtaClient

MANUFACTURER = 0x1234
IMAGE_TYPE = 0x0101
NEW_VERSION = 0x00000205
OLD_VERSION = 0x00000104
CLIENT_LINK_KEY = t.KeyData(bytes.fromhex("c11e47a9b2d3e4f5061728394a5b6c7d"))
"""The APS link key an APS-encrypting test client shares with the coordinator, put in its key table as CBKE
leaves it: the hub APS-encrypts nothing for a device without one (no real NCP could secure it)."""


def make_ota_file(payload_size: int = 3000, version: int = NEW_VERSION, seed: int = 7) -> bytes:
    payload = random.Random(seed).randbytes(payload_size)
    return build_image(
        manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=version, payload=payload,
        min_hw_version=1, max_hw_version=5,
    ).to_bytes()


def make_hub(state_dir: Path, han: OtaHan, clock: VirtualClock) -> Hub:
    return Hub(state_dir, lambda directory: open_virtual_radio(directory, han), clock)


def bellows_hub(state_dir: Path, port: str, config: HubConfig | None = None) -> Hub:
    """A hub on unmodified bellows over the simulated NCP's pty at `port`, on a virtual clock."""
    return Hub(state_dir, lambda directory: open_bellows_radio(SerialSettings(port, channel=15), directory),
               VirtualClock(), config)


async def join_client(hub: Hub, han: OtaHan, eui64: str, nwk: int, *, profile: int = 0x0109,
                      encrypted: bool = True, **options: object) -> RawOtaClient:
    client = han.add(RawOtaClient(
        t.EUI64.convert(eui64), t.NWK(nwk), profile, MANUFACTURER, IMAGE_TYPE, OLD_VERSION, encrypted, **options
    ))
    client.uplink = hub.app
    await hub.permit(60)
    assert hub.app.join(client.ieee, client.nwk)
    if encrypted:
        await hub.app.install_link_key(client.ieee, CLIENT_LINK_KEY)
    return client




def hub_cli() -> click.Group:
    """The `hubfw` group with the commands that talk to a serving hub."""
    return HubfwGroup("hubfw", commands={command.name: command for command in HUB_COMMANDS})


async def run_cli(cli: click.Group, *args: str) -> Result:
    """The CLI blocks on the socket, so it runs in a thread while the hub serves on this loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))
