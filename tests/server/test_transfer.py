"""Serving image data: blocks, pages, rate limits, client quirks, malformed frames, a whole download."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand

from hubfw.devices import DeviceType, parse_eui64
from hubfw.server import OtaServer
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import HOME_AUTOMATION_PROFILE, OTA_CLUSTER
from tests.server.rig import ESME, IMAGE_TYPE, MANUFACTURER, NEW_VERSION, PPMID, decode, make_bench

Status = foundation.Status
MIN_PERIOD = ImageBlockCommand.FieldControl.MinimumBlockPeriod


def test_block_is_served_from_any_offset_statelessly(bench):
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=300)
    for offset in (200, 0, 299, 120):  # out of order, as after a power cycle
        header, response = bench.one(bench.block(offset, max_size=30))
        assert header.tsn == bench.tsn and header.command_id == 0x05
        assert response.status == Status.SUCCESS
        assert (response.manufacturer_code, response.image_type, response.file_version) == (
            MANUFACTURER, IMAGE_TYPE, NEW_VERSION
        )
        assert response.file_offset == offset
        assert response.image_data == image.data[offset : offset + 30]
    assert bench.store.progress[-2:] == [(PPMID, image.image_id, 300), (PPMID, image.image_id, 150)]


def test_a_new_server_resumes_where_the_device_was():
    """Hub restart: a fresh server on the same store serves the next block without any handshake."""
    bench = make_bench()
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=300)
    bench.block(0, max_size=50)
    bench.server = OtaServer(bench.store, bench.clock)
    _, response = bench.one(bench.block(50, max_size=50))
    assert response.image_data == image.data[50:100]


def _download(bench, source, size, page: bool = False) -> bytes:
    """Act as an OTA client: query, fetch blocks (or pages) until the end, report success."""
    _, offer = bench.one(bench.query(source=source))
    assert offer.status == Status.SUCCESS and offer.image_size == size
    received = bytearray()
    while len(received) < size:
        if page:
            frames = bench.request(
                "image_page", source, field_control=0, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
                file_version=NEW_VERSION, file_offset=len(received), maximum_data_size=0xFF, page_size=256,
                response_spacing=20,
            )
        else:
            frames = bench.block(len(received), source=source)
        for frame in frames:
            _, response = decode(frame)
            assert response.status == Status.SUCCESS and response.file_offset == len(received)
            received += response.image_data
    return bytes(received)


@pytest.mark.parametrize("page", [False, True])
def test_full_download_reassembles_the_image_byte_for_byte(bench, page):
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=5000)
    assert _download(bench, PPMID, 5000, page) == image.data
    _, response = bench.one(bench.end())
    assert response.upgrade_time == 0


def test_page_request_is_answered_with_spaced_block_responses(bench):
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=1000)
    start = bench.clock.now()
    frames = bench.request(
        "image_page", PPMID, field_control=0, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
        file_version=NEW_VERSION, file_offset=100, maximum_data_size=40, page_size=150, response_spacing=250,
    )
    offsets = [decode(f)[1].file_offset for f in frames]
    sizes = [len(decode(f)[1].image_data) for f in frames]
    assert offsets == [100, 140, 180, 220] and sizes == [40, 40, 40, 30]
    assert [f.not_before - start for f in frames] == [0.0, 0.25, 0.5, 0.75]
    assert {decode(f)[0].tsn for f in frames} == {bench.tsn}
    assert b"".join(decode(f)[1].image_data for f in frames) == image.data[100:250]
    assert bench.store.progress == [(PPMID, image.image_id, 250)]


def test_page_stops_at_the_end_of_the_image(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=100)
    frames = bench.request(
        "image_page", PPMID, field_control=0, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
        file_version=NEW_VERSION, file_offset=60, maximum_data_size=0xFF, page_size=1024, response_spacing=0,
    )
    assert [len(decode(f)[1].image_data) for f in frames] == [40]


def _eui(n: int):
    return parse_eui64(f"00:0d:6f:00:00:00:01:{n:02x}")


def test_downloads_beyond_the_concurrency_limit_wait_for_data():
    bench = make_bench(max_concurrent_downloads=2, busy_retry_seconds=90, download_idle_seconds=300)
    devices = [_eui(n) for n in range(3)]
    bench.store.add_image(DeviceType.ESME, devices, size=500)
    for device in devices[:2]:
        assert bench.one(bench.block(0, source=device))[1].status == Status.SUCCESS
    _, wait = bench.one(bench.block(0, source=devices[2]))
    assert wait.status == Status.WAIT_FOR_DATA
    assert (wait.current_time, wait.request_time) == (0, 90)
    assert bench.store.progress[-1][0] != devices[2]
    # the two holders keep going; the third gets in once one finishes
    assert bench.one(bench.block(50, source=devices[1]))[1].status == Status.SUCCESS
    bench.end(source=devices[0])
    assert bench.one(bench.block(0, source=devices[2]))[1].status == Status.SUCCESS


def test_an_idle_download_gives_its_slot_up():
    bench = make_bench(max_concurrent_downloads=1, download_idle_seconds=300)
    bench.store.add_image(DeviceType.ESME, [_eui(1), _eui(2)], size=500)
    bench.block(0, source=_eui(1))
    assert bench.one(bench.block(0, source=_eui(2)))[1].status == Status.WAIT_FOR_DATA
    bench.clock.advance(301)
    assert bench.one(bench.block(0, source=_eui(2)))[1].status == Status.SUCCESS


def test_minimum_block_period_is_enforced_and_told_to_the_client():
    bench = make_bench(minimum_block_period_ms=2500)
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=500)
    bench.block(0)
    bench.clock.advance(1)
    _, wait = bench.one(bench.block(50))
    assert wait.status == Status.WAIT_FOR_DATA
    assert (wait.request_time, wait.minimum_block_period) == (2, 2500)
    bench.clock.advance(1.5)
    assert bench.one(bench.block(50))[1].status == Status.SUCCESS


def test_quirk_minimum_block_period_flag_without_the_field(bench):
    image = bench.store.add_image(DeviceType.PPMID, [PPMID], size=100)
    payload = struct.pack("<BHHIIB", MIN_PERIOD, MANUFACTURER, IMAGE_TYPE, NEW_VERSION, 10, 20)
    _, response = bench.one(bench.raw(0x03, payload))
    assert response.status == Status.SUCCESS and response.image_data == image.data[10:30]


def test_minimum_block_period_field_when_present_is_accepted(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=100)
    _, response = bench.one(bench.block(0, field_control=MIN_PERIOD, minimum_block_period=0))
    assert response.status == Status.SUCCESS


def _block_payload(**change) -> bytes:
    fields = dict(fc=0, mfr=MANUFACTURER, type=IMAGE_TYPE, version=NEW_VERSION, offset=0, size=50) | change
    return struct.pack("<BHHIIB", *fields.values())


MALFORMED = [
    # (command id, payload, expected command id of the answer, expected status)
    ("query too short", 0x01, b"\x00\x34\x12", 0x0B, Status.MALFORMED_COMMAND),
    ("query announces absent hw version", 0x01, struct.pack("<BHHI", 1, MANUFACTURER, IMAGE_TYPE, 1), 0x0B,
     Status.MALFORMED_COMMAND),
    ("block too short", 0x03, _block_payload()[:-2], 0x0B, Status.MALFORMED_COMMAND),
    ("block announces absent node address", 0x03, _block_payload(fc=1), 0x0B, Status.MALFORMED_COMMAND),
    ("page too short", 0x04, _block_payload() + b"\x00", 0x0B, Status.MALFORMED_COMMAND),
    ("upgrade end empty", 0x06, b"", 0x0B, Status.MALFORMED_COMMAND),
    ("upgrade end success without image id", 0x06, b"\x00", 0x0B, Status.MALFORMED_COMMAND),
    ("block offset past the end", 0x03, _block_payload(offset=1000), 0x0B, Status.INVALID_FIELD),
    ("block offset at the end", 0x03, _block_payload(offset=999), 0x05, Status.SUCCESS),
    ("block max data size 0", 0x03, _block_payload(size=0), 0x0B, Status.INVALID_FIELD),
    ("block wrong manufacturer", 0x03, _block_payload(mfr=0x9999), 0x05, Status.ABORT),
    ("block wrong image type", 0x03, _block_payload(type=0x9999), 0x05, Status.ABORT),
    ("block wrong version", 0x03, _block_payload(version=NEW_VERSION - 1), 0x05, Status.ABORT),
    ("page size 0", 0x04, _block_payload() + b"\x00\x00\x00\x00", 0x0B, Status.INVALID_FIELD),
    ("query specific file", 0x08, bytes(18), 0x0B, Status.UNSUP_CLUSTER_COMMAND),
    ("unknown command", 0x42, b"", 0x0B, Status.UNSUP_CLUSTER_COMMAND),
]


@pytest.mark.parametrize("name, command_id, payload, answer_id, status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_and_wrong_frames_get_the_spec_status(bench, name, command_id, payload, answer_id, status):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=1000)
    header, answer = bench.one(bench.raw(command_id, payload))
    assert header.tsn == bench.tsn and header.command_id == answer_id
    assert answer.status == status
    if answer_id == 0x0B:
        assert answer.command_id == command_id
    assert bench.store.alerts == []


def test_manufacturer_specific_command_is_unsupported(bench):
    _, answer = bench.one(bench.raw(0x01, b"", manufacturer=0x1234))
    assert answer.status == Status.UNSUP_MANUF_CLUSTER_COMMAND


def test_block_for_a_device_without_an_image_is_aborted(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=100)
    assert bench.one(bench.block(0, source=ESME))[1].status == Status.ABORT


def test_frames_that_cannot_be_answered_are_ignored(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    assert bench.server.handle(bench.frame(b"")) == []
    assert bench.server.handle(bench.frame(b"\x01")) == []
    server_to_client = foundation.ZCLHeader.cluster(1, 0x05, direction=foundation.Direction.Server_to_Client)
    assert bench.server.handle(bench.frame(server_to_client.serialize() + b"\x95")) == []
    on_off = IncomingFrame(PPMID, 0x4321, HOME_AUTOMATION_PROFILE, 8, 1, 0x0006, b"\x01\x01\x01", False)
    assert bench.server.handle(on_off) == []


_image_request_payloads = st.builds(
    lambda control, offset, size, tail: struct.pack(
        "<BHHIIB", control, MANUFACTURER, IMAGE_TYPE, NEW_VERSION, offset, size
    ) + tail,
    st.integers(0, 255), st.integers(0, 120), st.integers(0, 255), st.binary(max_size=12),
)
_upgrade_end_payloads = st.builds(
    lambda status, tail: struct.pack("<BHHI", status, MANUFACTURER, IMAGE_TYPE, NEW_VERSION)[: 1 + tail],
    st.integers(0, 255), st.integers(0, 8),
)


@given(st.one_of(st.binary(max_size=40), _image_request_payloads, _upgrade_end_payloads),
       st.one_of(st.sampled_from([0x01, 0x03, 0x04, 0x06]), st.integers(0, 255)))
def test_arbitrary_bytes_never_crash_the_server(payload, command_id):
    bench = make_bench()
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=100)
    for frame in bench.raw(command_id, payload) + bench.server.handle(bench.frame(payload)):
        decode(frame)  # whatever it answers is well-formed ZCL


def test_home_automation_frames_are_answered_in_kind(bench):
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=500)
    zcl = foundation.ZCLHeader.cluster(5, 0x03).serialize() + _block_payload(size=0xFF)
    frame = IncomingFrame(PPMID, 0x4321, HOME_AUTOMATION_PROFILE, 8, 1, OTA_CLUSTER, zcl, aps_encrypted=False)
    [answer] = bench.server.handle(frame)
    assert (answer.profile, answer.aps_encrypt, answer.dst_ep, answer.src_ep) == (0x0104, False, 8, 1)
    assert len(decode(answer)[1].image_data) == 65
