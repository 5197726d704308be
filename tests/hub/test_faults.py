"""Faults on demand at the hub core (hubfw.hub.faults): each kind changes exactly what it names, for the device it
names, as often as it is told, records each acting in that device's history, and then the hub is normal again."""

from __future__ import annotations

import random

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import get_profile
from hubfw.hub.core import HubCore
from hubfw.hub.faults import Fault, FaultBook, FaultError, FaultKind
from hubfw.ota.image import build_image
from hubfw.server.ota import UPGRADE_ON_COMMAND
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER, SMART_ENERGY_PROFILE
from tests.server.rig import decode

Status = foundation.Status
DEVICE = parse_eui64("00:0d:6f:00:00:00:00:01")
OTHER = parse_eui64("00:0d:6f:00:00:00:00:02")
MANUFACTURER, IMAGE_TYPE, OLD, NEW = 0x1234, 0x0301, 0x100, 0x200
BLOCK = 50


class Rig:
    """A hub core on a flash with one PPMID image for DEVICE and OTHER; requests built with zigpy's schemas."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.core = HubCore.open(NorFlash(get_profile("serial-nor")), self.clock, rng=random.Random(1))
        payload = random.Random(3).randbytes(1200)
        self.ota = build_image(manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=NEW,
                               payload=payload).to_bytes()
        self.image = self.core.distribute(self.ota, [DEVICE, OTHER], DeviceType.PPMID).image
        self.tsn = 0

    def set(self, fault: Fault, eui64: t.EUI64 = DEVICE) -> None:
        self.core.faults.set(eui64, fault, self.clock.now())

    def history(self, event: str = "acted", eui64: t.EUI64 = DEVICE) -> list[dict]:
        return [entry for entry in self.core.faults.history_of(eui64) if entry["event"] == event]

    def request(self, name: str, source: t.EUI64 = DEVICE, **fields: object) -> list[OutgoingFrame]:
        self.tsn = (self.tsn + 1) % 256
        command = getattr(Ota.ServerCommandDefs, name)
        zcl = foundation.ZCLHeader.cluster(self.tsn, command.id).serialize() + command.schema(**fields).serialize()
        return self.core.handle(IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, 1, 1, OTA_CLUSTER, zcl, True))

    def query(self, source: t.EUI64 = DEVICE) -> list[OutgoingFrame]:
        return self.request("query_next_image", source, field_control=0, manufacturer_code=MANUFACTURER,
                            image_type=IMAGE_TYPE, current_file_version=OLD)

    def block(self, offset: int, size: int = BLOCK, source: t.EUI64 = DEVICE) -> list[OutgoingFrame]:
        return self.request("image_block", source, field_control=0, manufacturer_code=MANUFACTURER,
                            image_type=IMAGE_TYPE, file_version=NEW, file_offset=offset, maximum_data_size=size)

    def page(self, offset: int, page_size: int, size: int = BLOCK) -> list[OutgoingFrame]:
        return self.request("image_page", field_control=0, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
                            file_version=NEW, file_offset=offset, maximum_data_size=size, page_size=page_size,
                            response_spacing=100)

    def end(self, source: t.EUI64 = DEVICE) -> list[OutgoingFrame]:
        return self.request("upgrade_end", source, status=Status.SUCCESS, manufacturer_code=MANUFACTURER,
                            image_type=IMAGE_TYPE, file_version=NEW)

    def download(self, source: t.EUI64 = DEVICE) -> bytes:
        received = bytearray()
        while len(received) < len(self.ota):
            _, response = one(self.block(len(received), source=source))
            assert response.status == Status.SUCCESS and response.file_offset == len(received)
            received += response.image_data
        return bytes(received)


def one(frames: list[OutgoingFrame]):
    assert len(frames) == 1, frames
    return decode(frames[0])


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_query_no_image_is_answered_once_then_the_offer_stands(rig: Rig) -> None:
    rig.set(Fault(FaultKind.QUERY_NO_IMAGE))
    assert one(rig.query())[1].status == Status.NO_IMAGE_AVAILABLE
    assert one(rig.query())[1].status == Status.SUCCESS
    assert one(rig.query(OTHER))[1].status == Status.SUCCESS  # another device is not touched
    [acted] = rig.history()
    assert acted["kind"] == "query-no-image" and acted["time"] == rig.clock.now()
    assert [entry["event"] for entry in rig.core.faults.history_of(DEVICE)] == ["set", "acted"]
    assert rig.core.faults.listed() == {}  # spent


def test_query_not_authorized_acts_as_often_as_told(rig: Rig) -> None:
    rig.set(Fault(FaultKind.QUERY_NOT_AUTHORIZED, times=2))
    statuses = [one(rig.query())[1].status for _ in range(3)]
    assert statuses == [Status.NOT_AUTHORIZED, Status.NOT_AUTHORIZED, Status.SUCCESS]
    assert len(rig.history()) == 2


def test_a_lasting_silent_query_fault_holds_until_cleared(rig: Rig) -> None:
    rig.set(Fault(FaultKind.QUERY_SILENT, times=None))
    assert [rig.query() for _ in range(5)] == [[]] * 5
    assert len(rig.history()) == 5
    assert rig.core.faults.clear(rig.clock.now(), DEVICE) == 1
    assert one(rig.query())[1].status == Status.SUCCESS
    assert rig.history("cleared")[0]["kind"] == "query-silent"


def test_block_corrupt_flips_exactly_the_byte_at_the_offset_and_not_the_stored_image(rig: Rig) -> None:
    offset = 777
    rig.set(Fault(FaultKind.BLOCK_CORRUPT, offset=offset))
    served = rig.download()
    differing = [index for index, (a, b) in enumerate(zip(served, rig.ota, strict=True)) if a != b]
    assert differing == [offset]
    assert served[offset] == rig.ota[offset] ^ 0xFF
    assert rig.core.store.read(rig.image.image_id, 0, len(rig.ota)) == rig.ota  # the store's image is unchanged
    assert rig.download(OTHER) == rig.ota
    assert rig.download() == rig.ota  # one-shot: the next download is clean
    [acted] = rig.history()
    assert acted["offset"] == offset


def test_block_corrupt_in_a_page(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_CORRUPT, offset=130))
    served = b"".join(decode(frame)[1].image_data for frame in rig.page(100, 100))
    assert served[30] == rig.ota[130] ^ 0xFF and served[:30] + served[31:] == rig.ota[100:130] + rig.ota[131:200]


def test_block_drop_leaves_every_third_request_unanswered(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_DROP, every=3, times=None))
    answered = [bool(rig.block(index * BLOCK)) for index in range(9)]
    assert answered == [True, True, False] * 3
    assert [entry["offset"] for entry in rig.history()] == [2 * BLOCK, 5 * BLOCK, 8 * BLOCK]


def test_block_abort_at_or_after_its_offset_then_normal(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_ABORT, offset=120))
    assert one(rig.block(100))[1].status == Status.SUCCESS  # before the offset
    assert one(rig.block(150))[1].status == Status.ABORT
    assert one(rig.block(150))[1].status == Status.SUCCESS
    assert rig.history()[0]["offset"] == 150


def test_block_wait_answers_wait_for_data_for_its_window_with_the_minimum_block_period(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_WAIT, seconds=30, minimum_block_period=250))
    _, first = one(rig.block(0))
    assert first.status == Status.WAIT_FOR_DATA
    assert (first.current_time, first.request_time, first.minimum_block_period) == (0, 30, 250)
    rig.clock.advance(10)
    _, second = one(rig.block(0))
    assert (second.status, second.request_time) == (Status.WAIT_FOR_DATA, 20)  # what is left of the window
    rig.clock.advance(20)
    assert one(rig.block(0))[1].status == Status.SUCCESS
    assert len(rig.history()) == 2 and len(rig.history("expired")) == 1
    assert rig.core.faults.listed(rig.clock.now()) == {}


def test_block_wait_without_a_period_carries_the_hubs_own(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_WAIT, seconds=5))
    _, response = one(rig.block(0))
    assert (response.request_time, response.minimum_block_period) == (5, 0)


def test_block_delay_sends_the_answer_late(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_DELAY, seconds=7, times=2))
    now = rig.clock.now()
    assert [frame.not_before for frame in rig.block(0)] == [now + 7]
    pages = rig.page(0, 100)
    assert [frame.not_before for frame in pages] == [now + 7, now + 7.1]
    assert [frame.not_before for frame in rig.block(0)] == [None]


def test_block_short_serves_at_most_its_size(rig: Rig) -> None:
    rig.set(Fault(FaultKind.BLOCK_SHORT, size=10, times=None))
    _, response = one(rig.block(40, size=BLOCK))
    assert response.image_data == rig.ota[40:50]
    assert [len(decode(frame)[1].image_data) for frame in rig.page(0, 30)] == [10, 10, 10]
    assert one(rig.block(0, size=BLOCK, source=OTHER))[1].image_data == rig.ota[:BLOCK]


def test_silence_drops_every_frame_to_the_device_for_its_window_and_none_after(rig: Rig) -> None:
    rig.set(Fault(FaultKind.SILENCE, seconds=60))
    assert rig.query() == [] and rig.block(0) == []
    last = rig.core.server.exchanges.last(DEVICE)
    assert last is not None and (last.request.command, last.request.offset) == ("ImageBlock", 0)
    assert (last.answer, last.reason) == ("no answer", "fault injected: silence (answer dropped)")
    assert one(rig.query(OTHER))[1].status == Status.SUCCESS  # only the silenced device
    rig.clock.advance(59)
    assert rig.core.run_due() == []  # the ImageNotify re-send to DEVICE (due after ~60 s) is dropped
    rig.clock.advance(1)
    assert one(rig.block(0))[1].status == Status.SUCCESS
    assert one(rig.query())[1].status == Status.SUCCESS
    dropped = [entry["dropped"] for entry in rig.history()]
    assert dropped[:2] == ["0x0019/0x02", "0x0019/0x05"] and len(dropped) >= 2
    assert len(rig.history("expired")) == 1


def test_silence_drops_the_imagenotify_resends(rig: Rig) -> None:
    rig.clock.advance(3600 * 7)
    rig.core.run_due()  # past every re-send gap once
    rig.set(Fault(FaultKind.SILENCE, seconds=7 * 3600))
    rig.clock.advance(7 * 3600 - 1)
    assert [frame for frame in rig.core.run_due() if frame.destination == DEVICE] == []
    assert any(entry["dropped"] == "0x0019/0x00" for entry in rig.history())


def test_end_wait_answers_upgrade_on_command_then_the_normal_answer_is_repeated(rig: Rig) -> None:
    rig.download()
    rig.set(Fault(FaultKind.END_WAIT))
    _, response = one(rig.end())
    assert response.upgrade_time == UPGRADE_ON_COMMAND == 0xFFFFFFFF
    _, again = one(rig.end())
    assert again.upgrade_time == 0  # a PPMID activates at once: the hub's own answer
    assert rig.history()[0]["kind"] == "end-wait"


def test_end_later_and_end_silent(rig: Rig) -> None:
    rig.download()
    rig.set(Fault(FaultKind.END_SILENT))
    assert rig.end() == []
    rig.set(Fault(FaultKind.END_LATER, seconds=120))
    assert one(rig.end())[1].upgrade_time == 120
    assert one(rig.end())[1].upgrade_time == 0
    assert [entry["kind"] for entry in rig.history()] == ["end-silent", "end-later"]


def test_faults_need_their_options_and_a_known_kind() -> None:
    with pytest.raises(FaultError, match="block-corrupt needs --offset"):
        Fault(FaultKind.BLOCK_CORRUPT)
    with pytest.raises(FaultError, match="unknown fault kind 'nope'"):
        Fault.from_json({"kind": "nope"})
    assert Fault.from_json({"kind": "BLOCK_DROP", "every": 2, "times": None}) == Fault(
        FaultKind.BLOCK_DROP, times=None, every=2)


def test_a_window_fault_ignores_times_and_records_when_it_was_set() -> None:
    book = FaultBook()
    book.set(DEVICE, Fault(FaultKind.SILENCE, seconds=10), 100.0)
    assert book.set_at(DEVICE, FaultKind.SILENCE) == 100.0 and book.window_end(DEVICE, FaultKind.SILENCE) == 110.0
    assert all(book.take(DEVICE, [FaultKind.SILENCE], 100.0 + second) for second in range(10))
    assert book.take(DEVICE, [FaultKind.SILENCE], 110.0) is None
    assert [entry["event"] for entry in book.history_of(DEVICE)] == ["set"] + ["acted"] * 10 + ["expired"]
