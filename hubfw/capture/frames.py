"""An APS frame the hub sent or received, as the IEEE 802.15.4 frame a sniffer would show, decrypted.

`CapturedFrame` is what the hub's radio knows of one APS frame (addresses, endpoints, profile, cluster, APS
counter, fragment, payload); `FrameEncoder.encode` builds the 802.15.4 PSDU around it, FCS included:

    MAC  IEEE 802.15.4-2006 §7.2.1 data frame: frame control 2, sequence 1, destination PAN 2, destination
         short 2, source short 2 (PAN ID compression), FCS 2 (§7.2.1.9, the ITU-T CRC-16 sent LSB first, which
         is CRC-16/KERMIT). Frame type 1 (data), no security, acknowledgment request on a unicast, frame
         version 0 (2003), as a Zigbee PRO stack sends it. Wireshark: epan/dissectors/packet-ieee802154.c.
    NWK  Zigbee specification (05-3474-21) §3.3.1: frame control 2 (frame type 0 data, protocol version 2,
         discover route 1 on a unicast, security 0, destination IEEE bit 11, source IEEE bit 12), destination
         2, source 2, radius 1, sequence 1, destination IEEE 8 and source IEEE 8 when their flags are set.
         Wireshark: epan/dissectors/zigbee/packet-zbee-nwk.c (ZBEE_NWK_FCF_*; its heuristic takes a data
         frame with 16-bit MAC addresses and NWK protocol version 1 or 2).
    APS  Zigbee specification §2.2.5.1: frame control 1 (frame type 0 data / 2 acknowledgement, delivery mode
         0 unicast / 2 broadcast / 3 group, security 0, acknowledgement request bit 6, extended header bit 7),
         destination endpoint 1 (unicast and broadcast), group address 2 (group), cluster 2, profile 2, source
         endpoint 1, APS counter 1, then the extended header (§2.2.5.1.8): extended frame control 1
         (fragmentation bits 0-1: 0 none, 1 first block, 2 a later block), block number 1 (the first block
         carries the number of blocks, a later one its own index; an acknowledgement the first block of the
         window it acknowledges), and in an acknowledgement of fragments the ack bitfield 1 (bit i: block
         number + i received). Wireshark: packet-zbee-aps.c
         (ZBEE_APS_FCF_*, ZBEE_APS_EXT_FCF_FRAGMENT_*; it reassembles fragments by NWK source and APS
         counter, taking the first block's number as the count).

Single hop: the MAC addresses are the NWK addresses (a broadcast goes to MAC 0xFFFF). A NWK frame carries the
source IEEE address whenever it is known and the destination's on a unicast to a known device, so Wireshark
maps every short address to its EUI-64. No frame has NWK or APS security: what was APS-encrypted on the air is
shown as its plaintext. The sequence numbers a real MAC and NWK layer would put there are not known to the
hub; they are numbered here per source, one per frame.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

COORDINATOR_NWK = 0x0000
MAC_BROADCAST = 0xFFFF
BROADCAST_LOWEST = 0xFFF8
"""NWK addresses 0xFFF8..0xFFFF are broadcasts (Zigbee §3.6.5)."""
NWK_RADIUS = 30
"""2 x nwkMaxDepth (15), the radius a Zigbee PRO stack gives its own frames."""
NWK_PROTOCOL_VERSION = 2
"""Zigbee 2007 / PRO (Wireshark's ZBEE_VERSION_2007)."""

# IEEE 802.15.4-2006 §7.2.1.1 frame control
MAC_FRAME_DATA = 0x0001
MAC_ACK_REQUEST = 0x0020
MAC_PAN_ID_COMPRESSION = 0x0040
MAC_DST_SHORT = 0x0800
MAC_SRC_SHORT = 0x8000

# Zigbee §3.3.1.1 NWK frame control
NWK_DISCOVER_ROUTE_ENABLE = 0x0040
NWK_DST_IEEE = 0x0800
NWK_SRC_IEEE = 0x1000

# Zigbee §2.2.5.1.1 APS frame control
APS_FRAME_DATA = 0x00
APS_FRAME_ACK = 0x02
APS_DELIVERY_UNICAST = 0x00
APS_DELIVERY_BROADCAST = 0x08
APS_DELIVERY_GROUP = 0x0C
APS_ACK_REQUEST = 0x40
APS_EXTENDED_HEADER = 0x80

# Zigbee §2.2.5.1.8.1 extended frame control
FRAGMENT_NONE = 0
FRAGMENT_FIRST = 1
FRAGMENT_LATER = 2


class Direction(enum.StrEnum):
    RX = "rx"
    """A device's frame the hub received."""
    TX = "tx"
    """A frame the hub sent."""


@dataclasses.dataclass(frozen=True)
class Fragment:
    """One APS fragment: its index in the message and, where known, the message's number of fragments."""

    index: int
    count: int | None = None

    @property
    def fragmentation(self) -> int:
        return FRAGMENT_FIRST if self.index == 0 else FRAGMENT_LATER

    @property
    def block_number(self) -> int:
        """The first block names the number of blocks; a later one its own index (Zigbee §2.2.5.1.8.2)."""
        if self.index == 0:
            if self.count is None:
                raise ValueError("the first APS fragment must carry the number of fragments")
            return self.count
        return self.index


@dataclasses.dataclass(frozen=True)
class CapturedFrame:
    """One APS frame as the hub's radio saw it go out or come in.

    IEEE addresses are the EUI-64 as a number (0x000D6F000000E001 for 00:0d:6f:00:00:00:e0:01), None where the
    radio does not know it. `group` is set for a group (multicast) frame. `ack_bitfield` makes it an APS
    acknowledgement of one window of fragments (`fragment` naming the window's first block), with no payload.
    `aps_encrypted` records whether the frame travelled APS-encrypted; the capture shows it decrypted.
    """

    direction: Direction
    src_nwk: int
    dst_nwk: int
    profile: int
    cluster: int
    src_ep: int
    dst_ep: int
    aps_counter: int
    payload: bytes
    src_ieee: int | None = None
    dst_ieee: int | None = None
    fragment: Fragment | None = None
    group: int | None = None
    ack_request: bool = True
    ack_bitfield: int | None = None
    aps_encrypted: bool = False

    @property
    def broadcast(self) -> bool:
        return self.group is None and self.dst_nwk >= BROADCAST_LOWEST


def crc16_kermit(data: bytes) -> int:
    """The 802.15.4 FCS (IEEE 802.15.4-2006 §7.2.1.9): CRC-16 polynomial x^16 + x^12 + x^5 + 1, initial value
    0, bits taken LSB first, no final XOR (CRC-16/KERMIT; check value 0x2189 over b"123456789"). It is sent
    low byte first."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def aps_header(frame: CapturedFrame) -> bytes:
    """The APS header (Zigbee §2.2.5.1), extended header included."""
    control = APS_FRAME_ACK if frame.ack_bitfield is not None else APS_FRAME_DATA
    if frame.group is not None:
        control |= APS_DELIVERY_GROUP
    elif frame.broadcast:
        control |= APS_DELIVERY_BROADCAST
    elif frame.ack_request and frame.ack_bitfield is None:
        control |= APS_ACK_REQUEST
    if frame.fragment is not None:
        control |= APS_EXTENDED_HEADER
    header = bytearray([control])
    if frame.group is None:
        header.append(frame.dst_ep)
    else:
        header += struct.pack("<H", frame.group)
    header += struct.pack("<HHBB", frame.cluster, frame.profile, frame.src_ep, frame.aps_counter & 0xFF)
    if frame.fragment is not None:
        if frame.ack_bitfield is None:
            header += bytes([frame.fragment.fragmentation, frame.fragment.block_number & 0xFF])
        else:  # an acknowledgement names the first block of the window it acknowledges (§2.2.8.4.5.2)
            header += bytes([frame.fragment.fragmentation, frame.fragment.index & 0xFF, frame.ack_bitfield & 0xFF])
    return bytes(header)


def nwk_header(frame: CapturedFrame, sequence: int) -> bytes:
    """The NWK header (Zigbee §3.3.1), with the IEEE addresses the hub knows; IEEE addresses go little-endian."""
    control = NWK_PROTOCOL_VERSION << 2
    unicast = not frame.broadcast and frame.group is None
    if unicast:
        control |= NWK_DISCOVER_ROUTE_ENABLE
    dst_ieee = frame.dst_ieee if unicast else None
    if dst_ieee is not None:
        control |= NWK_DST_IEEE
    if frame.src_ieee is not None:
        control |= NWK_SRC_IEEE
    dst_nwk = frame.dst_nwk if frame.group is None else 0xFFFD  # a groupcast goes out as a NWK broadcast
    header = struct.pack("<HHHBB", control, dst_nwk, frame.src_nwk, NWK_RADIUS, sequence & 0xFF)
    if dst_ieee is not None:
        header += struct.pack("<Q", dst_ieee)
    if frame.src_ieee is not None:
        header += struct.pack("<Q", frame.src_ieee)
    return header


def mac_frame(pan_id: int, dst: int, src: int, sequence: int, msdu: bytes, *, ack_request: bool) -> bytes:
    """An IEEE 802.15.4 data frame with 16-bit addresses in one PAN, FCS appended (§7.2.2.2)."""
    control = MAC_FRAME_DATA | MAC_PAN_ID_COMPRESSION | MAC_DST_SHORT | MAC_SRC_SHORT
    if ack_request:
        control |= MAC_ACK_REQUEST
    mpdu = struct.pack("<HBHHH", control, sequence & 0xFF, pan_id, dst, src) + msdu
    return mpdu + struct.pack("<H", crc16_kermit(mpdu))


class FrameEncoder:
    """Builds the 802.15.4 frames of one capture: the PAN id, and the MAC and NWK sequence numbers it gives out
    (per source, one per frame)."""

    def __init__(self, pan_id: int) -> None:
        self.pan_id = pan_id
        self._sequences: dict[tuple[str, int], int] = {}

    def _next(self, layer: str, source: int) -> int:
        value = self._sequences.get((layer, source), -1) + 1 & 0xFF
        self._sequences[(layer, source)] = value
        return value

    def encode(self, frame: CapturedFrame) -> bytes:
        """The PSDU (MAC header, NWK and APS headers, payload, FCS)."""
        msdu = nwk_header(frame, self._next("nwk", frame.src_nwk)) + aps_header(frame)
        if frame.ack_bitfield is None:
            msdu += frame.payload
        broadcast = frame.broadcast or frame.group is not None
        dst = MAC_BROADCAST if broadcast else frame.dst_nwk
        return mac_frame(self.pan_id, dst, frame.src_nwk, self._next("mac", frame.src_nwk), msdu,
                         ack_request=not broadcast)
