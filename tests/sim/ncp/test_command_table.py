"""The simulated NCP's command table: plain data merged explicitly, every name a real EZSP command."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hubfw.sim.ncp import SUPPORTED_EZSP_VERSIONS, cbke_commands
from hubfw.sim.ncp.frames import CommandTable
from hubfw.sim.ncp.handlers import merge
from hubfw.sim.ncp.stack import COMMANDS, STACK_COMMANDS

VERSION_SPECIFIC = {
    "getAddressTableRemoteNodeId": [14, 16, 17, 18, 19],  # replaced by getAddressTableInfo in v14
    "getAddressTableRemoteEui64": [14, 16, 17, 18, 19],
    "getAddressTableInfo": [13],
    "setAddressTableInfo": [13],
    "gpClearProxyTable": [13, 14, 16],
}
"""Commands answered that some simulated versions lack, and those versions."""


def not_in_bellows(names: Iterable[str], versions: Iterable[int]) -> dict[str, list[int]]:
    """Each name that some of the versions' bellows command tables lack, with those versions."""
    tables = {version: CommandTable(version).by_name for version in versions}
    missing = {name: [version for version, table in tables.items() if name not in table] for name in names}
    return {name: versions for name, versions in missing.items() if versions}


def test_every_command_answered_is_an_ezsp_command_of_the_simulated_versions() -> None:
    assert not_in_bellows(COMMANDS, SUPPORTED_EZSP_VERSIONS) == VERSION_SPECIFIC


def test_a_made_up_command_is_reported() -> None:
    made_up = not_in_bellows([*COMMANDS, "getFluxCapacitor"], SUPPORTED_EZSP_VERSIONS)
    assert made_up == {**VERSION_SPECIFIC, "getFluxCapacitor": list(SUPPORTED_EZSP_VERSIONS)}


def test_the_table_is_the_stack_commands_and_the_cbke_library_commands() -> None:
    assert COMMANDS == {**STACK_COMMANDS, **cbke_commands.COMMANDS}
    assert len(COMMANDS) == len(STACK_COMMANDS) + len(cbke_commands.COMMANDS)


def test_a_command_defined_twice_is_refused() -> None:
    def other(stack: object, request: dict) -> dict:
        return {}

    with pytest.raises(ValueError, match="defined twice: getLibraryStatus, version"):
        merge(STACK_COMMANDS, {"version": other}, {"getLibraryStatus": other}, cbke_commands.COMMANDS)
