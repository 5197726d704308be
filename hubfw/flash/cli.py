"""CLI commands of this area."""

import click


@click.group()
def flash() -> None:
    """flash commands."""
