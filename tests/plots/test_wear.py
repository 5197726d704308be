"""The wear map: what it shows comes from the flash and its store layout, and the files are what they claim."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from hubfw.cli.main import main
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import NorFlash
from hubfw.flash.report import WearReport
from hubfw.plots.common import PIXELS, png_size
from hubfw.plots.wear import (
    ESME,
    GSME,
    METADATA_RING,
    NO_STORE,
    SUPERBLOCK,
    UNUSED,
    colour_scale,
    grid_columns,
    render_wear_map,
    wear_map_data,
)
from hubfw.store.layout import Layout
from hubfw.store.state import Block
from hubfw.store.store import ImageStore
from tests.flash.conftest import TINY_NOR
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR, eui, ota_file, targets

SVG = "{http://www.w3.org/2000/svg}"
UPDATES = 6


@pytest.fixture(scope="module")
def worn_flash(tmp_path_factory) -> Path:
    """A small-nor flash file whose store took UPDATES ESME images, each downloaded and acknowledged."""
    path = tmp_path_factory.mktemp("wear") / "flash.bin"
    with NorFlash.create(path, SMALL_NOR) as flash:
        store = ImageStore.open(flash, VirtualClock(), max_image_size=SMALL_IMAGE)
        store.distribute(ota_file(0x300, SMALL_IMAGE), targets(DeviceType.GSME, 50))
        for version in range(0x401, 0x401 + UPDATES):
            image = store.distribute(ota_file(version, SMALL_IMAGE), targets(DeviceType.ESME, 1))
            store.note_end(eui(1), image.image_id, 0)
            store.acknowledge([alert.alert_id for alert in store.pending_alerts()])
    return path


def _read(path: Path, **projection) -> tuple[WearReport, Layout | None, list[int]]:
    with NorFlash.open(path, read_only=True) as flash:
        report = WearReport.of(flash, **projection)
        layout = Layout.read_superblock(flash)
        counts = list(flash.stats.erase_counts)
    return report, layout, counts


def test_the_named_regions_are_the_layouts(worn_flash):
    report, layout, _ = _read(worn_flash)
    assert layout is not None
    data = wear_map_data(report, layout, source="flash.bin")
    by_name = {region.name: region for region in data.regions}
    expected = {
        SUPERBLOCK: range(0, 1),
        ESME: layout.block_sector_range(Block.ESME),
        GSME: layout.block_sector_range(Block.GSME),
        **{f"metadata {index}": range(layout.region_first_sector(index),
                                      layout.region_first_sector(index) + layout.region_sectors)
           for index in range(layout.region_count)},
        UNUSED: range(layout.region_first_sector(layout.region_count), SMALL_NOR.sector_count),
    }
    assert {name: region.sectors for name, region in by_name.items()} == expected
    assert [group.name for group in data.groups] == [SUPERBLOCK, ESME, GSME, METADATA_RING, UNUSED]
    ring = next(group for group in data.groups if group.name == METADATA_RING)
    assert ring.sectors == range(layout.region_first_sector(0), layout.region_first_sector(layout.region_count))
    assert f"{layout.region_count} regions × {layout.region_sectors} sectors" in ring.key
    for region in data.regions:  # every sector knows its region
        assert {data.region_of(sector) for sector in region.sectors} == {region.name}


def test_colours_are_the_flash_erase_counters_placed_by_address(worn_flash):
    report, layout, counts = _read(worn_flash)
    data = wear_map_data(report, layout, source="flash.bin")
    assert data.erase_counts() == counts
    assert max(counts) >= UPDATES and min(counts) == 0  # the fixture wore the flash unevenly
    assert (data.columns, data.rows) == (16, 4)
    for cell in data.cells:
        assert (cell.address, cell.x, cell.y) == (cell.sector * 1024, cell.sector % 16, cell.sector // 16)
    assert data.scale_max == max(max(counts), 1) and data.discrete == (max(counts) <= 12)
    assert (data.endurance, data.endurance_on_scale) == (SMALL_NOR.endurance, False)


def test_title_names_profile_operations_most_worn_sector_and_lifetime(worn_flash):
    report, layout, counts = _read(worn_flash, updates_so_far=UPDATES, updates_per_year=4)
    data = wear_map_data(report, layout, source="flash.bin")
    worst = counts.index(max(counts))
    assert data.most_worn == worst
    part, worn, lifetime = data.subtitle
    assert data.title == "Flash wear map — flash.bin"
    assert part.startswith(f"small-nor: 64 KiB in 64 sectors of 1 KiB, endurance 100,000 erases per sector · "
                           f"{report.operations:,} operations")
    assert worn.startswith(f"most worn sector: {worst} at 0x{worst * 1024:06X} ({data.region_of(worst)}), "
                           f"{max(counts):,} erases")
    remaining = report.projection.updates_until_first_bad_sector
    assert lifetime.startswith(f"projected lifetime: {remaining:,.0f} more updates")
    assert f"= {remaining / 4:,.1f} years at 4 updates/year (wear of {UPDATES} so far)" in lifetime


def test_region_outlines_separate_every_pair_of_neighbouring_regions(worn_flash):
    report, layout, _ = _read(worn_flash)
    data = wear_map_data(report, layout, source="flash.bin")
    sides = set()
    for region in data.regions:
        for (x0, y0), (x1, y1) in region.edges:
            assert x0 == x1 or y0 == y1
            sides |= {((x, y0), (x + 1, y0)) for x in range(int(x0), int(x1))} if y0 == y1 else \
                {((x0, y), (x0, y + 1)) for y in range(int(y0), int(y1))}
    for cell in data.cells:
        if cell.x + 1 < data.columns and cell.sector + 1 < len(data.cells):
            right = data.cells[cell.sector + 1]
            assert (((cell.x + 1, cell.y), (cell.x + 1, cell.y + 1)) in sides) == (right.region != cell.region)
        if cell.sector + data.columns < len(data.cells):
            below = data.cells[cell.sector + data.columns]
            assert (((cell.x, cell.y + 1), (cell.x + 1, cell.y + 1)) in sides) == (below.region != cell.region)


def test_a_flash_without_a_store_is_one_region_and_bad_sectors_are_past_the_scale(tmp_path):
    with NorFlash.create(tmp_path / "bare.bin", TINY_NOR) as flash:  # endurance 3
        for _ in range(5):
            flash.erase_sector(2)
        flash.erase_sector(7)
    report, layout, counts = _read(tmp_path / "bare.bin")
    assert layout is None
    data = wear_map_data(report, layout, source="bare.bin")
    assert [(region.name, region.sectors) for region in data.regions] == [(NO_STORE, range(16))]
    assert data.erase_counts() == counts and counts[2] == 5
    assert data.bad_sectors == (2,) and data.most_worn == 2
    assert (data.scale_max, data.discrete, data.endurance_on_scale) == (3, True, True)
    assert "1 bad sectors · no store superblock on this flash" in data.subtitle[0]
    assert "projected lifetime: not projected" in data.subtitle[2]


@pytest.mark.parametrize(("erase_max", "endurance", "scale"), [
    (0, 100_000, (1, True, False)),
    (5, 100_000, (5, True, False)),
    (13, 100_000, (20, False, False)),
    (1234, 100_000, (2000, False, False)),
    (60_000, 100_000, (100_000, False, True)),  # the round top would pass the limit: the scale ends there
    (250_000, 100_000, (100_000, False, True)),
    (5, 3, (3, True, True)),
])
def test_colour_scale(erase_max, endurance, scale):
    assert colour_scale(erase_max, endurance) == scale


def test_grid_is_a_power_of_two_wide_about_twice_as_high():
    assert [grid_columns(count) for count in (1, 16, 64, 256, 512)] == [1, 8, 16, 32, 32]


def _svg_texts(path: Path) -> tuple[ElementTree.Element, list[str]]:
    root = ElementTree.parse(path).getroot()
    return root, ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_png_and_svg_files(worn_flash, tmp_path):
    report, layout, _ = _read(worn_flash, updates_so_far=UPDATES, updates_per_year=4)
    data = wear_map_data(report, layout, source="flash.bin")
    png, svg = render_wear_map(data, [tmp_path / "wear.png", tmp_path / "wear.svg"])
    assert png_size(png.read_bytes()) == PIXELS == (1600, 900)
    root, texts = _svg_texts(svg)
    assert (root.get("width"), root.get("height")) == ("1152pt", "648pt")  # 1600 × 900 px at 100 dpi, in points
    for region in data.regions:  # each name written on the map (or in its call-out)
        assert region.name in texts
    for group in data.groups:
        assert group.key in texts
    assert data.title in texts and data.subtitle[1] in texts
    assert "endurance limit 100,000" in texts and "is above this scale" in texts  # one <text> a line


def test_cli_draws_png_and_svg_from_the_flash_file(worn_flash, tmp_path):
    result = CliRunner().invoke(main, ["flash", "report", "--file", str(worn_flash), "--png", str(tmp_path / "a"),
                                       "--svg", str(tmp_path / "b"), "--updates", "3", "--rate", "12"])
    assert result.exit_code == 0, result.output
    assert png_size((tmp_path / "a").read_bytes()) == (1600, 900)  # --png writes PNG whatever the name
    _, texts = _svg_texts(tmp_path / "b")
    assert {SUPERBLOCK, ESME, GSME, "metadata 0", UNUSED} <= set(texts)
    assert any(text.startswith("projected lifetime:") and "at 12 updates/year (wear of 3 so far)" in text
               for text in texts)
