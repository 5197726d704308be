"""Whatever arrives on cluster 0x0800, neither end raises, and the hub answers only the sender."""

from __future__ import annotations

import pytest
import zigpy.types as t
from hypothesis import given
from hypothesis import strategies as st

from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.han import KeyEstablishmentClient, KeyEstablishmentServer
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import KEY_ESTABLISHMENT_CLUSTER, SMART_ENERGY_PROFILE
from tests.han.key_establishment.harness import HUB, JAN_2026, METER, Party, received

FRAME_CONTROLS = [0x01, 0x11, 0x00, 0x10, 0x05, 0x09, 0x19, 0x03]
"""Cluster and general commands, both directions, with and without manufacturer code, and reserved types."""

zcl_frames = st.one_of(
    st.binary(max_size=120),
    st.builds(
        lambda control, tsn, command, body: bytes([control, tsn, command]) + body,
        st.sampled_from(FRAME_CONTROLS),
        st.integers(0, 255),
        st.integers(0, 5),
        st.binary(max_size=80),
    ),
)


@pytest.fixture(scope="module")
def ephemeral_keys(suite: CryptoSuite) -> dict[CryptoSuite, KeyPair]:
    """One pre-generated key per suite keeps each example cheap."""
    return {suite: KeyPair.generate(suite)}


def frame_from(source: t.EUI64, zcl: bytes) -> IncomingFrame:
    return IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, 1, 1, KEY_ESTABLISHMENT_CLUSTER, zcl, False)


@given(data=st.data())
def test_arbitrary_frames_never_raise_at_the_hub(
    hub: Party, meter: Party, ephemeral_keys: dict[CryptoSuite, KeyPair], data: st.DataObject
) -> None:
    clock = VirtualClock(JAN_2026 + 86400)
    server = KeyEstablishmentServer({hub.credentials.suite: hub.credentials}, clock,
                                    ephemeral_keys=ephemeral_keys.__getitem__)
    if data.draw(st.booleans(), label="exchange in progress"):
        client = KeyEstablishmentClient(meter.credentials, HUB, clock, ephemeral_keys=ephemeral_keys.__getitem__)
        [initiate] = client.start()
        assert server.handle(received(initiate, METER))
    for zcl in data.draw(st.lists(zcl_frames, min_size=1, max_size=4), label="frames"):
        for reply in server.handle(frame_from(METER, zcl)):
            assert reply.destination == METER and reply.cluster == KEY_ESTABLISHMENT_CLUSTER
        server.take_events()


@given(data=st.data())
def test_arbitrary_frames_never_raise_at_the_device(
    meter: Party, ephemeral_keys: dict[CryptoSuite, KeyPair], data: st.DataObject
) -> None:
    clock = VirtualClock(JAN_2026 + 86400)
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, ephemeral_keys=ephemeral_keys.__getitem__)
    client.start()
    for zcl in data.draw(st.lists(zcl_frames, min_size=1, max_size=4), label="frames"):
        for frame in client.handle(frame_from(HUB, zcl)):
            assert frame.destination == HUB
