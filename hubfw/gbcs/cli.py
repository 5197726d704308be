"""`hubfw gbcs …`: the hub's side of GBCS message security."""

from __future__ import annotations

from pathlib import Path

import click

from hubfw.cli.options import state_option
from hubfw.gbcs.ds_key import read_ch_ds_public_key


@click.group()
def gbcs() -> None:
    """GBCS messages: the Communications Hub's Digital Signing key."""


@gbcs.command("ch-key")
@state_option()
def ch_key(state_dir: Path) -> None:
    """Print the CH's Digital Signing public key (PEM), as the hub serving --state last started with it."""
    click.echo(read_ch_ds_public_key(state_dir).decode("ascii"), nl=False)
