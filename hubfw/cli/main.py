"""The `hubfw` command: one group, each area registers its own sub-commands."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from hubfw import __version__
from hubfw.errors import HubfwError


class HubfwGroup(click.Group):
    """Turns every HubfwError into one line on stderr and a non-zero exit — never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HubfwError as exc:
            click.echo(f"hubfw: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=HubfwGroup)
@click.version_option(__version__, prog_name="hubfw")
def main() -> None:
    """hubfw — a GB Communications Hub firmware-distribution emulator."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead of the story.")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the hub's and the simulated NCP's state here (default: a temporary directory).")
@click.option("--ezsp-version", type=int, default=13, show_default=True, help="EZSP version the simulated NCP speaks.")
def demo(as_json: bool, state: Path | None, ezsp_version: int) -> None:
    """The main job on the embedded default: a hub on the simulated coordinator flashing simulated devices."""
    from hubfw.sim.demo import run_demo

    result = asyncio.run(run_demo(state, as_json, ezsp_version))
    sys.exit(0 if result["ok"] else 1)


def _register() -> None:
    from hubfw.coordinator.cli import BENCH_COMMANDS
    from hubfw.cbke.cli import cbke
    from hubfw.flash.cli import flash
    from hubfw.hub.cli import HUB_COMMANDS
    from hubfw.ota.cli import image, keys
    from hubfw.store.cli import store, torture

    for command in (keys, image, flash, store, cbke, *BENCH_COMMANDS, *HUB_COMMANDS):
        main.add_command(command)
    flash.add_command(torture)  # it proves the store on a flash profile, so it lives with the store


_register()
