"""`hubfw gbcs …`: the hub's side of GBCS message security, and a bench's GBCS test keys."""

from __future__ import annotations

from pathlib import Path

import click
import zigpy.types as t

from hubfw.cli.options import EUI64, state_option
from hubfw.gbcs.bench_keys import DEFAULT_ACB_ID, DEFAULT_SUPPLIER_ID, entity_of, new_key_set
from hubfw.gbcs.ds_key import read_ch_ds_public_key


@click.group()
def gbcs() -> None:
    """GBCS messages: the Communications Hub's Digital Signing key, a bench's GBCS test keys."""


@gbcs.command("ch-key")
@state_option()
def ch_key(state_dir: Path) -> None:
    """Print the CH's Digital Signing public key (PEM), as the hub serving --state last started with it."""
    click.echo(read_ch_ds_public_key(state_dir).decode("ascii"), nl=False)


@gbcs.group("keys")
def keys() -> None:
    """A bench's GBCS test keys (supplier, access control broker, devices), in the RTDS keystore layout."""


@keys.command("new")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="directory for the key set (made if missing; existing key files are never overwritten)")
@click.option("--supplier-id", "supplier", type=EUI64, default=DEFAULT_SUPPLIER_ID.hex().upper(), show_default=True, metavar="EUI64",
              help="the supplier's entity id (signs CS06)")
@click.option("--acb-id", "acb", type=EUI64, default=DEFAULT_ACB_ID.hex().upper(), show_default=True,
              metavar="EUI64", help="the access control broker's entity id (MACs commands)")
@click.option("--device", "devices", type=EUI64, multiple=True, metavar="EUI64",
              help="also make this device's DS and KA keys now (repeatable; simulated devices make theirs on first "
                   "use)")
def keys_new(out: Path, supplier: t.EUI64, acb: t.EUI64, devices: tuple[t.EUI64, ...]) -> None:
    """Make a GBCS test key set: supplier DS and KA keys, the ACB's KA key (`<eui>-<ds|ka>.<key|pem>`)."""
    written = new_key_set(out, entity_of(supplier), entity_of(acb), devices)
    for path in written:
        click.echo(str(path))
