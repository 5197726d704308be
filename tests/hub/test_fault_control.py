"""`hubfw fault set/list/clear` through the control socket of a hub on the virtual radio, and the faults acting on a
raw OTA client's download."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
import pytest

from hubfw.han.faults import check_status
from hubfw.hub.control import ControlServer
from hubfw.hub.faults import Fault, FaultError, FaultKind
from hubfw.hub.service import Hub
from tests.hub.helpers import join_client, make_ota_file, run_cli
from tests.hub.ota_client import OtaHan

WAIT = 20



async def test_fault_set_list_clear_round_trip_and_the_faults_act_on_a_download(
    cli: click.Group, hub: Hub, han: OtaHan, control: ControlServer, state_dir: Path, tmp_path: Path
) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:60:01", 0x6001)
    eui64 = str(client.ieee)
    state = ("--state", str(state_dir))

    result = await run_cli(cli, "fault", "set", eui64, "block-corrupt", "--offset", "100", *state)
    assert result.exit_code == 0, result.output
    assert result.output == f"fault set for {eui64}: block-corrupt --offset 100 (once)\n"
    result = await run_cli(cli, "fault", "set", "--eui64", eui64, "end-wait", "--json", *state)
    assert json.loads(result.output) == {"eui64": eui64, "kind": "end-wait", "times": 1}
    result = await run_cli(cli, "fault", "set", eui64, "query-silent", "--lasting", *state)
    assert "(until cleared)" in result.output

    listed = json.loads((await run_cli(cli, "fault", "list", "--json", *state)).output)
    assert [entry["kind"] for entry in listed["faults"][eui64]] == ["block-corrupt", "end-wait", "query-silent"]
    assert "history" not in listed
    status = json.loads((await run_cli(cli, "status", "--json", *state)).output)
    assert status["faults"] == listed["faults"]
    text = (await run_cli(cli, "status", *state)).output
    assert f"faults armed for {eui64}: block-corrupt --offset 100 (once); end-wait (once); query-silent" in text
    devices = json.loads((await run_cli(cli, "devices", "--json", *state)).output)
    assert [(device["eui64"], len(device["faults"])) for device in devices] == [(eui64, 3)]

    image = tmp_path / "ppmid.ota"
    ota = make_ota_file(payload_size=2000)
    image.write_bytes(ota)
    result = await run_cli(cli, "distribute", str(image), "--to", eui64, "--device-type", "ppmid", *state)
    assert result.exit_code == 0, result.output
    await hub.advance(120)  # the device's query goes unanswered; then a re-sent ImageNotify makes it ask again
    assert not client.finished.done()

    result = await run_cli(cli, "fault", "clear", "--eui64", eui64, *state)
    assert result.output == f"3 fault(s) cleared for {eui64}\n"
    hub.set_fault(client.ieee, Fault(FaultKind.BLOCK_CORRUPT, offset=100))
    hub.set_fault(client.ieee, Fault(FaultKind.END_WAIT))
    client.query()
    *_, upgrade_time = await asyncio.wait_for(client.finished, WAIT)
    assert upgrade_time == 0xFFFFFFFF  # a PPMID is normally told 0: activate now
    assert bytes(client.image) != ota and [i for i, byte in enumerate(client.image) if byte != ota[i]] == [100]

    listed = json.loads((await run_cli(cli, "fault", "list", "--history", "--json", *state)).output)
    assert listed["faults"] == {}
    events = [(entry["event"], entry["kind"]) for entry in listed["history"][eui64]]
    assert ("acted", "query-silent") in events and ("cleared", "query-silent") in events
    assert events[-2:] == [("acted", "block-corrupt"), ("acted", "end-wait")]
    text = (await run_cli(cli, "fault", "list", "--history", *state)).output
    assert text.startswith("no faults armed\n") and f"history of {eui64}:" in text and "acted    end-wait" in text
    assert hub.fault_history(client.ieee) == listed["history"][eui64]

    assert (await run_cli(cli, "fault", "clear", *state)).output == "0 fault(s) cleared\n"


@pytest.mark.parametrize(("args", "message"), [
    (["00:0d:6f:00:00:00:60:01", "nope"], "hubfw: error: unknown fault kind 'nope' (known: query-no-image,"),
    (["00:0d:6f:00:00:00:60:01", "block-drop"], "hubfw: error: fault block-drop needs --every\n"),
    (["00:0d:6f:00:00:00:60:01", "query-silent", "--times", "2", "--lasting"],
     "hubfw: error: give --times N or --lasting, not both\n"),
])
async def test_a_bad_fault_is_one_error_line(cli: click.Group, hub: Hub, control: ControlServer, state_dir: Path,
                                             args: list[str], message: str) -> None:
    result = await run_cli(cli, "fault", "set", *args, "--state", str(state_dir))
    assert result.exit_code == 1 and result.output.startswith(message) and result.output.count("\n") == 1
    assert hub.faults() == {}


async def test_the_control_socket_refuses_a_fault_it_cannot_read(hub: Hub, control: ControlServer,
                                                                 state_dir: Path) -> None:
    from hubfw.hub.control import ControlClient, ControlError

    client = ControlClient(state_dir)
    with pytest.raises(ControlError, match="fault block-short needs --size"):
        await asyncio.to_thread(client.call, "fault_set", eui64="00:0d:6f:00:00:00:60:01",
                                fault={"kind": "block-short"})
    with pytest.raises(ControlError, match="not a fault"):
        await asyncio.to_thread(client.call, "fault_set", eui64="00:0d:6f:00:00:00:60:01",
                                fault={"kind": "silence", "seconds": 3, "colour": "red"})


@pytest.mark.parametrize("kind, status", [(FaultKind.CBKE_TERMINATE, "NOT_A_STATUS"), (FaultKind.TUNNEL_REFUSE, "SUCCESS")])
def test_a_status_the_cluster_does_not_have_is_refused_when_set(kind: FaultKind, status: str) -> None:
    with pytest.raises(FaultError, match="status is one of"):
        check_status(Fault(kind, status=status))
    check_status(Fault(kind, status="BUSY" if kind is FaultKind.TUNNEL_REFUSE else "BAD_KEY_CONFIRM"))
