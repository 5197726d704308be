"""Coordinator profiles, serial port recognition and the generated udev rules."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from hubfw.coordinator import ports as ports_module
from hubfw.coordinator.ports import SerialPort, list_serial_ports, port_for_device
from hubfw.coordinator.profiles import ProfileError, get_profile, load_profiles, parse_profiles
from hubfw.coordinator.udev import RULES_FILE_NAME, render_udev_rules

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"


def fake_port(device: str, vid: int | None = None, pid: int | None = None, product: str | None = None,
              manufacturer: str | None = None, serial_number: str | None = None) -> SimpleNamespace:
    """What pyserial's ListPortInfo carries, for a machine without the dongles plugged in."""
    return SimpleNamespace(device=device, vid=vid, pid=pid, product=product, manufacturer=manufacturer,
                           serial_number=serial_number, description=product or "n/a")


BENCH_PORTS = [
    fake_port("/dev/ttyUSB1", 0x10C4, 0xEA60, "SkyConnect v1.0", "Nabu Casa", "3abe5479"),
    fake_port("/dev/ttyACM0", 0x1A86, 0x55D4, "SONOFF Zigbee 3.0 USB Dongle Plus V2", "ITEAD", "20240122184111"),
    fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60, "Sonoff Zigbee 3.0 USB Dongle Plus", "ITead", "b8b49abd"),  # ZBDongle-P
    fake_port("/dev/ttyUSB2", 0x10C4, 0xEA60, "Home Assistant Connect ZBT-1", "Nabu Casa", "92390c41"),
    fake_port("/dev/ttyS0"),
]


@pytest.fixture
def bench_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports_module.list_ports, "comports", lambda: list(BENCH_PORTS))



def test_shipped_profiles_cover_the_bench_coordinators() -> None:
    profiles = {profile.name: profile for profile in load_profiles()}

    assert set(profiles) == {"zbdongle-e", "zbt-1", "network-efr32"}
    for profile in profiles.values():
        assert profile.title and profile.chip and profile.notes and profile.port_hint
    assert (profiles["zbdongle-e"].baudrate, profiles["zbdongle-e"].flow_control) == (115200, "software")
    assert (profiles["zbt-1"].baudrate, profiles["zbt-1"].flow_control) == (115200, "hardware")
    network = profiles["network-efr32"]
    assert (network.baudrate, network.flow_control, network.usb, network.udev_symlink) == (None, "none", (), None)
    assert network.port_hint.startswith("socket://") and network.port_hint.endswith(":6638")
    assert get_profile("skyconnect") is profiles["zbt-1"]


def test_hardware_directory_reads_the_packaged_profiles() -> None:
    link = HARDWARE / "coordinators.toml"
    assert link.is_symlink()
    assert parse_profiles(link.read_text()) == load_profiles()


def test_committed_udev_rules_are_generated_from_the_profiles() -> None:
    assert (HARDWARE / RULES_FILE_NAME).read_text() == render_udev_rules(load_profiles())


def test_udev_rules_name_each_usb_coordinator() -> None:
    rules = [line for line in render_udev_rules(load_profiles()).splitlines() if line.startswith("SUBSYSTEM")]

    assert len(rules) == 4
    assert 'ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="55d4"' in rules[0]
    assert all('MODE="0660", GROUP="dialout"' in rule for rule in rules)
    assert [rule.split('SYMLINK+="')[1].split('"')[0] for rule in rules] == [
        "hubfw-zbdongle-e", "hubfw-zbdongle-e", "hubfw-zbt-1", "hubfw-zbt-1"]


@pytest.mark.usefixtures("bench_ports")
def test_ports_are_recognised_by_vid_pid_and_product() -> None:
    profiles = load_profiles()
    found = {port.device: port.profile(profiles) for port in list_serial_ports()}

    assert {device: profile.name if profile else None for device, profile in found.items()} == {
        "/dev/ttyACM0": "zbdongle-e",
        "/dev/ttyS0": None,
        "/dev/ttyUSB0": None,  # same CP2102N VID:PID as a SkyConnect, but a TI dongle: not EZSP
        "/dev/ttyUSB1": "zbt-1",
        "/dev/ttyUSB2": "zbt-1",
    }


def test_a_symlinked_device_is_found_behind_its_name(tmp_path: Path) -> None:
    target = tmp_path / "ttyUSB1"
    target.touch()
    (tmp_path / "hubfw-zbt-1").symlink_to(target)
    listed = [SerialPort(str(target), 0x10C4, 0xEA60, product="SkyConnect v1.0")]

    assert port_for_device(str(tmp_path / "hubfw-zbt-1"), listed) == listed[0]
    assert port_for_device("socket://bench:6638", listed) is None


@pytest.mark.usefixtures("bench_ports")
def test_ports_command_lists_ports_with_their_profile(hubfw_cli: click.Group) -> None:
    result = CliRunner().invoke(hubfw_cli, ["ports"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyUSB0", "/dev/ttyUSB1",
                                                   "/dev/ttyUSB2"]
    assert lines[0].endswith("-> zbdongle-e (115200 baud, software flow control)")
    assert "serial 20240122184111" in lines[0]
    assert "->" not in lines[2]

    listed = json.loads(CliRunner().invoke(hubfw_cli, ["ports", "--json"]).output)
    assert listed[3] == {"device": "/dev/ttyUSB1", "vid": 0x10C4, "pid": 0xEA60, "manufacturer": "Nabu Casa",
                         "product": "SkyConnect v1.0", "serial_number": "3abe5479",
                         "description": "SkyConnect v1.0", "profile": "zbt-1"}


def test_ports_command_prints_profiles_and_udev_rules(hubfw_cli: click.Group) -> None:
    shown = json.loads(CliRunner().invoke(hubfw_cli, ["ports", "--profiles", "--json"]).output)
    assert [entry["name"] for entry in shown] == ["zbdongle-e", "zbt-1", "network-efr32"]
    assert shown[1]["usb"][0] == {"vid": 0x10C4, "pid": 0xEA60, "product": "SkyConnect*"}

    rules = CliRunner().invoke(hubfw_cli, ["ports", "--udev-rules"]).output
    assert rules == render_udev_rules(load_profiles())


GOOD_ENTRY = """
[[coordinator]]
name = "bench-stick"
title = "A stick"
chip = "EFR32MG24"
baudrate = 460800
flow_control = "hardware"
port_hint = "/dev/ttyACM0"
notes = "n"
"""


@pytest.mark.parametrize(("change", "complaint"), [
    (("baudrate = 460800\n", ""), "coordinator 1 (bench-stick): a USB coordinator needs a baudrate"),
    (('chip = "EFR32MG24"\n', ""), "coordinator 1 (bench-stick): missing 'chip'"),
    (('"hardware"', '"rts"'), "flow_control must be one of software, hardware, none, not 'rts'"),
    (("vid = 0x10c4", "vid = 0x10c4e"), "vid and pid must be 16-bit integers"),
    (('name = "bench-stick"', 'name = "Bench Stick"'), "name 'Bench Stick' must be lower-case"),
    (("notes", "note"), "unknown field 'note'"),
    (("[[coordinator]]", "[coordinator"), "not valid TOML"),
])
def test_malformed_profiles_are_refused_in_one_line(change: tuple[str, str], complaint: str) -> None:
    text = (GOOD_ENTRY + "[[coordinator.usb]]\nvid = 0x10c4\npid = 0xea60\n").replace(*change, 1)
    with pytest.raises(ProfileError) as failure:
        parse_profiles(text, source="test.toml")
    message = str(failure.value)
    assert message.startswith("test.toml: ") and complaint in message and "\n" not in message


def test_profile_names_must_be_unique() -> None:
    with pytest.raises(ProfileError, match="profile name used twice: bench-stick"):
        parse_profiles(GOOD_ENTRY + GOOD_ENTRY)


def test_unknown_profile_names_the_known_ones(hubfw_cli: click.Group) -> None:
    result = CliRunner().invoke(hubfw_cli, ["doctor", "--radio", "/dev/ttyUSB0", "--profile", "conbee"])
    assert result.exit_code == 1
    assert result.output == ("hubfw: error: no coordinator profile 'conbee' "
                             "(known: zbdongle-e, zbt-1, network-efr32)\n")
