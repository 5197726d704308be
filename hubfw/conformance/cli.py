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

from hubfw.cli.options import EUI64
from hubfw.conformance.run import SCENARIOS, run_conformance
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
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
              help="Write report.json, report.txt and report.xml (JUnit) here.")
@click.option("--sim", is_flag=True, help="Run on the simulated bench (virtual time) against a simulated device.")
@click.option("--sim-defect", "defects", multiple=True, type=click.Choice(list(DEFECTS)),
              help="--sim: give the simulated device this known defect (repeatable).")
@click.option("--list-defects", is_flag=True, help="Print the known defects --sim-defect takes, and exit.")
@click.option("--port", help="Real bench: the coordinator's serial port (the run owns it: stop `hubfw serve` first).")
@click.option("--install-code", help="Real bench: the device's install code (hex, with its CRC).")
@click.option("--power-cycle-cmd", help="Real bench: a shell command that power-cycles the device (a relay); used to "
              "free a device a failed scenario left stuck.")
@click.option("--timeout-scale", type=float, default=1.0, show_default=True,
              help="Real bench: multiply every scenario timeout (wall-clock seconds) by this.")
def check_device(device: t.EUI64 | None, eui64: t.EUI64 | None, image_path: Path | None, device_type: str, scenarios: tuple[str, ...],
                 report_dir: Path | None, sim: bool, defects: tuple[str, ...], list_defects: bool, port: str | None,
                 install_code: str | None, power_cycle_cmd: str | None, timeout_scale: float) -> None:
    """Run the conformance scenarios against a device under test and report each verdict with its evidence and
    the device's OTA client profile; the exit code is 1 when any scenario fails.

    With --sim the hub, its NCP and a simulated device run in-process on virtual time (days in seconds);
    --sim-defect makes that device misbehave in a known way. Otherwise the run starts its own hub on the
    coordinator at --port and admits EUI64 (timeouts in wall-clock seconds, times --timeout-scale)."""
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
    else:
        if defects:
            raise CheckDeviceError("--sim-defect needs --sim")
        if not (eui64 and port and image_path):
            raise CheckDeviceError("a real bench needs EUI64, --port and --image (or run --sim)")
        settings = HilSettings(port=port, dut=eui64, device_type=kind,
                               install_code=bytes.fromhex(install_code) if install_code else None)
        report = asyncio.run(_real(settings, image_path.read_bytes(), list(scenarios) or None, power_cycle_cmd,
                                   timeout_scale))
    click.echo(report.table(), nl=False)
    if report_dir is not None:
        for path in report.write(report_dir):
            click.echo(f"wrote {path}")
    sys.exit(report.exit_code)


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
            async def power_cycle_dut() -> None:
                await asyncio.to_thread(subprocess.run, shlex.split(power_cycle_cmd), check=True)
            bench.power_cycle_dut = power_cycle_dut  # type: ignore[attr-defined]
        await bench.start()
        try:
            return await run_conformance(bench, settings.dut, image, scenarios, device_type=settings.device_type,
                                         timeout_scale=timeout_scale)
        finally:
            await bench.stop()
