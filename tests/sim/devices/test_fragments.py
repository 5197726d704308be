"""APS fragmentation on the device side: what does not fit one APS payload goes in fragments, and the hub's
fragments come back together (or not at all when one is missing)."""

from __future__ import annotations

import dataclasses

import zigpy.types as t

from hubfw.sim.devices.fragments import Reassembly, fragment
from hubfw.zigbee.aps import ApsFrame, payload_limit
from tests.sim.devices.rig import HUB_IEEE, eui


def frame(payload: bytes, encrypted: bool = True) -> ApsFrame:
    return ApsFrame(src_ieee=HUB_IEEE, src_nwk=t.NWK(0), dst_ieee=eui(1), dst_nwk=t.NWK(0x3A01), profile=0x0109,
                    cluster=0x0704, src_ep=3, dst_ep=1, payload=payload, aps_encrypted=encrypted, aps_counter=9)


def test_a_frame_that_fits_goes_whole_and_a_bigger_one_in_fragments_of_the_secured_payload_size() -> None:
    assert payload_limit(encrypted=True) == 73 and payload_limit(encrypted=False) == 82
    assert payload_limit(encrypted=True, fragment=True) == 71  # a fragment's extended header takes 2 more
    small = frame(bytes(73))
    assert fragment(small) == [small]
    message = bytes(range(200))
    parts = fragment(frame(message))
    assert [part.fragment for part in parts] == [(0, 3), (1, 3), (2, 3)]
    assert [len(part.payload) for part in parts] == [71, 71, 58]
    assert {part.aps_counter for part in parts} == {9}
    assert b"".join(part.payload for part in parts) == message
    assert len(fragment(frame(bytes(83), encrypted=False))) == 2
    assert len(fragment(frame(bytes(74)))) == 2


def test_fragments_in_order_reassemble_into_the_message() -> None:
    message = bytes(i % 251 for i in range(300))
    reassembly = Reassembly()
    results = [reassembly.add(part) for part in fragment(frame(message))]
    assert results[:-1] == [None] * (len(results) - 1)
    whole = results[-1]
    assert whole is not None and whole.payload == message and whole.fragment is None
    assert reassembly.add(frame(b"plain")) == frame(b"plain")


def test_a_message_missing_a_fragment_is_dropped_and_the_next_one_still_arrives() -> None:
    reassembly = Reassembly()
    first, _, third = fragment(frame(bytes(200)))
    assert reassembly.add(first) is None
    assert reassembly.add(third) is None  # the middle one never came: the message is gone
    again = fragment(frame(bytes(range(200))))
    assert [reassembly.add(part) for part in again][-1].payload == bytes(range(200))
    assert reassembly.add(dataclasses.replace(first, fragment=(5, 3))) is None
