"""An emulated NOR flash part: erase sets 0xFF, program can only clear bits, erases wear sectors out,
and power can be cut before, during or after any program/erase.

Every program and erase is one *operation*, numbered by ``operations`` (monotonic across reboots and
restarts; reads are not operations). Before an operation the ``on_operation`` hook runs and
``pending`` describes the operation, so a harness can ``fork()`` the device there and replay the same
operation with a cut (``apply_cut``) — branching at every operation costs one contents copy.

Wear: a sector whose erase count exceeds the profile's endurance is bad. The erase that takes it past
endurance, and every operation on it afterwards, fails in the configured ``WearOutMode``:
PROGRAM_ERROR (programs raise ProgramFailed, nothing lands; erases still work), ERASE_ERROR (erases
raise EraseFailed, contents stay), SILENT_NOOP (programs and erases report success and change
nothing), BIT_FLIPS (the operation lands, then 1–4 random bits of what it touched flip). Failed and
no-op attempts still count as operations and still wear.

Randomness (torn writes, bit flips) comes from ``random.Random`` seeded by (seed, operation index),
so the same seed and the same operation sequence give the same bytes, whatever was forked before.
"""

from __future__ import annotations

import enum
import mmap
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from hubfw.errors import HubfwError
from hubfw.flash.persist import FlashFile, FlashFileError
from hubfw.flash.profiles import FlashProfile
from hubfw.flash.stats import FlashStats

OperationKind = Literal["program", "erase", "block_erase"]
OperationHook = Callable[[int, str, int, int], None]

# Maps a unit's write count to the count after one more write (saturating; limits are < 255).
_ONE_MORE_WRITE = bytes(min(count + 1, 255) for count in range(256))


class FlashError(HubfwError):
    """Misuse of the device: out of range, crossing a page, setting bits in strict mode, and so on."""


class ProgramFailed(FlashError):
    """A worn-out sector refused a program."""


class EraseFailed(FlashError):
    """A worn-out sector refused an erase."""


class PowerCut(FlashError):
    """Power was cut before, during or after this operation; the device is off until reboot()."""


class PoweredOff(FlashError):
    """The device lost power and has not been rebooted."""


class CutMode(enum.Enum):
    BEFORE = "before"  # the operation did not happen
    DURING = "during"  # the operation was torn: part of it landed
    AFTER = "after"  # the operation completed


class WearOutMode(enum.Enum):
    PROGRAM_ERROR = "program-error"
    ERASE_ERROR = "erase-error"
    SILENT_NOOP = "silent-noop"
    BIT_FLIPS = "bit-flips"


@dataclass(frozen=True)
class PendingOperation:
    """The operation about to run, as the on_operation hook sees it; ``data`` is set for programs."""

    index: int
    kind: OperationKind
    address: int
    length: int
    data: bytes | None = None


class _ProgramPlan(NamedTuple):
    """A checked program: the bytes it overwrites and how it bends the rules (in lax mode)."""

    old: bytes
    sets_bits: bool
    over_limit: bool
    write_counts: bytes | None  # per unit, before this write; None when units are not limited


@dataclass(frozen=True)
class FlashSnapshot:
    """A device's state at one moment: contents, unit write counts, counters and power.

    Scheduled cuts and the hook are the harness's, not the device's, and are not part of it.
    """

    profile: FlashProfile
    contents: bytes
    unit_writes: bytes | None
    operations: int
    stats: FlashStats
    powered: bool


class NorFlash:
    """A NOR flash device in memory, or in a flash file when made by ``create``/``open``."""

    def __init__(
        self,
        profile: FlashProfile,
        *,
        strict: bool = True,
        wear_out: WearOutMode = WearOutMode.PROGRAM_ERROR,
        seed: int = 0,
        backing: bytearray | mmap.mmap | memoryview | None = None,
    ) -> None:
        # Buffers this device allocated itself; they go back to the pool when it is closed or dropped.
        self._owned: list[bytearray] = []
        if backing is not None and len(backing) != profile.size:
            raise FlashError(f"backing store is {len(backing)} bytes, the {profile.name} profile needs {profile.size}")
        self._profile = profile
        self.strict = strict
        self.wear_out = wear_out
        self.seed = seed
        if backing is None:
            backing = bytearray(b"\xff") * profile.size
            self._owned.append(backing)
        self._contents = memoryview(backing)
        self._unit_writes: memoryview | None = None
        if profile.max_writes_per_unit is not None:
            write_counts = bytearray(profile.size // profile.program_unit)
            self._owned.append(write_counts)
            self._unit_writes = memoryview(write_counts)
        self.operations = 0
        self.stats = FlashStats.fresh(profile.endurance, profile.sector_count)
        self.on_operation: OperationHook | None = None
        self.pending: PendingOperation | None = None
        self._powered = True
        self._cuts: dict[int, CutMode] = {}
        self._file: FlashFile | None = None
        self._closed = False

    # ----- geometry

    @property
    def profile(self) -> FlashProfile:
        return self._profile

    @property
    def size(self) -> int:
        return self._profile.size

    @property
    def sector_size(self) -> int:
        return self._profile.sector_size

    @property
    def page_size(self) -> int:
        return self._profile.page_size

    @property
    def sector_count(self) -> int:
        return self._profile.sector_count

    @property
    def powered(self) -> bool:
        return self._powered

    # ----- reads

    def read(self, address: int, length: int) -> bytes:
        self._check_ready()
        self._check_range(address, length)
        self.stats.read_calls += 1
        self.stats.read_bytes += length
        return bytes(self._contents[address : address + length])

    def is_erased(self, address: int, length: int) -> bool:
        """Whether every byte of the range reads 0xFF (a blank check; counted as a read)."""
        return self.read(address, length).count(0xFF) == length

    # ----- operations

    def program(self, address: int, data: bytes) -> None:
        """One program operation: each byte becomes old AND new. It must stay inside one page."""
        data = bytes(data)
        plan = self._plan_program(address, data)
        cut = self._begin(PendingOperation(self.operations, "program", address, len(data), data))
        self.stats.double_writes += plan.sets_bits
        self.stats.excess_writes += plan.over_limit
        rng = self._rng("program")
        landed = (int.from_bytes(plan.old, "big") & int.from_bytes(data, "big")).to_bytes(len(data), "big")
        failure: FlashError | None = None
        sector = address // self.sector_size
        if self._is_bad(sector):
            if self.wear_out is WearOutMode.PROGRAM_ERROR:
                landed = plan.old
                failure = ProgramFailed(f"program at {address:#x} failed: sector {sector} is worn out")
            elif self.wear_out is WearOutMode.SILENT_NOOP:
                landed = plan.old
            elif self.wear_out is WearOutMode.BIT_FLIPS:
                landed = _flip_bits(landed, rng)
        if cut is CutMode.DURING:
            landed = _torn_program(plan.old, landed, rng)
        self._contents[address : address + len(data)] = landed
        if self._unit_writes is not None and plan.write_counts is not None:
            unit = self._profile.program_unit
            self._unit_writes[address // unit : (address + len(data)) // unit] = plan.write_counts.translate(
                _ONE_MORE_WRITE
            )
        self.stats.program_calls += 1
        self.stats.program_bytes += len(data)
        self._finish(self._profile.page_program_s, cut, failure)

    def program_range(self, address: int, data: bytes) -> None:
        """Program any range, split at page boundaries: one operation per page touched."""
        data = bytes(data)
        self._check_range(address, len(data))
        offset = 0
        while offset < len(data):
            chunk = min(len(data) - offset, self.page_size - (address + offset) % self.page_size)
            self.program(address + offset, data[offset : offset + chunk])
            offset += chunk

    def erase_sector(self, index: int) -> None:
        """One erase operation: the sector reads 0xFF and its erase count goes up by one."""
        self._check_ready()
        if not 0 <= index < self.sector_count:
            raise FlashError(f"sector {index} does not exist (this flash has sectors 0..{self.sector_count - 1})")
        cut = self._begin(PendingOperation(self.operations, "erase", index * self.sector_size, self.sector_size))
        failure = self._erase_sectors(index, 1, cut)
        self.stats.erase_calls += 1
        self._finish(self._profile.sector_erase_s, cut, failure)

    def erase_block(self, index: int) -> None:
        """One erase operation over a whole block: every sector it covers is erased and worn."""
        self._check_ready()
        profile = self._profile
        if profile.block_size is None or profile.block_erase_s is None:
            raise FlashError(f"the {profile.name} profile has no block erase")
        blocks = profile.size // profile.block_size
        if not 0 <= index < blocks:
            raise FlashError(f"block {index} does not exist (this flash has blocks 0..{blocks - 1})")
        address = index * profile.block_size
        cut = self._begin(PendingOperation(self.operations, "block_erase", address, profile.block_size))
        per_block = profile.block_size // profile.sector_size
        failure = self._erase_sectors(index * per_block, per_block, cut)
        self.stats.block_erase_calls += 1
        self._finish(profile.block_erase_s, cut, failure)

    # ----- power

    def schedule_cut(self, at_operation: int, mode: CutMode) -> None:
        """Cut power at the operation whose index is ``at_operation`` (one cut per index)."""
        if at_operation < self.operations:
            raise FlashError(f"operation {at_operation} is already past (next is {self.operations})")
        self._cuts[at_operation] = mode

    def reboot(self) -> None:
        """Power restored: the contents are whatever the cut left; every operation works again."""
        self._powered = True

    def apply_cut(self, operation: PendingOperation, mode: CutMode) -> None:
        """Run ``operation`` here with power cut in ``mode`` — as it would have gone on the device it came from.

        Meant for a fork made inside the on_operation hook. Leaves the device powered off like a
        PowerCut would, but does not raise it.
        """
        if operation.index != self.operations:
            raise FlashError(f"operation {operation.index} is not the next one here (next is {self.operations})")
        self._cuts[operation.index] = mode
        try:
            if operation.kind == "program":
                assert operation.data is not None
                self.program(operation.address, operation.data)
            elif operation.kind == "erase":
                self.erase_sector(operation.address // self.sector_size)
            else:
                assert self._profile.block_size is not None
                self.erase_block(operation.address // self._profile.block_size)
        except PowerCut:
            pass
        finally:
            self._cuts.pop(operation.index, None)

    # ----- snapshots

    def snapshot(self) -> FlashSnapshot:
        self._check_open()
        return FlashSnapshot(
            profile=self._profile,
            contents=bytes(self._contents),
            unit_writes=None if self._unit_writes is None else bytes(self._unit_writes),
            operations=self.operations,
            stats=self.stats.copy(),
            powered=self._powered,
        )

    def restore(self, snap: FlashSnapshot) -> None:
        """Go back to a snapshot of a device of the same profile (written through to the file, if any)."""
        self._check_open()
        self._check_writable()
        if snap.profile != self._profile:
            raise FlashError(f"snapshot of a {snap.profile.name} device cannot restore a {self._profile.name} one")
        self._contents[:] = snap.contents
        if self._unit_writes is not None and snap.unit_writes is not None:
            self._unit_writes[:] = snap.unit_writes
        self.operations = snap.operations
        self.stats = snap.stats.copy()
        self._powered = snap.powered
        self._persist()

    def fork(self) -> NorFlash:
        """An independent in-memory copy: same contents, counters, options and power; no hook, no cuts."""
        self._check_open()
        contents = _POOL.copy(self._contents)
        twin = NorFlash(self._profile, strict=self.strict, wear_out=self.wear_out, seed=self.seed, backing=contents)
        twin._owned.append(contents)
        if self._unit_writes is not None and twin._unit_writes is not None:
            twin._unit_writes[:] = self._unit_writes
        twin.operations = self.operations
        twin.stats = self.stats.copy()
        twin._powered = self._powered
        return twin

    # ----- persistence

    @classmethod
    def create(cls, path: str | os.PathLike[str], profile: FlashProfile, **options) -> NorFlash:
        """A new flash file, fully erased, with zero counters; an error if the file exists."""
        return cls._attach(FlashFile.create(path, profile), options)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        profile: FlashProfile | None = None,
        read_only: bool = False,
        **options,
    ) -> NorFlash:
        """An existing flash file (one-line FlashFileError if missing, foreign or corrupt).

        ``profile``, when given, must be the one the file was made with (a hub started with another
        profile must not reinterpret the part). ``read_only`` maps the file read-only without locking:
        for reports and inspection while a hub runs.
        """
        flash_file = FlashFile.open(path, read_only=read_only)
        if profile is not None and profile != flash_file.profile:
            flash_file.close()
            raise FlashFileError(f"{path} holds a {flash_file.profile.name} flash, not {profile.name}")
        return cls._attach(flash_file, options)

    @classmethod
    def _attach(cls, flash_file: FlashFile, options: dict) -> NorFlash:
        try:
            operations, stats = flash_file.load_counters()
            device = cls(flash_file.profile, backing=flash_file.contents, **options)
        except BaseException:
            flash_file.close()
            raise
        if flash_file.unit_writes is not None:
            device._unit_writes = flash_file.unit_writes
        device.operations = operations
        device.stats = stats
        device._file = flash_file
        return device

    def flush(self) -> None:
        """Counters to the file and the file to disk (contents already went through the mmap)."""
        if self._file is not None and not self._closed:
            self._persist()
            self._file.flush()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._contents.release()
        if self._file is not None:
            self._file.close()
        self._recycle()

    def __del__(self) -> None:
        self._recycle()

    def __enter__(self) -> NorFlash:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- internals

    def _check_open(self) -> None:
        if self._closed:
            raise FlashError("the flash device is closed")

    def _check_ready(self) -> None:
        self._check_open()
        if not self._powered:
            raise PoweredOff("the flash device lost power and has not been rebooted")

    def _check_writable(self) -> None:
        if self._file is not None and self._file.read_only:
            raise FlashError(f"flash file {self._file.path} is open read-only")

    def _check_range(self, address: int, length: int) -> None:
        if address < 0 or length < 0 or address + length > self.size:
            raise FlashError(f"range {address:#x}+{length} lies outside the {self.size}-byte flash")

    def _plan_program(self, address: int, data: bytes) -> _ProgramPlan:
        """Check a program against the rules before it becomes an operation; strict-mode misuse raises here."""
        self._check_ready()
        self._check_range(address, len(data))
        profile, length = self._profile, len(data)
        if length == 0:
            raise FlashError(f"program at {address:#x}: nothing to program")
        if address // profile.page_size != (address + length - 1) // profile.page_size:
            raise FlashError(
                f"program of {length} bytes at {address:#x} crosses a {profile.page_size}-byte page boundary"
            )
        unit = profile.program_unit
        if address % unit or length % unit:
            raise FlashError(f"program at {address:#x} of {length} bytes is not in whole aligned {unit}-byte words")
        old = bytes(self._contents[address : address + length])
        sets_bits = int.from_bytes(data, "big") & ~int.from_bytes(old, "big") != 0
        if sets_bits and self.strict:
            self.stats.double_writes += 1
            raise FlashError(
                f"program at {address:#x} would turn 0 bits back into 1 (a double write); erase the sector first"
            )
        if self._unit_writes is None or profile.max_writes_per_unit is None:
            return _ProgramPlan(old, sets_bits, False, None)
        write_counts = bytes(self._unit_writes[address // unit : (address + length) // unit])
        over_limit = max(write_counts) >= profile.max_writes_per_unit
        if over_limit and self.strict:
            self.stats.excess_writes += 1
            raise FlashError(
                f"program at {address:#x} writes a word more than {profile.max_writes_per_unit} times between erases"
            )
        return _ProgramPlan(old, sets_bits, over_limit, write_counts)

    def _begin(self, operation: PendingOperation) -> CutMode | None:
        """Announce the operation to the hook, then take its scheduled cut; a BEFORE cut ends it here."""
        self._check_writable()
        if self.on_operation is not None:
            self.pending = operation
            try:
                self.on_operation(operation.index, operation.kind, operation.address, operation.length)
            finally:
                self.pending = None
        cut = self._cuts.pop(operation.index, None)
        if cut is CutMode.BEFORE:
            self._cut(operation.index)
        return cut

    def _finish(self, timing: tuple[float, float], cut: CutMode | None, failure: FlashError | None) -> None:
        self.stats.busy_s += timing[0]
        self.stats.busy_max_s += timing[1]
        self.operations += 1
        if cut is not None:
            self._cut(self.operations - 1)
        self._persist()
        if failure is not None:
            raise failure

    def _cut(self, index: int) -> None:
        self._powered = False
        self.stats.power_cuts += 1
        self._persist()
        raise PowerCut(f"power cut at flash operation {index}")

    def _erase_sectors(self, first: int, count: int, cut: CutMode | None) -> FlashError | None:
        """Erase ``count`` sectors from ``first`` (one operation), applying wear-out and a torn cut."""
        size = self.sector_size
        start, end = first * size, (first + count) * size
        old = bytes(self._contents[start:end])
        landed = bytearray(b"\xff") * (end - start)
        rng = self._rng("erase")
        failure: FlashError | None = None
        erased: list[int] = []
        for sector in range(first, first + count):
            self.stats.erase_counts[sector] += 1
            piece = slice((sector - first) * size, (sector - first + 1) * size)
            if not self._is_bad(sector) or self.wear_out is WearOutMode.PROGRAM_ERROR:
                erased.append(sector)
            elif self.wear_out is WearOutMode.BIT_FLIPS:
                landed[piece] = _flip_bits(bytes(landed[piece]), rng)
                erased.append(sector)
            else:
                landed[piece] = old[piece]
                if self.wear_out is WearOutMode.ERASE_ERROR and failure is None:
                    failure = EraseFailed(f"erase of sector {sector} failed: it is worn out")
        result = _torn_erase(old, bytes(landed), rng) if cut is CutMode.DURING else landed
        self._contents[start:end] = result
        if self._unit_writes is not None:
            unit = self._profile.program_unit
            for sector in erased:
                self._unit_writes[sector * size // unit : (sector + 1) * size // unit] = bytes(size // unit)
        return failure

    def _recycle(self) -> None:
        """Hand this device's own buffers to the pool; the device must not be used afterwards."""
        owned, self._owned = self._owned, []
        if not owned:
            return
        try:
            self._contents.release()
            if self._unit_writes is not None:
                self._unit_writes.release()
        except BufferError:  # someone still holds a view: leave the buffers to the garbage collector
            return
        for buffer in owned:
            _POOL.give(buffer)

    def _is_bad(self, sector: int) -> bool:
        return self.stats.erase_counts[sector] > self._profile.endurance

    def _rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.operations}:{purpose}")

    def _persist(self) -> None:
        if self._file is not None and not self._file.read_only:
            self._file.store_counters(self.operations, self.stats)


class _BufferPool:
    """Recycles the buffers of dropped devices for the next fork.

    A fork is one 2 MiB copy, but fresh memory from the allocator costs page faults worth ~10 copies
    when large blocks go back to the OS between forks (as they do when a harness keeps two forks
    alive at a time). Keeping a few buffers per size makes a fork the plain copy it should be.
    """

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._free: dict[int, list[bytearray]] = {}

    def copy(self, source: memoryview) -> bytearray:
        """A buffer holding a copy of ``source``: a recycled one when there is one of that size."""
        free = self._free.get(len(source))
        if not free:
            return bytearray(source)
        buffer = free.pop()
        buffer[:] = source
        return buffer

    def give(self, buffer: bytearray) -> None:
        free = self._free.setdefault(len(buffer), [])
        if len(free) < self._keep:
            free.append(buffer)


_POOL = _BufferPool()


def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    """A worn cell's damage: 1–4 random bits of ``data`` inverted."""
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        bit = rng.randrange(len(damaged) * 8)
        damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def _torn_program(old: bytes, new: bytes, rng: random.Random) -> bytes:
    """A program cut short: a random prefix landed, the next byte got some of its cleared bits, the rest none."""
    done = rng.randrange(len(old))
    partial = old[done] & (new[done] | rng.getrandbits(8))
    return new[:done] + bytes([partial]) + old[done + 1 :]


def _torn_erase(old: bytes, new: bytes, rng: random.Random) -> bytes:
    """An erase cut short: a random share of the bytes took their erased value, the others kept the old one."""
    share = rng.randrange(1, 256)
    reset_table = bytes(0xFF if value < share else 0 for value in range(256))
    mask = int.from_bytes(rng.randbytes(len(old)).translate(reset_table), "big")
    torn = (int.from_bytes(old, "big") & ~mask) | (int.from_bytes(new, "big") & mask)
    return torn.to_bytes(len(old), "big")
