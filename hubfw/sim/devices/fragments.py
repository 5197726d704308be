"""APS fragmentation as a simulated device does it: split what does not fit one APS payload, and
reassemble what the hub sent in fragments.

Sizes follow the shared APS limits (`hubfw.zigbee.aps.payload_limit`): an unfragmented APS payload is at
most the NCP's `maximumPayloadLength` (82 bytes), 73 when APS-encrypted (auxiliary header 5, MIC 4); a
longer message goes as fragments of 2 bytes less each (the fragment's extended header: 80, or 71
encrypted), every fragment carrying the message's APS counter and its (index, count). The air in this
simulation does not lose frames between a device and its parent, so there are no fragment
acknowledgements or retries here: a message whose fragments arrive out of order or incomplete is
dropped, as a real APS layer would drop it once its reassembly timer ran out.
"""

from __future__ import annotations

import dataclasses

import zigpy.types as t

from hubfw.zigbee.aps import ApsFrame, split_message


def fragment(frame: ApsFrame) -> list[ApsFrame]:
    """`frame` alone if it fits one APS payload, else its fragments in order (same APS counter)."""
    if frame.fits:
        return [frame]
    pieces = split_message(frame.payload, frame.aps_encrypted)
    return [dataclasses.replace(frame, payload=piece, fragment=(index, len(pieces)))
            for index, piece in enumerate(pieces)]


_MessageKey = tuple[t.EUI64, int, int, int, int]
"""Sender, profile, cluster, source and destination endpoint: one message in reassembly per key."""


class Reassembly:
    """Fragments from the hub collected into whole messages, one message at a time per sender and cluster."""

    def __init__(self) -> None:
        self._partial: dict[_MessageKey, list[ApsFrame]] = {}

    def add(self, frame: ApsFrame) -> ApsFrame | None:
        """The whole message once `frame` completes it; an unfragmented frame is whole already."""
        if frame.fragment is None:
            return frame
        index, count = frame.fragment
        key = (frame.src_ieee, frame.profile, frame.cluster, frame.src_ep, frame.dst_ep)
        parts = [] if index == 0 else self._partial.pop(key, [])
        if len(parts) != index or not 0 <= index < count:
            self._partial.pop(key, None)
            return None
        parts.append(frame)
        if index + 1 < count:
            self._partial[key] = parts
            return None
        return dataclasses.replace(frame, payload=b"".join(part.payload for part in parts), fragment=None)
