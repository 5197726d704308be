"""The hub on a virtual clock: `advance` runs every deadline on the way (the demo's 14-day act)."""

from __future__ import annotations

import asyncio

import zigpy.types as t

from hubfw.alerts import TransferResponse
from hubfw.devices import DeviceType
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.service import Hub
from tests.hub.helpers import join_client, make_hub, make_ota_file
from tests.hub.ota_client import IMAGE_NOTIFY, OtaHan

DAY = 86400.0
WAIT = 20


def logged(hub: Hub) -> list[tuple[t.EUI64, int, TransferResponse | None]]:
    return [(a.entity, int(a.code), a.transfer_response) for a in read_alert_log(hub.alert_log.path)]


async def test_imagenotify_is_resent_until_the_target_starts_then_the_image_is_discarded_at_14_days(
    hub: Hub, han: OtaHan
) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:a0:01", 0xA001, answers_notify=False)
    hub.distribute(make_ota_file(), [client.ieee], DeviceType.PPMID)

    await hub.advance(DAY)
    notifies = [reply for reply in client.replies if reply.command == IMAGE_NOTIFY]
    assert 8 <= len(notifies) <= 9  # at once, then after 1, 5, 15, 60 minutes and every 6 hours
    assert logged(hub) == []

    await hub.advance(13 * DAY + 1)
    assert logged(hub) == [(client.ieee, 0x8F89, TransferResponse.IMAGE_DISCARDED)]
    assert hub.status()["images"] == []


async def test_a_download_stalled_for_24_hours_fails_once(hub: Hub, han: OtaHan) -> None:
    client = await join_client(hub, han, "00:0d:6f:00:00:00:b0:01", 0xB001, pause_at=600)
    hub.distribute(make_ota_file(), [client.ieee], DeviceType.HCALCS)
    await asyncio.wait_for(client.paused, WAIT)

    await hub.advance(DAY - 60)
    assert logged(hub) == []
    await hub.advance(120)
    assert logged(hub) == [(client.ieee, 0x8F89, TransferResponse.FILE_TRANSFER_FAILURE)]
    await hub.advance(DAY)
    assert len(logged(hub)) == 1  # exactly one terminal alert per target


async def test_alerts_owed_before_a_restart_reach_the_log_on_start(state_dir, han: OtaHan, clock) -> None:
    first = make_hub(state_dir, han, clock)
    await first.start()
    target = t.EUI64.convert("00:0d:6f:00:00:00:c0:01")
    first.distribute(make_ota_file(), [target], DeviceType.PPMID)
    await first.stop()
    clock.advance(15 * DAY)  # the hub was off while the 14 days ran out

    second = make_hub(state_dir, han, clock)
    await second.start()
    try:
        assert logged(second) == [(target, 0x8F89, TransferResponse.IMAGE_DISCARDED)]
        assert second.store.pending_alerts() == []  # acknowledged only once in the log
    finally:
        await second.stop()


async def test_alerts_stay_owed_while_the_log_cannot_be_written(hub: Hub) -> None:
    target = t.EUI64.convert("00:0d:6f:00:00:00:c0:02")
    hub.distribute(make_ota_file(), [target], DeviceType.PPMID)
    hub.alert_log.path.mkdir()  # appending to it now fails
    await hub.advance(15 * DAY)
    assert [alert.entity for alert in hub.store.pending_alerts()] == [target]

    hub.alert_log.path.rmdir()
    await hub.advance(1)
    assert logged(hub) == [(target, 0x8F89, TransferResponse.IMAGE_DISCARDED)]
    assert hub.store.pending_alerts() == []
