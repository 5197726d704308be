"""Flash geometries and timings the emulator can play.

Two parts a Communications Hub could plausibly keep its two 750 KB image blocks in:

* ``serial-nor`` — a 16 Mbit SPI NOR part of the W25Q16JV class: 4 KiB erase sectors, 256 B program
  pages (byte-programmable inside a page), optional 64 KiB block erase, 100 000 erase cycles,
  page program 0.4 ms typical / 3 ms max, sector erase 45 / 400 ms, block erase 150 / 2000 ms.
* ``mcu-internal`` — a microcontroller's own flash: the 8 KiB *page* is the erase unit (our "sector"),
  writes are whole aligned 32-bit words, a word may be written at most twice between erases, and
  10 000 erase cycles. Its "page" for the no-crossing rule is a 256-byte *write row* (the burst a
  fast-programming controller takes in one go), so one program call programs at most one row.

Both are 2 MiB: two blocks of ``ceil(768000 / sector)`` sectors (376 × 4 KiB or 188 × 8 KiB, i.e.
1 540 096 bytes) leave ~544 KiB for the store's metadata area.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.errors import HubfwError


class UnknownProfile(HubfwError):
    """A profile name that is not in PROFILES."""


@dataclass(frozen=True)
class FlashProfile:
    """The geometry, endurance and timings of one kind of flash part."""

    name: str
    size: int
    sector_size: int  # the erase unit
    page_size: int  # one program operation may not cross a multiple of this
    block_size: int | None  # large erase unit covering several sectors, if the part has one
    endurance: int  # guaranteed erase cycles per sector
    program_unit: int  # programs must be aligned to and a multiple of this many bytes
    max_writes_per_unit: int | None  # writes allowed to one unit between erases; None = unlimited
    page_program_s: tuple[float, float]  # (typical, max) seconds per program operation
    sector_erase_s: tuple[float, float]
    block_erase_s: tuple[float, float] | None

    def __post_init__(self) -> None:
        problems = []
        if self.size <= 0 or self.sector_size <= 0 or self.size % self.sector_size:
            problems.append("size must be a positive multiple of sector_size")
        if self.page_size <= 0 or self.sector_size % self.page_size:
            problems.append("sector_size must be a multiple of page_size")
        if self.program_unit <= 0 or self.page_size % self.program_unit:
            problems.append("page_size must be a multiple of program_unit")
        if (self.block_size is None) != (self.block_erase_s is None):
            problems.append("block_size and block_erase_s go together")
        if self.block_size is not None and (self.block_size % self.sector_size or self.size % self.block_size):
            problems.append("block_size must be a multiple of sector_size dividing size")
        if self.endurance <= 0:
            problems.append("endurance must be positive")
        if self.max_writes_per_unit is not None and not 0 < self.max_writes_per_unit < 255:
            problems.append("max_writes_per_unit must be 1..254")
        if problems:
            raise ValueError(f"flash profile {self.name!r}: " + "; ".join(problems))

    @property
    def sector_count(self) -> int:
        return self.size // self.sector_size


PROFILES: dict[str, FlashProfile] = {
    "serial-nor": FlashProfile(
        name="serial-nor",
        size=2 * 1024 * 1024,
        sector_size=4096,
        page_size=256,
        block_size=64 * 1024,
        endurance=100_000,
        program_unit=1,
        max_writes_per_unit=None,
        page_program_s=(0.0004, 0.003),
        sector_erase_s=(0.045, 0.400),
        block_erase_s=(0.150, 2.000),
    ),
    "mcu-internal": FlashProfile(
        name="mcu-internal",
        size=2 * 1024 * 1024,
        sector_size=8192,
        page_size=256,
        block_size=None,
        endurance=10_000,
        program_unit=4,
        max_writes_per_unit=2,
        page_program_s=(0.0026, 0.0035),
        sector_erase_s=(0.022, 0.040),
        block_erase_s=None,
    ),
}
DEFAULT_PROFILE = "serial-nor"


def get_profile(name: str) -> FlashProfile:
    """The named profile, or a one-line error listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(f"unknown flash profile {name!r} (known: {', '.join(PROFILES)})") from None
