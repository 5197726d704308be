"""CLI commands of this area."""

import click


@click.group()
def store() -> None:
    """store commands."""
