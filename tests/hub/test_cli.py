"""The hub's client commands spelled the old way and the consistent way (`--eui64` for the one device, any
EUI-64 spelling) send the same request over the control socket."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from hubfw.hub.control import socket_path

METER, OTHER = "00:0d:6f:00:0a:bc:de:f0", "00:0d:6f:00:0a:bc:de:f1"
ANSWERS: dict[str, Any] = {
    "activate": {"entity": METER, "method": "zcl", "manufacturer_image_sha256": "ab" * 32},
    "read_version": {"entity": METER, "command": "CS08", "originator": "90B3D51F30000002", "originator_counter": 7,
                     "command_message": "dd", "response_message": "dd", "response_code": 0,
                     "response_code_name": "SUCCESS", "firmware_version": "0x00000200", "mac": "valid",
                     "signature": None, "authentic": True},
    "permit": {"permit_s": 60},
    "tunnel_send": {"length": 2, "eui64": METER, "sent": True},
    "tunnel_messages": [],
    "distribute": {"image_id": 1, "device_type": "ppmid", "file_version": "0x00000205", "total_size": 22,
                   "block": "esme", "targets": [METER]},
}


class RecordingHub(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A control socket that writes down each request and answers it as a hub would, in shape."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.requests: list[dict[str, Any]] = []
        super().__init__(str(path), RecordingHandler)


class RecordingHandler(socketserver.StreamRequestHandler):
    server: RecordingHub

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        self.server.requests.append(request)
        self.wfile.write(json.dumps({"ok": True, "result": ANSWERS[request["command"]]}).encode() + b"\n")


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[RecordingHub]:
    server = RecordingHub(socket_path(tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("old", "new"), [
    (["activate", METER, "--hash", "ab" * 32], ["activate", "--eui64", "000D6F000ABCDEF0", "--hash", "ab" * 32]),
    (["read-version", METER], ["read-version", "--eui64", "000D6F000ABCDEF0"]),
    (["permit", "--install-code", "0011", "--eui64", METER], ["permit", "--install-code", "0011", "--eui64",
                                                              "00-0d-6f-00-0a-bc-de-f0"]),
    (["tunnel", "send", "--device", METER, "dead"], ["tunnel", "send", "--eui64", "000d6f000abcdef0", "dead"]),
    (["tunnel", "messages", "--device", METER, "--json"], ["tunnel", "messages", "--eui64", METER.upper(), "--json"]),
    (["distribute", "IMAGE", "--to", f"{METER},{OTHER}", "--device-type", "ppmid"],
     ["distribute", "IMAGE", "--eui64", METER, "--eui64", OTHER.replace(":", ""), "--device-type", "ppmid"]),
    (["distribute", "IMAGE", "--to", f"{METER},{OTHER}", "--device-type", "ppmid"],
     ["distribute", "IMAGE", "--to", METER, "--to", f"{OTHER},", "--device-type", "ppmid"]),
], ids=["activate", "read-version", "permit", "tunnel-send", "tunnel-messages", "distribute-eui64", "distribute-repeated-to"])
def test_old_and_new_spellings_send_the_same_request(
    cli: click.Group, recording: RecordingHub, tmp_path: Path, old: list[str], new: list[str]
) -> None:
    image = tmp_path / "image.ota"
    image.write_bytes(b"an image the recording hub never reads")

    def sent(args: list[str]) -> dict[str, Any]:
        args = [str(image) if arg == "IMAGE" else arg for arg in args]
        before = len(recording.requests)
        result = CliRunner().invoke(cli, [*args, "--state", str(tmp_path)])
        assert result.exit_code == 0, result.output
        (request,) = recording.requests[before:]
        return request

    assert sent(old) == sent(new)
    assert METER in json.dumps(recording.requests[-1])  # written the canonical way whatever the spelling


@pytest.mark.parametrize(("args", "named"), [
    (["activate", "nope", "--hash", "ab" * 32], "'EUI64'"),
    (["activate", "--eui64", "nope", "--hash", "ab" * 32], "'--eui64'"),
    (["permit", "--eui64", "nope"], "'--eui64'"),
    (["tunnel", "send", "--device", "nope", "dead"], "'--device' / '--eui64'"),
    (["distribute", "x.ota", "--to", f"{METER},nope", "--device-type", "ppmid"], "'--to' / '--eui64'"),
])
def test_a_bad_eui64_is_one_line_naming_the_option_and_sends_nothing(
    cli: click.Group, recording: RecordingHub, tmp_path: Path, args: list[str], named: str
) -> None:
    result = CliRunner().invoke(cli, [*args, "--state", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (f"hubfw: error: Invalid value for {named}: not an EUI-64: 'nope' "
                             "(want 16 hex digits, e.g. 00:0d:6f:00:0a:bc:de:f0)\n")
    assert recording.requests == []


def test_activate_wants_the_device_once(cli: click.Group, recording: RecordingHub, tmp_path: Path) -> None:
    for args in ([], [METER, "--eui64", METER]):
        result = CliRunner().invoke(cli, ["activate", *args, "--hash", "ab" * 32, "--state", str(tmp_path)])
        assert result.exit_code == 2 and "name the device once" in result.output
    assert recording.requests == []
