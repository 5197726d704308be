"""`hubfw flash …`: create a flash file and report its wear."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubfw.cli.options import DEFAULT_STATE_DIR, json_option, state_option
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from hubfw.flash.report import WearReport, write_heat_map


class OutputFileError(HubfwError):
    """The heat map cannot be written."""


def _flash_file(state_dir: Path | None, file: str | None) -> Path:
    if state_dir is not None and file is not None:
        raise click.UsageError("give --state or --file, not both")
    return Path(file) if file is not None else flash_path(state_dir or DEFAULT_STATE_DIR)


_state_option = state_option(f"hub state directory holding flash.bin (default ./{DEFAULT_STATE_DIR})", default=None)
_file_option = click.option("--file", metavar="PATH", help="the flash file itself, instead of --state")


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
@click.option("--png", "png_path", metavar="FILE", help="also write a per-sector wear heat map")
@click.option("--updates", type=click.IntRange(min=1), help="image updates that produced the recorded wear")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="image updates per year, for the projection")
def report_command(
    state_dir: Path | None, file: str | None, as_json: bool, png_path: str | None, updates: int | None,
    rate: float | None,
) -> None:
    """Wear of a flash file: erase counts, endurance used, calls, cuts, busy time, projected lifetime.

    Reads the file read-only, so it works while a hub is running on it.
    """
    if (updates is None) != (rate is None):
        raise click.UsageError("--updates and --rate go together")
    with NorFlash.open(_flash_file(state_dir, file), read_only=True) as device:
        report = WearReport.of(device, updates_so_far=updates, updates_per_year=rate)
    if png_path is not None:
        try:
            write_heat_map(report.erase_counts, report.endurance, png_path)
        except OSError as exc:
            raise OutputFileError(f"cannot write heat map {png_path}: {exc.strerror}") from None
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.to_text())
