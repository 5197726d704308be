"""The flash file: an emulated part's contents and counters in one mmap'ed file, so a restart loses nothing.

Layout (all integers little-endian)::

    0            header, HEADER_AREA bytes reserved:
                   magic "HUBFWNOR", u16 format version, u16 reserved, profile name (24 bytes, NUL padded),
                   u64 size, u32 sector_size, page_size, block_size (0 = none), endurance, program_unit,
                   max_writes_per_unit (0 = unlimited), 6 × f64 timings (page program, sector erase,
                   block erase; each typical then max), u32 CRC-32 of everything before it
    HEADER_AREA  counter slot A, then counter slot B, each:
                   u64 sequence, u64 operations, 9 × u64 counters (stats.COUNTER_FIELDS order),
                   f64 busy_s, f64 busy_max_s, u32 erase count per sector, u32 CRC-32 of the slot
    ...          unit write counts: one byte per program unit (only for parts that limit writes per unit)
    contents     the flash contents, `size` bytes, starting at the next multiple of 4096

Contents and unit write counts are written through the mmap by every operation, so a killed
process loses nothing of the data. Counters go to the older slot with a higher sequence number
after every program/erase, so a kill in the middle of that write leaves the other slot intact
(reads are counted in memory and land with the next write or flush). The whole profile is in the
header, so custom geometries (tiny test parts) round-trip too.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hubfw.errors import HubfwError
from hubfw.flash.profiles import FlashProfile
from hubfw.flash.stats import COUNTER_FIELDS, FlashStats

FLASH_FILE_NAME = "flash.bin"
MAGIC = b"HUBFWNOR"
FORMAT_VERSION = 1
HEADER_AREA = 256
CONTENTS_ALIGN = 4096
_HEADER = struct.Struct("<8sHH24sQIIIIII6d")
_CRC = struct.Struct("<I")
_SLOT_HEAD = struct.Struct(f"<QQ{len(COUNTER_FIELDS)}Q2d")


def flash_path(state_dir: str | os.PathLike[str]) -> Path:
    """Where a hub keeps its flash file inside its state directory."""
    return Path(state_dir) / FLASH_FILE_NAME


class FlashFileError(HubfwError):
    """The flash file is missing, foreign, from another format version, truncated or corrupt."""


@dataclass(frozen=True)
class FileLayout:
    """Where each area of a flash file lies, derived from the profile alone."""

    slot_size: int
    unit_writes_offset: int
    unit_writes_size: int
    contents_offset: int
    file_size: int

    @classmethod
    def of(cls, profile: FlashProfile) -> FileLayout:
        slot_size = _SLOT_HEAD.size + 4 * profile.sector_count + _CRC.size
        unit_writes_offset = HEADER_AREA + 2 * slot_size
        unit_writes_size = 0 if profile.max_writes_per_unit is None else profile.size // profile.program_unit
        end = unit_writes_offset + unit_writes_size
        contents_offset = -(-end // CONTENTS_ALIGN) * CONTENTS_ALIGN
        return cls(slot_size, unit_writes_offset, unit_writes_size, contents_offset, contents_offset + profile.size)


def _encode_header(profile: FlashProfile) -> bytes:
    name = profile.name.encode("ascii", "replace")
    if len(name) > 24:
        raise FlashFileError(f"flash profile name {profile.name!r} is longer than the 24 bytes a flash file holds")
    block_erase = profile.block_erase_s or (0.0, 0.0)
    head = _HEADER.pack(
        MAGIC, FORMAT_VERSION, 0, name, profile.size, profile.sector_size,
        profile.page_size, profile.block_size or 0, profile.endurance, profile.program_unit,
        profile.max_writes_per_unit or 0, *profile.page_program_s, *profile.sector_erase_s, *block_erase,
    )
    return head + _CRC.pack(zlib.crc32(head))


def _decode_header(path: Path, raw: bytes) -> FlashProfile:
    if len(raw) < _HEADER.size + _CRC.size or raw[: len(MAGIC)] != MAGIC:
        raise FlashFileError(f"{path} is not a hubfw flash file")
    fields = _HEADER.unpack_from(raw)
    version = fields[1]
    if version != FORMAT_VERSION:
        raise FlashFileError(f"{path} is flash file format version {version}; this hubfw reads {FORMAT_VERSION}")
    (crc,) = _CRC.unpack_from(raw, _HEADER.size)
    if crc != zlib.crc32(raw[: _HEADER.size]):
        raise FlashFileError(f"{path}: flash file header is corrupt (CRC mismatch)")
    (_, _, _, name, size, sector, page, block, endurance, unit, max_writes, *timings) = fields
    try:
        return FlashProfile(
            name=name.rstrip(b"\0").decode("ascii"), size=size, sector_size=sector, page_size=page,
            block_size=block or None, endurance=endurance, program_unit=unit, max_writes_per_unit=max_writes or None,
            page_program_s=(timings[0], timings[1]), sector_erase_s=(timings[2], timings[3]),
            block_erase_s=(timings[4], timings[5]) if block else None,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise FlashFileError(f"{path}: flash file header holds an impossible geometry ({exc})") from None


class FlashFile:
    """An open flash file: views on its contents and unit-write areas, and the counter slots."""

    def __init__(
        self, path: Path, handle: BinaryIO, mapping: mmap.mmap, profile: FlashProfile, read_only: bool
    ) -> None:
        self.path = path
        self.profile = profile
        self.read_only = read_only
        self._handle = handle
        self._mmap = mapping
        self._layout = FileLayout.of(profile)
        self._view = memoryview(mapping)
        self._sequence = 0
        layout = self._layout
        self.contents = self._view[layout.contents_offset : layout.file_size]
        self.unit_writes = (
            self._view[layout.unit_writes_offset : layout.unit_writes_offset + layout.unit_writes_size]
            if layout.unit_writes_size
            else None
        )
        self._slot_struct = struct.Struct(f"<{profile.sector_count}I")

    @classmethod
    def create(cls, path: str | os.PathLike[str], profile: FlashProfile) -> FlashFile:
        """A new, fully erased flash file with zeroed counters; refuses to overwrite anything."""
        path = Path(path)
        layout = FileLayout.of(profile)
        try:
            handle = open(path, "xb+")
        except FileExistsError:
            raise FlashFileError(f"flash file {path} already exists") from None
        except OSError as exc:
            raise FlashFileError(f"cannot create flash file {path}: {exc.strerror}") from None
        try:
            _lock(path, handle)
            handle.truncate(layout.file_size)
            mapping = mmap.mmap(handle.fileno(), layout.file_size)
            mapping[: HEADER_AREA] = _encode_header(profile).ljust(HEADER_AREA, b"\0")
            mapping[layout.contents_offset :] = b"\xff" * profile.size
            flash_file = cls(path, handle, mapping, profile, read_only=False)
            flash_file.store_counters(0, FlashStats.fresh(profile.endurance, profile.sector_count))
            flash_file.flush()
            return flash_file
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> FlashFile:
        """An existing flash file, checked: magic, version, header CRC and size must all be right."""
        path = Path(path)
        try:
            handle = open(path, "rb" if read_only else "rb+")
        except FileNotFoundError:
            raise FlashFileError(f"flash file {path} does not exist (create it with `hubfw flash format`)") from None
        except OSError as exc:
            raise FlashFileError(f"cannot open flash file {path}: {exc.strerror}") from None
        try:
            profile = _decode_header(path, handle.read(HEADER_AREA))
            layout = FileLayout.of(profile)
            actual = os.fstat(handle.fileno()).st_size
            if actual != layout.file_size:
                raise FlashFileError(
                    f"{path} is {actual} bytes but its {profile.name} geometry needs {layout.file_size} (truncated?)"
                )
            if not read_only:
                _lock(path, handle)
            access = mmap.ACCESS_READ if read_only else mmap.ACCESS_WRITE
            return cls(path, handle, mmap.mmap(handle.fileno(), layout.file_size, access=access), profile, read_only)
        except BaseException:
            handle.close()
            raise

    def load_counters(self) -> tuple[int, FlashStats]:
        """(operations, stats) from the newest slot whose CRC holds; an error if neither does."""
        best: tuple[int, int, FlashStats] | None = None
        for slot in range(2):
            decoded = self._decode_slot(slot)
            if decoded is not None and (best is None or decoded[0] > best[0]):
                best = decoded
        if best is None:
            raise FlashFileError(f"{self.path}: flash file counters are corrupt (CRC mismatch in both slots)")
        self._sequence, operations, stats = best
        return operations, stats

    def store_counters(self, operations: int, stats: FlashStats) -> None:
        """Write the counters to the older slot, so the newer one survives a kill mid-write."""
        self._sequence += 1
        body = _SLOT_HEAD.pack(
            self._sequence, operations, *(getattr(stats, name) for name in COUNTER_FIELDS), stats.busy_s,
            stats.busy_max_s,
        ) + self._slot_struct.pack(*stats.erase_counts)
        start = HEADER_AREA + (self._sequence % 2) * self._layout.slot_size
        self._mmap[start : start + len(body) + _CRC.size] = body + _CRC.pack(zlib.crc32(body))

    def flush(self) -> None:
        if not self.read_only:
            self._mmap.flush()

    def close(self) -> None:
        self.flush()
        for view in (self.contents, self.unit_writes, self._view):
            if view is not None:
                view.release()
        self._mmap.close()
        self._handle.close()

    def _decode_slot(self, slot: int) -> tuple[int, int, FlashStats] | None:
        start = HEADER_AREA + slot * self._layout.slot_size
        raw = self._mmap[start : start + self._layout.slot_size]
        body, (crc,) = raw[: -_CRC.size], _CRC.unpack_from(raw, len(raw) - _CRC.size)
        if crc != zlib.crc32(body):
            return None
        sequence, operations, *counters, busy_s, busy_max_s = _SLOT_HEAD.unpack_from(body)
        stats = FlashStats(
            endurance=self.profile.endurance,
            erase_counts=list(self._slot_struct.unpack_from(body, _SLOT_HEAD.size)),
            busy_s=busy_s,
            busy_max_s=busy_max_s,
            **dict(zip(COUNTER_FIELDS, counters, strict=True)),
        )
        return sequence, operations, stats


def _lock(path: Path, handle: BinaryIO) -> None:
    """One writer per flash file: a second hub on the same state directory would corrupt it."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FlashFileError(f"flash file {path} is in use by another process") from None
