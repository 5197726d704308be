"""The GBCS tunnel end to end between a TunnelClient and the HanServer, on a virtual clock."""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation

from hubfw.alerts import activation_alert
from hubfw.clock import VirtualClock
from hubfw.gbcs.alert_message import activation_message
from hubfw.gbcs.framing import CraFlag, MessageCode, general_signing
from hubfw.han import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    HanConfig,
    HanServer,
    TunnelClient,
    TunnelClientError,
    TunnelClosed,
    TunnelError,
    TunnelOpened,
    TunnelState,
)
from hubfw.han.tunneling.wire import TransferDataStatus, TunnelRequest, TunnelResponse, TunnelStatus
from hubfw.han.zcl import encode
from hubfw.ota.keys import new_private_key
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TUNNELING_CLUSTER
from hubfw.zigbee.zcl import decode
from tests.han.harness import (
    DEVICE_ENDPOINT,
    HUB,
    JAN_2026,
    OTHER_PPMID,
    PPMID,
    SE_ENDPOINT,
    TunnelAir,
    default_response_status,
    from_device,
    header_of,
    read_attributes,
    read_response,
    received,
)

Status = foundation.Status


def message(content_size: int, counter: int = 1) -> bytes:
    """A GBCS command message with `content_size` octets of content."""
    content = bytes(i % 251 for i in range(content_size))
    return general_signing(CraFlag.COMMAND, counter, bytes(PPMID)[::-1], bytes(8), 0x0001, content)


def make(config: HanConfig | None = None, *, device_max: int = 1500) -> tuple[VirtualClock, HanServer, TunnelAir]:
    clock = VirtualClock(JAN_2026)
    server = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=lambda _: False,
                       config=config)
    client = TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT,
                          max_incoming_transfer_size=device_max)
    return clock, server, TunnelAir(server, client)


def hub_command(frame: OutgoingFrame) -> tuple[int, foundation.CommandSchema | None]:
    """The Tunneling command the hub sent and its body; (-1, None) for a global command."""
    header, payload = header_of(frame)
    if header.frame_control.is_general:
        return -1, None
    command = {c.id: c for c in (TunnelResponse.request_tunnel, TunnelResponse.transfer_data,
                                 TunnelResponse.transfer_data_error, TunnelResponse.closure_notification,
                                 TunnelResponse.supported_protocols)}[header.command_id]
    return header.command_id, decode(command, payload)


def test_a_ppmid_puts_its_0x8f8b_and_the_hub_finds_the_alert() -> None:
    clock, server, air = make()
    air.open()
    [opened] = server.take_events()
    assert opened == TunnelOpened(PPMID, air.client.tunnel_id)
    alert = activation_alert(7, PPMID, 0x0102_0304, clock.now() - 30)
    wire = activation_message(alert, 7000, key=new_private_key())
    clock.advance(5)
    air.send(air.client.send(wire))
    received_event, alert_event = server.take_events()
    assert received_event == GbcsMessageReceived(PPMID, wire, clock.now())
    assert isinstance(alert_event, DeviceAlertReceived) and alert_event.raw == wire
    assert alert_event.alert is not None and alert_event.alert.source == "tunnel"
    assert (alert_event.alert.entity, alert_event.alert.firmware_version, alert_event.alert.time) == (
        PPMID, 0x0102_0304, alert.time)
    assert alert_event.alert.message == wire  # relayed verbatim, the PPMID's signature with it
    assert default_response_status(air.hub_frames[-1]) == Status.SUCCESS


def test_an_alert_the_hub_cannot_decode_arrives_raw() -> None:
    clock, server, air = make()
    air.open()
    server.take_events()
    gbz_alert = bytes.fromhex("0109" "00" "8f8b" "2f4a3b00")
    wire = general_signing(CraFlag.ALERT, 3, bytes(PPMID)[::-1], bytes(8), MessageCode.FIRMWARE_ACTIVATION_ALERT,
                           gbz_alert)
    air.send(air.client.send(wire))
    received_event, alert_event = server.take_events()
    assert received_event.message == wire
    assert alert_event == DeviceAlertReceived(PPMID, None, wire, clock.now(), alert_event.problem)
    assert "not a 0x8F8B alert DER content" in (alert_event.problem or "")


def test_a_message_that_is_no_alert_raises_no_alert_event() -> None:
    _, server, air = make()
    air.open()
    server.take_events()
    air.send(air.client.send(message(30)))
    assert [type(event) for event in server.take_events()] == [GbcsMessageReceived]


def test_request_tunnel_response_carries_id_status_and_the_hubs_maximum() -> None:
    _, server, air = make(HanConfig(max_incoming_transfer_size=200))
    air.open()
    command_id, body = hub_command(air.hub_frames[0])
    assert command_id == TunnelResponse.request_tunnel.id
    assert body.tunnel_status == TunnelStatus.SUCCESS and body.maximum_incoming_transfer_size == 200
    assert air.client.server_max_transfer == 200 and air.hub_frames[0].aps_encrypt
    assert server.tunnel_id(PPMID) == body.tunnel_id
    [entry] = server.tunnels()
    assert entry["eui64"] == str(PPMID) and entry["tunnel_id"] == body.tunnel_id


def test_a_message_larger_than_the_hubs_maximum_is_split_and_reassembled() -> None:
    _, server, air = make(HanConfig(max_incoming_transfer_size=32))
    air.open()
    server.take_events()
    wire = message(300)
    frames = air.client.send(wire)
    assert len(frames) == -(-(len(wire) + 1) // 32)
    for frame in frames[:-1]:
        air.send([frame])
        assert server.take_events() == []  # nothing until the last octet
    air.send(frames[-1:])
    [event] = server.take_events()
    assert event.message == wire


def test_hub_to_device_messages_are_split_to_the_devices_maximum() -> None:
    _, server, air = make(device_max=40)
    air.open()
    wire = message(500)
    frames = server.send_gbcs(PPMID, wire)
    assert len(frames) > 1
    assert all(len(decode(TunnelResponse.transfer_data, header_of(frame)[1]).data) <= 40 for frame in frames)
    air.deliver_to_device(frames)
    assert air.client.take_messages() == [wire]


def test_a_polling_device_gets_its_queue_one_message_per_get() -> None:
    _, server, air = make()
    air.open()
    air.send(air.client.get())
    assert air.client.take_messages() == [] and air.client.remaining == 0  # empty queue: bare GET-RESPONSE
    first, second = message(40, 1), message(60, 2)
    assert server.send_gbcs(PPMID, first) == server.send_gbcs(PPMID, second) == []  # it polls: no PUT
    air.send(air.client.get())
    assert air.client.take_messages() == [first] and air.client.remaining == 1
    air.send(air.client.get())
    assert air.client.take_messages() == [second] and air.client.remaining == 0
    [entry] = server.tunnels()
    assert entry["polls"] and entry["queued_messages"] == 0


def test_a_listening_device_gets_queued_messages_put_when_its_tunnel_opens() -> None:
    _, server, air = make()
    wire = message(80)
    assert server.send_gbcs(PPMID, wire) == []
    air.open()
    assert air.client.take_messages() == [wire]
    assert air.client.take_messages() == []


def test_send_gbcs_refuses_non_gbcs_bytes_and_a_full_queue() -> None:
    _, server, _ = make(HanConfig(max_queued_messages=2))
    with pytest.raises(TunnelError, match="not a whole GBCS message"):
        server.send_gbcs(PPMID, b"\x01\x02")
    with pytest.raises(TunnelError, match="not a whole GBCS message"):
        server.send_gbcs(PPMID, message(50)[:-1])
    server.send_gbcs(PPMID, message(10))
    server.send_gbcs(PPMID, message(10))
    with pytest.raises(TunnelError, match="already has 2"):
        server.send_gbcs(PPMID, message(10))


def test_an_idle_tunnel_closes_after_close_tunnel_timeout() -> None:
    clock, server, air = make(HanConfig(close_tunnel_timeout=60))
    air.open()
    tunnel_id = air.client.tunnel_id
    server.take_events()
    assert server.next_deadline() == clock.now() + 60
    clock.advance(50)
    air.send(air.client.send(message(20)))  # activity restarts the timer
    assert server.tick() == []
    assert server.next_deadline() == clock.now() + 60
    clock.advance(60)
    [notification] = server.tick()
    command_id, body = hub_command(notification)
    assert command_id == TunnelResponse.closure_notification.id and body.tunnel_id == tunnel_id
    events = server.take_events()
    assert events[-1] == TunnelClosed(PPMID, tunnel_id, "idle for 60 s")
    assert server.tunnels() == [] and server.next_deadline() is None
    air.deliver_to_device([notification])
    assert air.client.state is TunnelState.CLOSED
    with pytest.raises(TunnelClientError, match="no open tunnel"):
        air.client.send(message(10))


def test_a_tunnel_closed_mid_message_leaves_nothing_for_the_next_one() -> None:
    clock, server, air = make(HanConfig(max_incoming_transfer_size=32, close_tunnel_timeout=10))
    air.open()
    frames = air.client.send(message(100))
    air.send(frames[:2])
    clock.advance(10)
    server.tick()
    air.open()
    air.send(air.client.send(message(20)))
    assert [type(e) for e in server.take_events()][-1] is GbcsMessageReceived


def test_close_tunnel_from_the_device() -> None:
    _, server, air = make()
    air.open()
    tunnel_id = air.client.tunnel_id
    air.send([air.client.close()])
    assert default_response_status(air.hub_frames[-1]) == Status.SUCCESS
    assert server.take_events()[-1] == TunnelClosed(PPMID, tunnel_id, "closed by the device")
    zcl = encode(3, TunnelRequest.close_tunnel, tunnel_id=tunnel_id)
    [reply] = server.handle(from_device(TUNNELING_CLUSTER, zcl))
    assert default_response_status(reply) == Status.NOT_FOUND


def test_a_second_request_replaces_the_devices_tunnel() -> None:
    _, server, air = make()
    air.open()
    first = air.client.tunnel_id
    air.open()
    assert air.client.tunnel_id != first
    events = server.take_events()
    assert TunnelClosed(PPMID, first, "replaced by a new RequestTunnel") in events
    assert [entry["tunnel_id"] for entry in server.tunnels()] == [air.client.tunnel_id]


def transfer_data(tunnel_id: int, data: bytes, source: t.EUI64 = PPMID) -> IncomingFrame:
    return from_device(TUNNELING_CLUSTER, encode(4, TunnelRequest.transfer_data, tunnel_id=tunnel_id,
                                                 data=t.Bytes(data)), source)


def test_transfer_data_errors_for_unknown_tunnel_wrong_device_and_overflow() -> None:
    _, server, air = make(HanConfig(max_incoming_transfer_size=32, max_message_size=64))
    air.open()
    tunnel_id = air.client.tunnel_id
    put = b"\x03" + message(10)[:20]

    def error_of(frames: list[OutgoingFrame]) -> TransferDataStatus:
        [frame] = frames
        command_id, body = hub_command(frame)
        assert command_id == TunnelResponse.transfer_data_error.id
        return body.status

    assert error_of(server.handle(transfer_data(tunnel_id + 1, put))) == TransferDataStatus.NO_SUCH_TUNNEL
    assert error_of(server.handle(transfer_data(tunnel_id, put, OTHER_PPMID))) == TransferDataStatus.WRONG_DEVICE
    assert error_of(server.handle(transfer_data(tunnel_id, put + bytes(20)))) == TransferDataStatus.DATA_OVERFLOW
    big = air.client.send(message(100))  # 32-octet pieces, but more than the hub reassembles
    statuses = [hub_command(f)[1].status for frame in big for f in server.handle(received(frame, PPMID))
                if hub_command(f)[0] == TunnelResponse.transfer_data_error.id]
    assert statuses == [TransferDataStatus.DATA_OVERFLOW]
    assert not any(isinstance(e, GbcsMessageReceived) for e in server.take_events())


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", Status.INVALID_FIELD),
        (b"\x07abc", Status.INVALID_FIELD),  # not a GBCS tunnel command
        (b"\x03", Status.INVALID_FIELD),  # PUT of nothing
        (b"\x02\x00", Status.INVALID_FIELD),  # GET-RESPONSE goes hub to device only
    ],
)
def test_bad_tunnel_commands_get_a_default_response(data: bytes, status: Status) -> None:
    _, server, air = make()
    air.open()
    [reply] = server.handle(transfer_data(air.client.tunnel_id, data))
    assert default_response_status(reply) == status


def test_an_unframed_put_is_taken_whole() -> None:
    _, server, air = make()
    air.open()
    server.take_events()
    server.handle(transfer_data(air.client.tunnel_id, b"\x03hello"))
    assert server.take_events() == [GbcsMessageReceived(PPMID, b"hello", JAN_2026)]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"protocol_id": 0, "manufacturer_code": 0xFFFF, "flow_control_support": t.Bool.false},
         TunnelStatus.PROTOCOL_NOT_SUPPORTED),
        ({"protocol_id": 6, "manufacturer_code": 0x1234, "flow_control_support": t.Bool.false},
         TunnelStatus.PROTOCOL_NOT_SUPPORTED),
        ({"protocol_id": 6, "manufacturer_code": 0xFFFF, "flow_control_support": t.Bool.true},
         TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED),
    ],
)
def test_request_tunnel_refusals(fields: dict, status: TunnelStatus) -> None:
    _, server, _ = make()
    zcl = encode(5, TunnelRequest.request_tunnel, maximum_incoming_transfer_size=1500, **fields)
    [reply] = server.handle(from_device(TUNNELING_CLUSTER, zcl))
    command_id, body = hub_command(reply)
    assert command_id == TunnelResponse.request_tunnel.id
    assert body.tunnel_status == status and body.tunnel_id == 0xFFFF
    assert server.tunnels() == [] and server.take_events() == []


def test_no_more_tunnel_ids_beyond_max_tunnels() -> None:
    _, server, air = make(HanConfig(max_tunnels=1))
    air.open()
    other = TunnelAir(server, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT), OTHER_PPMID)
    other.send([other.client.request()])
    assert other.client.state is TunnelState.CLOSED and other.client.refusal == TunnelStatus.NO_MORE_TUNNEL_IDS


def test_supported_protocols_and_close_tunnel_timeout_attribute() -> None:
    _, server, _ = make(HanConfig(close_tunnel_timeout=300))
    [reply] = server.handle(from_device(TUNNELING_CLUSTER, encode(6, TunnelRequest.get_supported_protocols,
                                                                  protocol_offset=0)))
    _, body = hub_command(reply)
    assert body.protocol_list_complete
    assert [(p.manufacturer_code, p.protocol_id) for p in body.protocols] == [(0xFFFF, 6)]
    [reply] = server.handle(from_device(TUNNELING_CLUSTER, read_attributes(7, [0x0000, 0x0001])))
    records = read_response(reply)
    assert records[0x0000].value.value == 300 and records[0x0000].value.type == foundation.DataTypeId.uint16
    assert records[0x0001].status == Status.UNSUPPORTED_ATTRIBUTE


def test_flow_control_commands_are_unsupported() -> None:
    _, server, air = make()
    air.open()
    for command in (TunnelRequest.ack_transfer_data, TunnelRequest.ready_data):
        zcl = encode(8, command, tunnel_id=air.client.tunnel_id, octets_left=100)
        [reply] = server.handle(from_device(TUNNELING_CLUSTER, zcl))
        assert default_response_status(reply) == Status.UNSUP_CLUSTER_COMMAND


def test_the_client_refuses_data_for_another_tunnel_and_too_much_data() -> None:
    _, server, air = make(device_max=40)
    air.open()
    tunnel_id = air.client.tunnel_id
    for wrong_id, data, status in ((tunnel_id + 1, b"\x03" + message(10), TransferDataStatus.NO_SUCH_TUNNEL),
                                   (tunnel_id, b"\x03" + message(60), TransferDataStatus.DATA_OVERFLOW)):
        zcl = encode(9, TunnelResponse.transfer_data, tunnel_id=wrong_id, data=t.Bytes(data))
        frame = OutgoingFrame(PPMID, SMART_ENERGY_PROFILE, SE_ENDPOINT, DEVICE_ENDPOINT, TUNNELING_CLUSTER, zcl, True)
        [answer] = air.client.handle(received(frame, HUB))
        assert decode(TunnelRequest.transfer_data_error, header_of(answer)[1]).status == status
    assert air.client.take_messages() == []


def test_a_hub_that_lost_the_tunnel_makes_the_device_request_a_new_one() -> None:
    _, server, air = make()
    air.open()
    restarted = HanServer(VirtualClock(JAN_2026), se_endpoint=SE_ENDPOINT, key_establishment=None,
                          image_waiting=lambda _: False)
    air.server = restarted
    air.send(air.client.send(message(20)))
    assert air.client.state is TunnelState.CLOSED and air.client.refusal == TransferDataStatus.NO_SUCH_TUNNEL
    air.open()
    air.send(air.client.send(message(20)))
    assert [type(event) for event in restarted.take_events()] == [TunnelOpened, GbcsMessageReceived]


actions = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 120)),
        st.tuples(st.just("send"), st.integers(0, 120)),
        st.tuples(st.just("get"), st.just(0)),
        st.tuples(st.just("idle"), st.integers(1, 90)),
        st.tuples(st.just("reopen"), st.just(0)),
    ),
    max_size=25,
)


@given(actions=actions)
def test_no_message_is_lost_duplicated_or_reordered(actions: list[tuple[str, int]]) -> None:
    """Whatever the device and the hub do, in whatever order: every message the device PUT reaches the
    hub once, in order, and the hub's messages reach the device once, in order, by PUT or GET."""
    config = HanConfig(max_incoming_transfer_size=48, close_tunnel_timeout=60, max_queued_messages=4)
    clock, server, air = make(config, device_max=40)
    air.open()
    put, sent, got = [], [], []
    for number, (action, size) in enumerate(actions):
        if action == "put" and air.client.is_open:
            put.append(message(size, number))
            air.send(air.client.send(put[-1]))
        elif action == "send":
            try:
                frames = server.send_gbcs(PPMID, message(size, number))
            except TunnelError:
                continue
            sent.append(message(size, number))
            air.deliver_to_device(frames)
        elif action == "get" and air.client.is_open:
            air.send(air.client.get())
        elif action == "idle":
            clock.advance(size)
            air.deliver_to_device(server.tick())
        elif action == "reopen" and not air.client.is_open:
            air.open()
        got += air.client.take_messages()
        assert got == sent[:len(got)]
    if not air.client.is_open:
        air.open()
    for _ in range(len(sent) - len(got)):  # a polling device fetches what is left, one GET per message
        air.send(air.client.get())
        got += air.client.take_messages()
    assert got == sent
    assert server.tunnels()[0]["queued_messages"] == 0
    received = [event.message for event in server.take_events() if isinstance(event, GbcsMessageReceived)]
    assert received == put
