"""The APS layer as both ends of the HAN see it: the frame, how much payload one frame carries, fragments.

`ApsFrame` is a frame on the (simulated) air, addressed by both IEEE and NWK like a sniffer shows it;
`IncomingFrame` and `OutgoingFrame` are what the hub's radio adapters hand its servers and take back.

The room for a payload, peeled off a 127-byte PHY frame (unicast, intra-PAN, 16-bit MAC/NWK addresses,
no source route):

    802.15.4 frame  127   aMaxPHYPacketSize (IEEE 802.15.4-2006 §6.4.1)
    MAC            - 11   frame control 2, sequence 1, PAN id 2, dst 2, src 2 (PAN id compressed); FCS 2
    NWK            -  8   frame control 2, dst 2, src 2, radius 1, sequence 1 (Zigbee 2007 §3.3.1)
    NWK security   - 18   aux header: control 1, frame counter 4, source IEEE 8, key seq 1; MIC-32 4
    APS            -  8   frame control 1, dst ep 1, cluster 2, profile 2, src ep 1, counter 1
                   = 82   the APS payload an EmberZNet NCP reports (EMBER_AF_MAXIMUM_APS_PAYLOAD_LENGTH)
    APS security   -  9   when APS-encrypted with a link key (Smart Energy): aux header 5, MIC-32 4
    APS fragment   -  2   when one fragment of a longer message: extended frame control 1, block number 1
                   = 73   an APS-encrypted frame; 71 an APS-encrypted fragment, 80 a plain one

The two overheads are Silicon Labs' own: EMBER_AF_APS_ENCRYPTION_OVERHEAD 9 ("security = 5, MIC = 4") and
EMBER_AF_APS_FRAGMENTATION_OVERHEAD 2 in the application framework's util/config.h, which
emberAfMaximumApsPayloadLength (util/util.c) subtracts from the 82 for EMBER_APS_OPTION_ENCRYPTION and
EMBER_APS_OPTION_FRAGMENT (Gecko SDK 4.4.1, protocol/zigbee/app/framework/). `payload_limit` is that
function, and the one rule every end of the HAN keeps: the hub's sender fragments to it, the simulated NCP
refuses a longer sendUnicast with EMBER_MESSAGE_TOO_LONG, as emberSendUnicast does (stack/include/message.h),
and drops a longer frame from a device; the simulated devices fragment to it and refuse longer frames too.
"""

from __future__ import annotations

import dataclasses

import zigpy.types as t

PHY_MAX_PACKET = 127
MAC_HEADER = 9
MAC_FCS = 2
NWK_HEADER = 8
NWK_AUX_SECURITY_HEADER = 14
NWK_MIC = 4
APS_HEADER = 8
APS_AUX_SECURITY_HEADER = 5
APS_MIC = 4

MAX_APS_PAYLOAD = PHY_MAX_PACKET - MAC_HEADER - MAC_FCS - NWK_HEADER - NWK_AUX_SECURITY_HEADER - NWK_MIC - APS_HEADER
"""82: an unfragmented APS payload with NWK security on and no source route (EmberZNet's
`maximumPayloadLength`). The hub's radios start from it; both ends of the simulated air hold frames to it."""
APS_SECURITY_OVERHEAD = APS_AUX_SECURITY_HEADER + APS_MIC
"""9: what APS encryption takes from a frame's payload (EMBER_AF_APS_ENCRYPTION_OVERHEAD)."""
APS_FRAGMENT_HEADER = 2
"""The APS extended header every fragment carries: extended frame control 1, block number 1
(EMBER_AF_APS_FRAGMENTATION_OVERHEAD)."""
MAX_FRAGMENTS = 255
"""APS fragment index and count travel in one byte each."""


def payload_limit(encrypted: bool, *, fragment: bool = False, maximum: int = MAX_APS_PAYLOAD) -> int:
    """The largest payload one APS frame carries (emberAfMaximumApsPayloadLength): `maximum` (the NCP's
    maximumPayloadLength, 82), less 9 under APS encryption and 2 more for a fragment. 73 bytes for an
    encrypted frame, 71 for an encrypted fragment."""
    return maximum - (APS_SECURITY_OVERHEAD if encrypted else 0) - (APS_FRAGMENT_HEADER if fragment else 0)


def fits(payload: bytes, encrypted: bool, *, fragment: bool = False, maximum: int = MAX_APS_PAYLOAD) -> bool:
    """Whether `payload` fits one APS frame (or fragment) under `payload_limit`."""
    return len(payload) <= payload_limit(encrypted, fragment=fragment, maximum=maximum)


def split_payload(payload: bytes, size: int) -> list[bytes]:
    """`payload` cut into APS fragment payloads of at most `size` bytes, in order; ValueError if that takes
    more fragments than APS can number."""
    count = -(-len(payload) // size)
    if count > MAX_FRAGMENTS:
        raise ValueError(
            f"{len(payload)} bytes need {count} APS fragments of {size} bytes; at most {MAX_FRAGMENTS} can be numbered"
        )
    return [payload[offset : offset + size] for offset in range(0, len(payload), size)]


MAX_PARTIAL_PER_SENDER = 2
"""Messages one sender may have in reassembly at once; a third pushes out the one idle longest. EmberZNet's
fragmentation plugin keeps EMBER_AF_PLUGIN_FRAGMENTATION_MAX_INCOMING_PACKETS = 2 for all senders together
(app/framework/plugin/fragmentation/fragmentation.h)."""


@dataclasses.dataclass
class _Partial:
    pieces: dict[int, bytes]
    count: int | None
    """From fragment 0; unknown until it arrives."""
    last_seen: float


class FragmentReassembly:
    """Incoming APS fragments joined into whole messages, as an EZSP host must join them: the NCP hands it
    each fragment as it comes, in an `EmberApsFrame` with APS_OPTION_FRAGMENT.

    A message is the fragments sharing sender, APS counter, profile and cluster (bellows' key). A fragment's
    index is the low byte of its `groupId`, and the message's fragment count the high byte of fragment 0's
    (EmberZNet reports the count there only, and its fragmentation plugin reads it there only). Fragments
    may come in any order and more than once; the first copy of each counts. An incomplete message is
    dropped once `timeout` seconds pass with no new fragment of it (EmberZNet's plugin restarts its
    reassembly timer as fragments come in), and a sender has at most `per_sender` messages in reassembly,
    so a lost fragment costs bounded memory for a bounded time. Time is whatever clock `now` is read on.
    """

    def __init__(self, timeout: float, per_sender: int = MAX_PARTIAL_PER_SENDER) -> None:
        self.timeout = timeout
        self._per_sender = per_sender
        self._partial: dict[tuple[int, int, int, int], _Partial] = {}
        """By (sender, APS counter, profile, cluster), least recently active first."""

    def __len__(self) -> int:
        """How many messages are in reassembly."""
        return len(self._partial)

    def add(self, sender: int, aps_counter: int, profile: int, cluster: int, group_id: int, payload: bytes,
            now: float) -> bytes | None:
        """The whole message once this fragment completes it, else None."""
        self.expire(now)
        key = (sender, aps_counter, profile, cluster)
        partial = self._partial.pop(key, None) or self._make_room(sender, now)
        index = group_id & 0xFF
        if index == 0:
            partial.count = group_id >> 8 & 0xFF
        partial.pieces.setdefault(index, payload)
        partial.last_seen = now
        if partial.count and all(i in partial.pieces for i in range(partial.count)):
            return b"".join(partial.pieces[i] for i in range(partial.count))
        self._partial[key] = partial
        return None

    def expire(self, now: float) -> None:
        """Drop the messages that have waited `timeout` seconds for their next fragment."""
        for key in [key for key, partial in self._partial.items() if now - partial.last_seen >= self.timeout]:
            del self._partial[key]

    def next_expiry(self) -> float | None:
        """When the message idle longest will be dropped (on the clock `now` is read on), if one waits."""
        oldest = next(iter(self._partial.values()), None)
        return None if oldest is None else oldest.last_seen + self.timeout

    def _make_room(self, sender: int, now: float) -> _Partial:
        """A new message from `sender`, after dropping what exceeds its share, idle longest first."""
        held = [key for key in self._partial if key[0] == sender]
        for key in held[: max(0, len(held) - self._per_sender + 1)]:
            del self._partial[key]
        return _Partial({}, None, now)


def split_message(payload: bytes, encrypted: bool, *, maximum: int = MAX_APS_PAYLOAD) -> list[bytes]:
    """A message too long for one APS frame, cut into fragment payloads that each fit a fragment
    (`payload_limit(encrypted, fragment=True)`); ValueError past 255 fragments."""
    return split_payload(payload, payload_limit(encrypted, fragment=True, maximum=maximum))


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

    @property
    def fits(self) -> bool:
        """Whether the payload fits the frame it travels in (`payload_limit`): a longer one has no place on the
        air, and the NCP and devices refuse it."""
        return fits(self.payload, self.aps_encrypted, fragment=self.fragment is not None)


@dataclasses.dataclass(frozen=True)
class IncomingFrame:
    """An APS data frame for one of the hub's servers, as the radio adapter received it."""

    source: t.EUI64
    nwk: int
    profile: int
    src_ep: int
    dst_ep: int
    cluster: int
    zcl: bytes
    aps_encrypted: bool


@dataclasses.dataclass(frozen=True)
class OutgoingFrame:
    """A unicast the radio adapter must send; `not_before` (Unix seconds) spaces page responses."""

    destination: t.EUI64
    profile: int
    src_ep: int
    dst_ep: int
    cluster: int
    zcl: bytes
    aps_encrypt: bool
    not_before: float | None = None
