"""The §4 block rules as pure functions: admission, time rules, hardware range, request checks."""

from __future__ import annotations

import pytest

from hubfw.alerts import TransferResponse
from hubfw.devices import DeviceType
from hubfw.store import policy
from hubfw.store.errors import StoreRejected
from hubfw.store.state import Block, ImageState, StoredImage, TargetProgress
from tests.store.helpers import eui

T0 = 1_767_225_600.0
DAY = policy.DAY


def image(device_type: DeviceType, *, arrived: float = T0, started: list[float | None] = (None,),
          hw: tuple[int, int] | None = None) -> ImageState:
    stored = StoredImage(7, policy.block_for(device_type), device_type, 0x1234, 1, 0x100, 1000,
                         None if hw is None else hw[0], None if hw is None else hw[1], bytes(32), bytes(32), arrived)
    progress = [TargetProgress(eui(n + 1), started_at=s, checkpoint_time=s, last_activity=s)
                for n, s in enumerate(started)]
    return ImageState(stored, progress, committed=True)


def test_blocks_follow_device_type():
    assert policy.block_for(DeviceType.ESME) is Block.ESME
    for device_type in (DeviceType.GSME, DeviceType.PPMID, DeviceType.HCALCS):
        assert policy.block_for(device_type) is Block.GSME


LAYOUT_LIMIT = 20  # what a store's flash layout can journal per image (the store passes its own)


@pytest.mark.parametrize("request_targets, message", [
    ([], "at least one target"),
    ([(eui(1), DeviceType.PPMID), (eui(2), DeviceType.HCALCS)], "mixes hcalcs, ppmid"),
    ([(eui(n), DeviceType.ESME) for n in range(5)], "the ESME block serves at most 4"),
    ([(eui(n), DeviceType.PPMID) for n in range(21)],
     r"21 ppmid targets named; an image may name at most 20 on this store \(what its flash layout"),
    ([(eui(1), DeviceType.GSME), (eui(1), DeviceType.GSME)], "more than once"),
])
def test_bad_requests_are_rejected_with_the_reason(request_targets, message):
    with pytest.raises(StoreRejected, match=message):
        policy.request_device_type(request_targets, LAYOUT_LIMIT)


def test_four_esmes_are_one_request():
    assert policy.request_device_type([(eui(n), DeviceType.ESME) for n in range(4)], LAYOUT_LIMIT) is DeviceType.ESME


@pytest.mark.parametrize("device_type", [DeviceType.GSME, DeviceType.PPMID, DeviceType.HCALCS])
def test_other_types_may_name_as_many_targets_as_the_layout_journals(device_type):
    """No GBCS cap of 15: the draft's "up to 15 Devices" logging rule was removed by the Working Group."""
    request = [(eui(n), device_type) for n in range(LAYOUT_LIMIT)]
    assert policy.request_device_type(request, LAYOUT_LIMIT) is device_type


def test_empty_block_admits_anything():
    for device_type in DeviceType:
        assert policy.admit(device_type, None, T0).discard is None


def test_gsme_discards_ppmid_even_in_progress():
    resident = image(DeviceType.PPMID, started=[T0])
    assert policy.admit(DeviceType.GSME, resident, T0 + 60).discard is resident


@pytest.mark.parametrize("new", [DeviceType.PPMID, DeviceType.HCALCS])
@pytest.mark.parametrize("old", [DeviceType.PPMID, DeviceType.HCALCS])
def test_ppmid_and_hcalcs_replace_each_other_even_in_progress(old, new):
    resident = image(old, started=[T0])
    assert policy.admit(new, resident, T0 + 60).discard is resident


def test_gsme_is_protected_for_14_days_against_ppmid():
    resident = image(DeviceType.GSME)
    with pytest.raises(StoreRejected, match=r"protected until 2026-01-15T00:00:00Z \(14 days from arrival\)"):
        policy.admit(DeviceType.PPMID, resident, T0 + 14 * DAY - 1)
    assert policy.admit(DeviceType.HCALCS, resident, T0 + 14 * DAY).discard is resident


def test_in_progress_gsme_transfer_is_never_replaced_even_after_14_days():
    now = T0 + 20 * DAY
    resident = image(DeviceType.GSME, started=[now - 3600])
    with pytest.raises(StoreRejected, match=r"a GSME transfer is in progress \(target 00:0d:6f:00:00:00:00:01"):
        policy.admit(DeviceType.PPMID, resident, now)
    # ... nor by a newer GSME image (our decision for the silent case)
    with pytest.raises(StoreRejected, match="GSME transfer is in progress"):
        policy.admit(DeviceType.GSME, resident, now)


def test_stalled_gsme_transfer_no_longer_counts_as_in_progress():
    now = T0 + 20 * DAY
    resident = image(DeviceType.GSME, started=[now - policy.STALL_FAILURE_S])
    assert policy.transfer_in_progress(resident, now) is None


def test_newer_gsme_replaces_an_idle_gsme_image_inside_its_protection():
    resident = image(DeviceType.GSME)
    assert policy.admit(DeviceType.GSME, resident, T0 + DAY).discard is resident


def test_in_progress_esme_transfer_blocks_a_new_esme_image():
    resident = image(DeviceType.ESME, started=[T0, None])
    with pytest.raises(StoreRejected, match="ESME transfer is in progress"):
        policy.admit(DeviceType.ESME, resident, T0 + 60)
    assert policy.admit(DeviceType.ESME, image(DeviceType.ESME), T0 + 60).discard is not None


def test_time_rules():
    waiting = image(DeviceType.PPMID)
    target = waiting.targets[0]
    assert policy.due_outcome(waiting, target, T0 + 14 * DAY - 1) is None
    assert policy.due_outcome(waiting, target, T0 + 14 * DAY) is TransferResponse.IMAGE_DISCARDED
    started = image(DeviceType.PPMID, started=[T0 + 13 * DAY])
    target = started.targets[0]
    assert policy.deadline(started, target) == T0 + 14 * DAY
    assert policy.due_outcome(started, target, T0 + 14 * DAY - 1) is None
    assert policy.due_outcome(started, target, T0 + 14 * DAY) is TransferResponse.FILE_TRANSFER_FAILURE
    target.response = TransferResponse.SUCCESS
    assert policy.deadline(started, target) is None
    assert policy.due_outcome(started, target, T0 + 100 * DAY) is None


def test_hardware_range_is_inclusive_and_unknown_passes():
    ranged = image(DeviceType.PPMID, hw=(2, 4))
    assert [policy.hardware_mismatch(ranged, hw) for hw in (1, 2, 4, 5, None)] == [True, False, False, True, False]
    assert not policy.hardware_mismatch(image(DeviceType.PPMID), 99)


def test_end_status():
    assert policy.end_response(0) is TransferResponse.SUCCESS
    for status in (0x95, 0x96, 0x7E):
        assert policy.end_response(status) is TransferResponse.FILE_TRANSFER_FAILURE
