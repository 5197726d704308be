"""ZEP v2, the Zigbee Encapsulation Protocol, for a live view of the capture in Wireshark.

Wireshark's packet-zep.c reads a data packet (type 1) from UDP port 17754 by default:

    |Preamble "EX"|Version 2|Type 1|Channel ID|Device ID|LQI/CRC mode|LQI|NTP timestamp|Sequence#|Reserved|Length|
    |   2 bytes   | 1 byte  |1 byte|  1 byte  | 2 bytes |   1 byte   |1 B|   8 bytes   | 4 bytes |10 bytes|1 byte|

then the 802.15.4 frame. Multi-byte fields are big-endian (tvb_get_ntohs / ntohl). The mode byte set (CRC mode)
tells it the frame's last two bytes are a real FCS, which it dissects as `wpan`; zero (LQI mode) would have it
read them as a CC24xx RSSI / LQI trailer. The timestamp is NTP: seconds since 1900 and a binary fraction.
The length is the 802.15.4 frame's, FCS included (7 bits: at most 127, aMaxPHYPacketSize).
"""

from __future__ import annotations

import socket
import struct

ZEP_PORT = 17754
ZEP_PREAMBLE = b"EX"
ZEP_VERSION = 2
ZEP_TYPE_DATA = 1
ZEP_CRC_MODE = 1
NTP_UNIX_OFFSET = 2_208_988_800
"""Seconds from 1900-01-01 (the NTP era) to 1970-01-01."""
HEADER = struct.Struct(">2sBBBHBBIII10sB")
MAX_FRAME = 127


def ntp_timestamp(unix: float) -> tuple[int, int]:
    """(seconds since 1900, fraction of a second in units of 2**-32)."""
    seconds = int(unix // 1)
    fraction = min(int((unix - seconds) * 2**32), 2**32 - 1)
    return seconds + NTP_UNIX_OFFSET, fraction


def zep_packet(frame: bytes, *, timestamp: float, sequence: int, channel: int, device_id: int = 0,
               lqi: int = 255) -> bytes:
    """One ZEP v2 data packet carrying `frame` (an 802.15.4 PSDU with its FCS)."""
    if len(frame) > MAX_FRAME:
        raise ValueError(f"a {len(frame)}-byte frame does not fit 802.15.4 (at most {MAX_FRAME} bytes)")
    seconds, fraction = ntp_timestamp(timestamp)
    header = HEADER.pack(ZEP_PREAMBLE, ZEP_VERSION, ZEP_TYPE_DATA, channel, device_id, ZEP_CRC_MODE, lqi,
                         seconds, fraction, sequence & 0xFFFFFFFF, bytes(10), len(frame))
    return header + frame


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT, HOST (port 17754) or [IPv6]:PORT."""
    host, _, port = text.rpartition(":") if text.count(":") == 1 or text.startswith("[") else (text, "", "")
    host = host.strip("[]") or text
    if not port:
        return host, ZEP_PORT
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"not HOST:PORT: {text!r}") from None
    if not 0 < number < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, number


class ZepSender:
    """Sends each frame as one UDP datagram to `address`."""

    def __init__(self, address: tuple[str, int], *, channel: int, device_id: int = 0) -> None:
        self.address = address
        self.channel = channel
        self.device_id = device_id
        self.sequence = 0
        family = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)[0][0]
        self._socket = socket.socket(family, socket.SOCK_DGRAM)

    def send(self, timestamp: float, frame: bytes) -> None:
        self.sequence += 1
        packet = zep_packet(frame, timestamp=timestamp, sequence=self.sequence, channel=self.channel,
                            device_id=self.device_id)
        try:
            self._socket.sendto(packet, self.address)
        except OSError:  # nobody listening (ICMP unreachable) or no route: a live view is best effort
            pass

    def close(self) -> None:
        self._socket.close()
