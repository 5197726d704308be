"""Fixtures for the hub tests: a hub on the virtual radio and a virtual clock, raw OTA test devices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import click
import pytest

from hubfw.clock import VirtualClock
from hubfw.hub.control import ControlServer
from hubfw.hub.service import Hub
from tests.hub.helpers import hub_cli, make_hub
from tests.hub.ota_client import OtaHan


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def han() -> OtaHan:
    return OtaHan()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def hub(state_dir: Path, han: OtaHan, clock: VirtualClock) -> AsyncIterator[Hub]:
    running = make_hub(state_dir, han, clock)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def control(hub: Hub) -> AsyncIterator[ControlServer]:
    server = ControlServer(hub)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def cli() -> click.Group:
    return hub_cli()
