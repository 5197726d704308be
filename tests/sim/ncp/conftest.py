"""Fixtures that start bellows on a simulated NCP and shut everything down after a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from bellows.zigbee.application import ControllerApplication

from hubfw.sim import SimulatedNcp
from tests.sim.ncp.bellows_harness import app_config


@pytest.fixture
async def cleanup() -> AsyncIterator[list]:
    """Apps and NCPs registered here are shut down in reverse order, even when a test fails."""
    owned: list = []
    yield owned
    for thing in reversed(owned):
        if isinstance(thing, ControllerApplication):
            await thing.shutdown()
        else:
            await thing.stop()


@pytest.fixture
def start(tmp_path: Path, cleanup: list) -> Callable:
    async def start_hub(ncp: SimulatedNcp, channel: int | None = 15) -> ControllerApplication:
        if not ncp.port:
            cleanup.append(ncp)
            await ncp.start()
        app = await asyncio.wait_for(
            ControllerApplication.new(config=app_config(ncp.port, tmp_path, channel), auto_form=True), 60)
        cleanup.append(app)
        return app
    return start_hub
