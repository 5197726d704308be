"""`hubfw serve` as a real process: it serves, and SIGTERM / SIGINT leave the flash consistent."""

from __future__ import annotations

import base64
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubfw.clock import SystemClock
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.hub.cli import serve
from hubfw.hub.control import ControlClient, socket_path
from hubfw.hub.service import Hub
from hubfw.radio import RadioError, SerialSettings, open_radio
from hubfw.store.store import ImageStore
from tests.hub.helpers import make_ota_file

READY_TIMEOUT = 15  # seconds for the process to import zigpy and start; never reached when things work

SERVE = [sys.executable, "-c", "from hubfw.hub.cli import serve; serve()"]


def start_serving(state_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen([*SERVE, "--radio", "virtual", "--state", str(state_dir)], stderr=subprocess.PIPE)
    ready, _, _ = select.select([process.stderr], [], [], READY_TIMEOUT)
    line = process.stderr.readline().decode() if ready else ""
    if "serving on virtual" not in line:
        process.kill()
        pytest.fail(f"hubfw serve did not start: {line!r} {process.stderr.read().decode()!r}")
    return process


def stop_serving(process: subprocess.Popen, signum: int) -> str:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=READY_TIMEOUT)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_a_signal_with_the_store_intact(tmp_path: Path, signum: int) -> None:
    state_dir = tmp_path / "state"
    process = start_serving(state_dir)
    try:
        ota_file = make_ota_file(payload_size=20_000)
        stored = ControlClient(state_dir).call(
            "distribute", image=base64.b64encode(ota_file).decode(), targets=["00:0d:6f:00:00:00:90:01"],
            device_type="gsme",
        )
    finally:
        stderr = stop_serving(process, signum)
    assert "stopped" in stderr
    assert not socket_path(state_dir).exists()

    with NorFlash.open(flash_path(state_dir), read_only=True) as flash:
        found = ImageStore.inspect(flash, SystemClock())
    assert not found.needs_recovery
    gsme = next(block for block in found.blocks if block.block.value == "gsme")
    assert gsme.image is not None and gsme.image.intact
    assert gsme.image.image.image_id == stored["image_id"] and gsme.image.image.total_size == len(ota_file)

    again = start_serving(state_dir)  # the next hub finds the same store and the same network
    try:
        (image,) = ControlClient(state_dir).call("status")["images"]
        assert image["image_id"] == stored["image_id"]
    finally:
        stop_serving(again, signal.SIGTERM)


def test_a_missing_serial_port_is_one_line(tmp_path: Path) -> None:
    from hubfw.cli.main import HubfwGroup

    group = HubfwGroup("hubfw")
    group.add_command(serve)
    result = CliRunner().invoke(group, ["serve", "--radio", "/dev/ttyHUBFW-NOPE", "--state", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert result.output == "hubfw: error: cannot open /dev/ttyHUBFW-NOPE: no such serial port\n"
    assert not (tmp_path / "s").exists()  # nothing created in --state for a hub that cannot start


async def test_a_radio_that_fails_to_open_leaves_the_flash_file_free(tmp_path: Path) -> None:
    hub = Hub(tmp_path, lambda d: open_radio(SerialSettings("/dev/ttyHUBFW-NOPE"), d), SystemClock())
    with pytest.raises(RadioError):
        await hub.start()
    NorFlash.open(flash_path(tmp_path)).close()  # not left locked by the failed start
