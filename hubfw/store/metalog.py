"""The metadata log: a ring of regions, each a compacted snapshot followed by appended records.

A region starts with a one-page header ``magic "HMR1" | u32 sequence | u32 body length |
u32 body CRC | u32 header CRC``, then the snapshot body (records), then records appended one by one.
The active region is the valid header with the highest sequence. A compaction writes the whole
state into the *next* region of the ring — erase, body, and the header last — so until its header
lands the old region stays the active one, untouched; and successive compactions walk round the
ring, spreading metadata wear over every region.

Records never straddle a page unless longer than one (then they start on a page boundary), so a
short record is exactly one program operation. A reader that meets 0xFF mid-page skips to the next
page; 0xFF at a page start is the end of the log.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from hubfw.flash.device import EraseFailed, NorFlash, ProgramFailed
from hubfw.store.errors import StoreError
from hubfw.store.layout import Layout
from hubfw.store.records import Record, RecordError, decode, encode, frame_length

REGION_MAGIC = b"HMR1"
_HEAD = struct.Struct("<4sIII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size


class MetadataWornOut(StoreError):
    """No metadata region would take a compaction: the flash is at the end of its life."""


@dataclass(frozen=True)
class LogScan:
    """What a read-only scan found: the active region's records and whether its tail is clean."""

    region: int | None
    sequence: int
    records: list[Record]
    end: int  # address where the next record goes
    clean: bool  # no torn record, and nothing but 0xFF after `end`


class MetadataLog:
    """Appends records to the active region and compacts into the next one when needed."""

    def __init__(self, flash: NorFlash, layout: Layout, scan: LogScan) -> None:
        self._flash = flash
        self._layout = layout
        self.region = scan.region
        self.sequence = scan.sequence
        self._position = scan.end

    # ----- reading

    @classmethod
    def scan(cls, flash: NorFlash, layout: Layout) -> LogScan:
        """Find the active region and read its records; writes nothing."""
        candidates = []
        for region in range(layout.region_count):
            head = cls._read_header(flash, layout, region)
            if head is not None:
                candidates.append((head[0], region, head[1], head[2]))
        for sequence, region, body_length, body_crc in sorted(candidates, reverse=True):
            data = flash.read(layout.region_address(region), layout.region_size)
            body_start = layout.page_size
            body_end = body_start + body_length
            if body_end > len(data) or zlib.crc32(data[body_start:body_end]) != body_crc:
                continue
            records, end, clean = _parse(data, body_start, layout.page_size, layout.program_unit)
            return LogScan(region, sequence, records, layout.region_address(region) + end, clean)
        return LogScan(None, 0, [], 0, False)

    @staticmethod
    def _read_header(flash: NorFlash, layout: Layout, region: int) -> tuple[int, int, int] | None:
        raw = flash.read(layout.region_address(region), HEADER_SIZE)
        head, (crc,) = raw[: _HEAD.size], _CRC.unpack(raw[_HEAD.size:])
        magic, sequence, body_length, body_crc = _HEAD.unpack(head)
        if magic != REGION_MAGIC or zlib.crc32(head) != crc:
            return None
        return sequence, body_length, body_crc

    # ----- writing

    @property
    def used(self) -> int:
        """Bytes of the active region in use (for status)."""
        return 0 if self.region is None else self._position - self._layout.region_address(self.region)

    def append(self, record: Record) -> bool:
        """Write one record at the end of the log; False if it did not fit or did not verify.

        On False the caller compacts (with the record's effect included); on True it is durable.
        """
        if self.region is None:
            return False
        frame = encode(record, self._layout.program_unit)
        address = self._place(self._position, len(frame))
        region_end = self._layout.region_address(self.region) + self._layout.region_size
        if address + len(frame) > region_end:
            return False
        self._position = address + len(frame)  # even a failed write leaves this space used
        try:
            self._flash.program_range(address, frame)
        except ProgramFailed:
            return False
        return self._flash.read(address, len(frame)) == frame

    def compact(self, records: list[Record]) -> None:
        """Write `records` as a new snapshot into the next region that takes it; it becomes active."""
        layout = self._layout
        start = 0 if self.region is None else self.region + 1
        for step in range(layout.region_count - (0 if self.region is None else 1)):
            region = (start + step) % layout.region_count
            if self._write_snapshot(region, records):
                return
        raise MetadataWornOut("flash worn out: no metadata region accepted a compaction of the store's state")

    def _write_snapshot(self, region: int, records: list[Record]) -> bool:
        layout, flash = self._layout, self._flash
        base = layout.region_address(region)
        body = bytearray()
        for record in records:
            frame = encode(record, layout.program_unit)
            offset = self._place(layout.page_size + len(body), len(frame)) - layout.page_size
            body += b"\xff" * (offset - len(body)) + frame
        # Every state this release admits fits half a region (journal_limits), leaving room to append. A store
        # written by the previous release may hold more owed alerts than today's limits (its alert frames were
        # shorter): its snapshot may take more than half a region, which only costs compactions (DESIGN.md §4).
        if layout.page_size + len(body) > layout.region_size:
            raise StoreError(f"the store's state ({len(body)} bytes) no longer fits a metadata region")
        head = _HEAD.pack(REGION_MAGIC, self.sequence + 1, len(body), zlib.crc32(body))
        header = head + _CRC.pack(zlib.crc32(head))
        try:
            for sector in range(layout.region_first_sector(region), layout.region_first_sector(region + 1)):
                address = sector * layout.sector_size
                if not flash.is_erased(address, layout.sector_size):
                    flash.erase_sector(sector)
                    if not flash.is_erased(address, layout.sector_size):
                        return False
            for offset in range(0, len(body), layout.page_size):
                chunk = bytes(body[offset : offset + layout.page_size]).rstrip(b"\xff")
                chunk += b"\xff" * (-len(chunk) % layout.program_unit)
                if chunk:
                    flash.program(base + layout.page_size + offset, chunk)
            if flash.read(base + layout.page_size, len(body)) != body:
                return False
            flash.program(base, header)
            if flash.read(base, len(header)) != header:
                return False
        except (ProgramFailed, EraseFailed):
            return False
        self.region, self.sequence = region, self.sequence + 1
        self._position = base + layout.page_size + len(body)
        return True

    def _place(self, position: int, length: int) -> int:
        """Where a frame of `length` bytes goes at or after `position` (page rule in the docstring)."""
        page = self._layout.page_size
        if length > page or position // page != (position + length - 1) // page:
            return -(-position // page) * page
        return position


def _parse(data: bytes, start: int, page: int, unit: int) -> tuple[list[Record], int, bool]:
    """Records from `start` on; returns them, where the log ends, and whether the rest is clean."""
    records: list[Record] = []
    position = start
    while position + 4 <= len(data):
        if data[position] == 0xFF:
            if position % page == 0:
                rest = data[position:]
                return records, position, rest.count(0xFF) == len(rest)
            position = -(-position // page) * page
            continue
        try:
            length = frame_length(data[position : position + 4])
            if position + length > len(data):
                raise RecordError("record runs past the region")
            records.append(decode(data[position : position + length]))
        except RecordError:
            return records, position, False
        position += length + (-length % unit)
    return records, len(data), True
