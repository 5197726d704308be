"""Wireshark's own verdict on a real `hubfw demo --capture`: every frame dissects to the Zigbee APS layer with a
correct FCS, no malformed packet and no expert info of warning or error severity, and every kind of frame of the
demo is there. Skipped, saying why, where tshark is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hubfw.capture.frames import FrameEncoder
from hubfw.capture.pcap import PcapWriter
from tests.capture.test_zep_and_control import FRAME

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt-get install tshark); "
                                                       ".ci/run installs it so CI always checks the capture")
CLUSTERS = {"OTA": 0x0019, "Key Establishment": 0x0800, "Tunneling": 0x0704, "Time": 0x000A, "Basic": 0x0000,
            "Metering": 0x0702}


@pytest.fixture
def demo_capture(shared_demo: tuple[Path, dict]) -> tuple[Path, dict]:
    """`hubfw demo --json --capture FILE`'s capture and JSON (run once per test run, tests/conftest.py)."""
    directory, output = shared_demo
    return directory / "demo.pcap", output


def tshark(*args: str) -> list[list[str]]:
    assert TSHARK is not None
    run = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    return [line.split("\t") for line in run.stdout.splitlines()]


def test_wireshark_dissects_every_frame_of_the_demo_clean(demo_capture) -> None:
    pcap, result = demo_capture
    rows = tshark("-r", str(pcap), "-T", "fields", "-E", "occurrence=f", "-e", "frame.number", "-e", "frame.protocols",
                  "-e", "wpan.fcs_ok", "-e", "zbee_aps.profile", "-e", "zbee_aps.cluster")
    assert result["ok"] and len(rows) == result["capture"]["frames"] > 1000
    for number, protocols, fcs_ok, profile, _ in rows:
        assert protocols.startswith("wpan:zbee_nwk:zbee_aps"), (number, protocols)
        assert fcs_ok in ("1", "True"), (number, fcs_ok)
        assert profile, number
    flagged = tshark("-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= 6291456", "-T", "fields",
                     "-e", "frame.number", "-e", "_ws.expert.message")
    assert flagged == [], flagged[:10]


def test_every_kind_of_frame_of_the_demo_is_in_the_capture(demo_capture) -> None:
    pcap, _ = demo_capture
    rows = tshark("-r", str(pcap), "-T", "fields", "-E", "occurrence=f", "-e", "frame.protocols", "-e",
                  "zbee_aps.profile", "-e", "zbee_aps.cluster")
    clusters = {int(cluster, 16) for _, profile, cluster in rows if profile == "0x0109" and cluster}
    assert {name: cluster in clusters for name, cluster in CLUSTERS.items()} == dict.fromkeys(CLUSTERS, True)
    assert any("zbee_zdp" in protocols for protocols, _, _ in rows)
    assert any("zbee_zcl_general.ota" in protocols for protocols, _, _ in rows)
    assert any("zbee_zcl_se.ke" in protocols for protocols, _, _ in rows)
    assert any("zbee_zcl_se.tun" in protocols for protocols, _, _ in rows)
    fragments = tshark("-r", str(pcap), "-Y", "zbee_aps.fragmentation == 1", "-T", "fields", "-e", "frame.number")
    assert fragments, "the demo's tunnel alerts come in APS fragments"


def test_the_check_has_teeth_a_corrupted_frame_is_flagged(tmp_path: Path) -> None:
    """The same filter on a frame whose FCS is wrong and one cut short: both flagged, the good one not."""
    good = FrameEncoder(0x1A62).encode(FRAME)
    bad_fcs = good[:-1] + bytes([good[-1] ^ 1])
    with (tmp_path / "bad.pcap").open("wb") as stream:
        writer = PcapWriter(stream)
        for packet in (good, bad_fcs, good[:20]):
            writer.write(0.0, packet)
    flagged = tshark("-r", str(tmp_path / "bad.pcap"), "-Y", "_ws.malformed || _ws.expert.severity >= 6291456",
                     "-T", "fields", "-e", "frame.number")
    assert [row[0] for row in flagged] == ["2", "3"]
