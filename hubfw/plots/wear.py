"""The flash wear map: every sector by address, coloured by erase count, the store's regions outlined and named.

Two steps, so tests can check what is drawn without looking at pixels:

* ``wear_map_data(report, layout, source=…)`` is pure: from the wear report of one flash file and the
  store layout its superblock records (None when there is no store on it) it computes everything the
  picture shows — each sector's grid cell, region and erase count; each region's outline and label
  place; the colour scale and where the endurance limit sits on it; the title, and the key.
* ``render_wear_map(data, paths)`` only draws that with matplotlib (imported on use; see
  hubfw/plots/common.py for why matplotlib) and saves one file per path, PNG or SVG by suffix.

Sectors run row by row from address 0 at the top left, ``columns`` to a row (a power of two, so a row
starts at a round address); the y axis gives each row's start address and first sector. Region names
come from the Layout (``Layout.read_superblock``), never from fixed sector numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hubfw.flash.report import WearReport
from hubfw.store.layout import Layout
from hubfw.store.state import Block

DISCRETE_MAX = 12  # up to this many erases the scale has one colour per count
COLOUR_MAP = "YlOrRd"
PAST_ENDURANCE_COLOUR = "#000000"
NO_STORE = "no store superblock"
SUPERBLOCK, ESME, GSME, METADATA_RING, UNUSED = "superblock", "ESME block", "GSME block", "metadata log ring", "unused"

Segment = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class SectorCell:
    """One sector on the grid: column ``x`` and row ``y`` (row 0 at the top)."""

    sector: int
    address: int
    x: int
    y: int
    region: str
    erases: int


@dataclass(frozen=True)
class Region:
    """A named run of sectors the layout defines, with what the map draws for it.

    ``group`` is the key entry it belongs to: a block or the superblock is its own group; the
    metadata regions form the ``metadata log ring``. ``edges`` are the cell sides on the region's
    boundary in grid units; ``label_at`` is the centre of its longest run of cells in one row and
    ``label_cells`` that run's length (the room its name has).
    """

    name: str
    group: str
    sectors: range
    edges: tuple[Segment, ...]
    label_at: tuple[float, float]
    label_cells: int
    max_erases: int
    most_worn: int  # the lowest sector with max_erases


@dataclass(frozen=True)
class Group:
    """A key entry: the superblock, a block, the metadata log ring or the unused tail."""

    name: str
    sectors: range
    edges: tuple[Segment, ...]
    key: str  # the key line: sectors, addresses, wear


@dataclass(frozen=True)
class WearMap:
    """Everything the wear map shows, computed from one flash file's report and layout."""

    source: str
    profile: str
    sector_size: int
    columns: int
    rows: int
    cells: tuple[SectorCell, ...]
    regions: tuple[Region, ...]
    groups: tuple[Group, ...]
    scale_max: int  # top of the colour scale, in erases
    discrete: bool  # one colour per erase count (small counts)
    endurance: int
    endurance_on_scale: bool  # the scale runs up to the endurance limit (else the limit is above it)
    bad_sectors: tuple[int, ...]  # erased more often than the endurance guarantees
    most_worn: int | None  # the lowest most-erased sector; None if nothing was erased
    title: str
    subtitle: tuple[str, ...]

    def erase_counts(self) -> list[int]:
        """The colour values, by sector."""
        return [cell.erases for cell in self.cells]

    def region_of(self, sector: int) -> str:
        return self.cells[sector].region


def layout_regions(layout: Layout | None, sector_count: int) -> list[tuple[str, str, range]]:
    """(name, group, sectors) of every region the layout defines, in address order, covering the flash.

    Without a layout (no store superblock on the flash) the whole flash is one region.
    """
    if layout is None:
        return [(NO_STORE, NO_STORE, range(sector_count))]
    regions = [(SUPERBLOCK, SUPERBLOCK, range(0, 1))]
    regions += [(name, name, layout.block_sector_range(block)) for name, block in ((ESME, Block.ESME),
                                                                                     (GSME, Block.GSME))]
    for index in range(layout.region_count):
        first = layout.region_first_sector(index)
        regions.append((f"metadata {index}", METADATA_RING, range(first, first + layout.region_sectors)))
    end = layout.region_first_sector(layout.region_count)
    if end < sector_count:
        regions.append((UNUSED, UNUSED, range(end, sector_count)))
    return regions


def grid_columns(sector_count: int) -> int:
    """A power of two giving a grid about twice as wide as high (32 × 16 for 512 sectors)."""
    return max(1, 2 ** math.ceil(math.log2(math.sqrt(2 * sector_count)))) if sector_count > 1 else 1


def wear_map_data(report: WearReport, layout: Layout | None, *, source: str, columns: int | None = None) -> WearMap:
    """The wear map of one flash file (pure: no drawing, no I/O)."""
    counts = report.erase_counts
    sector_count = len(counts)
    columns = columns or grid_columns(sector_count)
    rows = -(-sector_count // columns)
    named = layout_regions(layout, sector_count)
    region_by_sector: list[str] = [""] * sector_count
    group_by_sector: list[str] = [""] * sector_count
    for name, group, sectors in named:
        for sector in sectors:
            region_by_sector[sector], group_by_sector[sector] = name, group
    cells = tuple(
        SectorCell(sector, sector * report.sector_size, sector % columns, sector // columns,
                   region_by_sector[sector], count)
        for sector, count in enumerate(counts)
    )
    regions = tuple(_region(name, group, sectors, counts, region_by_sector, columns) for name, group, sectors in named)
    groups = []
    for group in dict.fromkeys(group for _, group, _ in named):
        members = [region for region in regions if region.group == group]
        sectors = range(members[0].sectors.start, members[-1].sectors.stop)
        edges = _edges(sectors, group_by_sector, columns)
        groups.append(Group(group, sectors, edges, _key_line(group, members, sectors, counts, report, layout)))
    erase_max = max(counts, default=0)
    most_worn = counts.index(erase_max) if erase_max else None
    scale_max, discrete, on_scale = colour_scale(erase_max, report.endurance)
    title, subtitle = _titles(report, source, most_worn, region_by_sector, layout)
    return WearMap(
        source=source, profile=report.profile, sector_size=report.sector_size, columns=columns, rows=rows,
        cells=cells, regions=regions, groups=tuple(groups), scale_max=scale_max, discrete=discrete,
        endurance=report.endurance, endurance_on_scale=on_scale, bad_sectors=tuple(report.bad_sectors),
        most_worn=most_worn, title=title, subtitle=subtitle,
    )


def colour_scale(erase_max: int, endurance: int) -> tuple[int, bool, bool]:
    """(scale top, discrete?, endurance on the scale?) for the most-worn sector's count.

    The scale spans the wear there is, so the distribution shows far below the limit: a colour per
    count up to DISCRETE_MAX, else up to a round number. When that reaches the endurance, or a sector
    is past it, the scale ends at the endurance and the limit is drawn on it; past-endurance sectors
    get their own colour.
    """
    if erase_max >= endurance:
        return endurance, endurance <= DISCRETE_MAX, True
    if erase_max <= DISCRETE_MAX:
        top = max(erase_max, 1)
    else:
        magnitude = 10 ** math.floor(math.log10(erase_max))
        top = next(int(step * magnitude) for step in (1, 2, 2.5, 5, 10) if step * magnitude >= erase_max)
    if top >= endurance:
        return endurance, endurance <= DISCRETE_MAX, True
    return top, top <= DISCRETE_MAX, False


def draw_wear_map(data: WearMap):
    """The matplotlib Figure (1600 × 900 px) of ``data``; save it with hubfw.plots.common.save."""
    from hubfw.plots import common

    with common.style():
        return _draw(data, common.new_figure())


def render_wear_map(data: WearMap, paths: Sequence[str | Path]) -> list[Path]:
    """Draw ``data`` once and save it to each path, PNG or SVG by suffix."""
    from hubfw.plots import common

    for path in paths:
        common.format_of(path)  # refuse a bad name before drawing
    return common.save_all(draw_wear_map(data), list(paths))


# ----- data helpers


def _region(name: str, group: str, sectors: range, counts: list[int], region_by_sector: list[str],
            columns: int) -> Region:
    best_row, best = 0, (0, 0)  # longest run in one row: (length, first column)
    for row in range(sectors.start // columns, (sectors.stop - 1) // columns + 1):
        first, stop = max(sectors.start, row * columns), min(sectors.stop, (row + 1) * columns)
        if stop - first > best[0]:
            best_row, best = row, (stop - first, first - row * columns)
    length, column = best
    worn = max(counts[sector] for sector in sectors)
    return Region(
        name=name, group=group, sectors=sectors, edges=_edges(sectors, region_by_sector, columns),
        label_at=(column + length / 2, best_row + 0.5), label_cells=length, max_erases=worn,
        most_worn=next(sector for sector in sectors if counts[sector] == worn),
    )


def _edges(sectors: range, owner: list[str], columns: int) -> tuple[Segment, ...]:
    """The sides of the cells in ``sectors`` that border a cell of another owner or the grid's edge."""
    mine = owner[sectors.start]
    total = len(owner)

    def other(x: int, y: int) -> bool:
        sector = y * columns + x
        return not (0 <= x < columns and y >= 0 and sector < total and owner[sector] == mine)

    vertical: set[tuple[int, int]] = set()  # (x, y): the side from (x, y) to (x, y + 1)
    horizontal: set[tuple[int, int]] = set()  # (x, y): the side from (x, y) to (x + 1, y)
    for sector in sectors:
        x, y = sector % columns, sector // columns
        if other(x - 1, y):
            vertical.add((x, y))
        if other(x + 1, y):
            vertical.add((x + 1, y))
        if other(x, y - 1):
            horizontal.add((x, y))
        if other(x, y + 1):
            horizontal.add((x, y + 1))
    edges: list[Segment] = []
    for x, y in sorted(horizontal, key=lambda side: (side[1], side[0])):  # joined into runs along each line
        if (x - 1, y) not in horizontal:
            end = x + 1
            while (end, y) in horizontal:
                end += 1
            edges.append(((x, y), (end, y)))
    for x, y in sorted(vertical):
        if (x, y - 1) not in vertical:
            end = y + 1
            while (x, end) in vertical:
                end += 1
            edges.append(((x, y), (x, end)))
    return tuple(edges)


def _span(sectors: range, sector_size: int) -> str:
    first, last = sectors.start, sectors.stop - 1
    where = f"0x{first * sector_size:06X}–0x{sectors.stop * sector_size - 1:06X}"
    return f"sector {first}" if first == last else f"sectors {first}–{last}", where


def _key_line(group: str, members: Sequence[Region], sectors: range, counts: list[int], report: WearReport,
              layout: Layout | None) -> str:
    numbers, where = _span(sectors, report.sector_size)
    worst = max(members, key=lambda region: (region.max_erases, -region.most_worn))
    mean = sum(counts[sector] for sector in sectors) / len(sectors)
    wear = f"max {worst.max_erases:,} erases (sector {worst.most_worn}"
    wear += f", {worst.name})" if len(members) > 1 else ")"
    wear += f", mean {mean:.3g}"
    if group == METADATA_RING and layout is not None:
        what = f"{layout.region_count} regions × {layout.region_sectors} sectors, the store's log"
    elif group in (ESME, GSME) and layout is not None:
        what = f"image block for {layout.max_image_size:,}-byte images"
    elif group == SUPERBLOCK:
        what = "the store's layout, written once"
    elif group == UNUSED:
        what = "left over after the ring"
    else:
        what = "sectors shown by address only"
    return f"{group}: {numbers} ({where}), {what}; {wear}"


def _titles(report: WearReport, source: str, most_worn: int | None, region_by_sector: list[str],
            layout: Layout | None) -> tuple[str, tuple[str, ...]]:
    title = f"Flash wear map — {source}"
    part = (f"{report.profile}: {_bytes(report.size)} in {len(report.erase_counts)} sectors of "
            f"{_bytes(report.sector_size)}, endurance {report.endurance:,} erases per sector · "
            f"{report.operations:,} operations (programs + erases) · {len(report.bad_sectors)} bad sectors")
    if layout is None:
        part += " · no store superblock on this flash"
    if most_worn is None:
        worn = "most worn sector: none, no sector has been erased yet"
    else:
        count = report.erase_counts[most_worn]
        ties = report.erase_counts.count(count) - 1
        worn = (f"most worn sector: {most_worn} at 0x{most_worn * report.sector_size:06X} "
                f"({region_by_sector[most_worn]}), {count:,} erases = "
                f"{100 * count / report.endurance:.3g}% of endurance")
        if ties:
            worn += f" (and {ties} more sector{'s' if ties > 1 else ''} at that count)"
    projection = report.projection
    if projection is None:
        lifetime = "projected lifetime: not projected (give flash report --updates N --rate PER_YEAR)"
    elif projection.updates_until_first_bad_sector == 0:
        lifetime = "projected lifetime: none left — a sector is already at or past its endurance"
    elif math.isinf(projection.updates_until_first_bad_sector):
        lifetime = (f"projected lifetime: unlimited — {projection.updates_so_far} updates so far erased nothing")
    else:
        lifetime = (f"projected lifetime: {projection.updates_until_first_bad_sector:,.0f} more updates until the "
                    f"first sector passes endurance = {projection.years:,.1f} years at "
                    f"{projection.updates_per_year:g} updates/year (wear of {projection.updates_so_far} so far)")
    return title, (part, worn, lifetime)


def _bytes(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


# ----- drawing


def _draw(data: WearMap, figure):
    import numpy as np
    from matplotlib import colormaps, colors
    from matplotlib.collections import LineCollection

    from hubfw.plots.common import DPI, FONT_SIZE, PIXELS

    width_px, height_px = PIXELS
    map_box = (90 / width_px, 190 / height_px, 1240 / width_px, 560 / height_px)  # left, bottom, width, height
    axes = figure.add_axes(map_box)
    colour_axes = figure.add_axes((1400 / width_px, map_box[1], 18 / width_px, map_box[3]))

    cmap = colormaps[COLOUR_MAP].with_extremes(over=PAST_ENDURANCE_COLOUR, bad="#ffffff")
    if data.discrete:
        bounds = [value - 0.5 for value in range(data.scale_max + 2)]
        norm = colors.BoundaryNorm(bounds, cmap.N, extend="max" if data.bad_sectors else "neither")
    else:
        norm = colors.Normalize(0, data.scale_max)
    grid = np.full((data.rows, data.columns), np.nan)
    for cell in data.cells:
        grid[cell.y, cell.x] = cell.erases
    image = axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest",
                        extent=(0, data.columns, data.rows, 0))

    # thin lines between sectors, medium around regions, heavy around key groups
    axes.set_xticks(np.arange(data.columns + 1), minor=True)
    axes.set_yticks(np.arange(data.rows + 1), minor=True)
    axes.grid(which="minor", color="#ffffff", linewidth=0.6, alpha=0.8)
    axes.tick_params(which="minor", length=0)
    axes.add_collection(LineCollection([edge for region in data.regions for edge in region.edges],
                                       colors="#303030", linewidths=1.2))
    axes.add_collection(LineCollection([edge for group in data.groups for edge in group.edges],
                                       colors="#000000", linewidths=2.6))
    for sector in data.bad_sectors:
        cell = data.cells[sector]
        axes.text(cell.x + 0.5, cell.y + 0.5, "×", color="#ffffff", ha="center", va="center", fontsize=12)

    # region names: inside when they fit, else a call-out above or below the map
    cell_px = map_box[2] * width_px / data.columns
    halo = {"boxstyle": "round,pad=0.2", "facecolor": "#ffffff", "edgecolor": "none", "alpha": 0.75}  # text stays text
    callouts = 0
    for region in data.regions:
        x, y = region.label_at
        for size in (FONT_SIZE + 2, FONT_SIZE, FONT_SIZE - 2):
            if len(region.name) * size * 0.62 * DPI / 72 <= region.label_cells * cell_px - 4:
                axes.text(x, y, region.name, ha="center", va="center", fontsize=size, fontweight="bold",
                          bbox=halo)
                break
        else:
            above = y < data.rows / 2
            offset = 0.9 + 0.8 * (callouts % 3)
            axes.annotate(region.name, xy=(x, y), xytext=(x + 0.6, -offset if above else data.rows + offset),
                          ha="left", va="center", fontsize=FONT_SIZE, fontweight="bold", annotation_clip=False,
                          arrowprops={"arrowstyle": "-|>", "color": "#000000", "linewidth": 1.2})
            callouts += 1

    # axes: by address
    axes.set_xlim(0, data.columns)
    axes.set_ylim(data.rows, 0)
    row_step = max(1, data.rows // 16)
    axes.set_yticks([row + 0.5 for row in range(0, data.rows, row_step)])
    axes.set_yticklabels([f"0x{row * data.columns * data.sector_size:06X}\nsector {row * data.columns}"
                          for row in range(0, data.rows, row_step)], fontsize=FONT_SIZE - 2)
    column_step = max(1, data.columns // 8)
    axes.set_xticks([column + 0.5 for column in range(0, data.columns, column_step)])
    axes.set_xticklabels([f"+0x{column * data.sector_size:X}\n+{column}" for column in
                          range(0, data.columns, column_step)], fontsize=FONT_SIZE - 2)
    axes.set_xlabel(f"offset in the row (bytes, sectors); {data.columns} sectors of {_bytes(data.sector_size)} a row",
                    fontsize=FONT_SIZE)
    axes.set_ylabel("row start (address, sector)", fontsize=FONT_SIZE)

    # colour scale with the endurance limit
    colour_bar = figure.colorbar(image, cax=colour_axes, extend="max" if data.bad_sectors else "neither")
    colour_bar.set_label("erases per sector", fontsize=FONT_SIZE + 1)
    colour_axes.yaxis.set_label_position("left")
    if data.discrete:
        colour_bar.set_ticks(list(range(data.scale_max + 1)))
    if data.endurance_on_scale:
        colour_axes.axhline(data.endurance, color="#1f4fff", linewidth=3)
        colour_axes.annotate(f"endurance\nlimit {data.endurance:,}", xy=(1, data.endurance),
                             xycoords=colour_axes.get_yaxis_transform(), xytext=(40, 0), textcoords="offset points",
                             color="#1f4fff", ha="left", va="center", fontsize=FONT_SIZE, fontweight="bold")
    else:
        colour_axes.text(0.5, 1.02, f"endurance limit {data.endurance:,}\nis above this scale\n"
                         f"(top = {100 * data.scale_max / data.endurance:.3g}% of it)",
                         color="#1f4fff", ha="center", va="bottom", fontsize=FONT_SIZE - 1, fontweight="bold",
                         transform=colour_axes.transAxes)
    if data.bad_sectors:
        colour_axes.text(0.5, -0.03, "black ×: past\nendurance", ha="center", va="top", fontsize=FONT_SIZE - 1,
                         transform=colour_axes.transAxes)

    # title and key
    figure.text(0.5, 1 - 14 / height_px, data.title, ha="center", va="top", fontsize=FONT_SIZE + 6, fontweight="bold")
    for line, text in enumerate(data.subtitle):
        figure.text(0.5, 1 - (46 + 19 * line) / height_px, text, ha="center", va="top", fontsize=FONT_SIZE + 1)
    heading = "regions (from the store's superblock):" if data.groups[0].name != NO_STORE else "regions:"
    figure.text(90 / width_px, 108 / height_px, heading, ha="left", va="top",
                fontsize=FONT_SIZE, fontweight="bold")
    for line, group in enumerate(data.groups):
        figure.text(90 / width_px, (108 - 17 * (line + 1)) / height_px, group.key, ha="left", va="top",
                    fontsize=FONT_SIZE - 0.5)
    return figure

