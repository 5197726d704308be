"""The soak checker's pieces on their own: each rule it enforces fails when broken."""

from __future__ import annotations

import dataclasses
import random

import pytest
from soaklib import air
from soaklib.fleet import Fleet, SoakImage
from soaklib.ledger import Ledger
from soaklib.wear import FlashOpCounter
from zigpy.zcl import foundation

from hubfw.alerts import TransferAlert, TransferResponse, activation_alert, transfer_alert
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.profiles import get_profile
from hubfw.gbcs.alert_message import GbcsIdentity
from hubfw.hub.core import TEST_CH_ID
from hubfw.ota.keys import new_private_key
from hubfw.sim.devices import zcl
from hubfw.store.policy import NO_START_DISCARD_S, STALL_FAILURE_S
from hubfw.store.store import ImageStore
from hubfw.zigbee.zcl import TO_CLIENT, TO_SERVER, OtaCommand, OtaReply, cluster_command, default_response

START = 1_767_225_600.0


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.build(8, random.Random(5), target_limit=8)


def _image(fleet: Fleet, device_type: DeviceType = DeviceType.PPMID) -> SoakImage:
    return fleet.new_image(random.Random(1), 512, 1024, device_type)


def _ledger(fleet: Fleet) -> Ledger:
    return Ledger(fleet.devices, checkpoint_seconds=600.0, start=START)


def _discarded(alert_id: int, image: SoakImage, at: float) -> TransferAlert:
    return transfer_alert(alert_id, image.targets[0], image.file_version, TransferResponse.IMAGE_DISCARDED, at)


# ----- reading the air


def test_air_reads_image_data_as_zigpy_does() -> None:
    frame = cluster_command(9, OtaReply.image_block_response, TO_CLIENT, status=foundation.Status.SUCCESS,
                            manufacturer_code=0x1234, image_type=0x0301, file_version=0x0201, file_offset=640,
                            image_data=b"\x01\x02\xff")
    parsed = zcl.parse_server_frame(frame)
    assert parsed is not None and parsed.name == "image_block_response"
    assert air.image_data(frame) == air.ImageData(0x0301, 0x0201, 640, b"\x01\x02\xff")
    wait = cluster_command(9, OtaReply.image_block_response, TO_CLIENT, status=foundation.Status.WAIT_FOR_DATA,
                           current_time=0, request_time=60, minimum_block_period=0)
    assert air.image_data(wait) is None


def test_air_reads_the_version_of_requests() -> None:
    block = cluster_command(3, OtaCommand.image_block, TO_SERVER, field_control=0, manufacturer_code=0x1234,
                            image_type=0x0301, file_version=0x0105, file_offset=64, maximum_data_size=64)
    end = cluster_command(4, OtaCommand.upgrade_end, TO_SERVER, status=foundation.Status.INVALID_IMAGE,
                          manufacturer_code=0x1234, image_type=0x0301, file_version=0x0105)
    assert air.transfer_request_version(block) == 0x0105
    assert air.transfer_request_version(end) is None
    assert air.upgrade_end(end) == (foundation.Status.INVALID_IMAGE, 0x0105)
    assert air.upgrade_end(block) is None


# ----- the ledger


def test_a_second_terminal_alert_for_one_target_and_image_fails(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    late = START + NO_START_DISCARD_S
    ledger.alert(_discarded(0x11, image, late), late)
    ledger.alert(_discarded(0x11, image, late), late)  # at-least-once: the same id again is fine
    assert ledger.failures == [] and ledger.redelivered == 1
    ledger.alert(_discarded(0x12, image, late), late)
    assert any("2 terminal alerts" in failure for failure in ledger.failures)


def test_a_discard_without_replacement_or_14_days_fails(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    early = START + NO_START_DISCARD_S - 60
    ledger.alert(_discarded(0x11, image, early), early)
    assert any("before 14 days" in failure for failure in ledger.failures)


def test_a_discard_explained_by_a_replacing_image_passes(fleet: Fleet) -> None:
    ledger, first = _ledger(fleet), _image(fleet)
    ledger.stored(first, None, START, confirmed=True)
    clock = VirtualClock(START)
    store = ImageStore.open(NorFlash(get_profile("serial-nor")), clock)
    store.distribute(first.data, [(entity, first.device_type) for entity in first.targets])
    clock.advance(60)
    second = fleet.new_image(random.Random(2), 512, 1024, DeviceType.HCALCS)
    resident = store.status().blocks[1].image
    ledger.stored(second, resident, clock.now(), confirmed=True)
    ledger.alert(_discarded(0x11, first, clock.now()), clock.now())
    assert ledger.failures == []


def test_a_stall_failure_sooner_than_24_hours_fails(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    request = cluster_command(1, OtaCommand.image_block, TO_SERVER, field_control=0, manufacturer_code=0x1234,
                              image_type=0x0301, file_version=image.file_version, file_offset=0, maximum_data_size=64)
    ledger.heard(image.targets[0], request, START + 10)
    soon = START + 10 + STALL_FAILURE_S - 120
    ledger.alert(transfer_alert(0x11, image.targets[0], image.file_version, TransferResponse.FILE_TRANSFER_FAILURE,
                                soon), soon)
    assert any("less than 24 h" in failure for failure in ledger.failures)


def test_an_image_waiting_past_14_days_has_outlived_its_rules(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    clock = VirtualClock(START)
    store = ImageStore.open(NorFlash(get_profile("serial-nor")), clock)
    store.distribute(image.data, [(entity, image.device_type) for entity in image.targets])
    clock.advance(NO_START_DISCARD_S + 1)  # no tick: the store has not applied its rule yet
    ledger.check_store(store.status(), clock.now())
    assert any("14 days after it arrived" in failure for failure in ledger.failures)


def test_a_wrong_byte_on_the_air_fails(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    good = image.data[100:164]
    ledger.received(image.targets[0], air.ImageData(0x0301, image.file_version, 100, good), START)
    assert ledger.failures == []
    bad = good[:5] + bytes([good[5] ^ 0x80]) + good[6:]
    ledger.received(image.targets[0], air.ImageData(0x0301, image.file_version, 100, bad), START)
    assert any("offset 105" in failure for failure in ledger.failures)


# ----- the wear counter


def test_the_wear_counter_agrees_with_the_flash_through_cuts() -> None:
    flash = NorFlash(get_profile("serial-nor"))
    counter = FlashOpCounter(flash)
    flash.erase_sector(3)
    flash.program(3 * 4096, b"\x00" * 16)
    counter.arm(1, CutMode.BEFORE)
    flash.erase_sector(4)
    with pytest.raises(PowerCut):
        flash.erase_sector(5)  # cut before it lands: neither the flash nor the counter counts it
    flash.reboot()
    counter.arm(0, CutMode.DURING)
    with pytest.raises(PowerCut):
        flash.program(4 * 4096, b"\x00" * 8)
    flash.reboot()
    assert counter.disagreements(power_cuts_seen=2) == []


def test_the_wear_counter_reports_an_operation_it_did_not_see() -> None:
    flash = NorFlash(get_profile("serial-nor"))
    counter = FlashOpCounter(flash)
    flash.erase_sector(1)
    flash.on_operation = None  # an erase behind the counter's back
    flash.erase_sector(2)
    problems = counter.disagreements(power_cuts_seen=0)
    assert any("erase counts differ" in problem for problem in problems)
    assert any("erase operations" in problem for problem in problems)


def test_air_reads_a_default_response() -> None:
    frame = default_response(7, OtaCommand.upgrade_end.id, foundation.Status.ABORT)
    assert air.default_response(frame) == (OtaCommand.upgrade_end.id, foundation.Status.ABORT)
    assert air.image_data(frame) is None


def test_abort_after_a_reported_success_fails(fleet: Fleet) -> None:
    ledger, image = _ledger(fleet), _image(fleet)
    ledger.stored(image, None, START, confirmed=True)
    target = image.targets[0]
    fleet.devices[target].completed_image = image.data  # what the device holds when it reports success
    end = cluster_command(4, OtaCommand.upgrade_end, TO_SERVER, status=foundation.Status.SUCCESS,
                          manufacturer_code=0x1234, image_type=0x0301, file_version=image.file_version)
    ledger.heard(target, end, START + 60)
    ledger.alert(transfer_alert(0x10, target, image.file_version, TransferResponse.SUCCESS, START + 60), START + 60)
    assert ledger.failures == []
    ledger.answered(target, default_response(5, OtaCommand.upgrade_end.id, foundation.Status.ABORT), START + 80)
    assert any("after the hub reported its transfer successful" in failure for failure in ledger.failures)


MESSAGE_FAILURES = ("GBCS message", "originator counter", "signed by the CH")


def _signed_ledger(fleet: Fleet) -> tuple[Ledger, GbcsIdentity]:
    identity = GbcsIdentity(TEST_CH_ID, new_private_key())
    return Ledger(fleet.devices, checkpoint_seconds=600.0, start=START, ch_key=identity.key.public_key()), identity


def _delivered(identity: GbcsIdentity, alert: TransferAlert, counter: int) -> TransferAlert:
    return identity.deliver(dataclasses.replace(alert, counter=counter))


def test_alerts_with_increasing_counters_and_the_chs_signature_pass(fleet: Fleet) -> None:
    (ledger, identity), image = _signed_ledger(fleet), _image(fleet)
    late = START + NO_START_DISCARD_S + 60
    ledger.alert(_delivered(identity, _discarded(0x11, image, late), 7), late)
    ledger.alert(_delivered(identity, _discarded(0x11, image, late), 7), late)  # the same alert again
    ledger.alert(_delivered(identity, activation_alert(0xFF, image.targets[0], 1, late), 8), late)
    assert [failure for failure in ledger.failures if any(word in failure for word in MESSAGE_FAILURES)] == []


def test_a_counter_not_above_the_last_one_fails(fleet: Fleet) -> None:
    (ledger, identity), image = _signed_ledger(fleet), _image(fleet)
    late = START + NO_START_DISCARD_S + 60
    ledger.alert(_delivered(identity, activation_alert(0xFF, image.targets[0], 1, late), 8), late)
    ledger.alert(_delivered(identity, activation_alert(0x1FF, image.targets[0], 2, late), 8), late)
    assert any("not above the last one" in failure for failure in ledger.failures)


def test_an_alert_signed_by_another_key_or_without_a_message_fails(fleet: Fleet) -> None:
    (ledger, _), image = _signed_ledger(fleet), _image(fleet)
    late = START + NO_START_DISCARD_S + 60
    stranger = GbcsIdentity(TEST_CH_ID, new_private_key())
    ledger.alert(_delivered(stranger, _discarded(0x11, image, late), 1), late)
    ledger.alert(dataclasses.replace(_discarded(0x12, image, late), counter=2), late)
    assert any("not signed by the CH" in failure for failure in ledger.failures)
    assert any("without its GBCS message" in failure for failure in ledger.failures)
