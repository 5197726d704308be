"""EZSP command tables: plain dicts from command name to handler, merged explicitly.

A handler takes the stack and the decoded request fields and returns the response fields by
their names in the negotiated version's table (fields left out are zero, i.e. success). Each
module that answers commands exports its table as `COMMANDS`, and `stack.py` builds the NCP's
table from them with `merge`, as bellows builds each EZSP version's table from the previous
one's; nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Fields = dict[str, Any]
Emit = Callable[[str, Fields], None]
"""How the stack sends a callback to the host: its name and fields."""
Stack = TypeVar("Stack")
Handler = Callable[[Stack, Fields], Fields]


def merge(*tables: Mapping[str, Handler[Stack]]) -> dict[str, Handler[Stack]]:
    """One table from several. Unlike bellows' `{**older, **newer}`, a name that two tables
    define is an error, not an override: each command has one handler, in one place."""
    merged: dict[str, Handler[Stack]] = {}
    twice: set[str] = set()
    for table in tables:
        twice |= merged.keys() & table.keys()
        merged.update(table)
    if twice:
        raise ValueError(f"EZSP commands defined twice: {', '.join(sorted(twice))}")
    return merged
