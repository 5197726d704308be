"""Tunnel faults: the hub refuses a device's RequestTunnel, does not send its own, or closes a tunnel in the
middle of a message the device sends (both arrangements: the GSME's tunnel to the hub and the hub's tunnel to an
ESME/HCALCS/PPMID). Every acting is in the device's fault history; a one-shot fault is spent after it acts."""

from __future__ import annotations

import pytest

from hubfw.clock import VirtualClock
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import GbcsMessageReceived, HanConfig, HanServer, TunnelClient, TunnelClosed, TunnelOpened
from hubfw.han.events import TunnelRequestFailed
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.tunneling.wire import TunnelRequest, TunnelResponse, TunnelStatus
from hubfw.hub.faults import Fault, FaultBook, FaultKind
from tests.han.harness import DEVICE_ENDPOINT, HUB, JAN_2026, PPMID, SE_ENDPOINT, HubTunnelAir, TunnelAir, header_of

SMALL = HanConfig(max_incoming_transfer_size=64)
"""The hub takes 64 octets per TransferData, so a 200-octet message from a device travels in several."""


def message(content_size: int, counter: int = 1) -> bytes:
    content = bytes(i % 251 for i in range(content_size))
    return general_signing(CraFlag.COMMAND, counter, bytes(PPMID)[::-1], bytes(8), 0x0001, content)


def acted(book: FaultBook) -> list[str]:
    return [entry["kind"] for entry in book.history.get(PPMID, []) if entry["event"] == "acted"]


def hub_for(book: FaultBook, config: HanConfig | None = None) -> tuple[VirtualClock, HanServer]:
    clock = VirtualClock(JAN_2026)
    return clock, HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=lambda _: False,
                            config=config, faults=book)


def gsme_air(book: FaultBook, config: HanConfig | None = None) -> tuple[VirtualClock, HanServer, TunnelAir]:
    clock, hub = hub_for(book, config)
    return clock, hub, TunnelAir(hub, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT))


def device_air(book: FaultBook, config: HanConfig | None = None) -> tuple[VirtualClock, HanServer, HubTunnelAir]:
    clock, hub = hub_for(book, config)
    device = TunnelServer(clock, HanConfig(), lambda eui64: eui64 == HUB, headers=False)
    return clock, hub, HubTunnelAir(hub, device)


def commands(frames: list, command_ids: set[int]) -> list[int]:
    found = []
    for frame in frames:
        header, _ = header_of(frame)
        if not header.frame_control.is_general and header.command_id in command_ids:
            found.append(header.command_id)
    return found


# ------------------------------------------------------------------ TUNNEL_REFUSE


@pytest.mark.parametrize(("status", "expected"), [
    (None, TunnelStatus.NO_MORE_TUNNEL_IDS), ("busy", TunnelStatus.BUSY), ("BUSY", TunnelStatus.BUSY),
])
def test_refuse_answers_the_devices_request_tunnel_then_is_spent(status: str | None, expected: TunnelStatus) -> None:
    book = FaultBook()
    clock, hub, air = gsme_air(book)
    book.set(PPMID, Fault(FaultKind.TUNNEL_REFUSE, status=status), clock.now())
    air.send([air.client.request()])
    assert not air.client.is_open and air.client.refusal == expected
    assert hub.tunnels() == [] and acted(book) == ["tunnel-refuse"]
    air.open()  # the next request is served
    assert [event for event in hub.take_events() if isinstance(event, TunnelOpened)]


def test_refuse_lasting_refuses_until_cleared() -> None:
    book = FaultBook()
    clock, hub, air = gsme_air(book)
    book.set(PPMID, Fault(FaultKind.TUNNEL_REFUSE, times=None), clock.now())
    for _ in range(3):
        air.send([air.client.request()])
        assert not air.client.is_open
    book.clear(clock.now(), PPMID)
    air.open()
    assert acted(book) == ["tunnel-refuse"] * 3


# ------------------------------------------------------------------ TUNNEL_NEVER


def test_never_keeps_the_hubs_request_tunnel_off_the_air_and_the_retry_rules_go_on() -> None:
    book = FaultBook()
    clock, hub, air = device_air(book)
    book.set(PPMID, Fault(FaultKind.TUNNEL_NEVER, times=None), clock.now())
    assert hub.request_tunnel(PPMID, DEVICE_ENDPOINT) == []
    sent = []
    for _ in range(3):  # unanswered (it never went out): retries after 60 s, 120 s, ..., none sent
        clock.set(hub.next_deadline())
        sent += hub.tick()
    assert sent == []
    failures = [event for event in hub.take_events() if isinstance(event, TunnelRequestFailed)]
    assert len(failures) >= 1 and all(event.retry_at is not None for event in failures)
    assert acted(book).count("tunnel-never") >= 2

    book.clear(clock.now(), PPMID)
    while hub.tunnel_id(PPMID) is None:
        clock.set(hub.next_deadline())
        air.deliver(hub.tick())
    assert any(isinstance(event, TunnelOpened) for event in hub.take_events())


def test_never_one_shot_suppresses_one_request_only() -> None:
    book = FaultBook()
    clock, hub, air = device_air(book)
    book.set(PPMID, Fault(FaultKind.TUNNEL_NEVER), clock.now())
    assert hub.request_tunnel(PPMID, DEVICE_ENDPOINT) == []
    while hub.tunnel_id(PPMID) is None:
        clock.set(hub.next_deadline())
        air.deliver(hub.tick())
    assert acted(book) == ["tunnel-never"]
    assert clock.now() > JAN_2026  # it took a retry


# ------------------------------------------------------------------ TUNNEL_CLOSE_MID


def test_close_mid_on_the_hubs_tunnel_drops_the_partial_message_closes_and_asks_again() -> None:
    book = FaultBook()
    clock, hub, air = device_air(book, SMALL)
    air.deliver(hub.request_tunnel(PPMID, DEVICE_ENDPOINT))
    first_id = hub.tunnel_id(PPMID)
    assert first_id is not None
    hub.take_events()
    book.set(PPMID, Fault(FaultKind.TUNNEL_CLOSE_MID), clock.now())

    short = message(5)
    air.from_device(air.device_server.send(HUB, short))  # a single-part message does not spend the fault
    assert hub.take_events() == [GbcsMessageReceived(PPMID, short, JAN_2026)]
    assert acted(book) == []

    long = message(200, 2)
    frames = air.device_server.send(HUB, long)
    assert len(frames) > 2
    air.to_device.clear()
    air.from_device(frames)
    events = hub.take_events()
    assert not [event for event in events if isinstance(event, GbcsMessageReceived)]
    [closed] = [event for event in events if isinstance(event, TunnelClosed)]
    assert closed.tunnel_id == first_id and "middle of a message" in closed.reason
    [reopened] = [event for event in events if isinstance(event, TunnelOpened)]
    assert reopened.tunnel_id != first_id and hub.tunnel_id(PPMID) == reopened.tunnel_id
    # CloseTunnel, then at once a new RequestTunnel (the requester's rule after a closed tunnel)
    assert commands(air.to_device, {TunnelRequest.close_tunnel.id, TunnelRequest.request_tunnel.id})[:2] == [
        TunnelRequest.close_tunnel.id, TunnelRequest.request_tunnel.id]
    assert acted(book) == ["tunnel-close-mid"] and book.listed() == {}

    air.from_device(air.device_server.send(HUB, long))  # the device sends it again: it arrives whole
    assert [event.message for event in hub.take_events() if isinstance(event, GbcsMessageReceived)] == [long]


def test_close_mid_on_the_gsmes_tunnel_notifies_closure_and_drops_the_partial_message() -> None:
    book = FaultBook()
    clock, hub, air = gsme_air(book, SMALL)
    air.open()
    hub.take_events()
    book.set(PPMID, Fault(FaultKind.TUNNEL_CLOSE_MID), clock.now())

    long = message(200)
    air.send(air.client.send(long))
    events = hub.take_events()
    assert not [event for event in events if isinstance(event, GbcsMessageReceived)]
    [closed] = [event for event in events if isinstance(event, TunnelClosed)]
    assert "middle of a message" in closed.reason
    assert commands(air.hub_frames, {TunnelResponse.closure_notification.id}) == [
        TunnelResponse.closure_notification.id]
    assert not air.client.is_open and hub.tunnels() == []
    assert acted(book) == ["tunnel-close-mid"]

    air.open()  # the GSME asks again and sends again
    air.send(air.client.send(long))
    assert [event.message for event in hub.take_events() if isinstance(event, GbcsMessageReceived)] == [long]


def test_faults_act_only_with_a_book() -> None:
    clock = VirtualClock(JAN_2026)
    hub = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=lambda _: False)
    assert hub.faults is None
    [frame] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    assert header_of(frame)[0].command_id == TunnelRequest.request_tunnel.id
