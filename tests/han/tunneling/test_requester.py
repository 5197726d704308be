"""The tunnel the hub opens (GBCS 10.2.2.1): the HanServer as Tunneling client of an ESME, HCALCS or PPMID's
Tunneling server, on a virtual clock. RequestTunnel bytes, messages without a tunnel header both ways, retries
with back-off, re-opening, and the GSME arrangement left alone."""

from __future__ import annotations

import itertools

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.alerts import AlertCode, activation_alert
from hubfw.clock import VirtualClock
from hubfw.gbcs.alert_message import activation_message
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    HanConfig,
    HanConfigError,
    HanServer,
    TunnelClient,
    TunnelClosed,
    TunnelOpened,
)
from hubfw.han.events import TunnelRequestFailed
from hubfw.han.tunneling.requester import BUSY_RETRY
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.tunneling.wire import TransferDataStatus, TunnelRequest, TunnelResponse, TunnelStatus
from hubfw.han.zcl import encode
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TUNNELING_CLUSTER
from hubfw.zigbee.zcl import decode, default_response
from tests.han.harness import (
    DEVICE_ENDPOINT,
    HUB,
    JAN_2026,
    OTHER_PPMID,
    PPMID,
    SE_ENDPOINT,
    HubTunnelAir,
    TunnelAir,
    header_of,
)

Status = foundation.Status
TIMEOUT, RETRY, MAX_BACKOFF = 10.0, 60.0, 3600.0


def message(content_size: int, counter: int = 1) -> bytes:
    content = bytes(i % 251 for i in range(content_size))
    return general_signing(CraFlag.COMMAND, counter, bytes(8), bytes(PPMID)[::-1], 0x0001, content)


def make(hub_config: HanConfig | None = None, **device_config: object) -> tuple[VirtualClock, HanServer, HubTunnelAir]:
    clock = VirtualClock(JAN_2026)
    hub = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=lambda _: False,
                    config=hub_config)
    device = TunnelServer(clock, HanConfig(**device_config), lambda eui64: eui64 == HUB, headers=False)
    return clock, hub, HubTunnelAir(hub, device)


def opened(hub: HanServer, air: HubTunnelAir) -> int:
    air.deliver(hub.request_tunnel(PPMID, DEVICE_ENDPOINT))
    tunnel_id = hub.tunnel_id(PPMID)
    assert tunnel_id is not None and air.device_server.tunnel_id(HUB) == tunnel_id
    assert hub.take_events() == [TunnelOpened(PPMID, tunnel_id, "hub")]
    air.device_server.take_events()
    return tunnel_id


def transfer_data(frame: OutgoingFrame, command: foundation.ZCLCommandDef) -> bytes:
    header, payload = header_of(frame)
    assert header.command_id == command.id and not header.frame_control.is_general
    return bytes(decode(command, payload).data)


def from_device_server(zcl: bytes, source: t.EUI64 = PPMID, *, encrypted: bool = True) -> IncomingFrame:
    """A frame a device's Tunneling server sends the hub's client."""
    return IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, DEVICE_ENDPOINT, SE_ENDPOINT, TUNNELING_CLUSTER, zcl,
                         encrypted)


def run(clock: VirtualClock, hub: HanServer, air: HubTunnelAir, until: float) -> list[float]:
    """Run the hub's deadlines up to `until`; the times it sent a RequestTunnel."""
    sent = []
    while (deadline := hub.next_deadline()) is not None and deadline <= until:
        clock.set(deadline)
        frames = hub.tick()
        if frames:
            sent.append(clock.now())
        air.deliver(frames)
    return sent


# ---------------------------------------------------------------- the request and the open tunnel


def test_the_hubs_request_tunnel_carries_exactly_the_gbcs_fields() -> None:
    _, hub, _ = make()
    [frame] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)

    route = (frame.destination, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster, frame.aps_encrypt)
    assert route == (PPMID, SMART_ENERGY_PROFILE, SE_ENDPOINT, DEVICE_ENDPOINT, TUNNELING_CLUSTER, True)
    # Frame control 0x01: cluster-specific, client to server, no manufacturer code. Then the TSN and command 0x00
    # RequestTunnel: ProtocolID 6 (GB-HRGP), ManufacturerCode 0xFFFF (LE), FlowControlSupport 0, Maximum Incoming
    # Transfer Size 1500 = 0x05DC (LE) -- Wireshark's dissect_zcl_tun_request_tunnel layout, the values of
    # GBCS 10.2.2 that Silicon Labs' tunnel-manager.c sends.
    assert frame.zcl[0] == 0x01
    assert frame.zcl[2:] == bytes.fromhex("00" "06" "ffff" "00" "dc05")
    body = decode(TunnelRequest.request_tunnel, frame.zcl[3:])
    assert (body.protocol_id, body.manufacturer_code, body.flow_control_support,
            body.maximum_incoming_transfer_size) == (6, 0xFFFF, False, 1500)


def test_the_device_accepts_and_the_tunnel_shows_the_hub_opened_it() -> None:
    _, hub, air = make()
    tunnel_id = opened(hub, air)
    [response] = air.to_hub
    assert header_of(response)[0].command_id == TunnelResponse.request_tunnel.id
    [entry] = hub.tunnels()
    assert (entry["eui64"], entry["tunnel_id"], entry["opened_by"]) == (str(PPMID), tunnel_id, "hub")
    assert hub.next_deadline() is None  # nothing more to ask while the tunnel is open


def test_gbcs_messages_travel_without_a_tunnel_header_both_ways() -> None:
    _, hub, air = make()
    opened(hub, air)
    to_device, from_device = message(30, 1), message(40, 2)

    air.deliver(hub.send_gbcs(PPMID, to_device))
    [sent] = [frame for frame in air.to_device if header_of(frame)[0].command_id == TunnelRequest.transfer_data.id]
    assert transfer_data(sent, TunnelRequest.transfer_data) == to_device  # no GET/PUT octet in front
    assert air.device_server.take_events() == [GbcsMessageReceived(HUB, to_device, JAN_2026)]

    frames = air.device_server.send(HUB, from_device)
    assert [transfer_data(frame, TunnelResponse.transfer_data) for frame in frames] == [from_device]
    air.from_device(frames)
    assert hub.take_events() == [GbcsMessageReceived(PPMID, from_device, JAN_2026)]


def test_messages_longer_than_a_transfer_are_cut_to_each_ends_maximum_and_joined() -> None:
    _, hub, air = make(HanConfig(max_incoming_transfer_size=64), max_incoming_transfer_size=100)
    opened(hub, air)
    to_device, from_device = message(300, 1), message(250, 2)

    frames = hub.send_gbcs(PPMID, to_device)
    pieces = [transfer_data(frame, TunnelRequest.transfer_data) for frame in frames]
    assert len(pieces) == 4 and all(len(piece) <= 100 for piece in pieces) and b"".join(pieces) == to_device
    air.deliver(frames)
    assert [event.message for event in air.device_server.take_events()] == [to_device]

    frames = air.device_server.send(HUB, from_device)
    pieces = [transfer_data(frame, TunnelResponse.transfer_data) for frame in frames]
    assert len(pieces) == 5 and all(len(piece) <= 64 for piece in pieces) and b"".join(pieces) == from_device
    air.from_device(frames)
    assert [event.message for event in hub.take_events()] == [from_device]


def test_a_message_queued_before_the_tunnel_opens_goes_out_when_it_does() -> None:
    _, hub, air = make()
    waiting = message(20)
    assert hub.send_gbcs(PPMID, waiting) == []
    air.deliver(hub.request_tunnel(PPMID, DEVICE_ENDPOINT))
    assert [event.message for event in air.device_server.take_events() if isinstance(event, GbcsMessageReceived)] \
        == [waiting]
    sent = [frame for frame in air.to_device if header_of(frame)[0].command_id == TunnelRequest.transfer_data.id]
    assert [transfer_data(frame, TunnelRequest.transfer_data) for frame in sent] == [waiting]


def test_a_ppmids_0x8f8b_through_the_hubs_tunnel_is_found() -> None:
    _, hub, air = make()
    opened(hub, air)
    alert = activation_alert(1, PPMID, 0x200, JAN_2026)
    air.from_device(air.device_server.send(HUB, activation_message(alert, 1)))
    [received, found] = hub.take_events()
    assert isinstance(received, GbcsMessageReceived) and isinstance(found, DeviceAlertReceived)
    assert found.alert is not None and (found.alert.code, found.alert.firmware_version) == (AlertCode.ACTIVATION, 0x200)


# ---------------------------------------------------------------- retries


def test_an_unanswered_request_is_sent_again_with_waits_that_double_up_to_the_cap() -> None:
    clock, hub, air = make()
    air.silent = True
    air.deliver(hub.request_tunnel(PPMID, DEVICE_ENDPOINT))
    sent = [clock.now(), *run(clock, hub, air, JAN_2026 + 6 * 3600)]

    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert gaps[:6] == [TIMEOUT + RETRY * 2 ** n for n in range(6)]  # 70, 130, 250, 490, 970, 1930
    assert set(gaps[6:]) == {TIMEOUT + MAX_BACKOFF}
    failures = [event for event in hub.take_events() if isinstance(event, TunnelRequestFailed)]
    assert failures and all(event.reason == "no answer within 10 s" for event in failures)
    assert all(frame.zcl[2] == TunnelRequest.request_tunnel.id for frame in air.to_device)

    air.silent = False  # the device comes back: the next request opens the tunnel, and the count starts again
    run(clock, hub, air, hub.next_deadline() or 0.0)
    assert hub.tunnel_id(PPMID) is not None and hub.next_deadline() is None


def test_a_late_answer_to_an_earlier_request_still_opens_the_tunnel() -> None:
    clock, hub, air = make()
    [request] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    clock.advance(TIMEOUT)
    assert hub.tick() == []  # unanswered: the next request is planned
    assert hub.next_deadline() == JAN_2026 + TIMEOUT + RETRY
    air.deliver([request])  # the device hears it only now, and answers
    assert hub.tunnel_id(PPMID) is not None and hub.next_deadline() is None


@pytest.mark.parametrize(
    ("status", "wait"),
    [(TunnelStatus.BUSY, BUSY_RETRY), (TunnelStatus.PROTOCOL_NOT_SUPPORTED, RETRY),
     (TunnelStatus.NO_MORE_TUNNEL_IDS, RETRY), (TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED, RETRY)],
)
def test_a_refusal_is_asked_again_after_its_wait(status: TunnelStatus, wait: float) -> None:
    _, hub, _ = make()
    [request] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    zcl = encode(request.zcl[1], TunnelResponse.request_tunnel, tunnel_id=0xFFFF, tunnel_status=status,
                 maximum_incoming_transfer_size=1500)
    assert hub.handle(from_device_server(zcl)) == []
    [failed] = hub.take_events()
    assert failed == TunnelRequestFailed(PPMID, f"RequestTunnelResponse {status.name}", JAN_2026 + wait)
    assert hub.next_deadline() == JAN_2026 + wait and hub.tunnel_id(PPMID) is None


@pytest.mark.parametrize("status", [Status.UNSUPPORTED_CLUSTER, Status.UNSUP_CLUSTER_COMMAND])
def test_a_device_without_a_tunneling_server_is_asked_no_more(status: Status) -> None:
    clock, hub, air = make()
    [request] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    hub.handle(from_device_server(default_response(request.zcl[1], TunnelRequest.request_tunnel.id, status)))
    assert hub.take_events() == [TunnelRequestFailed(PPMID, f"Default Response {status.name}", None)]
    assert hub.next_deadline() is None
    assert run(clock, hub, air, JAN_2026 + 30 * 86_400) == []
    assert air.to_device == []


def test_a_failing_default_response_of_another_kind_is_retried() -> None:
    _, hub, _ = make()
    [request] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    hub.handle(from_device_server(default_response(request.zcl[1], 0x00, Status.NOT_AUTHORIZED)))
    assert hub.take_events() == [TunnelRequestFailed(PPMID, "Default Response NOT_AUTHORIZED", JAN_2026 + RETRY)]


def test_a_device_server_that_takes_nothing_in_a_transfer_counts_as_a_refusal() -> None:
    _, hub, _ = make()
    [request] = hub.request_tunnel(PPMID, DEVICE_ENDPOINT)
    zcl = encode(request.zcl[1], TunnelResponse.request_tunnel, tunnel_id=3, tunnel_status=TunnelStatus.SUCCESS,
                 maximum_incoming_transfer_size=0)
    hub.handle(from_device_server(zcl))
    assert hub.tunnel_id(PPMID) is None and hub.next_deadline() == JAN_2026 + RETRY


# ---------------------------------------------------------------- re-opening


def test_a_tunnel_the_device_closes_is_requested_again_at_once() -> None:
    clock, hub, air = make(close_tunnel_timeout=300)
    first = opened(hub, air)
    clock.advance(300)
    air.from_device(air.device_server.tick())  # idle: TunnelClosureNotification, then the hub's new request

    events = hub.take_events()
    second = hub.tunnel_id(PPMID)
    assert second is not None and second != first
    assert events == [TunnelClosed(PPMID, first, "the server closed it (TunnelClosureNotification)", "hub"),
                      TunnelOpened(PPMID, second, "hub")]


def test_a_device_that_forgot_its_tunnel_gets_a_new_one() -> None:
    clock, hub, air = make()
    first = opened(hub, air)
    air.device_server = TunnelServer(clock, HanConfig(), lambda eui64: eui64 == HUB, headers=False)  # it rebooted

    lost = message(20, 1)
    air.deliver(hub.send_gbcs(PPMID, lost))  # NO_SUCH_TUNNEL: the hub asks for a new tunnel at once
    events = hub.take_events()
    assert events[0] == TunnelClosed(PPMID, first, "the server no longer has it (NO_SUCH_TUNNEL)", "hub")
    assert isinstance(events[1], TunnelOpened) and air.device_server.tunnel_id(HUB) == hub.tunnel_id(PPMID)
    air.device_server.take_events()

    again = message(20, 2)  # GBCS retries at its own level: the next message goes through
    air.deliver(hub.send_gbcs(PPMID, again))
    assert [event.message for event in air.device_server.take_events()] == [again]


def test_a_new_key_establishment_replaces_the_hubs_tunnel() -> None:
    _, hub, air = make()
    first = opened(hub, air)
    air.deliver(hub.request_tunnel(PPMID, DEVICE_ENDPOINT))
    second = hub.tunnel_id(PPMID)
    assert hub.take_events() == [TunnelClosed(PPMID, first, "replaced by a new RequestTunnel", "hub"),
                                 TunnelOpened(PPMID, second, "hub")]


# ---------------------------------------------------------------- the GSME's own tunnel, and strangers


def test_a_device_that_requests_its_own_tunnel_keeps_get_and_put_and_gets_no_hub_requests() -> None:
    clock, hub, air = make()
    hub_tunnel = opened(hub, air)
    gsme = TunnelAir(hub, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT))
    gsme.open()

    close = [frame for frame in gsme.hub_frames if header_of(frame)[0].command_id == TunnelRequest.close_tunnel.id
             and header_of(frame)[0].direction == foundation.Direction.Client_to_Server]
    assert decode(TunnelRequest.close_tunnel, header_of(close[0])[1]).tunnel_id == hub_tunnel
    events = hub.take_events()
    assert [type(event) for event in events] == [TunnelClosed, TunnelOpened]
    assert events[0].opened_by == "hub" and events[1].opened_by == "device"
    assert [entry["opened_by"] for entry in hub.tunnels()] == ["device"]
    assert hub.request_tunnel(PPMID, DEVICE_ENDPOINT) == []

    gsme.send(gsme.client.send(message(20, 7)))  # PUT, with its tunnel command octet
    assert [frame.zcl[5] for frame in gsme.device_frames[-1:]] == [0x03]
    assert [event.message for event in hub.take_events()] == [message(20, 7)]
    gsme.deliver_to_device(hub.send_gbcs(PPMID, message(20, 8)))
    assert gsme.client.take_messages() == [message(20, 8)]
    before = len(air.to_device)
    run(clock, hub, air, JAN_2026 + 30 * 86_400)
    assert not [frame for frame in air.to_device[before:] if frame.zcl[0] & 0x08 == 0]  # no RequestTunnel, ever


def test_a_put_octet_on_the_hubs_tunnel_is_part_of_the_message() -> None:
    """Negative control: on a hub-opened tunnel nothing is a tunnel command, so a GSME-style PUT is not
    stripped (and is no GBCS message, so it arrives whole and unframed)."""
    _, hub, air = make()
    opened(hub, air)
    put = b"\x03" + message(20)
    zcl = encode(9, TunnelResponse.transfer_data, tunnel_id=hub.tunnel_id(PPMID), data=t.Bytes(put))
    hub.handle(from_device_server(zcl))
    assert hub.take_events() == [GbcsMessageReceived(PPMID, put, JAN_2026)]


def test_transfer_data_from_a_device_without_a_hub_tunnel_gets_no_such_tunnel_in_kind() -> None:
    _, hub, _ = make()
    zcl = encode(0x42, TunnelResponse.transfer_data, tunnel_id=7, data=t.Bytes(message(10)))
    [reply] = hub.handle(from_device_server(zcl, OTHER_PPMID))
    route = (reply.destination, reply.src_ep, reply.dst_ep, reply.aps_encrypt)
    assert route == (OTHER_PPMID, SE_ENDPOINT, DEVICE_ENDPOINT, True)
    header, payload = header_of(reply)
    assert (header.tsn, header.command_id, header.direction) == (0x42, TunnelRequest.transfer_data_error.id,
                                                                 foundation.Direction.Client_to_Server)
    body = decode(TunnelRequest.transfer_data_error, payload)
    assert (body.tunnel_id, body.status) == (7, TransferDataStatus.NO_SUCH_TUNNEL)
    assert hub.take_events() == []


def test_unsolicited_answers_and_other_global_commands_to_the_client_are_ignored() -> None:
    _, hub, _ = make()
    zcl = encode(3, TunnelResponse.request_tunnel, tunnel_id=1, tunnel_status=TunnelStatus.SUCCESS,
                 maximum_incoming_transfer_size=1500)
    assert hub.handle(from_device_server(zcl)) == [] and hub.tunnel_id(PPMID) is None
    assert hub.handle(from_device_server(default_response(4, 0x00, Status.FAILURE))) == []
    assert hub.take_events() == []


def test_tunnel_timings_are_checked() -> None:
    with pytest.raises(HanConfigError, match="tunnel_max_backoff must be at least tunnel_retry_after"):
        HanConfig(tunnel_retry_after=600.0, tunnel_max_backoff=60.0)
    with pytest.raises(HanConfigError, match="tunnel_response_timeout must be positive"):
        HanConfig(tunnel_response_timeout=0.0)
