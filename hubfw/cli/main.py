"""The `hubfw` command: one group, each area registers its own sub-commands."""

from __future__ import annotations

import sys

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


def _register() -> None:
    from hubfw.cbke.cli import cbke
    from hubfw.conformance.cli import check_device
    from hubfw.coordinator.cli import BENCH_COMMANDS
    from hubfw.flash.cli import flash
    from hubfw.gbcs.cli import gbcs
    from hubfw.hub.capture_cli import capture
    from hubfw.hub.cli import HUB_COMMANDS, keys_export
    from hubfw.ota.cli import image, keys
    from hubfw.sim.cli import demo
    from hubfw.store.cli import store, torture

    for command in (demo, keys, image, flash, store, cbke, gbcs, *BENCH_COMMANDS, *HUB_COMMANDS,
                    check_device, capture):
        main.add_command(command)
    flash.add_command(torture)  # it proves the store on a flash profile, so it lives with the store
    keys.add_command(keys_export)  # it asks the serving hub for the coordinator's keys, so it lives with the hub


_register()
