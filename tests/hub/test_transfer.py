"""Whole downloads through the real zigpy application object and the virtual radio."""

from __future__ import annotations

import asyncio
import collections

import pytest
import zigpy.application
import zigpy.types as t

from hubfw.devices import DeviceType
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.service import Hub
from tests.hub.helpers import NEW_VERSION, join_client, make_hub, make_ota_file
from tests.hub.ota_client import (
    ABORT,
    IMAGE_BLOCK,
    IMAGE_NOTIFY,
    NO_IMAGE_AVAILABLE,
    QUERY_NEXT_IMAGE,
    QUERY_NEXT_IMAGE_RESPONSE,
    UPGRADE_END,
    OtaHan,
    assert_answered_in_kind,
)

WAIT = 20  # seconds; generous for a loaded CI machine, never reached when things work


@pytest.mark.parametrize(
    ("profile", "encrypted", "block"), [(0x0109, True, 56), (0x0104, False, 65)],
    ids=["smart-energy", "home-automation"],
)
async def test_a_target_downloads_the_image_byte_for_byte(hub: Hub, han: OtaHan, profile: int, encrypted: bool,
                                                         block: int) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:10:01", 0x1001, profile=profile, encrypted=encrypted,
                               block_size=100)
    ota_file = make_ota_file(payload_size=5000)
    hub.distribute(ota_file, [client.ieee], DeviceType.PPMID)

    *_, version, current_time, upgrade_time = await asyncio.wait_for(client.finished, WAIT)

    assert bytes(client.image) == ota_file
    assert (version, current_time, upgrade_time) == (NEW_VERSION, 0, 0)  # a PPMID activates at once
    block_sizes = {len(reply.body) - 14 for reply in client.replies_to(IMAGE_BLOCK)}
    assert max(block_sizes) == block > 50
    assert_answered_in_kind(client)
    statuses = [reply.body[0] for reply in client.replies if reply.command in (QUERY_NEXT_IMAGE_RESPONSE, 0x05)]
    assert NO_IMAGE_AVAILABLE not in statuses and ABORT not in statuses
    alerts = read_alert_log(hub.alert_log.path)
    assert [(alert.entity, alert.code, alert.transfer_response) for alert in alerts] == [(client.ieee, 0x8F8A, 0)]


async def test_esme_transfer_waits_for_activation_then_activates_on_command(hub: Hub, han: OtaHan) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:20:01", 0x2001)
    ota_file = make_ota_file(payload_size=800)
    summary = hub.distribute(ota_file, [client.ieee], DeviceType.ESME)
    *_, upgrade_time = await asyncio.wait_for(client.finished, WAIT)
    assert upgrade_time == 0xFFFFFFFF  # ESME: activation comes later, as CS06

    hub.activate(client.ieee, bytes.fromhex(summary["manufacturer_image_sha256"]))
    for _ in range(100):
        await asyncio.sleep(0)
        if client.replies[-1].command == 0x07 and client.replies[-1].body[-4:] == bytes(4):
            break
    assert client.replies[-1].body[-4:] == bytes(4), "the activation is an UpgradeEndResponse with upgrade time 0"


async def test_zigpy_itself_would_answer_but_never_gets_the_frame(hub: Hub, han: OtaHan) -> None:
    """The control experiment: zigpy's own Ota cluster, given the frame, refuses the download."""
    client = await join_client(hub, han, "00:0d:6f:00:00:00:30:01", 0x3001, profile=0x0104, encrypted=False)
    device = hub.app.get_device(ieee=client.ieee)
    endpoint = device.add_endpoint(1)
    endpoint.profile_id = 0x0104
    endpoint.add_output_cluster(0x0019)
    hub.distribute(make_ota_file(), [client.ieee], DeviceType.PPMID)
    await asyncio.wait_for(client.finished, WAIT)
    assert_answered_in_kind(client)

    query = t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=client.nwk), src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000), dst_ep=1, tsn=0x77, profile_id=0x0104,
        cluster_id=0x0019, data=t.SerializableBytes(bytes([0x01, 0x77, QUERY_NEXT_IMAGE]) + bytes(9)),
    )
    client.requests[0x77] = QUERY_NEXT_IMAGE
    zigpy.application.ControllerApplication.packet_received(hub.app, query)  # bypass the interception
    for _ in range(200):
        await asyncio.sleep(0)
        if client.replies_to(QUERY_NEXT_IMAGE)[-1].tsn == 0x77:
            break
    zigpy_reply = client.replies_to(QUERY_NEXT_IMAGE)[-1]
    assert (zigpy_reply.tsn, zigpy_reply.body[0]) == (0x77, NO_IMAGE_AVAILABLE)


async def test_a_restarted_hub_resumes_a_transfer_from_the_device_offset(state_dir, han: OtaHan, clock) -> None:
    first = make_hub(state_dir, han, clock)
    await first.start()
    client = await join_client(first, han, "00:0d:6f:00:00:00:40:01", 0x4001, pause_at=2000)
    ota_file = make_ota_file(payload_size=6000)
    first.distribute(ota_file, [client.ieee], DeviceType.GSME)
    paused_at = await asyncio.wait_for(client.paused, WAIT)
    await first.stop()

    second = make_hub(state_dir, han, clock)
    await second.start()
    try:
        client.uplink = second.app
        await second.permit(60)
        assert second.app.join(client.ieee, client.nwk)  # the device rejoins the restarted coordinator
        client.resume()
        await asyncio.wait_for(client.finished, WAIT)
        assert bytes(client.image) == ota_file
        offsets = [int.from_bytes(r.body[9:13], "little") for r in client.replies_to(IMAGE_BLOCK)]
        assert paused_at in offsets  # served from where the device was, not from 0 again
        assert [a.transfer_response for a in read_alert_log(second.alert_log.path)] == [0]
    finally:
        await second.stop()
    assert UPGRADE_END in client.requests.values()


async def test_image_page_responses_arrive_in_order_spaced_and_under_one_tsn(hub: Hub, han: OtaHan) -> None:
    from tests.hub.ota_client import IMAGE_PAGE

    client = await join_client(hub, han, "00:0d:6f:00:00:00:50:01", 0x5001, page_size=256, block_size=64)
    ota_file = make_ota_file(payload_size=1500)
    hub.distribute(ota_file, [client.ieee], DeviceType.PPMID)
    await asyncio.wait_for(client.finished, WAIT)

    assert bytes(client.image) == ota_file
    pages = collections.Counter(reply.tsn for reply in client.replies_to(IMAGE_PAGE))
    assert len(pages) == -(-len(ota_file) // 256)  # one ImagePageRequest per 256 bytes
    assert max(pages.values()) == 5  # 256 bytes in 56-byte blocks, all answering the request's TSN


def notifications(client) -> int:
    return sum(1 for reply in client.replies if reply.command == IMAGE_NOTIFY and reply.frame_control & 0x03 == 0x01)


async def test_a_restarted_hub_tells_targets_that_had_not_started_again(state_dir, han: OtaHan, clock) -> None:
    first = make_hub(state_dir, han, clock)
    await first.start()
    client = await join_client(first, han, "00:0d:6f:00:00:00:60:01", 0x6001, answers_notify=False)
    first.distribute(make_ota_file(), [client.ieee], DeviceType.PPMID)
    await first.stop()  # the hub goes down before the target ever asked for its image

    second = make_hub(state_dir, han, clock)
    await second.start()
    try:
        client.uplink = second.app
        await second.permit(60)
        assert second.app.join(client.ieee, client.nwk)
        notified_before = notifications(client)
        await second.advance(3600)  # the re-send schedule a start-up notify opened
        assert notifications(client) > notified_before
    finally:
        await second.stop()


async def test_the_hub_records_the_download_timeline_that_transfers_plot_draws(hub: Hub, han: OtaHan) -> None:
    from hubfw.hub.ota_timeline import read_timeline
    from hubfw.plots.timeline import timeline_data

    client = await join_client(hub, han, "00:0d:6f:00:00:00:30:01", 0x3001, block_size=100)
    ota_file = make_ota_file(payload_size=5000)
    hub.distribute(ota_file, [client.ieee], DeviceType.PPMID)
    await asyncio.wait_for(client.finished, WAIT)
    hub.timeline.flush()
    events = read_timeline(hub.timeline.path)
    assert [event["event"] for event in events][:3] == ["start", "distribute", "notify"]
    assert {"end", "end_response"} <= {event["event"] for event in events}
    (series,) = timeline_data(events).series
    assert series.label == f"{client.ieee} PPMID"
    assert series.points[-1][1] == len(ota_file) and series.points[0][1] <= 100
    assert 50 < len(series.points) <= 110  # one point per 1 % of the image, not one per block
