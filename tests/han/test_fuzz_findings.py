"""What the `zcl-han` fuzz target (tools/fuzzlib/zcl_han.py) found at the SE endpoint, pinned down."""

from __future__ import annotations

import pytest

from hubfw.clock import VirtualClock
from hubfw.han import HanServer, KeyEstablishmentServer
from hubfw.zigbee.ids import BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, TUNNELING_CLUSTER
from tests.han.harness import DEVICE_ENDPOINT, SE_ENDPOINT, default_response_status, from_device, read_attributes
from tests.han.key_establishment.harness import Party

MANUFACTURER_DEFAULT_RESPONSE = bytes([0x04, 0x34, 0x12, 0x07, 0x0B, 0x00, 0x00])
"""A manufacturer-specific Default Response (code 0x1234, TSN 7) to command 0x00, SUCCESS."""


@pytest.fixture
def server(hub: Party) -> HanServer:
    clock = VirtualClock(1_767_225_600)
    return HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=KeyEstablishmentServer(
        {hub.credentials.suite: hub.credentials}, clock), image_waiting=lambda eui64: False)


@pytest.mark.parametrize("cluster", [BASIC_CLUSTER, TUNNELING_CLUSTER, KEY_ESTABLISHMENT_CLUSTER])
def test_a_manufacturer_specific_default_response_is_never_answered(server: HanServer, cluster: int) -> None:
    assert server.handle(from_device(cluster, MANUFACTURER_DEFAULT_RESPONSE)) == []


def test_other_manufacturer_specific_global_commands_are_still_refused(server: HanServer) -> None:
    read = bytes([0x04, 0x34, 0x12, 0x08, 0x00, 0x00, 0x00])  # manufacturer-specific Read Attributes 0x0000
    [reply] = server.handle(from_device(BASIC_CLUSTER, read))
    assert (reply.src_ep, reply.dst_ep) == (SE_ENDPOINT, DEVICE_ENDPOINT)
    assert default_response_status(reply).name == "UNSUP_MANUF_GENERAL_COMMAND"


def test_key_establishment_does_not_answer_a_manufacturer_read_with_its_standard_attribute(
    server: HanServer,
) -> None:
    standard = read_attributes(8, [0x0000])
    manufacturer = bytes([standard[0] | 0x04, 0x34, 0x12]) + standard[1:]
    assert server.handle(from_device(KEY_ESTABLISHMENT_CLUSTER, manufacturer, encrypted=False)) == []
    assert len(server.handle(from_device(KEY_ESTABLISHMENT_CLUSTER, standard, encrypted=False))) == 1
