"""How many image bytes fit in one ImageBlockResponse, computed from the frame layers, not guessed.

One ImageBlockResponse must travel unfragmented in a single 802.15.4 frame. Peeling the layers off
a 127-byte PHY payload (unicast, intra-PAN, 16-bit MAC/NWK addresses, no source route):

    802.15.4 frame  127   aMaxPHYPacketSize (IEEE 802.15.4-2006 §6.4.1)
    MAC            - 11   frame control 2, sequence 1, PAN id 2, dst 2, src 2 (PAN id compressed); FCS 2
    NWK            -  8   frame control 2, dst 2, src 2, radius 1, sequence 1 (Zigbee 2007 §3.3.1)
    NWK security   - 18   aux header: control 1, frame counter 4, source IEEE 8, key seq 1; MIC-32 4
    APS            -  8   frame control 1, dst ep 1, cluster 2, profile 2, src ep 1, counter 1
                   = 82   the APS payload an EmberZNet NCP reports (EMBER_AF_MAXIMUM_APS_PAYLOAD_LENGTH)
    APS security   -  9   when APS-encrypted with a link key (Smart Energy): aux header 5, MIC-32 4
                          (EMBER_AF_APS_ENCRYPTION_OVERHEAD in Silicon Labs' application framework)
    ZCL header     -  3   frame control 1, TSN 1, command id 1 (the response is not manufacturer-specific)
    block response - 14   status 1, manufacturer 2, image type 2, file version 4, file offset 4, data size 1

So a plain response carries 82 - 3 - 14 = 65 bytes of image data, an APS-encrypted one 56. Silicon Labs'
OTA server plugin caps blocks at 63 (its 82 minus a 5-byte manufacturer-specific ZCL header minus 14) and
then shrinks further for APS encryption; zigpy's own OTA manager caps most vendors at 50. The radio
adapter passes the NCP's real APS maximum in, so a stack with other overheads gets the right answer.
"""

from __future__ import annotations

PHY_MAX_PACKET = 127
MAC_HEADER = 9
MAC_FCS = 2
NWK_HEADER = 8
NWK_AUX_SECURITY_HEADER = 14
NWK_MIC = 4
APS_HEADER = 8
APS_AUX_SECURITY_HEADER = 5
APS_MIC = 4
ZCL_HEADER = 3
IMAGE_BLOCK_RESPONSE_FIXED_FIELDS = 1 + 2 + 2 + 4 + 4 + 1

DEFAULT_APS_MAX_PAYLOAD = (
    PHY_MAX_PACKET - MAC_HEADER - MAC_FCS - NWK_HEADER - NWK_AUX_SECURITY_HEADER - NWK_MIC - APS_HEADER
)
"""82: the APS payload left in one frame with NWK security on (what an EZSP NCP reports)."""

APS_SECURITY_OVERHEAD = APS_AUX_SECURITY_HEADER + APS_MIC

_DATA_SIZE_FIELD_MAX = 0xFE
"""A ZCL octet string carries at most 254 bytes: length 0xFF means 'invalid'."""


def max_block_data_size(aps_max_payload: int, aps_encrypted: bool) -> int:
    """Image bytes that fit in one ImageBlockResponse given the radio's APS payload limit."""
    room = aps_max_payload - ZCL_HEADER - IMAGE_BLOCK_RESPONSE_FIXED_FIELDS
    if aps_encrypted:
        room -= APS_SECURITY_OVERHEAD
    if room < 1:
        raise ValueError(f"an APS payload of {aps_max_payload} bytes leaves no room for image data")
    return min(room, _DATA_SIZE_FIELD_MAX)
