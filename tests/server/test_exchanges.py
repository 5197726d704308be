"""Why isn't it downloading: the server keeps each device's last request and answer, with the reason its deciding
rule gave when the answer was not image data, and the pace of its recent blocks."""

import pytest
from zigpy.zcl import foundation

from hubfw.devices import DeviceType
from hubfw.hub.faults import Fault, FaultBook, FaultKind
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.server.exchanges import QUIET_S
from tests.server.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, PPMID, Bench, make_bench

Status = foundation.Status


def explain(bench: Bench, **kwargs) -> dict:
    return bench.server.exchanges.explain(PPMID, bench.clock.now(), **kwargs)


@pytest.mark.parametrize(("image", "query", "reason"), [
    ({"image_type": 0x0001}, {"image_type": 0x0101}, "device asked for image type 0x0101; the image is 0x0001"),
    ({"manufacturer_code": 0x1234}, {"manufacturer_code": 0x1235},
     "device asked for manufacturer 0x1235; the image is 0x1234"),
    ({"file_version": 0x300}, {"version": 0x300}, "device already runs 0x00000300"),
    ({"file_version": 0x300}, {"version": 0x400}, "device runs 0x00000400, newer than the image's 0x00000300"),
    ({"min_hw_version": 1, "max_hw_version": 3}, {"hardware": 9}, "hardware version 9 is outside 1..3"),
], ids=["image-type", "manufacturer", "same-version", "downgrade", "hardware"])
def test_a_refused_query_keeps_the_request_the_answer_and_the_reason(bench, image, query, reason):
    bench.store.add_image(DeviceType.PPMID, [PPMID], **image)
    _, response = bench.one(bench.query(**query))
    assert response.status == Status.NO_IMAGE_AVAILABLE
    shown = explain(bench)
    assert shown["reason"].startswith(reason)
    assert shown["last_answer"] == "QueryNextImageResponse NO_IMAGE_AVAILABLE"
    request = shown["last_request"]
    assert request["command"] == "QueryNextImage"
    assert request["image_type"] == f"0x{query.get('image_type', IMAGE_TYPE):04X}"
    assert request["manufacturer_code"] == f"0x{query.get('manufacturer_code', MANUFACTURER):04X}"
    assert request["file_version"] == f"0x{query.get('version', OLD_VERSION):08X}"
    assert request["hardware_version"] == query.get("hardware")


def test_an_offered_query_has_no_reason_and_a_device_never_heard_from_says_so(bench):
    assert explain(bench)["reason"] == "never heard from"
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    _, response = bench.one(bench.query())
    assert response.status == Status.SUCCESS
    shown = explain(bench)
    assert (shown["reason"], shown["last_answer"]) == (None, "QueryNextImageResponse SUCCESS")
    # an exchange from before the image was distributed is about something else
    assert explain(bench, since=bench.clock.now() + 1)["reason"].startswith("not heard from since ")


def test_blocks_per_second_and_eta_from_recent_blocks_and_quiet_afterwards(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=1000)
    bench.one(bench.query())
    for offset in range(0, 500, 50):  # 10 blocks of 50 bytes, one every 0.5 s: 2 blocks/s, 100 B/s
        bench.one(bench.block(offset, max_size=50))
        bench.clock.advance(0.5)
    shown = explain(bench, offset=500, total_size=1000)
    assert shown["reason"] is None and shown["last_request"]["offset"] == 450
    assert shown["last_answer"] == "ImageBlockResponse SUCCESS: 50 bytes at offset 450"
    assert shown["blocks_per_second"] == 2.0
    assert shown["eta_seconds"] == 5.0
    bench.clock.advance(QUIET_S + 1)
    shown = explain(bench, offset=500, total_size=1000)
    assert shown["reason"].startswith("not heard from since ")
    assert shown["blocks_per_second"] is None and shown["eta_seconds"] is None


def test_block_refusals_say_why(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=1000)
    bench.one(bench.block(0, version=NEW_VERSION + 1))
    assert explain(bench)["last_answer"] == "ImageBlockResponse ABORT"
    assert explain(bench)["reason"] == (
        f"device asked for image 0x{MANUFACTURER:04X}/0x{IMAGE_TYPE:04X}/0x{NEW_VERSION + 1:08X}; "
        f"the one on offer is 0x{MANUFACTURER:04X}/0x{IMAGE_TYPE:04X}/0x{NEW_VERSION:08X}"
    )
    bench.one(bench.block(1000))
    assert explain(bench)["last_answer"] == "Default Response INVALID_FIELD"
    assert "past the image's end" in explain(bench)["reason"]


def test_wait_for_data_says_the_concurrency_limit_is_full():
    bench = make_bench(max_concurrent_downloads=1)
    other = PPMID.__class__.convert("00:0d:6f:00:00:00:00:09")
    bench.store.add_image(DeviceType.PPMID, [PPMID, other], size=1000)
    bench.one(bench.block(0, source=other))
    bench.one(bench.block(0))
    shown = explain(bench)
    assert shown["last_answer"].startswith("ImageBlockResponse WAIT_FOR_DATA (ask again in ")
    assert "max_concurrent_downloads" in shown["reason"]


@pytest.mark.parametrize(("kind", "answer"), [
    (FaultKind.QUERY_NO_IMAGE, "QueryNextImageResponse NO_IMAGE_AVAILABLE"),
    (FaultKind.QUERY_SILENT, "no answer"),
])
def test_an_injected_fault_is_the_reason(kind, answer):
    bench = make_bench()
    faults = FaultBook()
    bench.server = OtaServer(bench.store, bench.clock, OtaServerConfig(), faults=faults)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    faults.set(PPMID, Fault(kind), bench.clock.now())
    bench.query()
    shown = explain(bench)
    assert (shown["last_answer"], shown["reason"]) == (answer, f"fault injected: {kind.value}")
