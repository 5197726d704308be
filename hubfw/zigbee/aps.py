"""The HAN as the coordinator's radio sees it: APS frames, and the devices behind the radio.

It lives with the radios because both the in-process virtual radio and the simulated NCP (hubfw.sim)
carry these frames; device simulators implement `Han` and reach the hub only through a radio's
`receive` / `join`, never through the hub's internals.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import zigpy.types as t

from hubfw.server.blocksize import DEFAULT_APS_MAX_PAYLOAD

MAX_APS_PAYLOAD = DEFAULT_APS_MAX_PAYLOAD
"""82: EmberZNet's `maximumPayloadLength`, an unfragmented, unsecured APS payload with no source route; both
ends of the simulated air (the NCP and the device simulators) hold frames to it."""
APS_SECURITY_OVERHEAD = 8
"""What APS encryption takes from the payload's room on the simulated air (auxiliary header and MIC)."""


MAX_FRAGMENTS = 255
"""APS fragment index and count travel in one byte each."""


def split_payload(payload: bytes, size: int) -> list[bytes]:
    """`payload` cut into APS fragment payloads of at most `size` bytes, in order; ValueError if that takes
    more fragments than APS can number."""
    count = -(-len(payload) // size)
    if count > MAX_FRAGMENTS:
        raise ValueError(
            f"{len(payload)} bytes need {count} APS fragments of {size} bytes; at most {MAX_FRAGMENTS} can be numbered"
        )
    return [payload[offset : offset + size] for offset in range(0, len(payload), size)]


def payload_limit(encrypted: bool) -> int:
    """The largest payload one APS frame carries on the simulated air: 82 bytes, 74 under APS encryption;
    bigger messages go in fragments of that size."""
    return MAX_APS_PAYLOAD - (APS_SECURITY_OVERHEAD if encrypted else 0)


@dataclasses.dataclass(frozen=True)
class ApsFrame:
    """One APS data frame on the HAN, addressed by both IEEE and NWK like a real sniffer shows it.

    `aps_counter` is the APS counter (bellows calls it the sequence); for ZCL traffic zigpy
    reuses its TSN for it. `aps_encrypted` says whether the frame travelled under the APS
    link key (GB HAN devices require it for Smart Energy traffic).
    """

    src_ieee: t.EUI64
    src_nwk: t.NWK
    dst_ieee: t.EUI64
    dst_nwk: t.NWK
    profile: int
    cluster: int
    src_ep: int
    dst_ep: int
    payload: bytes
    aps_encrypted: bool = False
    aps_counter: int = 0
    link_key: t.KeyData | None = dataclasses.field(default=None, hash=False)  # KeyData, a list, has no hash
    """The APS link key an encrypted frame was secured with: the simulation's stand-in for the APS MIC.
    A receiver that holds a different link key for the sender drops the frame (no APS ACK)."""
    fragment: tuple[int, int] | None = None
    """(index, count) of one APS fragment of a larger message; None for an unfragmented frame."""


class Han(Protocol):
    """The simulated devices as seen from the coordinator's radio."""

    def deliver(self, frame: ApsFrame) -> bool:
        """Hand a coordinator frame to its destination; False means no APS ACK came back
        (device off or absent), which the NCP reports as a delivery failure.

        Broadcasts arrive too (`dst_nwk` 0xFFF8..0xFFFF, `dst_ieee` all ones; the result is
        ignored). A device may answer at once through `SimulatedNcp.receive`: the hub hears the
        answer after the messageSentHandler, as on the air."""
