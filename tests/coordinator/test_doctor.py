"""`hubfw doctor` against the simulated NCP (unmodified bellows over a pty) and against ports that fail."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import click
import pytest
import zigpy.config
from bellows.exception import InvalidCommandError
from bellows.zigbee.application import ControllerApplication
from click.testing import CliRunner

from hubfw.coordinator.doctor import (
    CBKE_LIBRARIES,
    DoctorError,
    LibraryState,
    ProbeSettings,
    choose_settings,
    library_state,
    open_failure_message,
    probe_ncp,
)
from hubfw.coordinator.profiles import get_profile
from hubfw.sim import SimulatedNcp

QUICK = 1.5  # seconds: the "no answer" timeout for tests; bellows' own reset timeout is 2.5 s


@pytest.fixture
async def ncp(tmp_path: Path) -> AsyncIterator[SimulatedNcp]:
    simulated = SimulatedNcp(tmp_path / "ncp")
    await simulated.start()
    yield simulated
    await simulated.stop()


@pytest.fixture
def silent_tty() -> Iterator[str]:
    """A pseudo-terminal nobody answers on: a serial port with something that is not an NCP behind it."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


@pytest.mark.parametrize(("version", "release"), [(13, "7.4.4.0"), (14, "8.0.2.0")])  # what the simulation claims
async def test_doctor_reports_a_fresh_ncp(tmp_path: Path, version: int, release: str) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=version)
    await ncp.start()
    try:
        report = await probe_ncp(ProbeSettings(ncp.port))
    finally:
        await ncp.stop()

    assert report.ezsp_version == version
    assert report.stack_version is not None and report.stack_version.startswith(f"{release} build ")
    assert (report.manufacturer, report.board_name) == ("hubfw", "simulated EZSP NCP")
    assert report.manufacturer_id is None  # the simulated NCP leaves MFG_MANUF_ID unset
    assert report.eui64 == str(ncp.ieee)
    assert report.network.state == "no_network" and not report.network.up
    # the simulated NCP is a stock build: the CBKE libraries are stubs
    assert report.cbke == {"163k1": LibraryState.ABSENT, "283k1": LibraryState.ABSENT}
    assert ncp.stats.commands["getLibraryStatus"] == 2
    assert ncp.stats.commands["formNetwork"] == 0 and ncp.stats.commands["leaveNetwork"] == 0


async def test_doctor_sees_an_ncp_built_with_the_cbke_library(tmp_path: Path) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", cbke_library=True)
    await ncp.start()
    try:
        report = await probe_ncp(ProbeSettings(ncp.port))
    finally:
        await ncp.stop()

    assert report.cbke == {"163k1": LibraryState.PRESENT, "283k1": LibraryState.PRESENT}


async def test_doctor_reports_the_network_a_hub_formed(ncp: SimulatedNcp, tmp_path: Path) -> None:
    app = await asyncio.wait_for(ControllerApplication.new(config={
        zigpy.config.CONF_DEVICE: {"path": ncp.port},
        zigpy.config.CONF_DATABASE: str(tmp_path / "zigbee.db"),
        zigpy.config.CONF_NWK: {zigpy.config.CONF_NWK_CHANNEL: 20},
        zigpy.config.CONF_NWK_BACKUP_ENABLED: False,
        zigpy.config.CONF_TOPO_SCAN_ENABLED: False}, auto_form=True), 60)
    formed = app.state.network_info
    await app.shutdown()

    report = await probe_ncp(ProbeSettings(ncp.port))

    assert report.network.up
    assert (report.network.channel, report.network.pan_id, report.network.extended_pan_id) == (
        20, formed.pan_id, str(formed.extended_pan_id))
    assert report.network.node_type == "coordinator"
    assert ncp.stats.commands["formNetwork"] == 1  # the hub's, not doctor's


async def test_doctor_json_output(ncp: SimulatedNcp, hubfw_cli: click.Group) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, hubfw_cli, ["doctor", "--radio", ncp.port, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["port"] == ncp.port and report["baudrate"] == 115200 and report["flow_control"] == "software"
    assert report["ezsp_version"] == 13 and report["eui64"] == str(ncp.ieee)
    assert report["network"]["state"] == "no_network"
    assert report["cbke"] == {"163k1": "absent", "283k1": "absent"}


async def test_doctor_text_output_names_each_finding(ncp: SimulatedNcp, hubfw_cli: click.Group) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, hubfw_cli,
                                     ["doctor", "--radio", ncp.port, "--profile", "skyconnect",
                                      "--flow-control", "software"])

    assert result.exit_code == 0, result.output
    rows = {line[:16].strip(): line[16:] for line in result.output.splitlines()}
    assert rows["coordinator"] == f"{ncp.port} at 115200 baud (software flow control), profile zbt-1"
    assert rows["EZSP protocol"] == "v13"
    assert rows["stack"].startswith("EmberZNet 7.4.4.0")
    assert rows["board"] == "simulated EZSP NCP"
    assert rows["EUI-64"] == str(ncp.ieee)
    assert rows["network"].startswith("none formed yet")
    assert rows["CBKE 283k1"].startswith("absent")


def test_missing_port_fails_in_one_line(hubfw_cli: click.Group) -> None:
    result = CliRunner().invoke(hubfw_cli, ["doctor", "--radio", "/dev/does-not-exist"])

    assert result.exit_code == 1
    assert result.output == "hubfw: error: cannot open /dev/does-not-exist: no such serial port\n"


async def test_a_port_nothing_answers_on_times_out(silent_tty: str) -> None:
    with pytest.raises(DoctorError) as failure:
        await probe_ncp(ProbeSettings(silent_tty, timeout=QUICK))

    assert str(failure.value) == (
        f"no EZSP answer from {silent_tty} at 115200 baud (software flow control) within {QUICK:g} s"
        " — wrong baud rate or flow control, or not an EZSP coordinator")


async def test_a_network_bridge_that_never_answers_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda reader, writer: accepted.append(writer), "127.0.0.1", 0)
    url = f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(DoctorError) as failure:
            await probe_ncp(choose_settings(url, timeout=QUICK))
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()

    assert accepted, "doctor never connected"
    assert str(failure.value) == (f"no EZSP answer from {url} within {QUICK:g} s — not an EZSP coordinator, "
                                  "or the bridge already serves another client")


async def test_a_network_bridge_that_refuses_is_named() -> None:
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    url = f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()  # the port is free again: connections to it are refused

    with pytest.raises(DoctorError, match=f"^cannot connect to {url}: connection refused"):
        await probe_ncp(choose_settings(url, timeout=QUICK))


async def test_a_port_locked_by_another_process_is_busy(ncp: SimulatedNcp) -> None:
    # serialx (zigpy's serial layer) and pyserial both take flock(LOCK_EX) on the ports they open
    holder = os.open(ncp.port, os.O_RDWR | os.O_NOCTTY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(DoctorError, match="port busy") as failure:
            await probe_ncp(ProbeSettings(ncp.port, timeout=QUICK))
    finally:
        os.close(holder)
    assert str(failure.value).startswith(f"cannot open {ncp.port}: port busy — another process holds it")
    assert "\n" not in str(failure.value)

    assert (await probe_ncp(ProbeSettings(ncp.port))).eui64 == str(ncp.ieee)  # and free again once released


@pytest.mark.parametrize(("error", "expected"), [
    (PermissionError(errno.EACCES, "Permission denied"), "permission denied — add your user to the dialout group"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "no such serial port"),
    (OSError(errno.ENOTTY, "Inappropriate ioctl for device"), "not a serial port"),
    (OSError(errno.EIO, "Input/output error"), "Input/output error"),
])
def test_open_failures_are_named(error: OSError, expected: str) -> None:
    message = open_failure_message("/dev/ttyUSB0", error)
    assert message.startswith("cannot open /dev/ttyUSB0: ") and expected in message


def test_busy_is_found_under_zigpys_wrapper() -> None:
    try:
        try:
            raise OSError(errno.EBUSY, "Serial port is already locked by another process")
        except OSError as locked:
            raise PermissionError("The serial port is locked by another application") from locked
    except PermissionError as wrapped:
        assert "port busy" in open_failure_message("/dev/ttyUSB0", wrapped)


class LibraryStatusNcp:
    """Answers getLibraryStatus like firmware would: one status byte, or invalidCommand."""

    def __init__(self, status: int | None) -> None:
        self.status = status

    async def getLibraryStatus(self, libraryId: int) -> list[int]:  # noqa: N802, N803 (bellows' EZSP names)
        if self.status is None:
            raise InvalidCommandError("getLibraryStatus command is an invalidCommand")
        return [self.status]


@pytest.mark.parametrize(("status", "state"), [
    (0x80, LibraryState.PRESENT),
    (0x81, LibraryState.PRESENT),  # low bits are library-specific feature flags
    (0x00, LibraryState.ABSENT),  # a stub library
    (0xFF, LibraryState.UNKNOWN),  # EMBER_LIBRARY_ERROR
    (None, LibraryState.UNKNOWN),
])
async def test_library_status_byte_is_read_as_present_absent_or_unknown(status: int | None,
                                                                       state: LibraryState) -> None:
    assert await library_state(LibraryStatusNcp(status), CBKE_LIBRARIES["283k1"]) is state


def test_settings_come_from_flags_then_profile_then_defaults() -> None:
    zbt1 = get_profile("zbt-1")
    assert choose_settings("/dev/ttyUSB0") == ProbeSettings("/dev/ttyUSB0", 115200, "software")
    assert choose_settings("/dev/ttyUSB0", zbt1) == ProbeSettings("/dev/ttyUSB0", 115200, "hardware", profile="zbt-1")
    assert choose_settings("/dev/ttyUSB0", zbt1, baudrate=57600, flow_control="software") == ProbeSettings(
        "/dev/ttyUSB0", 57600, "software", profile="zbt-1")
    network = choose_settings("socket://bench-coordinator:6638")
    assert network.flow_control == "none" and network.describe() == "network"
    assert network.device_config()["flow_control"] is None
