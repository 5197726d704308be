"""Whatever arrives at the SE endpoint, the hub never raises and answers only the sender, in kind; the
device's tunnel client never raises either."""

from __future__ import annotations

import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st

from hubfw.clock import VirtualClock
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import HanConfig, HanServer, TunnelClient
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE
from tests.han.harness import DEVICE_ENDPOINT, HUB, JAN_2026, OTHER_PPMID, PPMID, SE_ENDPOINT, TunnelAir

FRAME_CONTROLS = [0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x04, 0x05, 0x03]
"""Global and cluster commands, both directions, with and without manufacturer code, a reserved type."""

payloads = st.one_of(
    st.binary(max_size=60),
    st.builds(lambda tunnel, command, body: tunnel.to_bytes(2, "little") + bytes([command]) + body,
              st.integers(0, 3), st.integers(0, 4), st.binary(max_size=60)),
    st.builds(lambda body: b"\x00\x00\x03" + general_signing(CraFlag.ALERT, 1, bytes(8), bytes(8), 0x012B, body),
              st.binary(max_size=40)),
)
zcl_frames = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda control, tsn, command, body: bytes([control, tsn, command]) + body,
              st.sampled_from(FRAME_CONTROLS), st.integers(0, 255), st.integers(0, 12), payloads),
)
frames = st.builds(
    lambda source, cluster, zcl, encrypted: IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, DEVICE_ENDPOINT,
                                                          SE_ENDPOINT, cluster, zcl, encrypted),
    st.sampled_from([PPMID, OTHER_PPMID]),
    st.sampled_from([0x0000, 0x000A, 0x0702, 0x0704, 0x0704, 0x0800]),
    zcl_frames,
    st.booleans(),
)


@given(opened=st.booleans(), received=st.lists(frames, min_size=1, max_size=6), idle=st.floats(0, 200))
def test_arbitrary_frames_never_raise_at_the_hub(opened: bool, received: list[IncomingFrame], idle: float) -> None:
    clock = VirtualClock(JAN_2026)
    server = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=lambda _: True,
                       config=HanConfig(close_tunnel_timeout=100, max_incoming_transfer_size=32,
                                        max_message_size=64))
    if opened:
        TunnelAir(server, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT)).open()
    for frame in received:
        for reply in server.handle(frame):
            assert reply.destination == frame.source and reply.cluster == frame.cluster
            assert (reply.src_ep, reply.dst_ep) == (SE_ENDPOINT, DEVICE_ENDPOINT)
            assert reply.aps_encrypt == (frame.cluster != 0x0800)
    clock.advance(idle)
    server.tick()
    for event in server.take_events():
        assert event.eui64 in (PPMID, OTHER_PPMID)


@given(received=st.lists(st.tuples(zcl_frames, st.sampled_from([HUB, t.EUI64(bytes(8))])), min_size=1, max_size=6))
def test_arbitrary_frames_never_raise_at_the_device(received: list[tuple[bytes, t.EUI64]]) -> None:
    server = HanServer(VirtualClock(JAN_2026), se_endpoint=SE_ENDPOINT, key_establishment=None,
                       image_waiting=lambda _: False)
    air = TunnelAir(server, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT,
                                         max_incoming_transfer_size=24))
    air.open()
    for zcl, source in received:
        frame = IncomingFrame(source, 0, SMART_ENERGY_PROFILE, SE_ENDPOINT, DEVICE_ENDPOINT, 0x0704, zcl, True)
        for answer in air.client.handle(frame):
            assert answer.destination == HUB and answer.cluster == 0x0704
    air.client.take_messages()
