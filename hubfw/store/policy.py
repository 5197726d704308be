"""The block rules of REQUIREMENTS §4 as pure functions of the store's state and the time.

Nothing here touches flash or reads a clock: the store asks "may this image go in?" and "which
targets have reached a time-based terminal state by `now`?", writes the answer durably, and only
then acts on it. Keeping the rules here lets tests check each rule on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import TransferResponse
from hubfw.clock import iso_utc
from hubfw.devices import DeviceType
from hubfw.store.errors import StoreRejected
from hubfw.store.state import Block, ImageState, TargetProgress

HOUR = 3600.0
DAY = 24 * HOUR
GSME_PROTECTION_S = 14 * DAY  # a GSME image stays available this long before PPMID/HCALCS may replace it
NO_START_DISCARD_S = 14 * DAY  # a target that has not started downloading by then is imageDiscarded
STALL_FAILURE_S = 24 * HOUR  # a started target silent this long is fileTransferFailure
MAX_ESME_TARGETS = 4  # the CH serves up to 4 ESMEs from its ESME block
# Other images have no GBCS cap (the draft's "up to 15 Devices" logging rule was removed): their limit
# is what the flash layout can journal, `Layout.limits.targets_per_image`, passed in by the store.

_METER_TYPES = (DeviceType.ESME, DeviceType.GSME)


def block_for(device_type: DeviceType) -> Block:
    """ESME images use the ESME block; GSME, PPMID and HCALCS images the GSME block."""
    return Block.ESME if device_type is DeviceType.ESME else Block.GSME


def request_device_type(targets: Sequence[tuple[t.EUI64, DeviceType]], max_targets: int) -> DeviceType:
    """The one device type of a distribution request, or StoreRejected saying what is wrong with it.

    `max_targets` is how many targets the store's flash layout can journal for one image.
    """
    if not targets:
        raise StoreRejected("a distribution request needs at least one target device")
    types = {device_type for _, device_type in targets}
    if len(types) > 1:
        names = ", ".join(sorted(device_type.value for device_type in types))
        raise StoreRejected(f"one image is for one device type, but the request mixes {names}")
    (device_type,) = types
    if device_type is DeviceType.ESME and len(targets) > MAX_ESME_TARGETS:
        raise StoreRejected(f"{len(targets)} esme targets named; the ESME block serves at most {MAX_ESME_TARGETS}")
    if len(targets) > max_targets:
        raise StoreRejected(
            f"{len(targets)} {device_type.value} targets named; an image may name at most {max_targets} on this "
            "store (what its flash layout's metadata region can journal)"
        )
    named = Counter(bytes(entity) for entity, _ in targets)  # an image may name up to 255 targets
    duplicates = sorted({str(entity) for entity, _ in targets if named[bytes(entity)] > 1})
    if duplicates:
        raise StoreRejected(f"target {duplicates[0]} is named more than once")
    return device_type


@dataclass(frozen=True)
class Admission:
    """The answer for a new image: it goes in, and the resident image (if any) is discarded first."""

    discard: ImageState | None


def admit(device_type: DeviceType, resident: ImageState | None, now: float) -> Admission:
    """Whether an image of `device_type` may take its block, given the block's committed resident.

    `resident` must already have had its due time rules applied. Raises StoreRejected with the rule.
    """
    if resident is None or resident.retired:
        return Admission(discard=None)
    old_type = resident.image.device_type
    in_progress = transfer_in_progress(resident, now)
    if old_type in _METER_TYPES and in_progress is not None:
        # A meter's transfer is never aborted: not by PPMID/HCALCS (GBCS June 2020) and, our decision,
        # not by a newer meter image either (DESIGN.md §6).
        raise StoreRejected(
            f"a {old_type.value.upper()} transfer is in progress (target {in_progress.entity}, "
            f"image {resident.image.image_id}); try again when it has finished"
        )
    if old_type is DeviceType.GSME and device_type in (DeviceType.PPMID, DeviceType.HCALCS):
        until = protected_until(resident)
        if until is not None and now < until:
            raise StoreRejected(
                f"GSME image {resident.image.image_id} (version 0x{resident.image.file_version:08X}) is protected "
                f"until {iso_utc(until)} (14 days from arrival)"
            )
    return Admission(discard=resident)


def protected_until(image: ImageState) -> float | None:
    """When a GSME image's 14-day protection against PPMID/HCALCS images ends (None for other types)."""
    if image.image.device_type is not DeviceType.GSME:
        return None
    return image.image.arrived_at + GSME_PROTECTION_S


def transfer_in_progress(image: ImageState, now: float) -> TargetProgress | None:
    """A target that has started, is not terminal and is not (yet) due for the 24 h stall failure."""
    for target in image.targets:
        if target.started and not target.terminal and due_outcome(image, target, now) is None:
            return target
    return None


def deadline(image: ImageState, target: TargetProgress) -> float | None:
    """When the time rules next decide this target's fate, if nothing else happens first."""
    if target.terminal:
        return None
    if target.started:
        assert target.last_activity is not None
        return target.last_activity + STALL_FAILURE_S
    return image.image.arrived_at + NO_START_DISCARD_S


def due_outcome(image: ImageState, target: TargetProgress, now: float) -> TransferResponse | None:
    """The time rule's terminal response for this target at `now`, or None if none is due yet."""
    when = deadline(image, target)
    if when is None or now < when:
        return None
    return TransferResponse.FILE_TRANSFER_FAILURE if target.started else TransferResponse.IMAGE_DISCARDED


def hardware_mismatch(image: ImageState, hardware_version: int | None) -> bool:
    """A device reporting a hardware version outside the header's min..max (unknown versions pass)."""
    low, high = image.image.min_hw_version, image.image.max_hw_version
    if hardware_version is None or low is None or high is None:
        return False
    return not low <= hardware_version <= high


def end_response(status: int) -> TransferResponse:
    """UpgradeEndRequest status SUCCESS (0) is fileTransferSuccess; any other status fileTransferFailure."""
    return TransferResponse.SUCCESS if status == 0 else TransferResponse.FILE_TRANSFER_FAILURE
