"""The `zcl-han` judge must be able to fail: each HAN property, broken on purpose, is caught."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import zigpy.types as t
from fuzzlib import zcl_han as fuzz_zcl_han
from fuzzlib.engine import PropertyViolation
from fuzzlib.zcl_han import (
    ESME_A,
    ESME_B,
    HUB_EP,
    KEY_ESTABLISHMENT_CLUSTER,
    SENDERS,
    TUNNELING_CLUSTER,
    Step,
    World,
    check_bounds,
    check_events,
    check_replies,
    check_tick,
    decode_scenario,
    encode_scenario,
    fresh_world,
    read_attributes,
    request_tunnel,
    transfer,
)
from zigpy.zcl import foundation

from hubfw.han import GbcsMessageReceived
from hubfw.han.tunneling.wire import TunnelResponse
from hubfw.han.zcl import encode
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import BASIC_CLUSTER, OTA_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import OtaCommand

TOOLS = Path(fuzz_zcl_han.__file__).parents[1]


def _frame(cluster: int, zcl: bytes, source: t.EUI64 = ESME_A, *, encrypted: bool = True) -> IncomingFrame:
    return IncomingFrame(source, 0x1001, SMART_ENERGY_PROFILE, 2, HUB_EP, cluster, zcl, encrypted)


def _world() -> World:
    return fresh_world(2, 0)  # no key required: tunnels open for anyone


def test_the_servers_own_replies_pass() -> None:
    world = _world()
    request = _frame(BASIC_CLUSTER, read_attributes(7, [0x0000]))
    assert check_replies(world, request, world.server.handle(request)) == "0000 general 0x00 -> Read_Attributes_rsp"


@pytest.mark.parametrize(
    ("cluster", "zcl", "change", "violation"),
    [
        (BASIC_CLUSTER, read_attributes(7, [0x0000]), {"zcl_tsn": 8}, "TSN differs"),
        (BASIC_CLUSTER, read_attributes(7, [0x0000]), {"dst_ep": 9}, "not sent back"),
        (BASIC_CLUSTER, read_attributes(7, [0x0000]), {"aps_encrypt": False}, "encrypted wrongly"),
        (KEY_ESTABLISHMENT_CLUSTER, read_attributes(7, [0x0000]), {"aps_encrypt": True}, "encrypted wrongly"),
        (BASIC_CLUSTER, read_attributes(7, [0x0000]), {"zcl_extra": b"\x00"}, "does not parse"),
    ],
    ids=["tsn", "endpoint", "unencrypted", "encrypted-ke", "trailing-byte"],
)
def test_a_broken_reply_is_a_property_violation(cluster: int, zcl: bytes, change: dict, violation: str) -> None:
    world = _world()
    request = _frame(cluster, zcl)
    (reply,) = world.server.handle(request)
    if "zcl_tsn" in change:
        reply = replace(reply, zcl=reply.zcl[:1] + bytes([change["zcl_tsn"]]) + reply.zcl[2:])
    elif "zcl_extra" in change:
        reply = replace(reply, zcl=reply.zcl + change["zcl_extra"])
    else:
        reply = replace(reply, **change)
    with pytest.raises(PropertyViolation, match=violation):
        check_replies(world, request, [reply])


def test_answering_an_unserved_or_non_zcl_frame_is_a_violation() -> None:
    world = _world()
    request = _frame(BASIC_CLUSTER, read_attributes(7, [0x0000]))
    (reply,) = world.server.handle(request)
    with pytest.raises(PropertyViolation, match="does not serve"):
        check_replies(world, replace(request, dst_ep=HUB_EP + 1), [reply])
    with pytest.raises(PropertyViolation, match="not ZCL"):
        check_replies(world, replace(request, zcl=b"\x01"), [reply])


def test_a_cluster_command_that_does_not_pair_with_the_request_is_a_violation() -> None:
    world = _world()
    request = _frame(TUNNELING_CLUSTER, request_tunnel(3))
    (response,) = world.server.handle(request)
    close = _frame(TUNNELING_CLUSTER, foundation.ZCLHeader.cluster(3, 0x01).serialize() + b"\x00\x00")
    with pytest.raises(PropertyViolation, match="does not pair"):
        check_replies(world, close, [response])


def _opened(world: World, sender: t.EUI64) -> int:
    request = _frame(TUNNELING_CLUSTER, request_tunnel(1), sender)
    world.server.handle(request)
    world.server.take_events()
    tunnel_id = world.server.tunnel_id(sender)
    assert tunnel_id is not None
    return tunnel_id


def test_a_message_its_sender_did_not_put_or_one_reported_twice_is_a_violation() -> None:
    world = _world()
    tunnel_a, tunnel_b = _opened(world, ESME_A), _opened(world, ESME_B)
    put_a = _frame(TUNNELING_CLUSTER, transfer(2, tunnel_a, b"\x03from A"))
    put_b = _frame(TUNNELING_CLUSTER, transfer(2, tunnel_b, b"\x03from B"), ESME_B)
    now = world.clock.now()
    check_events(world, [GbcsMessageReceived(ESME_A, b"from A", now)], put_a, tunnel_a)
    with pytest.raises(PropertyViolation, match="did not PUT"):
        check_events(world, [GbcsMessageReceived(ESME_B, b"from A", now)], put_b, tunnel_b)
    with pytest.raises(PropertyViolation, match="another sender"):
        check_events(world, [GbcsMessageReceived(ESME_A, b"from B", now)], put_b, tunnel_b)
    with pytest.raises(PropertyViolation, match="without a TransferData"):
        check_events(world, [GbcsMessageReceived(ESME_A, b"from A", now)], put_a, None)


def test_a_message_from_a_sender_without_a_link_key_is_a_violation_where_keys_are_required() -> None:
    world = fresh_world(0, 0)
    put = _frame(TUNNELING_CLUSTER, transfer(2, 0, b"\x03hello"))
    with pytest.raises(PropertyViolation, match="without a link key"):
        check_events(world, [GbcsMessageReceived(ESME_A, b"hello", world.clock.now())], put, 0)


def test_a_deadline_left_in_the_past_by_tick_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    world = _world()
    monkeypatch.setattr(world.server, "next_deadline", world.clock.now)
    with pytest.raises(PropertyViolation, match="next_deadline in the past"):
        check_tick(world, [])


def test_tick_sending_anything_but_a_closure_notification_is_a_violation() -> None:
    world = _world()
    stray = OutgoingFrame(SENDERS[0], SMART_ENERGY_PROFILE, HUB_EP, 2, TUNNELING_CLUSTER,
                          foundation.ZCLHeader.cluster(1, 0x00).serialize(), True)
    with pytest.raises(PropertyViolation, match="TunnelClosureNotification"):
        check_tick(world, [replace(stray, zcl=foundation.ZCLHeader.cluster(1, 0x01).serialize() + b"\x00\x00\x01")])


def test_more_tunnels_than_the_configuration_allows_is_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    world = fresh_world(1, 0)
    opened = [{"queued_messages": 0}] * (world.configuration.han.max_tunnels + 1)
    monkeypatch.setattr(world.server, "tunnels", lambda: opened)
    with pytest.raises(PropertyViolation, match="max_tunnels"):
        check_bounds(world)


def test_each_input_starts_from_its_own_copy_of_the_keyed_server() -> None:
    first, second = fresh_world(0, 0b001), fresh_world(0, 0b001)
    assert first.server.key_established(ESME_A) is not None and first.server.key_established(ESME_B) is None
    _opened(first, ESME_A)
    first.clock.advance(100)
    assert second.server.tunnel_id(ESME_A) is None and second.clock.now() == fuzz_zcl_han.START


def test_scenarios_round_trip_through_their_encoding() -> None:
    steps = [Step(0, 3, b"\x01\x02\x01"),
             Step(3, 7, b"", encrypted=False, advance=7, tick=True, home_automation=True, other_endpoint=True,
                  send_gbcs=True)]
    assert decode_scenario(encode_scenario(2, 5, steps)) == (2, 5, steps)
    assert decode_scenario(b"") == (0, 0, [])
    assert decode_scenario(b"\x05\x01\x03\x01\xaa") == (1, 1, [Step(1, 3, b"\xaa", encrypted=False)])


def test_the_tool_replays_a_han_scenario(tmp_path: Path) -> None:
    seed = tmp_path / "seed.bin"
    seed.write_bytes(fuzz_zcl_han.seeds()[0])
    result = subprocess.run(
        [sys.executable, str(TOOLS / "fuzz.py"), "zcl-han", "--replay", str(seed)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{seed}: ok" in result.stdout and "0800 cluster 0x02 -> confirm_key_data_response" in result.stdout


def test_hub_transfer_data_beyond_what_the_device_announced_is_a_violation() -> None:
    world = _world()
    opening = _frame(TUNNELING_CLUSTER, request_tunnel(1, maximum=16))
    world.server.handle(opening)
    check_events(world, world.server.take_events(), opening, None)
    get = _frame(TUNNELING_CLUSTER, transfer(2, 0, b"\x01"))
    replies = world.server.handle(get)
    assert "hub transfer_data" in check_replies(world, get, replies)
    too_long = encode(9, TunnelResponse.transfer_data, tunnel_id=0, data=t.Bytes(bytes(17)))
    with pytest.raises(PropertyViolation, match="larger than the device announced"):
        check_replies(world, get, [replace(replies[-1], zcl=too_long)])


def _keyed_world() -> World:
    return fresh_world(0, 0b001)  # the hub's CBKE rule on; ESME A holds a link key, ESME B does not


def test_the_hubs_refusal_of_a_sender_without_a_key_passes() -> None:
    world = _keyed_world()
    request = _frame(TUNNELING_CLUSTER, request_tunnel(3), ESME_B)
    replies = fuzz_zcl_han.hub_receives(world, request)
    assert check_replies(world, request, replies) == "0704 cluster 0x00 -> Default_Response NOT_AUTHORIZED"


@pytest.mark.parametrize(
    ("change", "violation"),
    [({"aps_encrypt": True}, "unencrypted"), ({"status": foundation.Status.FAILURE}, "other than"),
     ({"none": True}, "exactly one")],
    ids=["encrypted", "other-status", "silent"],
)
def test_a_wrong_refusal_is_a_property_violation(change: dict, violation: str) -> None:
    world = _keyed_world()
    request = _frame(TUNNELING_CLUSTER, request_tunnel(3), ESME_B)
    (reply,) = fuzz_zcl_han.hub_receives(world, request)
    if "status" in change:
        reply = replace(reply, zcl=reply.zcl[:-1] + bytes([change["status"]]))
    elif "aps_encrypt" in change:
        reply = replace(reply, aps_encrypt=True)
    with pytest.raises(PropertyViolation, match=violation):
        check_replies(world, request, [] if "none" in change else [reply])


def test_an_ota_reply_sent_elsewhere_is_a_property_violation() -> None:
    world = _keyed_world()
    query = fuzz_zcl_han.cluster_request(4, OtaCommand.query_next_image, field_control=0, manufacturer_code=0x1234,
                                         image_type=0x0101, current_file_version=1)
    request = _frame(OTA_CLUSTER, query, ESME_A)
    replies = fuzz_zcl_han.hub_receives(world, request)
    assert check_replies(world, request, replies).startswith("OTA -> ")
    with pytest.raises(PropertyViolation, match="OTA reply not sent back"):
        check_replies(world, request, [replace(reply, dst_ep=9) for reply in replies])


def _hub_request_tunnel(world: World) -> OutgoingFrame:
    [frame] = [frame for frame in fuzz_zcl_han.key_exchange_replies(world, ESME_B)
               if fuzz_zcl_han._is_hub_tunnel_request(frame)]
    return frame


def test_the_hubs_own_request_tunnel_after_cbke_passes_and_a_wrong_one_is_a_violation() -> None:
    world = _keyed_world()
    frame = _hub_request_tunnel(world)
    assert fuzz_zcl_han._check_hub_tunnel_request(world, frame) == "hub request_tunnel"
    wrong_protocol = replace(frame, zcl=frame.zcl[:3] + b"\x01" + frame.zcl[4:])
    with pytest.raises(PropertyViolation, match="other fields"):
        fuzz_zcl_han._check_hub_tunnel_request(world, wrong_protocol)
    with pytest.raises(PropertyViolation, match="without a key"):
        fuzz_zcl_han._check_hub_tunnel_request(world, replace(frame, destination=fuzz_zcl_han.STRANGER))
    with pytest.raises(PropertyViolation, match="without a key"):
        fuzz_zcl_han._check_hub_tunnel_request(world, replace(frame, aps_encrypt=False))
