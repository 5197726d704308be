"""`hubfw activate` (CS06), `hubfw read-version` (CS08) and `hubfw tunnel send/messages` end to end: the CLI on the
control socket of a hub on bellows and the simulated NCP, an HCALCS behind it that takes GBCS commands only through
its tunnel (hubfw.sim.devices: it checks the ACB's MAC, the supplier's signature, the originator counter and the
Manufacturer Image hash, and answers as the RTDS's devices do). Virtual time; the CLI runs in a thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import click
import pytest_asyncio
from click.testing import Result

from hubfw.alerts import AlertCode
from hubfw.devices import DeviceType, parse_eui64
from hubfw.gbcs.bench_keys import GbcsKeys, entity_of
from hubfw.gbcs.ciphering import MacedMessage
from hubfw.gbcs.remote_party import OriginatorCounters, RemoteParty
from hubfw.hub.control import ControlServer
from hubfw.ota.image import OtaImage
from hubfw.sim.devices import Phase, hcalcs, install_code_for
from hubfw.sim.world import SimulatedWorld
from tests.hub.helpers import hub_cli, run_cli
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, ota_file

SWITCH = parse_eui64("00:0d:6f:00:00:00:c0:01")
DAY = 86_400.0
VIRTUAL_STEP = 5.0
"""Virtual seconds the world runs between looks at the CLI (a command and its answer take well under one)."""
CLI_TIMEOUT = 60.0
OTA = ota_file(2000)
IMAGE_HASH = OtaImage.parse(OTA).manufacturer_image_sha256.hex()


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[SimulatedWorld, click.Group]]:
    """A world whose HCALCS has downloaded its image and waits for CS06; the hub's control socket open."""
    async with SimulatedWorld(tmp_path, cbke=True) as world:
        switch = hcalcs(SWITCH, 0xC001, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=OLD_VERSION,
                        install_code=install_code_for(SWITCH), gb=world.gb_session(SWITCH, DeviceType.HCALCS))
        await world.add(switch)
        await world.run_until(lambda: switch.gb is not None and switch.gb.tunnel_open, 3600)
        world.hub.distribute(OTA, [SWITCH], DeviceType.HCALCS)
        await world.run_until(lambda: switch.phase is Phase.WAITING_TO_UPGRADE, DAY)
        control = ControlServer(world.hub)
        await control.start()
        try:
            yield world, hub_cli()
        finally:
            await control.stop()


async def cli_while_running(world: SimulatedWorld, cli: click.Group, *args: str) -> Result:
    """Run a CLI command (it blocks on the socket) while the world runs on virtual time until it has answered."""
    task = asyncio.ensure_future(run_cli(cli, *args, "--state", str(world.hub.state_dir)))
    async with asyncio.timeout(CLI_TIMEOUT):  # real seconds: the CLI's thread connects in real time
        while not task.done():
            await world.run_for(VIRTUAL_STEP)
            await asyncio.sleep(0.001)
    return await task


def device(world: SimulatedWorld):
    return next(each for each in world.han.devices if each.ieee == SWITCH)


async def test_cs06_with_a_wrong_hash_is_refused_by_the_device_with_hash_mismatch_and_raises_no_activation(
        served: tuple[SimulatedWorld, click.Group]) -> None:
    world, cli = served
    result = await cli_while_running(world, cli, "activate", str(SWITCH), "--hash", "ab" * 32, "--json")
    assert result.exit_code == 1, (result.output, result.exception)
    answer = json.loads(result.output)
    assert (answer["method"], answer["command"], answer["response_code_name"], answer["response_code"]) == (
        "gbcs", "CS06", "HASH_MISMATCH", 2)
    assert (answer["signature"], answer["authentic"], answer["firmware_version"]) == (
        "valid", True, f"0x{OLD_VERSION:08X}")
    await world.run_for(3600)
    assert device(world).current_file_version == OLD_VERSION
    assert device(world).phase is Phase.WAITING_TO_UPGRADE
    codes = [alert.code for alert in world.hub.core.store.pending_alerts()]
    assert AlertCode.ACTIVATION not in codes


async def test_an_unsolicited_upgrade_end_response_does_not_activate_an_hcalcs_and_cs06_does(
        served: tuple[SimulatedWorld, click.Group]) -> None:
    world, cli = served
    zcl = await cli_while_running(world, cli, "activate", str(SWITCH), "--hash", IMAGE_HASH, "--method", "zcl")
    assert zcl.exit_code == 0 and "unsolicited UpgradeEndResponse" in zcl.output
    await world.run_for(3600)
    assert device(world).current_file_version == OLD_VERSION  # it waits for CS06, as SiLabs' client set so

    result = await cli_while_running(world, cli, "activate", "--eui64", str(SWITCH), "--hash", IMAGE_HASH)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"CS06 to {SWITCH}: SUCCESS (response code 0), firmware version "
                                    f"0x{NEW_VERSION:08X}; signature valid")
    await world.run_until(lambda: device(world).current_file_version == NEW_VERSION, DAY)

    read = await cli_while_running(world, cli, "read-version", str(SWITCH), "--json")
    assert read.exit_code == 0, read.output
    shown = json.loads(read.output)
    assert (shown["command"], shown["firmware_version"], shown["mac"], shown["signature"]) == (
        "CS08", f"0x{NEW_VERSION:08X}", "valid", None)


async def test_counters_go_up_a_replayed_command_is_discarded_and_tunnel_messages_decode_the_answers(
        served: tuple[SimulatedWorld, click.Group]) -> None:
    world, cli = served
    first = json.loads((await cli_while_running(world, cli, "activate", str(SWITCH), "--hash", "cd" * 32,
                                                "--json")).output)
    answers_before = len(device(world).gbcs_answers)
    replay = await cli_while_running(world, cli, "tunnel", "send", "--eui64", str(SWITCH), first["command_message"])
    assert replay.exit_code == 0, replay.output
    await world.run_for(600)
    assert len(device(world).gbcs_answers) == answers_before  # the device answers no replay
    assert any("a replay" in note for note in device(world).notes())

    second = json.loads((await cli_while_running(world, cli, "activate", str(SWITCH), "--hash", IMAGE_HASH,
                                                 "--json")).output)
    assert second["originator_counter"] > first["originator_counter"]
    counters = json.loads((world.hub.state_dir / "gbcs" / "originator-counters.json").read_text())
    keys = GbcsKeys.load(world.gbcs_keys.directory)
    assert counters[keys.supplier_id.hex()] == second["originator_counter"]
    inner = MacedMessage.parse(bytes.fromhex(second["command_message"])).signed
    assert (inner.originator, inner.originator_counter) == (keys.supplier_id, second["originator_counter"])

    elsewhere = RemoteParty(keys, OriginatorCounters()).activate(  # a CS06 built by other tooling, same keys
        entity_of(SWITCH), bytes.fromhex(IMAGE_HASH), world.clock.now() + 1)
    sent = await cli_while_running(world, cli, "tunnel", "send", "--eui64", str(SWITCH), elsewhere.message.hex())
    assert sent.exit_code == 0, sent.output
    await world.run_for(600)

    listed = await cli_while_running(world, cli, "tunnel", "messages", "--eui64", str(SWITCH), "--json")
    decoded = [message["decoded"] for message in json.loads(listed.output)]
    responses = [each for each in decoded if each["message"] == "CS06 Activate Firmware"]
    assert [(each["cra"], each["originator_counter"], each["signature"], each["content"]["response_code_name"])
            for each in responses] == [("response", first["originator_counter"], "valid", "HASH_MISMATCH"),
                                       ("response", second["originator_counter"], "valid", "SUCCESS"),
                                       ("response", elsewhere.originator_counter, "valid", "NO_IMAGE_HELD")]
    text = await cli_while_running(world, cli, "tunnel", "messages", "--eui64", str(SWITCH))
    assert "CS06 Activate Firmware response" in text.output and "response_code_name SUCCESS" in text.output


async def test_without_gbcs_keys_activate_and_read_version_say_how_to_get_them_in_one_line(
        control: ControlServer, cli: click.Group, state_dir: Path) -> None:
    for args in (["read-version", str(SWITCH)], ["activate", str(SWITCH), "--hash", IMAGE_HASH, "--method", "gbcs"]):
        result = await run_cli(cli, *args, "--state", str(state_dir))
        assert result.exit_code != 0
        assert result.output.count("\n") == 1 and "--gbcs-keys DIR" in result.output, result.output
