"""Shared fixtures for the bench tests."""

from __future__ import annotations

import click
import pytest

from hubfw.cli.main import HubfwGroup
from hubfw.coordinator.cli import BENCH_COMMANDS


@pytest.fixture
def hubfw_cli() -> click.Group:
    """The bench commands on the real `hubfw` group class, so errors take the CLI's one-line path."""
    group = HubfwGroup("hubfw")
    for command in BENCH_COMMANDS:
        group.add_command(command)
    return group
