"""`hubfw store status` and `hubfw flash torture` (the lead attaches `torture` to the flash group)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hubfw.cli.options import json_option, state_option
from hubfw.clock import SystemClock
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.store.store import ImageStore
from hubfw.store.torture import TortureConfig, report, run_torture


class TortureFailed(HubfwError):
    """The torture sweep found a lost image, a torn image served, or a lost or duplicate alert."""


@click.group()
def store() -> None:
    """The image-block store: what is in the ESME and GSME blocks, and for whom."""


@store.command("status")
@state_option("hub state directory holding flash.bin")
@json_option()
def status_command(state_dir: Path, as_json: bool) -> None:
    """Each block's image, its targets and their states, arrival time and retention deadline.

    Reads the flash file read-only: it never runs recovery, so it is safe while a hub runs.
    """
    with NorFlash.open(flash_path(state_dir), read_only=True) as device:
        found = ImageStore.inspect(device, SystemClock())
    click.echo(json.dumps(found.to_json(), indent=2) if as_json else "\n".join(found.describe()))


@click.command("torture")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default=DEFAULT_PROFILE, show_default=True)
@click.option("--image-size", type=click.IntRange(min=1024), default=DEFAULT_MAX_IMAGE_SIZE, show_default=True,
              help="bytes of each OTA file in the cycle")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="processes to share cuts")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of torn writes and image contents")
@json_option()
def torture(profile: str, image_size: int, workers: int, seed: int, as_json: bool) -> None:
    """Cut power at every program/erase of a full store cycle, in every cut mode, and check the store.

    Exits non-zero if any cut lost a committed image, served a torn one, lost an owed alert or
    minted a terminal alert twice.
    """
    config = TortureConfig(get_profile(profile), image_size, seed=seed)
    tally, seconds = run_torture(config, workers=workers)
    result = report(config, tally, seconds, workers)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"{result['cut_points']} cut points over {result['operations']} operations ({', '.join(result['modes'])}) "
            f"in {result['seconds']} s: {result['lost_images']} lost images, {result['torn_served']} torn images "
            f"served, {result['lost_alerts']} lost alerts, {result['duplicate_terminal_alerts']} duplicate terminal "
            f"alerts, {result['inconsistent_states']} inconsistent states, {result['recovery_failures']} failed "
            "recoveries"
        )
        for example in tally.examples:
            click.echo(f"  {example}")
    if tally.failures:
        raise TortureFailed(f"the store failed {tally.failures} of {tally.cut_points} power-cut checks")
