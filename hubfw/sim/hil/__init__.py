"""Hardware-in-the-loop fixtures: one test API over the simulated NCP or a real coordinator bench.

A HIL test talks to a `HilBench`: a running hub, `admit` for the device under test, `distribute`,
`wait_until` / `wait_for_alert`. By default the bench is a `SimulatedBench` (the hub on unmodified
bellows, the simulated NCP on a pty, simulated devices, one virtual clock: timeouts are virtual
seconds). With `HUBFW_HIL_PORT` and `HUBFW_HIL_DUT` set it is a `RealBench` (the hub on that
coordinator under the system clock: timeouts are wall-clock seconds, the alert log is polled).

This module is a pytest plugin: enable it with `pytest -p hubfw.sim.hil` (or `pytest_plugins =
["hubfw.sim.hil"]` in a root conftest), or import the fixtures into a conftest:
`from hubfw.sim.hil import hil_bench, hil_settings, sim_bench, test_image_fixture, wait_for_alert_fixture`
(the last two register as `test_image` and `wait_for_alert`). tests/hil/README.md documents all of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from hubfw.alerts import TransferAlert
from hubfw.sim.hil.bench import (
    SIM_NEW_VERSION,
    SIM_OLD_VERSION,
    HilBench,
    HilTimeout,
    RealBench,
    SimulatedBench,
    watch_transfer,
)
from hubfw.sim.hil.settings import ENV_PORT, HilConfigError, HilSettings


def real_bench_configured(env: Mapping[str, str] = os.environ) -> bool:
    return bool(env.get(ENV_PORT))


simulator_only = pytest.mark.skipif(real_bench_configured(), reason=f"simulator-only scenario ({ENV_PORT} is set)")
"""Mark for scenarios a real bench cannot stage (hub restart, device power cuts, a fleet of devices)."""


# ----- pytest plugin


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil: hardware-in-the-loop test (simulated NCP unless HUBFW_HIL_PORT is set)")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        settings = HilSettings.from_env(os.environ)
    except HilConfigError as exc:
        return f"hil: {exc}"
    if settings.real:
        cbke = f", CBKE credentials {', '.join(map(str, settings.cbke_files))}" if settings.cbke_files else ""
        return f"hil: real coordinator on {settings.port}, device under test {settings.dut}{cbke}"
    return "hil: simulated NCP (set HUBFW_HIL_PORT and HUBFW_HIL_DUT for a real bench)"


@pytest.fixture(scope="session")
def hil_settings() -> HilSettings:
    """The HUBFW_HIL_* environment, read once."""
    return HilSettings.from_env(os.environ)


@pytest_asyncio.fixture
async def hil_bench(hil_settings: HilSettings, tmp_path: Path) -> AsyncIterator[HilBench]:
    """A running hub on the real bench if HUBFW_HIL_PORT is set, else on the simulated NCP; stopped after the test."""
    bench: SimulatedBench | RealBench
    if hil_settings.real:
        bench = RealBench(tmp_path / "hub", hil_settings)
    else:
        bench = SimulatedBench(tmp_path / "bench", hil_settings.device_type)
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


@pytest_asyncio.fixture
async def sim_bench(tmp_path: Path) -> AsyncIterator[SimulatedBench]:
    """Always the simulator (with a PPMID as its DUT), for scenarios only a simulator can stage."""
    bench = SimulatedBench(tmp_path / "sim")
    await bench.start()
    try:
        yield bench
    finally:
        await bench.stop()


@pytest.fixture(name="test_image")
def test_image_fixture(hil_bench: HilBench) -> bytes:
    """The OTA file for the device under test (simulator: signed with the bench's key, version 0x200)."""
    return hil_bench.dut_image()


@pytest.fixture(name="wait_for_alert")
def wait_for_alert_fixture(hil_bench: HilBench) -> Callable[..., Awaitable[TransferAlert]]:
    """`await wait_for_alert(entity, code, timeout)`: the bench's `wait_for_alert`."""
    return hil_bench.wait_for_alert


__all__ = [
    "SIM_NEW_VERSION", "SIM_OLD_VERSION", "HilBench", "HilConfigError", "HilSettings", "HilTimeout", "RealBench",
    "SimulatedBench", "hil_bench", "hil_settings", "real_bench_configured", "sim_bench", "simulator_only",
    "test_image_fixture", "wait_for_alert_fixture", "watch_transfer",
]
