"""APS rules the NCP enforces between the host and the HAN: payload limits, link-key checks and
how EZSP carries fragments in an `EmberApsFrame`.

EZSP has no fragment fields: a fragment travels with APS_OPTION_FRAGMENT and its position in
`groupId`. The receiving side (EmberZNet's fragmentation plugin, bellows' FragmentManager) reads
the index from the low byte and the fragment count from the high byte of fragment 0 only; the
sending host (EmberZNet's fragmentation-host code) puts the count in the high byte of every
fragment. Fragment acknowledgements the host sends with `sendReply` carry 0xFF in the high byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import bellows.types as t
import zigpy.types as zt

from hubfw.zigbee.aps import ApsFrame

FRAGMENT_ACK_MARK = 0xFF


def incoming_group_id(index: int, count: int) -> int:
    """The `groupId` of a received fragment, as EmberZNet reports it to the host."""
    return (count << 8) | index if index == 0 else index


def is_fragment_ack(aps: t.EmberApsFrame) -> bool:
    return t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options and aps.groupId >> 8 == FRAGMENT_ACK_MARK


def fails_link_key_check(frame: ApsFrame, keys: Collection[zt.KeyData]) -> bool:
    """Whether an APS-encrypted frame fails its MIC check against every key the receiver may hold for the
    sender.

    A frame that names no key comes from a device simulator that does not model APS keys; it is
    taken as secured with a key the receiver holds, if the receiver holds one."""
    if not frame.aps_encrypted:
        return False
    if not keys:
        return True
    return frame.link_key is not None and frame.link_key not in keys


@dataclasses.dataclass(frozen=True)
class HostFragment:
    """One fragment the host hands to `sendUnicast`: where it sits and which APS counter it uses."""

    index: int
    count: int
    sequence: int | None
    """The APS counter of fragment 0, which the host copies into every later fragment; None for
    fragment 0, which gets a fresh counter."""


class FragmentError(ValueError):
    """A host fragment the NCP cannot place in a message."""


class OutgoingFragments:
    """The fragmented messages the host is sending, by destination and APS counter, so that later
    fragments find the fragment count even when the host leaves the high byte of `groupId` clear."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, int], int] = {}

    def place(self, nwk: int, aps: t.EmberApsFrame) -> HostFragment:
        index, high = aps.groupId & 0xFF, aps.groupId >> 8
        if index == 0:
            if high == 0:
                raise FragmentError("fragment 0 must carry the fragment count in the high byte of groupId")
            return HostFragment(0, high, None)
        count = high or self._counts.get((nwk, aps.sequence))
        if count is None:
            raise FragmentError(f"fragment {index} of an unknown message (APS counter {aps.sequence})")
        if index >= count:
            raise FragmentError(f"fragment {index} of a {count}-fragment message")
        return HostFragment(index, count, aps.sequence)

    def sent(self, nwk: int, sequence: int, fragment: HostFragment) -> None:
        """Remember a message after its fragment 0 went out; forget it after its last fragment."""
        key = (nwk, sequence)
        if fragment.index + 1 >= fragment.count:
            self._counts.pop(key, None)
        elif fragment.index == 0:
            self._counts[key] = fragment.count

    def clear(self) -> None:
        self._counts.clear()
