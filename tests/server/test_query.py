"""ImageNotify scheduling and QueryNextImage policy."""

import pytest
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageNotifyCommand

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.devices import DeviceType
from hubfw.server import ServerConfigError
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE
from tests.server.rig import ESME, IMAGE_TYPE, MANUFACTURER, NEW_VERSION, PPMID, decode, make_bench

Status = foundation.Status


def test_query_from_a_target_gets_the_image(bench):
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=1234)
    frames = bench.query(hardware=3)
    header, response = bench.one(frames)
    assert header.tsn == bench.tsn and header.command_id == 0x02
    assert response.status == Status.SUCCESS
    assert (response.manufacturer_code, response.image_type) == (MANUFACTURER, IMAGE_TYPE)
    assert (response.file_version, response.image_size) == (NEW_VERSION, 1234)
    assert bench.store.queries == [(PPMID, image.image_id, 3)]
    out = frames[0]
    assert (out.destination, out.src_ep, out.dst_ep, out.profile, out.aps_encrypt) == (PPMID, 1, 2, 0x0109, True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"manufacturer_code": MANUFACTURER + 1},
        {"image_type": IMAGE_TYPE + 1},
        {"version": NEW_VERSION},  # already running it: no reinstall by default
        {"version": NEW_VERSION + 1},  # newer: no downgrade by default
        {"source": ESME},  # not a target
    ],
)
def test_nothing_to_offer_is_no_image_available(bench, kwargs):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    _, response = bench.one(bench.query(**kwargs))
    assert response.status == Status.NO_IMAGE_AVAILABLE
    assert bench.store.queries == [] and bench.store.alerts == []


@pytest.mark.parametrize("option, version", [("allow_reinstall", NEW_VERSION), ("allow_downgrade", NEW_VERSION + 5)])
def test_reinstall_and_downgrade_only_when_configured(option, version):
    bench = make_bench(**{option: True})
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    _, response = bench.one(bench.query(version=version))
    assert response.status == Status.SUCCESS


def test_hardware_version_outside_range_is_refused_and_recorded(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], min_hw_version=2, max_hw_version=4)
    _, response = bench.one(bench.query(hardware=5))
    assert response.status == Status.NO_IMAGE_AVAILABLE
    [alert] = bench.store.alerts
    assert alert.code == AlertCode.TRANSFER_FAILURE
    assert alert.transfer_response == TransferResponse.HARDWARE_VERSION_MISMATCH
    _, again = bench.one(bench.query(hardware=5))  # terminal now: nothing more recorded
    assert again.status == Status.NO_IMAGE_AVAILABLE and len(bench.store.alerts) == 1


def test_notify_unicasts_image_notify_with_full_payload(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    [frame] = bench.server.notify([PPMID, ESME])  # ESME has nothing on offer
    header, notify = decode(frame)
    assert header.command_id == 0x00
    assert notify.payload_type == ImageNotifyCommand.PayloadType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion
    assert (notify.query_jitter, notify.manufacturer_code, notify.image_type, notify.new_file_version) == (
        100, MANUFACTURER, IMAGE_TYPE, NEW_VERSION
    )
    assert (frame.destination, frame.profile, frame.dst_ep, frame.aps_encrypt) == (PPMID, SMART_ENERGY_PROFILE, 1, True)


def _notify_times(bench, until: float) -> list[float]:
    times = []
    while bench.clock.now() < until:
        bench.clock.advance(10)
        times += [bench.clock.now() for _ in bench.server.tick()]
    return times


def test_notify_is_resent_on_schedule_until_the_target_queries():
    bench = make_bench(notify_intervals=(60.0, 600.0), notify_jitter=0.0)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    start = bench.clock.now()
    bench.server.notify([PPMID])
    assert [t - start for t in _notify_times(bench, start + 1900)] == [60, 660, 1260, 1860]
    bench.query()
    assert bench.server.next_deadline() is None
    assert _notify_times(bench, start + 5000) == []


def test_notify_jitter_spreads_resends_within_bounds():
    bench = make_bench(notify_intervals=(1000.0,), notify_jitter=0.2)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    start = bench.clock.now()
    bench.server.notify([PPMID])
    times = _notify_times(bench, start + 10_000)
    gaps = [b - a for a, b in zip([start, *times], times)]
    assert all(800 <= gap <= 1210 for gap in gaps) and len(set(gaps)) > 1


def test_notify_stops_when_the_target_leaves_the_image(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.server.notify([PPMID])
    bench.store.discard(PPMID)
    bench.clock.advance(100_000)
    assert bench.server.tick() == []
    assert bench.server.next_deadline() is None


def test_bad_config_is_one_clear_line():
    with pytest.raises(ServerConfigError) as info:
        make_bench(query_jitter=0, max_concurrent_downloads=0)
    assert "query_jitter" in str(info.value) and "max_concurrent_downloads" in str(info.value)
    assert "\n" not in str(info.value)
