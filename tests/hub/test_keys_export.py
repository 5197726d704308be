"""`hubfw keys export --wireshark FILE` against the hub on unmodified bellows and the simulated NCP (as `serve --radio
sim`): a GB device joined with its install code and completed CBKE, and the file holds the keys the NCP holds."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner
from zigpy.util import convert_install_code

from hubfw.cli.main import main
from hubfw.devices import DeviceType
from hubfw.hub.control import ControlServer
from hubfw.hub.service import Hub
from hubfw.hub.sniffer_keys import KeyExportError, uat_escape, wireshark_line, write_private_file
from hubfw.sim.devices import OtaClientDevice, SessionState, install_code_for, ppmid
from hubfw.sim.ncp.simulator import SUPPORTED_EZSP_VERSIONS
from hubfw.sim.world import SimulatedWorld
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui

IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION,
            "query_interval": None}
LINE = re.compile(r'^"(?P<key>[0-9a-f]{32})","Normal","(?P<label>(?:[\x20-\x21\x23-\x5b\x5d-\x7e]|\\x[0-9a-f]{2})+)"$')
"""A zigbee_pc_keys record as hubfw writes it: 32 lower-case hex digits, "Normal", a label in UAT escaping."""
PCAP_IEEE802_15_4 = 195
"""LINKTYPE_IEEE802_15_4_WITHFCS: an empty capture for tshark to open while it loads the key table."""


@pytest_asyncio.fixture(params=SUPPORTED_EZSP_VERSIONS, ids=[f"ezsp{v}" for v in SUPPORTED_EZSP_VERSIONS])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SimulatedWorld]:
    async with SimulatedWorld(tmp_path / "w", ezsp_version=request.param, cbke=True) as running:
        server = ControlServer(running.hub)
        await server.start()
        try:
            yield running
        finally:
            await server.stop()


async def joined_with_cbke(world: SimulatedWorld, n: int) -> OtaClientDevice:
    ieee = eui(n)
    device = ppmid(ieee, 0x5000 + n, gb=world.gb_session(ieee, DeviceType.PPMID), install_code=install_code_for(ieee),
                   **IDENTITY)
    await world.add(device)
    assert device.gb.state is SessionState.SECURED and device.link_key != device.join_key
    return device


async def export(world: SimulatedWorld, path: Path):
    return await asyncio.to_thread(CliRunner().invoke, main,
                                   ["keys", "export", "--wireshark", str(path), "--state", str(world.hub.state_dir)])


def records(path: Path) -> dict[str, str]:
    """label → key (hex) of every line, each checked against the format."""
    found = {}
    for line in path.read_text(encoding="ascii").splitlines():
        match = LINE.match(line)
        assert match, f"malformed line {line!r}"
        found[match["label"]] = match["key"]
    return found


def labelled(found: dict[str, str], *words: str) -> str:
    """The one key whose label holds every word."""
    [key] = [key for label, key in found.items() if all(word in label for word in words)]
    return key


async def test_the_file_holds_every_key_the_ncp_holds(world: SimulatedWorld, tmp_path: Path) -> None:
    device = await joined_with_cbke(world, 7)
    path = tmp_path / "keys" / "zigbee_pc_keys"
    path.parent.mkdir()

    result = await export(world, path)

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    found = records(path)
    tokens = world.ncp.stack.tokens
    assert labelled(found, "network key", f"sequence {tokens.network_key_seq}") == bytes(tokens.network_key).hex()
    assert labelled(found, "trust-centre link key") == bytes(tokens.tc_link_key).hex()
    cbke_key = labelled(found, "CBKE link key", str(device.ieee), "suite 2")
    assert cbke_key == bytes(device.link_key).hex() == bytes(tokens.table_key_for(device.ieee)).hex()
    # the install-code key the device joined with, still in the NCP's transient key table (300 s, real time)
    join_key = labelled(found, "install-code link key", str(device.ieee))
    assert join_key == bytes(convert_install_code(install_code_for(device.ieee))).hex() == bytes(device.join_key).hex()
    held = [bytes(tokens.network_key), bytes(tokens.tc_link_key), *(bytes(e.key) for e in tokens.key_table),
            *(bytes(key) for _, key, _ in world.ncp.stack.transient_keys.entries())]
    assert sorted(found.values()) == sorted(key.hex() for key in held)  # one line per key the NCP holds
    assert "written to" in result.output and "(mode 0600)" in result.output

    before = path.read_bytes()
    again = await export(world, path)
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert path.read_bytes() == before


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed: the file is not loaded by "
                                                           "Wireshark itself (apt-get install tshark)")
async def test_tshark_loads_the_file_as_its_zigbee_key_table(world: SimulatedWorld, tmp_path: Path) -> None:
    await joined_with_cbke(world, 8)
    config = tmp_path / "wireshark"
    config.mkdir()
    path = config / "zigbee_pc_keys"
    assert (await export(world, path)).exit_code == 0
    capture = tmp_path / "empty.pcap"
    capture.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, PCAP_IEEE802_15_4))

    run = subprocess.run(["tshark", "-r", str(capture)], env={**os.environ, "WIRESHARK_CONFIG_DIR": str(config)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Error loading table" not in run.stderr and "Pre-configured Keys" not in run.stderr, run.stderr
    for line in path.read_text().splitlines():  # and each record one by one, as `-o uat:` takes them
        one = subprocess.run(["tshark", "-o", f"uat:zigbee_pc_keys:{line}", "-r", str(capture)],
                             capture_output=True, text=True, timeout=120)
        assert one.returncode == 0 and "Invalid -o flag" not in one.stderr, one.stderr


def test_labels_are_escaped_as_wireshark_escapes_them_and_keys_go_first_byte_first(tmp_path: Path) -> None:
    assert uat_escape('a "b" \\ c\u00e9') == "a \\x22b\\x22 \\x5c c\\xc3\\xa9"
    assert wireshark_line(bytes(b"ZigBeeAlliance09").hex(), "well-known") == \
        '"5a6967426565416c6c69616e63653039","Normal","well-known"'
    with pytest.raises(KeyExportError, match="128-bit"):
        wireshark_line("00" * 15, "short")
    target = tmp_path / "keys"
    target.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyExportError, match="refusing to overwrite"):
        write_private_file(target, "x\n")  # a dangling link is not followed either
    assert not (tmp_path / "elsewhere").exists()


async def test_keys_export_on_the_virtual_radio_too(hub: Hub) -> None:
    """The virtual radio holds keys too (no NCP): the network key, the well-known key and each device's key."""
    await hub.permit(60, install_code_for(eui(9)), eui(9))

    found = await hub.export_keys()

    assert sorted(key["kind"] for key in found["keys"]) == ["link", "network", "trust_centre_link"]
    [link] = [key for key in found["keys"] if key["kind"] == "link"]
    assert link["key"] == bytes(convert_install_code(install_code_for(eui(9)))).hex()
    assert str(eui(9)) in link["label"]
    assert found["coordinator"] == str(hub.app.state.node_info.ieee)
