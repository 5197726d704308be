"""`hubfw flash …`: create a flash file and report its wear."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubfw.cli.options import DEFAULT_STATE_DIR, json_option, state_option
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from hubfw.flash.report import WearReport


def _flash_file(state_dir: Path | None, file: str | None) -> Path:
    if state_dir is not None and file is not None:
        raise click.UsageError("give --state or --file, not both")
    return Path(file) if file is not None else flash_path(state_dir or DEFAULT_STATE_DIR)


_state_option = state_option(f"hub state directory holding flash.bin (default ./{DEFAULT_STATE_DIR})", default=None)
_file_option = click.option("--file", metavar="PATH", help="the flash file itself, instead of --state")


def _store_layout(device: NorFlash):
    """The store layout its superblock records, or None (no store, or one this hubfw cannot read)."""
    from hubfw.store.errors import StoreFormatError
    from hubfw.store.layout import Layout

    try:
        return Layout.read_superblock(device)
    except StoreFormatError:
        return None


@click.group()
def flash() -> None:
    """The emulated NOR flash: create it, report its wear."""


@flash.command("format")
@_state_option
@_file_option
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default=DEFAULT_PROFILE, show_default=True)
def format_command(state_dir: Path | None, file: str | None, profile: str) -> None:
    """Create a fresh, fully erased flash file (never overwrites one)."""
    path = _flash_file(state_dir, file)
    path.parent.mkdir(parents=True, exist_ok=True)
    chosen = get_profile(profile)
    NorFlash.create(path, chosen).close()
    click.echo(
        f"created {path}: {chosen.name}, {chosen.size} bytes in {chosen.sector_count} sectors of {chosen.sector_size}"
    )


@flash.command("report")
@_state_option
@_file_option
@json_option()
@click.option("--png", "png_path", metavar="FILE",
              help="also draw the wear map (1600×900 px): sectors by address, store regions named, erase colour scale")
@click.option("--svg", "svg_path", metavar="FILE", help="also draw the wear map as SVG")
@click.option("--updates", type=click.IntRange(min=1), help="image updates that produced the recorded wear")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="image updates per year, for the projection")
def report_command(
    state_dir: Path | None, file: str | None, as_json: bool, png_path: str | None, svg_path: str | None,
    updates: int | None,
    rate: float | None,
) -> None:
    """Wear of a flash file: erase counts, endurance used, calls, cuts, busy time, projected lifetime, wear map.

    Reads the file read-only, so it works while a hub is running on it.
    """
    if (updates is None) != (rate is None):
        raise click.UsageError("--updates and --rate go together")
    path = _flash_file(state_dir, file)
    pictures = [(picture, kind) for picture, kind in ((png_path, "png"), (svg_path, "svg")) if picture is not None]
    with NorFlash.open(path, read_only=True) as device:
        report = WearReport.of(device, updates_so_far=updates, updates_per_year=rate)
        layout = _store_layout(device) if pictures else None
    if pictures:
        from hubfw.plots.common import save  # these load matplotlib: only when drawing
        from hubfw.plots.wear import draw_wear_map, wear_map_data

        figure = draw_wear_map(wear_map_data(report, layout, source=path.name))
        for picture, kind in pictures:
            save(figure, picture, kind)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.to_text())
