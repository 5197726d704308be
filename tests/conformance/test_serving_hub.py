"""`hubfw check-device` against a hub that is already serving (`hubfw serve --radio sim --state DIR` in its own
process, on the wall clock): the run drives it through the control socket and reads its OTA frames
(`ota_frames`), and the hub keeps serving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubfw.cli.main import main
from hubfw.hub.control import ControlClient
from hubfw.hub.ota_frames import OtaFrameRing, frame_from_json
from hubfw.ota.image import build_image
from hubfw.sim.demo import MANUFACTURER, OLD_VERSION, PPMID_IMAGE_TYPE
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER

READY_TIMEOUT = 30
PPMID = "00:0d:6f:00:00:00:e0:01"  # one of the simulated radio's default devices (hubfw.sim.serving)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    log = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with log.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", "from hubfw.hub.cli import serve; serve()",
                                    "--radio", "sim", "--state", str(state)], stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "control socket" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"hubfw serve did not start: {log.read_text(errors='replace')!r}")
            time.sleep(0.1)
        yield state
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_check_device_drives_the_serving_hub_and_writes_the_report(serving: Path, tmp_path: Path) -> None:
    image = tmp_path / "ppmid.ota"  # small, with an integrity code: the simulated PPMID checks it
    image.write_bytes(build_image(manufacturer_code=MANUFACTURER, image_type=PPMID_IMAGE_TYPE,
                                  file_version=OLD_VERSION + 1, payload=bytes(range(256)) * 8,
                                  integrity_code=True).to_bytes())
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["check-device", PPMID, "--image", str(image), "--device-type", "ppmid",
                                       "--state", str(serving), "--scenario", "happy-path", "--scenario",
                                       "corrupt-image-refused", "--scenario", "resume-after-restart",
                                       "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads((report / "report.json").read_text())
    verdicts = {entry["name"]: entry for entry in data["scenarios"]}
    assert {name: entry["verdict"] for name, entry in verdicts.items()} == {
        "happy-path": "pass", "corrupt-image-refused": "pass", "resume-after-restart": "not-run"}
    assert "restart" in verdicts["resume-after-restart"]["evidence"]["why"]
    assert verdicts["corrupt-image-refused"]["faults"]  # the serving hub injected the corruption
    assert data["client_profile"]["max_data_size"] == 64
    assert (report / "report.xml").read_text().startswith("<?xml")
    assert "happy-path" in (report / "report.txt").read_text()
    # the hub kept serving, and its ring holds the DUT's frames from where a client asks
    answer = ControlClient(serving).call("ota_frames", since=0, eui64=PPMID)
    assert answer["frames"] and {entry["direction"] for entry in answer["frames"]} == {"rx", "tx"}
    assert ControlClient(serving).call("fault_list")["faults"] == {}


def test_without_a_serving_hub_the_error_is_one_line(tmp_path: Path) -> None:
    image = tmp_path / "x.ota"
    image.write_bytes(build_image(manufacturer_code=MANUFACTURER, image_type=PPMID_IMAGE_TYPE,
                                  file_version=OLD_VERSION + 1, payload=b"x" * 100).to_bytes())
    result = CliRunner().invoke(main, ["check-device", PPMID, "--image", str(image), "--state", str(tmp_path)])
    assert result.exit_code != 0
    message = result.output.strip()
    assert "\n" not in message and "hubfw serve --state" in message and "--port" in message and "--sim" in message


def test_the_frame_ring_is_bounded_and_answers_from_a_cursor() -> None:
    now = [100.0]
    ring = OtaFrameRing(lambda: now[0], capacity=4)
    device = frame_from_json({"direction": "rx", "eui64": PPMID, "cluster": OTA_CLUSTER, "profile": 0x0109,
                              "src_ep": 1, "dst_ep": 1, "zcl": "0101", "aps_encrypted": True, "nwk": 0xE001})
    assert isinstance(device, IncomingFrame)
    for _ in range(6):
        ring.observe("rx", device)
        now[0] += 1
    ring.observe("rx", IncomingFrame(device.source, 1, 0x0104, 1, 1, 0x0000, b"\x00", False))  # not OTA: not kept
    answer = ring.since(0)
    assert answer["missed"] == 2 and [entry["seq"] for entry in answer["frames"]] == [2, 3, 4, 5]
    assert answer["next"] == 6 and answer["frames"][0]["at"] == 102.0
    assert ring.since(5)["frames"][0]["seq"] == 5 and ring.since(6)["frames"] == []
    back = frame_from_json({**answer["frames"][0], "direction": "tx"})
    assert isinstance(back, OutgoingFrame) and back.zcl == device.zcl and back.destination == device.source
    assert frame_from_json(answer["frames"][0]) == device
