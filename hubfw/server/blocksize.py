"""How many image bytes fit in one ImageBlockResponse, computed from the frame layers, not guessed.

One ImageBlockResponse must travel unfragmented in a single 802.15.4 frame. What the layers below ZCL
leave is the APS payload (82 bytes, less 9 under APS encryption: see `hubfw.zigbee.aps`); the response
then takes:

    ZCL header     -  3   frame control 1, TSN 1, command id 1 (the response is not manufacturer-specific)
    block response - 14   status 1, manufacturer 2, image type 2, file version 4, file offset 4, data size 1

So a plain response carries 82 - 3 - 14 = 65 bytes of image data, an APS-encrypted one 56. Silicon Labs'
OTA server plugin caps blocks at 63 (its 82 minus a 5-byte manufacturer-specific ZCL header minus 14) and
then shrinks further for APS encryption; zigpy's own OTA manager caps most vendors at 50. The radio
adapter passes the NCP's real APS maximum in, so a stack with other overheads gets the right answer.
"""

from __future__ import annotations

from hubfw.zigbee.aps import APS_SECURITY_OVERHEAD
from hubfw.zigbee.zcl import HEADER_SIZE

IMAGE_BLOCK_RESPONSE_FIXED_FIELDS = 1 + 2 + 2 + 4 + 4 + 1

_DATA_SIZE_FIELD_MAX = 0xFE
"""A ZCL octet string carries at most 254 bytes: length 0xFF means 'invalid'."""


def max_block_data_size(aps_max_payload: int, aps_encrypted: bool) -> int:
    """Image bytes that fit in one ImageBlockResponse given the radio's APS payload limit."""
    room = aps_max_payload - HEADER_SIZE - IMAGE_BLOCK_RESPONSE_FIXED_FIELDS
    if aps_encrypted:
        room -= APS_SECURITY_OVERHEAD
    if room < 1:
        raise ValueError(f"an APS payload of {aps_max_payload} bytes leaves no room for image data")
    return min(room, _DATA_SIZE_FIELD_MAX)
