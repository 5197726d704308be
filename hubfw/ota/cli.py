"""CLI commands of this area."""

import click


@click.group()
def image() -> None:
    """image commands."""


@click.group()
def keys() -> None:
    """keys commands."""
