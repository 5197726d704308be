"""A reader of the hub's captures, written from the specifications and not from hubfw.capture, so the encoder
is checked against them and not against itself.

- pcap: libpcap pcap-savefile(5): global header magic 0xA1B2C3D4 (either byte order), version, thiszone,
  sigfigs, snaplen, network (link type); records of ts_sec, ts_usec, incl_len, orig_len and the packet.
- IEEE 802.15.4-2006 §7.2.1: frame control (type bits 0-2, security 3, pending 4, ack request 5, PAN ID
  compression 6, destination addressing mode bits 10-11, frame version 12-13, source addressing mode 14-15),
  sequence, addressing fields by mode (0 none, 2 short, 3 extended), FCS: the ITU-T CRC-16 (x^16+x^12+x^5+1)
  over the MPDU, bits LSB first, sent low byte first — computed here from binascii's MSB-first CRC-CCITT
  on bit-reversed bytes.
- Zigbee NWK (Zigbee specification §3.3.1): frame control (type 0-1, protocol version 2-5, discover route
  6-7, multicast 8, security 9, source route 10, destination IEEE 11, source IEEE 12, end device initiator
  13), destination, source, radius, sequence, destination IEEE, source IEEE, multicast control, source route
  subframe (relay count, relay index, relays).
- Zigbee APS (§2.2.5.1): frame control (type 0-1: data 0, command 1, ack 2; delivery mode 2-3: unicast 0,
  broadcast 2, group 3; ack format 4; security 5; ack request 6; extended header 7); destination endpoint
  (unicast, broadcast), group address (group), cluster, profile, source endpoint, APS counter; extended header
  (§2.2.5.1.8): extended frame control (fragmentation bits 0-1), block number when fragmented, ack bitfield in
  an acknowledgement of fragments.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass


def _reverse_bits(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


def fcs(mpdu: bytes) -> int:
    """The 802.15.4 FCS: the reflected CRC-CCITT, through binascii's unreflected one."""
    return _reverse_bits(binascii.crc_hqx(bytes(_reverse_bits(b, 8) for b in mpdu), 0), 16)


@dataclass
class Packet:
    seconds: int
    micros: int
    data: bytes


def read_pcap(blob: bytes) -> tuple[int, list[Packet]]:
    """(link type, packets)."""
    magic = blob[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}[magic]
    _, major, minor, _, _, _, network = struct.unpack(order + "IHHiIII", blob[:24])
    assert (major, minor) == (2, 4)
    packets, offset = [], 24
    while offset < len(blob):
        seconds, micros, included, original = struct.unpack(order + "IIII", blob[offset:offset + 16])
        assert included == original
        packets.append(Packet(seconds, micros, blob[offset + 16:offset + 16 + included]))
        offset += 16 + included
    assert offset == len(blob)
    return network, packets


@dataclass
class Decoded:
    # MAC
    mac_frame_type: int
    mac_ack_request: bool
    mac_sequence: int
    pan_id: int
    mac_dst: int
    mac_src: int
    fcs_ok: bool
    # NWK
    nwk_frame_type: int
    nwk_version: int
    nwk_security: bool
    nwk_dst: int
    nwk_src: int
    radius: int
    nwk_sequence: int
    nwk_dst_ieee: int | None
    nwk_src_ieee: int | None
    # APS
    aps_frame_type: int
    delivery_mode: int
    aps_security: bool
    aps_ack_request: bool
    dst_ep: int | None
    group: int | None
    cluster: int
    profile: int
    src_ep: int
    aps_counter: int
    fragmentation: int
    block_number: int | None
    ack_bitfield: int | None
    payload: bytes


def decode(psdu: bytes) -> Decoded:
    """One 802.15.4 PSDU with FCS carrying a Zigbee NWK data frame and an APS frame."""
    mpdu, (received_fcs,) = psdu[:-2], struct.unpack("<H", psdu[-2:])
    control, sequence = struct.unpack_from("<HB", mpdu)
    frame_type, ack_request = control & 0x7, bool(control >> 5 & 1)
    compression = bool(control >> 6 & 1)
    dst_mode, src_mode = control >> 10 & 0x3, control >> 14 & 0x3
    assert not control >> 3 & 1, "MAC security"
    assert (dst_mode, src_mode) == (2, 2), "Zigbee data frames use 16-bit MAC addresses"
    offset = 3
    (pan_id, mac_dst), offset = struct.unpack_from("<HH", mpdu, offset), offset + 4
    if not compression:
        offset += 2  # the source PAN
    (mac_src,), offset = struct.unpack_from("<H", mpdu, offset), offset + 2

    nwk_control, nwk_dst, nwk_src, radius, nwk_sequence = struct.unpack_from("<HHHBB", mpdu, offset)
    offset += 8
    dst_ieee = src_ieee = None
    if nwk_control >> 11 & 1:
        (dst_ieee,), offset = struct.unpack_from("<Q", mpdu, offset), offset + 8
    if nwk_control >> 12 & 1:
        (src_ieee,), offset = struct.unpack_from("<Q", mpdu, offset), offset + 8
    if nwk_control >> 8 & 1:
        offset += 1  # multicast control
    if nwk_control >> 10 & 1:
        relays = mpdu[offset]
        offset += 2 + 2 * relays

    aps_control = mpdu[offset]
    offset += 1
    aps_type, delivery = aps_control & 0x3, aps_control >> 2 & 0x3
    dst_ep = group = None
    if delivery in (0, 2):
        dst_ep, offset = mpdu[offset], offset + 1
    elif delivery == 3:
        (group,), offset = struct.unpack_from("<H", mpdu, offset), offset + 2
    cluster, profile, src_ep, counter = struct.unpack_from("<HHBB", mpdu, offset)
    offset += 6
    fragmentation, block, bitfield = 0, None, None
    if aps_control >> 7 & 1:
        fragmentation, offset = mpdu[offset] & 0x3, offset + 1
        if fragmentation:
            block, offset = mpdu[offset], offset + 1
            if aps_type == 2:
                bitfield, offset = mpdu[offset], offset + 1
    return Decoded(
        mac_frame_type=frame_type, mac_ack_request=ack_request, mac_sequence=sequence, pan_id=pan_id,
        mac_dst=mac_dst, mac_src=mac_src, fcs_ok=fcs(mpdu) == received_fcs,
        nwk_frame_type=nwk_control & 0x3, nwk_version=nwk_control >> 2 & 0xF, nwk_security=bool(nwk_control >> 9 & 1),
        nwk_dst=nwk_dst, nwk_src=nwk_src, radius=radius, nwk_sequence=nwk_sequence, nwk_dst_ieee=dst_ieee,
        nwk_src_ieee=src_ieee, aps_frame_type=aps_type, delivery_mode=delivery,
        aps_security=bool(aps_control >> 5 & 1), aps_ack_request=bool(aps_control >> 6 & 1), dst_ep=dst_ep,
        group=group, cluster=cluster, profile=profile, src_ep=src_ep, aps_counter=counter,
        fragmentation=fragmentation, block_number=block, ack_bitfield=bitfield, payload=mpdu[offset:],
    )
