"""The hub's HAN wiring on the virtual radio: credentials, the CBKE rule for Smart Energy traffic, failures in
`hubfw devices`, raw tunnel alerts in `hubfw alerts`, the tunnel's control-socket verbs and `hubfw cbke show`."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import click
import pytest
import zigpy.types as t
from click.testing import CliRunner

from hubfw.cbke.cli import cbke
from hubfw.cbke.store import save_device
from hubfw.cbke.suites import CryptoSuite
from hubfw.cli.main import HubfwGroup
from hubfw.clock import VirtualClock
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, entity_id
from hubfw.gbcs.framing import CraFlag, MessageCode, general_signing
from hubfw.han import KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.hub.alert_log import RawTunnelAlert, read_alert_log
from hubfw.hub.cli import HUB_COMMANDS
from hubfw.hub.control import ControlServer
from hubfw.hub.credentials import HubCredentialsError, issue_sim_credentials, load_hub_credentials
from hubfw.hub.link_keys import LinkKeyRegistryError
from hubfw.hub.service import Hub, HubConfig, HubError
from hubfw.radio import open_virtual_radio
from hubfw.radio.virtual import VIRTUAL_COORDINATOR_IEEE
from tests.hub.han_device import INSTALL_CODE, DeviceAir, HanDevice
from tests.hub.helpers import IMAGE_TYPE, MANUFACTURER, OLD_VERSION

WAIT = 20
METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f2")
HA_PROFILE, SE_PROFILE, OTA_CLUSTER, TIME_CLUSTER = 0x0104, 0x0109, 0x0019, 0x000A
QUERY_NEXT_IMAGE_RESPONSE, DEFAULT_RESPONSE, NOT_AUTHORIZED = 0x02, 0x0B, 0x7E
QUERY = bytes([0x01, 0x51, 0x01]) + struct.pack("<BHHI", 0, MANUFACTURER, IMAGE_TYPE, OLD_VERSION)
READ_TIME = bytes([0x00, 0x52, 0x00, 0x00, 0x00])  # Read Attributes: Time (0x0000)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.005)


def han_hub(state_dir: Path, han: DeviceAir, **config: object) -> Hub:
    return Hub(state_dir, lambda directory: open_virtual_radio(directory, han), VirtualClock(), HubConfig(**config))


@pytest.fixture
async def hub(state_dir: Path) -> AsyncIterator[Hub]:
    running = han_hub(state_dir, DeviceAir(), cbke_sim_ca=True)
    await running.start()
    yield running
    await running.stop()


async def join(hub: Hub, *, tamper_confirm_mac: bool = False, serves_tunnel: bool = False) -> HanDevice:
    credentials = issue_sim_credentials(hub.state_dir, METER, CryptoSuite.SUITE_1, hub.clock)
    han: DeviceAir = hub.app.han  # type: ignore[attr-defined]
    device = han.add(HanDevice(METER, t.NWK(0x5A01), credentials, VIRTUAL_COORDINATOR_IEEE, hub.clock,
                               uplink=hub.app, tamper_confirm_mac=tamper_confirm_mac, serves_tunnel=serves_tunnel))
    await hub.permit(60, INSTALL_CODE, METER)
    assert device.join()
    return device


async def with_key_and_tunnel(hub: Hub) -> HanDevice:
    device = await join(hub)
    device.start_key_establishment()
    await until(lambda: METER in hub.han.keys and device.ke.outcome is not None)
    assert isinstance(device.ke.outcome, LinkKeyEstablished)
    device.open_tunnel()
    await until(lambda: device.tunnel.is_open)
    return device


def answers(device: HanDevice, cluster: int) -> list[bytes]:
    return [frame.payload for frame in device.received if frame.cluster == cluster]


async def test_an_ota_query_refused_for_want_of_a_cbke_key_says_so_in_devices(hub: Hub) -> None:
    device = await join(hub)
    device.raw(SE_PROFILE, OTA_CLUSTER, QUERY, encrypted=True)
    await until(lambda: answers(device, OTA_CLUSTER))
    [entry] = hub.devices()
    assert entry["ota"]["reason"] == "device has no CBKE link key"
    assert entry["ota"]["last_answer"] == "Default Response NOT_AUTHORIZED"
    assert entry["ota"]["last_request"]["image_type"] == f"0x{IMAGE_TYPE:04X}"


async def test_a_wrong_confirm_mac_gets_bad_key_confirm_and_no_key(hub: Hub) -> None:
    device = await join(hub, tamper_confirm_mac=True)
    device.start_key_establishment()
    await until(lambda: device.ke.outcome is not None)

    assert isinstance(device.ke.outcome, KeyEstablishmentFailed)
    assert device.ke.outcome.status == TerminateStatus.BAD_KEY_CONFIRM
    [entry] = hub.devices()
    assert (entry["key_establishment"], entry["key_establishment_failure"]["status"]) == (None, "BAD_KEY_CONFIRM")
    assert METER not in hub.han.keys


async def test_smart_energy_traffic_needs_the_cbke_key_but_home_automation_traffic_does_not(hub: Hub) -> None:
    device = await join(hub)
    device.raw(SE_PROFILE, OTA_CLUSTER, QUERY, encrypted=True)
    device.raw(SE_PROFILE, TIME_CLUSTER, READ_TIME, encrypted=True)
    device.raw(HA_PROFILE, OTA_CLUSTER, QUERY, encrypted=False)
    await until(lambda: len(answers(device, OTA_CLUSTER)) == 2 and answers(device, TIME_CLUSTER))

    assert answers(device, TIME_CLUSTER) == [bytes([0x18, 0x52, DEFAULT_RESPONSE, 0x00, NOT_AUTHORIZED])]
    refused, served = answers(device, OTA_CLUSTER)
    assert refused == bytes([0x18, 0x51, DEFAULT_RESPONSE, 0x01, NOT_AUTHORIZED])
    assert served[2] == QUERY_NEXT_IMAGE_RESPONSE

    device.start_key_establishment()
    await until(lambda: isinstance(device.ke.outcome, LinkKeyEstablished))
    device.received.clear()
    device.raw(SE_PROFILE, TIME_CLUSTER, READ_TIME, encrypted=False)  # the key is there, but not used
    device.raw(SE_PROFILE, TIME_CLUSTER, READ_TIME[:1] + b"\x53" + READ_TIME[2:], encrypted=True)
    await until(lambda: len(answers(device, TIME_CLUSTER)) == 2)
    refused, served = answers(device, TIME_CLUSTER)
    assert refused[3:] == bytes([0x00, NOT_AUTHORIZED]) and served[1:3] == bytes([0x53, 0x01])


async def test_allow_without_cbke_serves_smart_energy_traffic_to_any_device(state_dir: Path) -> None:
    async with han_hub(state_dir, DeviceAir(), cbke_sim_ca=True, allow_without_cbke=True) as hub:
        device = await join(hub)
        device.raw(SE_PROFILE, OTA_CLUSTER, QUERY, encrypted=True)
        await until(lambda: answers(device, OTA_CLUSTER))
        assert answers(device, OTA_CLUSTER)[0][2] == QUERY_NEXT_IMAGE_RESPONSE


async def test_hub_credentials_must_name_the_coordinator(state_dir: Path, tmp_path: Path) -> None:
    other = t.EUI64.convert("00:0d:6f:ff:fe:00:00:99")
    path = tmp_path / "hub.json"
    save_device(issue_sim_credentials(tmp_path / "ca", other, CryptoSuite.SUITE_1, VirtualClock()), path)
    hub = han_hub(state_dir, DeviceAir(), cbke_credentials=load_hub_credentials([path]))
    with pytest.raises(HubCredentialsError) as refused:
        await hub.start()
    assert str(other) in str(refused.value) and str(VIRTUAL_COORDINATOR_IEEE) in str(refused.value)


def test_two_credentials_files_of_one_suite_are_refused(tmp_path: Path) -> None:
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        save_device(issue_sim_credentials(tmp_path, VIRTUAL_COORDINATOR_IEEE, CryptoSuite.SUITE_1, VirtualClock()), path)
    with pytest.raises(HubCredentialsError, match="both suite 1"):
        load_hub_credentials(paths)


async def test_without_credentials_there_is_no_han_server(state_dir: Path) -> None:
    async with han_hub(state_dir, DeviceAir()) as hub:
        assert hub.status()["han"] is None
        with pytest.raises(HubError, match="no HAN server"):
            hub.send_gbcs(METER, b"\xdf")


async def test_an_undecodable_tunnel_alert_is_logged_raw_and_printed(hub: Hub) -> None:
    device = await with_key_and_tunnel(hub)
    garbage = general_signing(CraFlag.ALERT, 1, entity_id(METER), entity_id(DEFAULT_ACB_ID),
                              MessageCode.FIRMWARE_ACTIVATION_ALERT, b"\x30\x03xyz")
    device.send(device.tunnel.send(garbage))
    await until(lambda: bool(read_alert_log(hub.alert_log.path)))

    assert read_alert_log(hub.alert_log.path) == [RawTunnelAlert(METER, garbage, hub.clock.now())]
    shown = CliRunner().invoke(HubfwGroup("hubfw", commands={c.name: c for c in HUB_COMMANDS}),
                               ["alerts", "--state", str(hub.state_dir), "--json"])
    [record] = [json.loads(line) for line in shown.output.splitlines()]
    assert (record["kind"], record["source"], record["entity"], record["raw"]) == ("raw", "tunnel", str(METER),
                                                                                  garbage.hex())


async def test_tunnel_verbs_over_the_control_socket(hub: Hub) -> None:
    device = await with_key_and_tunnel(hub)
    cli = HubfwGroup("hubfw", commands={command.name: command for command in HUB_COMMANDS})
    server = ControlServer(hub)
    await server.start()
    try:
        message = general_signing(CraFlag.COMMAND, 3, entity_id(VIRTUAL_COORDINATOR_IEEE), entity_id(METER), 1, b"hi")
        sent = await asyncio.to_thread(CliRunner().invoke, cli,
                                       ["tunnel", "send", "--device", str(METER), message.hex(), "--state",
                                        str(hub.state_dir)])
        assert sent.exit_code == 0, sent.output
        await until(lambda: device.gbcs_messages == [message])
        device.send(device.tunnel.send(message))
        await until(lambda: bool(hub.tunnel_messages()))
        listed = await asyncio.to_thread(CliRunner().invoke, cli,
                                         ["tunnel", "messages", "--state", str(hub.state_dir), "--json"])
        assert [entry["message"] for entry in json.loads(listed.output)] == [message.hex()]
        devices = await asyncio.to_thread(CliRunner().invoke, cli, ["devices", "--state", str(hub.state_dir)])
        assert "CBKE suite1  tunnel open" in devices.output
        status = await asyncio.to_thread(CliRunner().invoke, cli, ["status", "--state", str(hub.state_dir)])
        assert "HAN on SE endpoint 3: CBKE required; 1 device link keys; 1 tunnels open" in status.output
        refused = await asyncio.to_thread(CliRunner().invoke, cli,
                                          ["tunnel", "send", "--device", str(METER), "dead", "--state",
                                           str(hub.state_dir)])
        assert refused.exit_code == 1 and "not a whole GBCS message" in refused.output
    finally:
        await server.stop()


async def test_tunnel_verbs_work_on_the_tunnel_the_hub_opens(hub: Hub) -> None:
    """GBCS 10.2.2.1: after CBKE the hub requests the tunnel of a device that serves one; `tunnel send`, `tunnel
    messages`, `devices` and `status` work on it as on a tunnel the device opened, without a tunnel header."""
    device = await join(hub, serves_tunnel=True)
    device.start_key_establishment()
    await until(lambda: device.tunnel_server.tunnel_id(VIRTUAL_COORDINATOR_IEEE) is not None)
    cli = HubfwGroup("hubfw", commands={command.name: command for command in HUB_COMMANDS})
    server = ControlServer(hub)
    await server.start()

    async def run(*args: str) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--state", str(hub.state_dir)])
        assert result.exit_code == 0, result.output
        return result.output

    try:
        message = general_signing(CraFlag.COMMAND, 4, entity_id(VIRTUAL_COORDINATOR_IEEE), entity_id(METER), 1, b"hi")
        await run("tunnel", "send", "--device", str(METER), message.hex())
        await until(lambda: device.gbcs_messages == [message])
        reply = general_signing(CraFlag.RESPONSE, 5, entity_id(METER), entity_id(VIRTUAL_COORDINATOR_IEEE), 1, b"ok")
        device.send(device.tunnel_server.send(VIRTUAL_COORDINATOR_IEEE, reply))
        await until(lambda: bool(hub.tunnel_messages()))
        listed = json.loads(await run("tunnel", "messages", "--json"))
        assert [entry["message"] for entry in listed] == [reply.hex()]
        [entry] = json.loads(await run("devices", "--json"))
        assert (entry["tunnel"], entry["tunnel_opened_by"]) == ("open", "hub")
        assert "tunnel open (opened by the hub)" in await run("devices")
        [tunnel] = json.loads(await run("status", "--json"))["han"]["tunnels"]
        assert (tunnel["eui64"], tunnel["opened_by"]) == (str(METER), "hub")
    finally:
        await server.stop()


async def test_cbke_show_prints_what_the_hub_presents(hub: Hub) -> None:
    shown = CliRunner().invoke(cbke, ["show", "--state", str(hub.state_dir)])
    assert shown.exit_code == 0, shown.output
    assert f"coordinator:   {VIRTUAL_COORDINATOR_IEEE}" in shown.output
    assert shown.output.count(f"subject:       {VIRTUAL_COORDINATOR_IEEE}") == 2
    assert "suite:         1 (sect163k1)" in shown.output and "suite:         2 (sect283k1)" in shown.output
    assert "private" not in shown.output


def test_cbke_show_without_a_hub_record_says_so(tmp_path: Path) -> None:
    shown = CliRunner().invoke(HubfwGroup("hubfw", commands={"cbke": cbke}), ["cbke", "show", "--state", str(tmp_path)])
    assert shown.exit_code == 1 and "no CBKE certificates recorded" in shown.output


def test_cli_group_registers_the_tunnel_verbs() -> None:
    group = next(command for command in HUB_COMMANDS if command.name == "tunnel")
    assert isinstance(group, click.Group) and set(group.commands) == {"send", "messages"}


def test_serve_refuses_credentials_for_another_eui64_naming_both(tmp_path: Path) -> None:
    other = t.EUI64.convert("00:0d:6f:ff:fe:00:00:98")
    path = tmp_path / "hub-suite2.json"
    save_device(issue_sim_credentials(tmp_path / "ca", other, CryptoSuite.SUITE_2, VirtualClock()), path)
    cli = HubfwGroup("hubfw", commands={command.name: command for command in HUB_COMMANDS})
    result = CliRunner().invoke(cli, ["serve", "--radio", "virtual", "--state", str(tmp_path / "state"),
                                      "--cbke", str(path)])
    assert result.exit_code == 1
    assert f"the suite 2 CBKE certificate is for {other}, but the coordinator's EUI-64 is {VIRTUAL_COORDINATOR_IEEE}" \
        in result.output


async def test_established_keys_are_recorded_in_the_state_dir_and_a_damaged_record_is_one_clear_error(
    hub: Hub, state_dir: Path
) -> None:
    device = await join(hub)
    device.start_key_establishment()
    await until(lambda: METER in hub.han.keys and isinstance(device.ke.outcome, LinkKeyEstablished))
    record = json.loads((state_dir / "cbke" / "link_keys.json").read_text())
    assert record["devices"][str(METER)]["suite"] == 1
    assert bytes(device.link_key).hex() not in json.dumps(record)  # the key itself stays in the NCP
    await hub.stop()

    (state_dir / "cbke" / "link_keys.json").write_text("{not json")
    with pytest.raises(LinkKeyRegistryError, match="link_keys.json"):
        await han_hub(state_dir, DeviceAir(), cbke_sim_ca=True).start()
