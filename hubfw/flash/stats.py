"""What a flash device has been through: the numbers behind the wear report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class FlashStats:
    """Counters of one device, kept across reboots and restarts (they live in the flash file).

    ``erase_calls`` counts sector erases and ``block_erase_calls`` block erases; both add to
    ``erase_counts`` of every sector they cover. ``busy_s`` sums the profile's typical timings of
    every completed (or torn) program/erase, ``busy_max_s`` the worst-case ones.
    """

    endurance: int
    erase_counts: list[int] = field(repr=False)
    program_calls: int = 0
    program_bytes: int = 0
    erase_calls: int = 0
    block_erase_calls: int = 0
    read_calls: int = 0
    read_bytes: int = 0
    double_writes: int = 0  # programs that tried to turn a 0 bit back into 1
    excess_writes: int = 0  # programs past a unit's write limit between erases (MCU profile)
    power_cuts: int = 0
    busy_s: float = 0.0
    busy_max_s: float = 0.0

    @property
    def bad_sectors(self) -> list[int]:
        """Indexes of sectors erased more often than the endurance guarantees."""
        return [index for index, count in enumerate(self.erase_counts) if count > self.endurance]

    def copy(self) -> FlashStats:
        """An independent copy (the erase-count list is the only mutable part)."""
        return dataclasses.replace(self, erase_counts=list(self.erase_counts))

    @classmethod
    def fresh(cls, endurance: int, sector_count: int) -> FlashStats:
        return cls(endurance=endurance, erase_counts=[0] * sector_count)


COUNTER_FIELDS: tuple[str, ...] = (
    "program_calls",
    "program_bytes",
    "erase_calls",
    "block_erase_calls",
    "read_calls",
    "read_bytes",
    "double_writes",
    "excess_writes",
    "power_cuts",
)
"""The integer counters, in the order the flash file stores them."""
