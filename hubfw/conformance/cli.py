"""`hubfw check-device`: the conformance run from the command line, on the simulated bench or a real coordinator."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import zigpy.types as t

from hubfw.cli.options import EUI64, state_option
from hubfw.conformance.control_bench import ControlBench
from hubfw.conformance.run import SCENARIOS, run_conformance
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.hub.control import ControlError
from hubfw.sim.devices import DEFECTS
from hubfw.sim.hil.bench import RealBench, SimulatedBench
from hubfw.sim.hil.settings import HilSettings


class CheckDeviceError(HubfwError):
    """`hubfw check-device` was asked for something it cannot run."""


@click.command("check-device")
@click.argument("device", metavar="EUI64", required=False, type=EUI64)
@click.option("--eui64", type=EUI64, help="the device under test, instead of the EUI64 argument")
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The OTA file to flash (fresh versions of it follow). Default on --sim: the bench's test image.")
@click.option("--device-type", type=click.Choice([kind.value for kind in DeviceType]), default="ppmid",
              show_default=True, help="What the device under test is.")
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(list(SCENARIOS)),
              help="Run only this scenario (repeatable). Default: all.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write report.json, report.txt, report.xml (JUnit) and report.html (one self-contained page) here.")
@click.option("--sim", is_flag=True, help="Run on the simulated bench (virtual time) against a simulated device.")
@click.option("--sim-defect", "defects", multiple=True, type=click.Choice(list(DEFECTS)),
              help="--sim: give the simulated device this known defect (repeatable).")
@click.option("--list-defects", is_flag=True, help="Print the known defects --sim-defect takes, and exit.")
@state_option("the state directory of the serving hub the run drives (through its control socket), unless --sim or "
              "--port")
@click.option("--port", help="Real bench without a serving hub: the coordinator's serial port (the run starts its own "
              "hub on it: stop `hubfw serve` first).")
@click.option("--install-code", help="Real bench: the device's install code (hex, with its CRC).")
@click.option("--power-cycle-cmd", help="Real bench: a shell command that power-cycles the device (a relay); used to "
              "free a device a failed scenario left stuck.")
@click.option("--timeout-scale", type=float, default=1.0, show_default=True,
              help="Serving hub or real bench: multiply every scenario timeout (wall-clock seconds) by this.")
def check_device(device: t.EUI64 | None, eui64: t.EUI64 | None, image_path: Path | None, device_type: str, scenarios: tuple[str, ...],
                 report_dir: Path | None, sim: bool, defects: tuple[str, ...], list_defects: bool, state_dir: Path,
                 port: str | None, install_code: str | None, power_cycle_cmd: str | None, timeout_scale: float) -> None:
    """Run the conformance scenarios against a device under test and report each verdict with its evidence and
    the device's OTA client profile; the exit code is 1 when any scenario fails.

    With --sim the hub, its NCP and a simulated device run in-process on virtual time (days in seconds);
    --sim-defect makes that device misbehave in a known way. With --port the run starts its own hub on the
    coordinator there and admits EUI64. Otherwise it drives the hub serving --state (`hubfw serve --state DIR`)
    through its control socket: faults, distributions and the OTA frames it hears, while it keeps serving.
    Off --sim timeouts are wall-clock seconds, times --timeout-scale; resume-after-restart is not run on a
    serving hub (check-device does not restart it)."""
    if list_defects:
        for name, what in DEFECTS.items():
            click.echo(f"{name:<30} {what}")
        return
    kind = DeviceType(device_type)
    if device is not None and eui64 is not None:
        raise click.UsageError("name the device once: as the EUI64 argument or with --eui64")
    eui64 = eui64 if eui64 is not None else device
    if sim:
        if port:
            raise CheckDeviceError("give either --sim or --port, not both")
        report = asyncio.run(_simulated(kind, image_path, list(scenarios) or None, set(defects)))
    elif defects:
        raise CheckDeviceError("--sim-defect needs --sim")
    elif not port:
        if not (eui64 and image_path):
            raise CheckDeviceError("a run on the serving hub needs EUI64 and --image (or run --sim)")
        report = asyncio.run(_serving(state_dir, eui64, kind, image_path.read_bytes(), list(scenarios) or None,
                                      install_code, power_cycle_cmd, timeout_scale))
    else:
        if not (eui64 and image_path):
            raise CheckDeviceError("a real bench needs EUI64, --port and --image (or run --sim)")
        settings = HilSettings(port=port, dut=eui64, device_type=kind,
                               install_code=bytes.fromhex(install_code) if install_code else None)
        report = asyncio.run(_real(settings, image_path.read_bytes(), list(scenarios) or None, power_cycle_cmd,
                                   timeout_scale))
    _finish(report, report_dir)


def _finish(report: Any, report_dir: Path | None) -> None:
    click.echo(report.table(), nl=False)
    if report_dir is not None:
        for path in report.write(report_dir):
            click.echo(f"wrote {path}")
    sys.exit(report.exit_code)


def _power_cycler(power_cycle_cmd: str | None) -> Any:
    if not power_cycle_cmd:
        return None

    async def power_cycle_dut() -> None:
        await asyncio.to_thread(subprocess.run, shlex.split(power_cycle_cmd), check=True)
    return power_cycle_dut


async def _serving(state_dir: Path, dut: t.EUI64, kind: DeviceType, image: bytes, scenarios: list[str] | None,
                   install_code: str | None, power_cycle_cmd: str | None, timeout_scale: float) -> Any:
    bench = ControlBench(state_dir, dut, kind, install_code=bytes.fromhex(install_code) if install_code else None,
                         power_cycle_dut=_power_cycler(power_cycle_cmd))
    try:
        await bench.start()
    except ControlError as exc:
        raise CheckDeviceError(f"no hub is serving {state_dir}: start one with `hubfw serve --state {state_dir}`, "
                               f"or give --port (the run starts its own hub) or --sim ({exc})") from None
    try:
        return await run_conformance(bench, dut, image, scenarios, device_type=kind, timeout_scale=timeout_scale)
    finally:
        await bench.stop()


async def _simulated(kind: DeviceType, image_path: Path | None, scenarios: list[str] | None,
                     defects: set[str]) -> Any:
    with tempfile.TemporaryDirectory(prefix="hubfw-check-") as scratch:
        bench = SimulatedBench(Path(scratch) / "bench", kind, dut_options={"defects": defects})
        await bench.start()
        try:
            image = image_path.read_bytes() if image_path else bench.dut_image()
            return await run_conformance(bench, bench.device_under_test, image, scenarios, device_type=kind)
        finally:
            await bench.stop()


async def _real(settings: HilSettings, image: bytes, scenarios: list[str] | None, power_cycle_cmd: str | None,
                timeout_scale: float) -> Any:
    assert settings.dut is not None
    with tempfile.TemporaryDirectory(prefix="hubfw-check-") as scratch:
        bench = RealBench(Path(scratch) / "hub", dataclasses.replace(settings))
        if power_cycle_cmd:
            bench.power_cycle_dut = _power_cycler(power_cycle_cmd)  # type: ignore[attr-defined]
        await bench.start()
        try:
            return await run_conformance(bench, settings.dut, image, scenarios, device_type=settings.device_type,
                                         timeout_scale=timeout_scale)
        finally:
            await bench.stop()
