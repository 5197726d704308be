"""EZSP framing and the command server, checked with bellows' own protocol handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import bellows.types as t
import pytest
from bellows.exception import InvalidCommandError
from bellows.ezsp import EZSP

from hubfw.errors import HubfwError
from hubfw.sim.ncp.ezsp import EzspServer
from hubfw.sim.ncp.frames import (
    CommandTable,
    EzspFrameError,
    encode_params,
    frame_header,
    parse_request,
    zero_value,
)
from hubfw.sim.ncp.simulator import SUPPORTED_EZSP_VERSIONS


class HostSide:
    """bellows' protocol handler for one version, fed our frames as if they came off ASH."""

    def __init__(self, version: int) -> None:
        self.callbacks: list[tuple[str, Any]] = []
        self.protocol = EZSP._BY_VERSION[version](lambda name, args: self.callbacks.append((name, args)), None)

    def request(self, name: str, **kwargs: Any) -> tuple[bytes, asyncio.Future]:
        """The bytes bellows would send, and the future its response resolves."""
        frame = self.protocol._ezsp_frame(name, **kwargs)
        cmd_id, _, rx_schema = self.protocol.COMMANDS[name]
        future = asyncio.get_running_loop().create_future()
        self.protocol._awaiting[self.protocol._seq] = (cmd_id, rx_schema, future)
        self.protocol._seq += 1
        return frame, future


class FakeStack:
    def __init__(self, server: EzspServer) -> None:
        self.server = server

    def can_handle(self, name: str) -> bool:
        return name in ("networkInit", "getEui64")

    def handle(self, name: str, request: dict) -> dict:
        if name == "getEui64":
            raise RuntimeError("a bug in a handler")
        self.server.callback("stackStatusHandler", {"status": t.sl_Status.NETWORK_UP})
        return {}


def test_legacy_and_extended_headers_are_told_apart() -> None:
    legacy = parse_request(bytes([7, 0x00, 0x00, 4]))
    extended = parse_request(bytes([8, 0x00, 0x01, 0x00, 0x00, 13]))
    assert (legacy.seq, legacy.frame_id, legacy.legacy, legacy.params) == (7, 0, True, b"\x04")
    assert (extended.seq, extended.frame_id, extended.legacy, extended.params) == (8, 0, False, b"\x0d")
    assert frame_header(8, 0x0045, legacy=False, callback=True) == bytes([8, 0x90, 0x01, 0x45, 0x00])
    with pytest.raises(EzspFrameError):
        parse_request(b"\x01\x02")


def test_missing_fields_are_zero_and_statuses_fit_the_version() -> None:
    v13 = CommandTable(13).by_name["sendUnicast"].response
    v14 = CommandTable(14).by_name["sendUnicast"].response
    assert encode_params(v13, {"sequence": 5}) == bytes([0x00, 5])
    assert encode_params(v13, {"status": t.sl_Status.NETWORK_DOWN, "sequence": 5}) == bytes(
        [t.EmberStatus.NETWORK_DOWN, 5])
    assert encode_params(v14, {"status": t.sl_Status.NETWORK_DOWN, "sequence": 5}) == (
        t.sl_Status.NETWORK_DOWN.serialize() + bytes([5]))
    v13_scan = CommandTable(13).by_name["startScan"].response
    assert encode_params(v13_scan, {"status": t.sl_Status.BAD_SCAN_DURATION}) == bytes(
        [t.EmberStatus.MAC_BAD_SCAN_DURATION])
    with pytest.raises(KeyError, match="nonsense"):
        encode_params(v13, {"nonsense": 1})
    assert zero_value(t.EmberApsFrame).serialize() == bytes(11)


@pytest.mark.parametrize("version", SUPPORTED_EZSP_VERSIONS)
def test_a_refused_send_carries_each_version_s_own_status(version: int) -> None:
    """EMBER_MESSAGE_TOO_LONG (0x74) and EMBER_APS_ENCRYPTION_ERROR (0xA6) on v13's EmberStatus; their
    sl_status_t SL_STATUS_MESSAGE_TOO_LONG (0x0038) and SL_STATUS_ZIGBEE_APS_ENCRYPTION_ERROR (0x0C0A) from v14."""
    response = CommandTable(version).by_name["sendUnicast"].response
    too_long = encode_params(response, {"status": t.sl_Status.MESSAGE_TOO_LONG})
    no_key = encode_params(response, {"status": t.sl_Status.ZIGBEE_APS_ENCRYPTION_ERROR})
    if version == 13:
        assert (too_long, no_key) == (bytes([0x74, 0]), bytes([0xA6, 0]))
    else:
        assert (too_long, no_key) == ((0x0038).to_bytes(4, "little") + b"\0", (0x0C0A).to_bytes(4, "little") + b"\0")


def test_a_version_bellows_does_not_know_is_refused() -> None:
    with pytest.raises(HubfwError, match="v99"):
        CommandTable(99)


@pytest.mark.parametrize("version", [13, 14])
async def test_responses_precede_callbacks_and_unknowns_get_invalid_command(version: int) -> None:
    sent: list[bytes] = []
    server = EzspServer(CommandTable(version), sent.append)
    server.stack = FakeStack(server)
    host = HostSide(version)

    frame, future = host.request("networkInit", networkInitBitmask=t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
    server.on_frame(frame)
    assert len(sent) == 2
    for data in sent:
        host.protocol(data)
    assert t.sl_Status.from_ember_status((await future)[0]) == t.sl_Status.OK
    assert [name for name, _ in host.callbacks] == ["stackStatusHandler"]

    for unsupported in ("getNodeId", "getEui64"):  # no handler / a handler that crashes
        frame, future = host.request(unsupported)
        server.on_frame(frame)
        host.protocol(sent[-1])
        with pytest.raises(InvalidCommandError):
            await future
    assert server.unknown_commands == {"getNodeId": 1, "getEui64": 1}
