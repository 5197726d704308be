"""The air as the coordinator's radio sees it: whatever takes the frames the radio sends to devices.

Both the in-process virtual radio and the simulated NCP (hubfw.sim) deliver to an `Air`; device
simulators implement it and reach the hub only through a radio's `receive` / `join`, never through
the hub's internals.
"""

from __future__ import annotations

from typing import Protocol

from hubfw.zigbee.aps import ApsFrame


class Air(Protocol):
    """The simulated devices as seen from the coordinator's radio."""

    def deliver(self, frame: ApsFrame) -> bool:
        """Hand a coordinator frame to its destination; False means no APS ACK came back
        (device off or absent), which the NCP reports as a delivery failure.

        Broadcasts arrive too (`dst_nwk` 0xFFF8..0xFFFF, `dst_ieee` all ones; the result is
        ignored). A device may answer at once through `SimulatedNcp.receive`: the hub hears the
        answer after the messageSentHandler, as on the air."""
