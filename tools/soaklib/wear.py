"""An independent count of every flash operation, to hold the flash's own wear report to account."""

from __future__ import annotations

from collections.abc import Callable

from hubfw.flash.device import CutMode, NorFlash
from hubfw.flash.report import WearReport

OperationFilter = Callable[[str, int], bool]
"""(kind, address) -> whether an armed cut may land on this operation."""


class FlashOpCounter:
    """Counts programs and per-sector erases through the flash's `on_operation` hook.

    It also places power cuts: `arm` cuts power at the n-th operation from now that a filter admits
    (say, only metadata writes, which image programming would otherwise swamp). A cut BEFORE an
    operation stops it before it lands (the device counts nothing), and this counter knows to leave
    that one out.
    """

    def __init__(self, flash: NorFlash) -> None:
        self._flash = flash
        self._before_cuts: set[int] = set()
        self._armed: tuple[int, CutMode, OperationFilter | None] | None = None
        self.programs = 0
        self.program_bytes = 0
        self.erase_operations = 0
        self.erases = [0] * flash.sector_count
        flash.on_operation = self._count

    def arm(self, after: int, mode: CutMode, where: OperationFilter | None = None) -> None:
        """Cut power at the operation after `after` more that `where` admits (any operation if None)."""
        self._armed = (after, mode, where)

    @property
    def armed(self) -> bool:
        return self._armed is not None

    def _count(self, index: int, kind: str, address: int, length: int) -> None:
        if self._armed is not None:
            self._take_aim(index, kind, address)
        if index in self._before_cuts:
            self._before_cuts.discard(index)
            return
        if kind == "program":
            self.programs += 1
            self.program_bytes += length
            return
        self.erase_operations += 1
        first = address // self._flash.sector_size
        for sector in range(first, first + length // self._flash.sector_size):
            self.erases[sector] += 1

    def _take_aim(self, index: int, kind: str, address: int) -> None:
        assert self._armed is not None
        after, mode, where = self._armed
        if where is not None and not where(kind, address):
            return
        if after > 0:
            self._armed = (after - 1, mode, where)
            return
        self._armed = None
        self._flash.schedule_cut(index, mode)  # the device takes it for the operation it is announcing
        if mode is CutMode.BEFORE:
            self._before_cuts.add(index)

    def disagreements(self, power_cuts_seen: int) -> list[str]:
        """Where the flash's wear report differs from what was counted here (empty when they agree)."""
        report = WearReport.of(self._flash)
        problems = []
        if report.erase_counts != self.erases:
            differing = [sector for sector, (reported, counted) in enumerate(zip(report.erase_counts, self.erases))
                         if reported != counted]
            problems.append(
                f"wear report erase counts differ from the erases counted in sectors {differing[:8]} "
                f"(report total {sum(report.erase_counts)}, counted {sum(self.erases)})"
            )
        erase_calls = report.calls["erase"]["calls"] + report.calls["block_erase"]["calls"]
        if erase_calls != self.erase_operations:
            problems.append(f"wear report shows {erase_calls} erase operations, {self.erase_operations} were counted")
        program = report.calls["program"]
        if (program["calls"], program["bytes"]) != (self.programs, self.program_bytes):
            problems.append(
                f"wear report shows {program['calls']} programs of {program['bytes']} bytes, "
                f"{self.programs} of {self.program_bytes} bytes were counted"
            )
        if report.operations != self.programs + self.erase_operations:
            problems.append(f"the flash numbered {report.operations} operations, "
                            f"{self.programs + self.erase_operations} were counted")
        if report.power_cuts != power_cuts_seen:
            problems.append(f"wear report shows {report.power_cuts} power cuts, the hub went down {power_cuts_seen} "
                            "times from one")
        return problems
