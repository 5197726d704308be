"""The APS payload limits, each defined once and used by the hub's radios, the OTA block sizing and the
simulated air."""

import zigpy.types as t

from hubfw.radio.bellows import HubControllerApplication
from hubfw.radio.virtual import VirtualControllerApplication
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import (
    APS_FRAGMENT_HEADER,
    APS_SECURITY_OVERHEAD,
    MAX_APS_PAYLOAD,
    MAX_PARTIAL_PER_SENDER,
    ApsFrame,
    FragmentReassembly,
    payload_limit,
    split_message,
)


def test_default_aps_payload_is_what_an_ezsp_ncp_reports():
    assert MAX_APS_PAYLOAD == 82


def test_the_hub_and_the_simulated_air_start_from_the_same_payload():
    assert HubControllerApplication.max_aps_payload == VirtualControllerApplication.max_aps_payload == MAX_APS_PAYLOAD
    assert OtaServerConfig().aps_max_payload == MAX_APS_PAYLOAD
    assert payload_limit(encrypted=False) == MAX_APS_PAYLOAD


def test_aps_encryption_and_fragments_cost_what_silicon_labs_framework_reserves():
    """EMBER_AF_APS_ENCRYPTION_OVERHEAD 9 (aux header 5 + MIC 4) and EMBER_AF_APS_FRAGMENTATION_OVERHEAD 2, one
    figure each for the hub, the simulated NCP and the simulated devices."""
    assert APS_SECURITY_OVERHEAD == 9 and APS_FRAGMENT_HEADER == 2
    assert payload_limit(encrypted=True) == 73
    assert payload_limit(encrypted=True, fragment=True) == 71
    assert payload_limit(encrypted=False, fragment=True) == 80
    assert payload_limit(encrypted=True, maximum=100) == 91  # from whatever the NCP reports


def test_a_frame_fits_by_its_security_and_its_fragment_header():
    def frame(size: int, encrypted: bool = True, fragment: tuple[int, int] | None = None) -> ApsFrame:
        return ApsFrame(t.EUI64(bytes(8)), t.NWK(1), t.EUI64(bytes(8)), t.NWK(0), 0x0109, 0x0704, 1, 1,
                        bytes(size), aps_encrypted=encrypted, fragment=fragment)

    assert frame(73).fits and not frame(74).fits
    assert frame(71, fragment=(0, 2)).fits and not frame(72, fragment=(0, 2)).fits
    assert frame(82, encrypted=False).fits and not frame(81, encrypted=False, fragment=(1, 2)).fits


def test_a_long_message_is_cut_into_fragments_that_each_fit():
    assert [len(part) for part in split_message(bytes(200), encrypted=True)] == [71, 71, 58]
    assert [len(part) for part in split_message(bytes(200), encrypted=False)] == [80, 80, 40]


# ----- reassembly of incoming fragments, on injected time

METER, OTHER, COUNTER, SE, TUNNEL = 0x4D2A, 0x4D2B, 9, 0x0109, 0x0704


def fragment_of(reassembly: FragmentReassembly, index: int, count: int, payload: bytes, now: float,
                sender: int = METER, counter: int = COUNTER, *, count_in_every: bool = False) -> bytes | None:
    """One fragment with its place in `groupId` as EmberZNet reports it: the count in fragment 0's high byte only
    (or, as some hosts send it, in every fragment's)."""
    group_id = index | (count << 8 if index == 0 or count_in_every else 0)
    return reassembly.add(sender, counter, SE, TUNNEL, group_id, payload, now)


def test_fragments_in_order_make_the_message_once_the_last_is_in():
    reassembly = FragmentReassembly(timeout=10)
    assert fragment_of(reassembly, 0, 3, b"abc", 0.0) is None
    assert fragment_of(reassembly, 1, 3, b"def", 0.1) is None
    assert len(reassembly) == 1
    assert fragment_of(reassembly, 2, 3, b"g", 0.2) == b"abcdefg"
    assert len(reassembly) == 0 and reassembly.next_expiry() is None


def test_fragments_out_of_order_and_twice_make_the_message_from_their_first_copies():
    reassembly = FragmentReassembly(timeout=10)
    assert fragment_of(reassembly, 2, 3, b"g", 0.0, count_in_every=True) is None
    assert fragment_of(reassembly, 1, 3, b"def", 0.1) is None
    assert fragment_of(reassembly, 1, 3, b"XXX", 0.2) is None  # a retry of a fragment already in
    assert fragment_of(reassembly, 0, 3, b"abc", 0.3) == b"abcdefg"


def test_two_senders_with_the_same_aps_counter_are_not_mixed():
    reassembly = FragmentReassembly(timeout=10)
    assert fragment_of(reassembly, 0, 2, b"meter-", 0.0) is None
    assert fragment_of(reassembly, 0, 2, b"other-", 0.0, sender=OTHER) is None
    assert fragment_of(reassembly, 1, 2, b"2", 0.1, sender=OTHER) == b"other-2"
    assert fragment_of(reassembly, 1, 2, b"1", 0.1) == b"meter-1"


def test_a_fragment_0_that_names_no_count_completes_nothing_and_expires():
    reassembly = FragmentReassembly(timeout=10)
    assert fragment_of(reassembly, 0, 0, b"abc", 0.0) is None
    assert fragment_of(reassembly, 1, 0, b"def", 0.1) is None
    assert len(reassembly) == 1
    reassembly.expire(10.1)
    assert len(reassembly) == 0


def test_an_incomplete_message_is_dropped_once_no_fragment_came_for_the_timeout():
    reassembly = FragmentReassembly(timeout=10)
    # each fragment within 10 s of the one before: a slow message still completes
    assert fragment_of(reassembly, 0, 3, b"ab", 0.0) is None
    assert fragment_of(reassembly, 1, 3, b"cd", 9.9) is None
    assert reassembly.next_expiry() == 19.9
    assert fragment_of(reassembly, 2, 3, b"e", 19.8) == b"abcde"
    # a lost fragment: 10 s after the last one the message is gone, and what comes later completes nothing
    assert fragment_of(reassembly, 0, 3, b"ab", 100.0, counter=10) is None
    assert fragment_of(reassembly, 1, 3, b"cd", 101.0, counter=10) is None
    reassembly.expire(110.9)
    assert len(reassembly) == 1
    reassembly.expire(111.0)
    assert len(reassembly) == 0
    assert fragment_of(reassembly, 2, 3, b"e", 112.0, counter=10) is None
    assert len(reassembly) == 1 and reassembly.next_expiry() == 122.0


def test_a_sender_holds_at_most_two_messages_in_reassembly_and_loses_the_one_idle_longest():
    reassembly = FragmentReassembly(timeout=10)
    assert MAX_PARTIAL_PER_SENDER == 2
    assert fragment_of(reassembly, 0, 3, b"one-", 0.0, counter=1) is None
    assert fragment_of(reassembly, 0, 3, b"two-", 0.1, counter=2) is None
    assert fragment_of(reassembly, 0, 2, b"other-", 0.2, sender=OTHER) is None
    assert fragment_of(reassembly, 1, 3, b"a", 0.3, counter=1) is None  # counter 2 is now the one idle longest
    assert fragment_of(reassembly, 0, 2, b"three-", 0.4, counter=3) is None
    assert len(reassembly) == 3  # counter 2 went; the other sender kept its own
    assert fragment_of(reassembly, 2, 3, b"b", 0.5, counter=1) == b"one-ab"
    assert fragment_of(reassembly, 1, 2, b"3", 0.6, counter=3) == b"three-3"
    assert fragment_of(reassembly, 1, 2, b"y", 0.7, sender=OTHER) == b"other-y"
    assert fragment_of(reassembly, 1, 3, b"b", 0.8, counter=2) is None  # its fragment 0 is gone
    assert fragment_of(reassembly, 2, 3, b"c", 0.9, counter=2) is None
