"""Wear report of a flash device: how worn it is and how fast it wears (the wear map is hubfw/plots/wear.py).

The seed's point is that leaving images in a hub's flash wears it out; this report is how a bench
sees it. Lifetime is projected from the worst sector: given how many image updates produced the
recorded wear, each sector's erases per update say how many more updates it survives.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from hubfw.flash.device import NorFlash


@dataclass(frozen=True)
class Projection:
    """How long the flash lasts if updates keep wearing it as they did so far."""

    updates_so_far: int
    updates_per_year: float
    updates_until_first_bad_sector: float
    years: float


@dataclass(frozen=True)
class WearReport:
    profile: str
    size: int
    sector_size: int
    endurance: int
    operations: int
    erase_counts: list[int]
    erase_min: int
    erase_mean: float
    erase_max: int
    erase_stddev: float
    endurance_used_mean_percent: float
    endurance_used_max_percent: float
    bad_sectors: list[int]
    calls: dict[str, dict[str, int]]
    double_writes: int
    excess_writes: int
    power_cuts: int
    busy_s: float
    busy_max_s: float
    projection: Projection | None

    @classmethod
    def of(
        cls, flash: NorFlash, *, updates_so_far: int | None = None, updates_per_year: float | None = None
    ) -> WearReport:
        """The report of ``flash``; a projection only when both update numbers are given."""
        profile, stats = flash.profile, flash.stats
        counts = list(stats.erase_counts)
        block = profile.block_size or 0
        projection = None
        if updates_so_far is not None and updates_per_year is not None:
            projection = project(counts, profile.endurance, updates_so_far, updates_per_year)
        return cls(
            profile=profile.name,
            size=profile.size,
            sector_size=profile.sector_size,
            endurance=profile.endurance,
            operations=flash.operations,
            erase_counts=counts,
            erase_min=min(counts),
            erase_mean=statistics.fmean(counts),
            erase_max=max(counts),
            erase_stddev=statistics.pstdev(counts),
            endurance_used_mean_percent=100 * statistics.fmean(counts) / profile.endurance,
            endurance_used_max_percent=100 * max(counts) / profile.endurance,
            bad_sectors=stats.bad_sectors,
            calls={
                "program": {"calls": stats.program_calls, "bytes": stats.program_bytes},
                "erase": {"calls": stats.erase_calls, "bytes": stats.erase_calls * profile.sector_size},
                "block_erase": {"calls": stats.block_erase_calls, "bytes": stats.block_erase_calls * block},
                "read": {"calls": stats.read_calls, "bytes": stats.read_bytes},
            },
            double_writes=stats.double_writes,
            excess_writes=stats.excess_writes,
            power_cuts=stats.power_cuts,
            busy_s=stats.busy_s,
            busy_max_s=stats.busy_max_s,
            projection=projection,
        )

    def to_json(self) -> dict:
        """Plain JSON types; infinite projections (no wear yet) become null."""
        data = asdict(self)
        if self.projection is not None:
            data["projection"] = {
                key: (None if isinstance(value, float) and math.isinf(value) else value)
                for key, value in data["projection"].items()
            }
        return data

    def to_text(self) -> str:
        rows = [
            ("profile", f"{self.profile}: {self.size} bytes, {len(self.erase_counts)} sectors of {self.sector_size}, "
             f"endurance {self.endurance}"),
            ("operations", f"{self.operations} (programs + erases)"),
            ("erase counts", f"min {self.erase_min}  mean {self.erase_mean:.2f}  max {self.erase_max}  "
             f"stddev {self.erase_stddev:.2f}"),
            ("endurance used", f"mean {self.endurance_used_mean_percent:.4f}%  "
             f"max {self.endurance_used_max_percent:.4f}%"),
            ("bad sectors", f"{len(self.bad_sectors)}" + (f" {self.bad_sectors}" if self.bad_sectors else "")),
        ]
        rows += [
            (f"{kind.replace('_', ' ')} calls", f"{numbers['calls']} ({numbers['bytes']} bytes)")
            for kind, numbers in self.calls.items()
        ]
        rows += [
            ("double writes", str(self.double_writes)),
            ("excess writes", str(self.excess_writes)),
            ("power cuts", str(self.power_cuts)),
            ("busy time", f"{self.busy_s:.3f} s typical, {self.busy_max_s:.3f} s worst case"),
        ]
        if self.projection is None:
            rows.append(("lifetime", "pass --updates and --rate to project it"))
        else:
            p = self.projection
            rows.append((
                "lifetime",
                f"{_finite(p.updates_until_first_bad_sector, '.0f')} more updates until the first bad sector = "
                f"{_finite(p.years, '.1f')} years at {p.updates_per_year:g} updates/year "
                f"(from the wear of {p.updates_so_far} so far)",
            ))
        return "\n".join(f"{label:<18}{value}" for label, value in rows)


def project(counts: list[int], endurance: int, updates_so_far: int, updates_per_year: float) -> Projection:
    """Updates (and years) until the first sector passes endurance, wearing as in ``updates_so_far`` updates."""
    if updates_so_far <= 0 or updates_per_year <= 0:
        raise ValueError("updates so far and updates per year must be positive")
    remaining = min(
        (max(endurance - count, 0) * updates_so_far / count for count in counts if count), default=math.inf
    )
    return Projection(updates_so_far, updates_per_year, remaining, remaining / updates_per_year)


def _finite(value: float, spec: str) -> str:
    return "unlimited" if math.isinf(value) else format(value, spec)
