"""The registry of EZSP command handlers, by command name.

A handler takes the stack and the decoded request fields and returns the response fields by
their names in the negotiated version's table (fields left out are zero, i.e. success). The
stack's own handlers are its methods; feature modules (the CBKE library's commands) register
plain functions the same way, so `EmberStack` need not grow a method per command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Fields = dict[str, Any]
Handler = Callable[[Any, Fields], Fields]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler
    return register
