"""Classic libpcap files of IEEE 802.15.4 frames.

The format is the one libpcap's pcap-savefile(5) and https://www.tcpdump.org/linktypes.html define: a 24-byte
global header (magic 0xA1B2C3D4 in the writer's byte order, version 2.4, thiszone 0, sigfigs 0, snaplen,
link type), then per packet a 16-byte record header (seconds, microseconds, captured length, original length)
and the packet. Written little-endian.

Link type 195, LINKTYPE_IEEE802_15_4_WITHFCS: each packet is the whole PSDU with its 2-byte FCS. It is what a
real 802.15.4 sniffer writes and what ZEP in CRC mode carries, so the pcap file and the live view hold the same
bytes; Wireshark checks the FCS (wpan.fcs_ok) and, finding it right, dissects the Zigbee NWK and APS layers
as from a sniffer. (230, NOFCS, would dissect as cleanly but leave nothing to verify the frame bytes with.)
"""

from __future__ import annotations

import struct
from typing import BinaryIO

PCAP_MAGIC = 0xA1B2C3D4
PCAP_VERSION = (2, 4)
LINKTYPE_IEEE802_15_4_WITHFCS = 195
SNAPLEN = 65535
GLOBAL_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")


def global_header(linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS, snaplen: int = SNAPLEN) -> bytes:
    return GLOBAL_HEADER.pack(PCAP_MAGIC, *PCAP_VERSION, 0, 0, snaplen, linktype)


def record(timestamp: float, packet: bytes) -> bytes:
    """One packet record stamped `timestamp` (Unix seconds)."""
    micros = round(timestamp * 1_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    return RECORD_HEADER.pack(seconds, micros, len(packet), len(packet)) + packet


class PcapWriter:
    """Appends packets to a binary stream that starts with the global header, flushing each one so a reader
    (`tshark -r`, `tail -f | wireshark -k -i -`) sees it at once."""

    def __init__(self, stream: BinaryIO, linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS) -> None:
        self.stream = stream
        self.count = 0
        stream.write(global_header(linktype))
        stream.flush()

    def write(self, timestamp: float, packet: bytes) -> None:
        self.stream.write(record(timestamp, packet))
        self.stream.flush()
        self.count += 1
