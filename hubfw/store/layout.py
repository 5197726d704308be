"""Where things live on the flash: superblock, two image blocks, a ring of metadata regions.

::

    sector 0                       superblock (written once, at format)
    sectors 1 .. B                 ESME image block  (B = ceil(max_image_size / sector_size))
    sectors B+1 .. 2B              GSME image block
    sectors 2B+1 ..                K metadata regions of R sectors each (K >= 2), the rest unused

Everything is derived from the flash profile and the formatted maximum image size, and the
superblock records the result, so `inspect` and later opens need no arguments to find it. What a
snapshot must be able to hold — the widest image and the alert journal it implies — follows from
the recorded region geometry (`journal_limits`); under one LAYOUT_VERSION the same geometry always
gives the same limits, so changing that derivation means bumping the version.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass, replace

import zigpy.types as t

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert
from hubfw.devices import DeviceType
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import FlashProfile
from hubfw.store.errors import StoreFormatError
from hubfw.store.policy import MAX_ESME_TARGETS
from hubfw.store.records import (
    AlertCounterRecord,
    CompletedRecord,
    CountersRecord,
    ImageRecord,
    OwedAlertRecord,
    encode,
)
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress

SUPERBLOCK_MAGIC = b"HUBFWSTO"
LAYOUT_VERSION = 2  # 2: alert ids with 8 target bits, alert sources, layout-derived target limit
REGION_MIN_BYTES, REGION_MAX_BYTES = 8 * 1024, 32 * 1024  # a region is 1/16 of the flash within these bounds
MAX_TARGETS_PER_IMAGE = 255
"""Target indices are one byte in records and alert ids, and 0xFF is the activation slot: 0..254."""
_SUPER = struct.Struct("<8sHHIIIII")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class JournalLimits:
    """What one compacted snapshot is sized to hold (DESIGN.md §4)."""

    targets_per_image: int  # targets one GSME-block image may name (an ESME image: at most MAX_ESME_TARGETS)
    owed_alerts: int  # alerts owed or reserved for unfinished targets
    completed_transfers: int  # completed transfers remembered for CS06


@dataclass(frozen=True)
class Layout:
    sector_size: int
    page_size: int
    program_unit: int
    max_image_size: int  # what the blocks were sized for
    block_sectors: int
    region_sectors: int
    region_count: int

    @classmethod
    def plan(cls, profile: FlashProfile, max_image_size: int) -> Layout:
        """The layout for this flash part and image size, or StoreFormatError if they do not fit."""
        sector = profile.sector_size
        block_sectors = -(-max_image_size // sector)
        region_bytes = min(REGION_MAX_BYTES, max(REGION_MIN_BYTES, profile.size // 16))
        region_sectors = max(1, region_bytes // sector)
        spare = profile.sector_count - 1 - 2 * block_sectors
        region_count = spare // region_sectors if spare > 0 else 0
        journal = journal_limits(region_sectors * sector, profile.page_size, profile.program_unit)
        if region_count < 2 or journal is None:
            raise StoreFormatError(
                f"a {profile.size}-byte {profile.name} flash cannot hold two {max_image_size}-byte image blocks "
                f"plus two {region_sectors * sector}-byte metadata regions that journal {MAX_ESME_TARGETS} targets"
            )
        return cls(sector, profile.page_size, profile.program_unit, max_image_size, block_sectors, region_sectors,
                   region_count)

    # ----- addresses

    def block_first_sector(self, block: Block) -> int:
        return 1 + (0 if block is Block.ESME else self.block_sectors)

    def block_address(self, block: Block) -> int:
        return self.block_first_sector(block) * self.sector_size

    def block_sector_range(self, block: Block) -> range:
        first = self.block_first_sector(block)
        return range(first, first + self.block_sectors)

    def region_first_sector(self, region: int) -> int:
        return 1 + 2 * self.block_sectors + region * self.region_sectors

    def region_address(self, region: int) -> int:
        return self.region_first_sector(region) * self.sector_size

    @property
    def region_size(self) -> int:
        return self.region_sectors * self.sector_size

    @property
    def limits(self) -> JournalLimits:
        """Targets per image, owed alerts and completed transfers a snapshot can always hold."""
        limits = journal_limits(self.region_size, self.page_size, self.program_unit)
        assert limits is not None, "plan() and read_superblock() only make layouts that journal something"
        return limits

    # ----- superblock

    def superblock(self) -> bytes:
        head = _SUPER.pack(
            SUPERBLOCK_MAGIC, LAYOUT_VERSION, self.program_unit, self.sector_size, self.page_size, self.max_image_size,
            self.block_sectors, self.region_sectors << 16 | self.region_count,
        )
        return head + _CRC.pack(zlib.crc32(head))

    @classmethod
    def read_superblock(cls, flash: NorFlash) -> Layout | None:
        """The layout the superblock records; None if sector 0 holds no valid superblock."""
        raw = flash.read(0, _SUPER.size + _CRC.size)
        head, (crc,) = raw[: _SUPER.size], _CRC.unpack(raw[_SUPER.size:])
        if zlib.crc32(head) != crc:
            return None
        magic, version, unit, sector, page, max_image, block_sectors, regions = _SUPER.unpack(head)
        if magic != SUPERBLOCK_MAGIC:
            return None
        if version != LAYOUT_VERSION:
            raise StoreFormatError(
                f"store layout version {version} is not supported (this hubfw reads {LAYOUT_VERSION}); reformat: "
                "start from a fresh flash file, and for a hub a fresh --state directory, whose alert log numbers "
                "alerts the old way (images and owed alerts are not carried over)"
            )
        layout = cls(sector, page, unit, max_image, block_sectors, regions >> 16, regions & 0xFFFF)
        if (sector, page, unit) != (flash.sector_size, flash.page_size, flash.profile.program_unit) or (
            layout.region_first_sector(layout.region_count) > flash.sector_count
            or journal_limits(layout.region_size, page, unit) is None
        ):
            raise StoreFormatError(f"the store's superblock does not match this {flash.profile.name} flash's geometry")
        return layout


@functools.lru_cache(maxsize=16)
def journal_limits(region_size: int, page_size: int, program_unit: int) -> JournalLimits | None:
    """The widest image whose worst-case snapshot fits half a region, and the journal sized for it.

    None if not even an image of MAX_ESME_TARGETS targets fits. Wider images need more of the half
    region for themselves, their alerts and their completed transfers, so the first width that does
    not fit ends the search.
    """
    frames = _Frames(program_unit)
    best = None
    for targets in range(MAX_ESME_TARGETS, MAX_TARGETS_PER_IMAGE + 1):
        limits = _limits_for(targets, frames, region_size, page_size)
        if limits is None:
            break
        best = limits
    return best


def alert_slots(alert: TransferAlert, page_size: int, program_unit: int) -> int:
    """How many of the journal's owed-alert slots (`JournalLimits.owed_alerts`) this alert takes.

    A slot is a short OWED ALERT frame; `journal_limits` gives the owed alerts whole pages at
    ⌊page / frame⌋ = p slots a page. An alert with a device message (or a failure outcome) is a longer
    frame: it takes p × (its pages + 1) slots — its own pages plus the page a run of short frames before
    it may leave part-used — so any journal-ordered mix of alerts whose slots add up to at most
    `owed_alerts` fits the pages the limits were derived from (DESIGN.md §4).
    """
    frames = _Frames(program_unit)
    if alert.message is None and alert.outcome in (None, ActivationOutcome.SUCCESS):
        return 1
    frame = len(encode(OwedAlertRecord(replace(alert, counter=alert.counter or 0)), program_unit))
    per_page = page_size // frames.alert if frames.alert <= page_size else 1
    return per_page * (-(-frame // page_size) + 1)


def _limits_for(targets: int, frames: _Frames, region_size: int, page_size: int) -> JournalLimits | None:
    """The journal a snapshot holds next to one image of `targets` targets and one ESME image, or None
    if it cannot owe an alert for every target of both blocks plus a replacing image's targets
    (2 × targets + MAX_ESME_TARGETS) and remember a completed transfer per target of both blocks.

    A snapshot body (after its one-page header) may use half a region, so every compaction leaves
    room to append. Frames are counted in whole pages per kind: next-fit placement never ends later
    than if each kind started on a fresh page.
    """
    pages = (region_size // 2 - page_size) // page_size
    fixed = sum(_pages(frame, 1, page_size) for frame in (
        frames.counters, frames.image(targets), frames.image(MAX_ESME_TARGETS)
    ))
    completed_pages = _pages(frames.completed, targets + MAX_ESME_TARGETS, page_size)
    owed = _fitting(frames.alert, pages - fixed - completed_pages, page_size)
    if owed < 2 * targets + MAX_ESME_TARGETS:
        return None
    return JournalLimits(targets, owed, _fitting(frames.completed, completed_pages, page_size))


def _pages(frame: int, count: int, page_size: int) -> int:
    """Pages `count` frames of `frame` bytes take from a page boundary (records never straddle a page
    unless longer than one; those start on a page boundary)."""
    if frame > page_size:
        return count * -(-frame // page_size)
    return -(-count // (page_size // frame))


def _fitting(frame: int, pages: int, page_size: int) -> int:
    """How many frames of `frame` bytes `pages` pages hold (the inverse of `_pages`)."""
    if pages <= 0:
        return 0
    if frame > page_size:
        return pages // -(-frame // page_size)
    return pages * (page_size // frame)


class _Frames:
    """Framed sizes of the records a snapshot is made of, on a part with this program unit."""

    _PROBE = t.EUI64.convert("00:00:00:00:00:00:00:00")

    def __init__(self, program_unit: int) -> None:
        self._unit = program_unit
        # COUNTERS and ALERT COUNTER open every snapshot, from a page boundary: counted together.
        self.counters = len(encode(CountersRecord(0, 0), program_unit)) + len(encode(AlertCounterRecord(0), program_unit))
        completed = CompletedTransfer(self._PROBE, 0, DeviceType.GSME, 0, bytes(32), 0.0)
        self.completed = len(encode(CompletedRecord(completed), program_unit))
        # An owed alert in its short form (no device message); one with a message counts several slots.
        alert = TransferAlert(0, AlertCode.ACTIVATION, self._PROBE, 0, None, 0.0, counter=0)
        self.alert = len(encode(OwedAlertRecord(alert), program_unit))

    def image(self, targets: int) -> int:
        image = StoredImage(0, Block.GSME, DeviceType.GSME, 0, 0, 0, 0, 0, 0, bytes(32), bytes(32), 0.0)
        progress = tuple(TargetProgress(self._PROBE) for _ in range(targets))
        return len(encode(ImageRecord(image, progress, True), self._unit))
