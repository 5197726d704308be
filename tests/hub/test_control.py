"""The control socket and the CLI verbs, against a hub on the virtual radio in this process."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import click
import pytest

from hubfw.hub.control import ControlClient, ControlError, ControlServer
from hubfw.hub.service import Hub
from tests.hub.helpers import join_client, make_hub, make_ota_file, run_cli
from tests.hub.ota_client import OtaHan

WAIT = 20



async def test_the_socket_is_private_to_the_hubs_user(control: ControlServer) -> None:
    mode = os.stat(control.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


async def test_a_second_server_on_the_same_socket_is_refused(hub: Hub, control: ControlServer) -> None:
    with pytest.raises(ControlError, match="already serving"):
        await ControlServer(hub).start()


async def test_a_stale_socket_from_a_killed_hub_is_replaced(hub: Hub, state_dir: Path) -> None:
    import socket

    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(state_dir / "hub.sock"))
    stale.close()  # bound but nobody listening: what a SIGKILLed hub leaves
    server = ControlServer(hub)
    await server.start()
    try:
        assert (await asyncio.to_thread(ControlClient(state_dir).call, "status"))["blocks"]
    finally:
        await server.stop()
    assert not (state_dir / "hub.sock").exists()


async def test_distribute_status_transfers_devices_and_alerts_through_the_cli(
    cli: click.Group, hub: Hub, han: OtaHan, control: ControlServer, state_dir: Path, tmp_path: Path
) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:50:01", 0x5001, pause_at=1500)
    image = tmp_path / "ppmid.ota"
    image.write_bytes(make_ota_file(payload_size=4000))

    result = await run_cli(cli, "distribute", str(image), "--to", str(client.ieee), "--device-type", "ppmid",
                           "--state", str(state_dir))
    assert result.exit_code == 0, result.output
    assert "stored in the gsme block" in result.output
    await asyncio.wait_for(client.paused, WAIT)

    status = json.loads((await run_cli(cli, "status", "--json", "--state", str(state_dir))).output)
    (image_status,) = status["images"]
    (target,) = image_status["targets"]
    assert (target["entity"], target["state"]) == (str(client.ieee), "downloading")
    assert target["offset"] == len(client.image) and 0 < target["progress"] < 1
    assert target["deadline"] is not None and status["next_deadline"] is not None

    transfers = await run_cli(cli, "transfers", "--once", "--state", str(state_dir))
    assert f"{len(client.image)}/{len(image.read_bytes())} B" in transfers.output and "[###" in transfers.output

    devices = json.loads((await run_cli(cli, "devices", "--json", "--state", str(state_dir))).output)
    assert [(d["eui64"], d["transfer"]["state"]) for d in devices] == [(str(client.ieee), "downloading")]

    client.resume()
    await asyncio.wait_for(client.finished, WAIT)
    alerts = await run_cli(cli, "alerts", "--json", "--state", str(state_dir))
    (alert,) = [json.loads(line) for line in alerts.output.splitlines()]
    assert (alert["code"], alert["entity"], alert["firmware_version"], alert["transfer_response_code"]) == (
        "0x8F8A", str(client.ieee), "0x00000205", 0)
    assert alert["der"].startswith("30") and alert["time"].endswith("Z")


async def test_a_rejected_distribution_says_why_in_one_line(
    cli: click.Group, hub: Hub, control: ControlServer, state_dir: Path, tmp_path: Path
) -> None:
    gsme = tmp_path / "gsme.ota"
    gsme.write_bytes(make_ota_file(payload_size=1000, seed=1))
    ppmid = tmp_path / "ppmid.ota"
    ppmid.write_bytes(make_ota_file(payload_size=1000, seed=2))
    ok = await run_cli(cli, "distribute", str(gsme), "--to", "00:0d:6f:00:00:00:60:01", "--device-type", "gsme",
                       "--state", str(state_dir))
    assert ok.exit_code == 0, ok.output

    refused = await run_cli(cli, "distribute", str(ppmid), "--to", "00:0d:6f:00:00:00:60:02", "--device-type", "ppmid",
                            "--state", str(state_dir))
    assert refused.exit_code == 1
    assert refused.output.startswith("hubfw: error: ") and refused.output.count("\n") == 1
    assert "gsme" in refused.output.lower()
    assert [image["device_type"] for image in hub.status()["images"]] == ["gsme"]  # nothing was replaced

    garbage = tmp_path / "garbage.ota"
    garbage.write_bytes(b"not an OTA file at all")
    bad = await run_cli(cli, "distribute", str(garbage), "--to", "00:0d:6f:00:00:00:60:02", "--device-type", "ppmid",
                        "--state", str(state_dir))
    assert bad.exit_code == 1 and bad.output.startswith("hubfw: error: ") and bad.output.count("\n") == 1


async def test_activate_rejects_a_hash_the_device_never_completed(
    cli: click.Group, control: ControlServer, state_dir: Path
) -> None:
    result = await run_cli(cli, "activate", "00:0d:6f:00:00:00:70:01", "--hash", "ab" * 32, "--state", str(state_dir))
    assert result.exit_code == 1
    assert "has not completed a transfer" in result.output


async def test_permit_with_an_install_code_lets_only_that_device_join(
    cli: click.Group, hub: Hub, control: ControlServer, state_dir: Path
) -> None:
    import zigpy.types as t

    code = "83FED3407A939723A5C639B26916D505C3B5"  # the Zigbee specification's example, CRC included
    meter = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
    result = await run_cli(cli, "permit", "--install-code", code, "--eui64", str(meter), "--state", str(state_dir))
    assert result.exit_code == 0, result.output
    assert "66:b6:90:09:81:e1:ee:3c:a4:20:6b:6b:86:1c:02:bb" in result.output
    assert not hub.app.join(meter, t.NWK(0x1111), bytes.fromhex(code[:-4] + "0000"))  # wrong CRC, wrong key
    assert hub.app.join(meter, t.NWK(0x1111), bytes.fromhex(code))

    bad = await run_cli(cli, "permit", "--install-code", "0011", "--eui64", str(meter), "--state", str(state_dir))
    assert bad.exit_code == 1 and "bad install code" in bad.output


async def test_alerts_follow_streams_new_alerts(hub: Hub, han: OtaHan, control: ControlServer, state_dir: Path) -> None:
    from hubfw.devices import DeviceType

    followed: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def follow() -> None:
        for alert in ControlClient(state_dir).follow_alerts():
            loop.call_soon_threadsafe(followed.put_nowait, alert)

    reader = loop.run_in_executor(None, follow)
    first = await join_client(hub, han, "00:0d:6f:00:00:00:80:01", 0x8001)
    hub.distribute(make_ota_file(payload_size=500), [first.ieee], DeviceType.PPMID)
    await asyncio.wait_for(first.finished, WAIT)
    alert = await asyncio.wait_for(followed.get(), WAIT)
    assert (alert["entity"], alert["code"]) == (str(first.ieee), "0x8F8A")
    await control.stop()  # the stream ends when the hub stops serving
    await asyncio.wait_for(reader, WAIT)


async def test_client_commands_without_a_hub_fail_in_one_line(cli: click.Group, tmp_path: Path) -> None:
    result = await run_cli(cli, "status", "--state", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert result.output.startswith("hubfw: error: no hub is serving") and result.output.count("\n") == 1


async def test_malformed_requests_get_an_error_line_and_change_nothing(hub: Hub, control: ControlServer) -> None:
    def ask(raw: bytes) -> dict:
        import socket

        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(control.path))
            sock.sendall(raw)
            return json.loads(sock.makefile("rb").readline())

    before = hub.status()["blocks"]
    for raw, expected in [
        (b"not json\n", "bad request"),
        (b"[1, 2]\n", "bad request"),
        (b'{"command": "reboot"}\n', "unknown command"),
        (b'{"command": "distribute", "image": "!!", "targets": [], "device_type": "ppmid"}\n', "not base64"),
        (b'{"command": "distribute", "image": "", "targets": ["00:0d:6f:00:00:00:00:01"], "device_type": "toaster"}\n',
         "unknown device type"),
        (b'{"command": "activate", "eui64": "00:0d:6f:00:00:00:00:01", "sha256": "abc"}\n', "not a SHA-256"),
        (b'{"command": "permit", "time_s": "soon"}\n', "bad permit request"),
    ]:
        answer = await asyncio.to_thread(ask, raw)
        assert answer["ok"] is False and expected in answer["error"] and "\n" not in answer["error"]
    assert hub.status()["blocks"] == before


async def test_a_second_hub_on_the_same_state_directory_is_refused(hub: Hub, han: OtaHan, clock, state_dir) -> None:
    from hubfw.errors import HubfwError

    with pytest.raises(HubfwError, match="in use"):
        await make_hub(state_dir, han, clock).start()
    assert hub.status()["blocks"]  # the running hub is unaffected
