"""The HAN servers' side of `hubfw.hub.faults`: the statuses a key establishment or tunnel fault may name."""

from __future__ import annotations

from hubfw.han.key_establishment.faults import terminate_status
from hubfw.han.tunneling.server import refusal_status
from hubfw.hub.faults import Fault, FaultKind


def check_status(fault: Fault) -> None:
    """FaultError (one line listing the names) for a status the fault's cluster has no such name for."""
    if fault.kind is FaultKind.CBKE_TERMINATE:
        terminate_status(fault)
    elif fault.kind is FaultKind.TUNNEL_REFUSE:
        refusal_status(fault)
