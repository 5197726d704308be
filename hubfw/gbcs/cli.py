"""`hubfw gbcs …`: the hub's side of GBCS message security, and a bench's GBCS test keys."""

from __future__ import annotations

from pathlib import Path

import click

from hubfw.cli.options import state_option
from hubfw.gbcs.bench_keys import DEFAULT_ACB_ID, DEFAULT_SUPPLIER_ID, GbcsKeysError, new_key_set, parse_entity_id
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


class EntityIdType(click.ParamType):
    """A GBCS entity id: 16 hex digits, big-endian (`90B3D51F30010000`; `:` or `-` between octets allowed)."""

    name = "entity id"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            return parse_entity_id(str(value))
        except GbcsKeysError as exc:
            self.fail(str(exc), param, ctx)


ENTITY_ID = EntityIdType()


@keys.command("new")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR",
              help="directory for the key set (made if missing; existing key files are never overwritten)")
@click.option("--supplier-id", "supplier_id", type=ENTITY_ID, default=DEFAULT_SUPPLIER_ID.hex().upper(),
              show_default=True, metavar="ID", help="the supplier's entity id (signs CS06)")
@click.option("--acb-id", "acb_id", type=ENTITY_ID, default=DEFAULT_ACB_ID.hex().upper(), show_default=True,
              metavar="ID", help="the access control broker's entity id (MACs commands)")
def keys_new(out: Path, supplier_id: bytes, acb_id: bytes) -> None:
    """Make a GBCS test key set: supplier DS and KA keys, the ACB's KA key (`<id>-<ds|ka>.<key|pem>`, RTDS layout);
    simulated devices add their own DS and KA keys to it on first use."""
    for path in new_key_set(out, supplier_id, acb_id):
        click.echo(str(path))
