"""`hubfw serve --radio sim` as a real process: the hub on bellows over the simulated NCP's pty, the default
simulated HAN joined and keyed by CBKE, a clean stop on SIGTERM with the NCP's network kept for the next start."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubfw.clock import SystemClock
from hubfw.hub.control import ControlClient, socket_path
from hubfw.sim.hil import simulator_only
from hubfw.sim.serving import default_devices

READY_TIMEOUT = 30  # seconds to import zigpy, start bellows on the pty and join the HAN; never reached when all works
SERVE = [sys.executable, "-c", "from hubfw.hub.cli import serve; serve()"]


def start_serving(state_dir: Path, *options: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([*SERVE, "--radio", "sim", "--state", str(state_dir), *options], stderr=subprocess.PIPE)
    deadline, seen = time.monotonic() + READY_TIMEOUT, []
    while not seen or "serving on" not in seen[-1]:  # log lines (a device's refused key exchange) may come first
        ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
        line = process.stderr.readline().decode() if ready else ""
        if not line:
            process.kill()
            pytest.fail(f"hubfw serve --radio sim did not start: {seen!r} {process.stderr.read().decode()!r}")
        seen.append(line)
    return process, seen[-1]


@pytest.mark.hil
@simulator_only
def test_serve_on_the_simulated_ncp_shows_its_path_and_stops_cleanly(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    process, banner = start_serving(state_dir)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:  # the devices run CBKE with the hub after joining, in real time
            joined = ControlClient(state_dir).call("devices")
            if all(device["key_establishment"] for device in joined) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=READY_TIMEOUT)

    assert "serving on bellows EZSP v13 on /dev/pts/" in banner and "(simulated NCP)" in banner
    expected = {str(device.ieee) for device in default_devices(tmp_path / "scratch", SystemClock())}
    assert sorted(device["eui64"] for device in joined) == sorted(expected)
    assert {device["key_establishment"] for device in joined} == {"suite2"}
    assert process.returncode == 0, stderr.decode()
    assert "stopped; flash closed cleanly" in stderr.decode()
    assert not socket_path(state_dir).exists()
    tokens = json.loads((state_dir / "ncp" / "ncp.json").read_text())
    assert expected <= set(map(str.lower, tokens["devices"]))


@pytest.mark.hil
@simulator_only
def test_serve_on_a_simulated_smart_energy_ncp_lets_its_cbke_library_key_the_devices(tmp_path: Path) -> None:
    """`--cbke-on-ncp` on `--radio sim`: the NCP is built with the CBKE library and certificates naming its own
    EUI-64; the library runs one exchange at a time, so the first device to ask gets its key at once."""
    state_dir = tmp_path / "state"
    process, _ = start_serving(state_dir, "--cbke-on-ncp")
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            client = ControlClient(state_dir)
            keyed = [device for device in client.call("devices") if device["key_establishment"]]
            if keyed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        status = client.call("status")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=READY_TIMEOUT)

    assert keyed and {device["key_establishment"] for device in keyed} == {"suite2"}
    assert status["han"]["cbke_on_ncp"] is True
    assert process.returncode == 0, stderr.decode()
