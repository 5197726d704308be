"""Key Establishment through the HanServer: delegated to the KE server, its events passed on, and the
tunnel reserved for devices holding a CBKE link key."""

from __future__ import annotations

from zigpy.zcl import foundation

from hubfw.clock import VirtualClock
from hubfw.han import (
    HanServer,
    KeyEstablishmentClient,
    KeyEstablishmentFailed,
    KeyEstablishmentServer,
    LinkKeyEstablished,
    TunnelClient,
    TunnelOpened,
    TunnelState,
)
from hubfw.zigbee.aps import OutgoingFrame
from hubfw.zigbee.ids import TUNNELING_CLUSTER
from tests.han.harness import DEVICE_ENDPOINT, SE_ENDPOINT, TunnelAir, default_response_status, from_device, received
from tests.han.key_establishment.harness import HUB, JAN_2026, METER, Party


def make(hub: Party) -> tuple[VirtualClock, HanServer]:
    clock = VirtualClock(JAN_2026 + 86400)
    key_establishment = KeyEstablishmentServer({hub.credentials.suite: hub.credentials}, clock)
    server = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=key_establishment,
                       image_waiting=lambda _: False)
    return clock, server


def run_cbke(server: HanServer, client: KeyEstablishmentClient) -> list[OutgoingFrame]:
    hub_frames, pending = [], client.start()
    while pending:
        replies = server.handle(received(pending.pop(0), METER))
        hub_frames.extend(replies)
        for reply in replies:
            pending.extend(client.handle(received(reply, HUB)))
    return hub_frames


def test_cbke_through_the_se_endpoint_then_a_tunnel(hub: Party, meter: Party) -> None:
    clock, server = make(hub)
    tunnel = TunnelAir(server, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT), METER)
    tunnel.send([tunnel.client.request()])
    assert default_response_status(tunnel.hub_frames[-1]) == foundation.Status.NOT_AUTHORIZED
    assert tunnel.client.state is TunnelState.CLOSED and tunnel.client.refusal == foundation.Status.NOT_AUTHORIZED
    assert server.key_established(METER) is None

    client = KeyEstablishmentClient(meter.credentials, HUB, clock, endpoint=DEVICE_ENDPOINT, hub_endpoint=SE_ENDPOINT)
    hub_frames = run_cbke(server, client)
    assert isinstance(client.outcome, LinkKeyEstablished)
    assert all(not frame.aps_encrypt and frame.src_ep == SE_ENDPOINT for frame in hub_frames)
    [established] = server.take_events()
    assert isinstance(established, LinkKeyEstablished) and established.key == client.outcome.key
    assert server.key_established(METER) is hub.credentials.suite

    tunnel.send([tunnel.client.request()])
    assert tunnel.client.is_open
    assert server.take_events() == [TunnelOpened(METER, tunnel.client.tunnel_id)]


def test_an_unencrypted_tunnel_frame_is_not_authorized(hub: Party, meter: Party) -> None:
    clock, server = make(hub)
    run_cbke(server, KeyEstablishmentClient(meter.credentials, HUB, clock, endpoint=DEVICE_ENDPOINT,
                                            hub_endpoint=SE_ENDPOINT))
    request = TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT).request()
    [reply] = server.handle(from_device(TUNNELING_CLUSTER, request.zcl, METER, encrypted=False))
    assert default_response_status(reply) == foundation.Status.NOT_AUTHORIZED


def test_a_silent_exchange_fails_on_tick(hub: Party, meter: Party) -> None:
    clock, server = make(hub)
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, endpoint=DEVICE_ENDPOINT, hub_endpoint=SE_ENDPOINT)
    [initiate] = client.start()
    assert server.handle(received(initiate, METER))
    deadline = server.next_deadline()
    assert deadline is not None
    clock.set(deadline)
    assert server.tick() == []
    [failed] = server.take_events()
    assert isinstance(failed, KeyEstablishmentFailed) and failed.eui64 == METER and failed.status is None


def test_without_key_establishment_the_cluster_is_unsupported() -> None:
    server = HanServer(VirtualClock(JAN_2026), se_endpoint=SE_ENDPOINT, key_establishment=None,
                       image_waiting=lambda _: False)
    initiate = bytes([0x01, 0x07, 0x00, 0x02, 0x00, 0x0A, 0x0A]) + bytes(74)
    [reply] = server.handle(from_device(0x0800, initiate, METER, encrypted=False))
    assert default_response_status(reply) == foundation.Status.UNSUPPORTED_CLUSTER and not reply.aps_encrypt
