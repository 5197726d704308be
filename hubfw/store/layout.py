"""Where things live on the flash: superblock, two image blocks, a ring of metadata regions.

::

    sector 0                       superblock (written once, at format)
    sectors 1 .. B                 ESME image block  (B = ceil(max_image_size / sector_size))
    sectors B+1 .. 2B              GSME image block
    sectors 2B+1 ..                K metadata regions of R sectors each (K >= 2), the rest unused

Everything is derived from the flash profile and the formatted maximum image size, and the
superblock records the result, so `inspect` and later opens need no arguments to find it.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.devices import DeviceType
from hubfw.flash.device import NorFlash
from hubfw.store.errors import StoreFormatError
from hubfw.store.policy import MAX_TARGETS
from hubfw.store.records import AlertRecord, CompletedRecord, CountersRecord, ImageRecord, encode
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress

SUPERBLOCK_MAGIC = b"HUBFWSTO"
LAYOUT_VERSION = 1
REGION_MIN_BYTES, REGION_MAX_BYTES = 8 * 1024, 32 * 1024  # a region is 1/16 of the flash within these bounds
_SUPER = struct.Struct("<8sHHIIIII")
_CRC = struct.Struct("<I")


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
    def plan(cls, flash: NorFlash, max_image_size: int) -> Layout:
        """The layout for this flash and image size, or StoreFormatError if they do not fit."""
        profile = flash.profile
        sector = profile.sector_size
        block_sectors = -(-max_image_size // sector)
        region_bytes = min(REGION_MAX_BYTES, max(REGION_MIN_BYTES, profile.size // 16))
        region_sectors = max(1, region_bytes // sector)
        spare = profile.sector_count - 1 - 2 * block_sectors
        region_count = spare // region_sectors if spare > 0 else 0
        if region_count < 2 or min(cls(sector, profile.page_size, profile.program_unit, max_image_size,
                                           block_sectors, region_sectors, 2).capacities) < 2:
            raise StoreFormatError(
                f"a {profile.size}-byte {profile.name} flash cannot hold two {max_image_size}-byte image blocks "
                f"plus two {region_sectors * sector}-byte metadata regions"
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
    def capacities(self) -> tuple[int, int]:
        """(owed alerts, completed transfers) a snapshot can always hold next to two full images."""
        return _capacities(self.region_size, self.page_size, self.program_unit)

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
                f"store layout version {version} is not supported (this hubfw reads {LAYOUT_VERSION})"
            )
        layout = cls(sector, page, unit, max_image, block_sectors, regions >> 16, regions & 0xFFFF)
        if (sector, page, unit) != (flash.sector_size, flash.page_size, flash.profile.program_unit) or (
            layout.region_first_sector(layout.region_count) > flash.sector_count
        ):
            raise StoreFormatError(f"the store's superblock does not match this {flash.profile.name} flash's geometry")
        return layout


@functools.lru_cache(maxsize=16)
def _capacities(region_size: int, page_size: int, program_unit: int) -> tuple[int, int]:
    """A snapshot may use half a region, so appends always find room after a compaction. Frames up
    to a page can waste their own length in page padding, longer ones up to a page: hence the 2x.
    Three quarters of what is left go to the alert journal, a quarter to completed transfers.
    """
    probe = t.EUI64.convert("00:00:00:00:00:00:00:00")
    image = StoredImage(0, Block.GSME, DeviceType.GSME, 0, 0, 0, 0, 0, 0, bytes(32), bytes(32), 0.0)
    targets = tuple(TargetProgress(probe) for _ in range(MAX_TARGETS))
    image_frame = len(encode(ImageRecord(image, targets, True), program_unit))
    completed = CompletedTransfer(probe, 0, DeviceType.GSME, 0, bytes(32), 0.0)
    completed_frame = len(encode(CompletedRecord(completed), program_unit))
    counters_frame = len(encode(CountersRecord(0, 0), program_unit))
    alert = TransferAlert(0, AlertCode.ACTIVATION, probe, 0, None, 0.0)
    alert_frame = len(encode(AlertRecord(alert), program_unit))
    budget = region_size // 2 - page_size - 2 * counters_frame - 2 * (image_frame + page_size)
    budget = max(0, budget)
    return budget * 3 // 4 // (2 * alert_frame), budget // 4 // (2 * completed_frame)
