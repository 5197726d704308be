"""The options and parameter types the `hubfw` commands share, declared once.

`--state DIR` (the hub's state directory), `--json`, `--radio RADIO` and the EUI-64 parameter types.
Each package's cli module imports this module — never `hubfw.cli.main`, which imports them all — so the
help text may differ per command while the spelling, destination, type and default cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import zigpy.types as t

from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError

DEFAULT_STATE_DIR = "state"
"""The hub's state directory when `--state` is not given: ./state."""
RADIO_HELP = "serial port or URL of an EZSP coordinator (/dev/ttyUSB0, /dev/hubfw-zbt-1, socket://host:6638)"

F = TypeVar("F", bound=Callable[..., Any])


def state_option(help: str = "the hub's state directory", *, default: str | None = DEFAULT_STATE_DIR
                 ) -> Callable[[F], F]:
    """`--state DIR`, passed as `state_dir` (a Path). `default=None` for a command that has another default
    (a temporary directory) or must know whether --state was given (beside --file)."""
    return click.option("--state", "state_dir", metavar="DIR", default=default, show_default=default is not None,
                        type=click.Path(file_okay=False, path_type=Path), help=help)


def json_option(help: str = "machine-readable output") -> Callable[[F], F]:
    """`--json`, passed as `as_json`."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def radio_option(help: str = RADIO_HELP) -> Callable[[F], F]:
    """`--radio RADIO` (required), passed as `radio`: the coordinator to open."""
    return click.option("--radio", "radio", metavar="RADIO", required=True, help=help)


class BadEui64(click.BadParameter, HubfwError):
    """A value that is not an EUI-64: a usage error (exit 2) that the `hubfw` group prints as its one error line,
    naming the option or argument."""

    def __str__(self) -> str:
        return self.format_message()


class Eui64Type(click.ParamType):
    """An EUI-64 as `parse_eui64` reads it: `00:0d:6f:00:0a:bc:de:f0`, `000D6F000ABCDEF0` or `00-0d-6f-…`."""

    name = "eui64"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> t.EUI64:
        if isinstance(value, t.EUI64):
            return value
        try:
            return parse_eui64(str(value))
        except HubfwError as exc:
            raise BadEui64(str(exc), ctx, param) from None


class Eui64ListType(click.ParamType):
    """Comma-separated EUI-64s (`EUI64[,EUI64...]`); empty items are skipped."""

    name = "eui64 list"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> list[t.EUI64]:
        if isinstance(value, list):
            return value
        return [EUI64.convert(text, param, ctx) for text in str(value).split(",") if text.strip()]


EUI64 = Eui64Type()
EUI64_LIST = Eui64ListType()

