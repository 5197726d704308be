"""The few OTA cluster fields the soak's checker reads off the air, decoded with `struct`.

The frames are built and parsed by zigpy on both sides already; the checker reads millions of them,
and zigpy's schema parse (~0.3 ms each) would double the soak's run time, so it reads the fixed
leading fields of the ZCL OTA frames itself (ZCL spec 11.13: all little-endian):

    ZCL header      frame control u8 [manufacturer code u16 if bit 2] | TSN u8 | command id u8
    ImageBlockRsp   status u8 | manufacturer u16 | image type u16 | file version u32 | offset u32 | size u8 | data
    ImageBlockReq   field control u8 | manufacturer u16 | image type u16 | file version u32 | offset u32 | ...
    ImagePageReq    (the same leading fields)
    UpgradeEndReq   status u8 | manufacturer u16 | image type u16 | file version u32
    DefaultRsp      (a general command, id 0x0B) command id u8 | status u8
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zigpy.zcl import foundation

from hubfw.zigbee.zcl import OtaCommand, OtaReply

_GENERAL = 0x00
_CLUSTER_SPECIFIC = 0x01
_FRAME_TYPE_MASK = 0x03
_MANUFACTURER_SPECIFIC = 0x04
_IMAGE = struct.Struct("<BHHII")  # status or field control, manufacturer, image type, version, offset
_END = struct.Struct("<BHHI")

TRANSFER_REQUESTS = (OtaCommand.image_block.id, OtaCommand.image_page.id)
UPGRADE_END = OtaCommand.upgrade_end.id
BLOCK_RESPONSE = OtaReply.image_block_response.id


@dataclass(frozen=True)
class ImageData:
    """An ImageBlockResponse with status SUCCESS: which image, where, and the bytes."""

    image_type: int
    file_version: int
    offset: int
    data: bytes


def _command(zcl: bytes, frame_type: int = _CLUSTER_SPECIFIC) -> tuple[int, int] | None:
    """(command id, payload start) of a frame of this type (cluster-specific or general), else None."""
    if len(zcl) < 3 or zcl[0] & _FRAME_TYPE_MASK != frame_type:
        return None
    start = 5 if zcl[0] & _MANUFACTURER_SPECIFIC else 3
    return (zcl[start - 1], start) if len(zcl) >= start else None


def image_data(zcl: bytes) -> ImageData | None:
    """The image data a server frame carries, or None if it is anything else."""
    found = _command(zcl)
    if found is None or found[0] != BLOCK_RESPONSE or len(zcl) < found[1] + _IMAGE.size + 1:
        return None
    start = found[1]
    status, _, image_type, version, offset = _IMAGE.unpack_from(zcl, start)
    if status != 0:
        return None
    size_at = start + _IMAGE.size
    return ImageData(image_type, version, offset, zcl[size_at + 1 : size_at + 1 + zcl[size_at]])


def transfer_request_version(zcl: bytes) -> int | None:
    """The file version an ImageBlock/ImagePage request asks for (None for other frames)."""
    found = _command(zcl)
    if found is None or found[0] not in TRANSFER_REQUESTS or len(zcl) < found[1] + _IMAGE.size:
        return None
    return _IMAGE.unpack_from(zcl, found[1])[3]


def upgrade_end(zcl: bytes) -> tuple[int, int] | None:
    """(status, file version) of a full UpgradeEndRequest (None for other frames and status-only ones)."""
    found = _command(zcl)
    if found is None or found[0] != UPGRADE_END or len(zcl) < found[1] + _END.size:
        return None
    status, _, _, version = _END.unpack_from(zcl, found[1])
    return status, version


def default_response(zcl: bytes) -> tuple[int, int] | None:
    """(command id answered, status) of a Default Response (None for other frames)."""
    found = _command(zcl, _GENERAL)
    if found is None or found[0] != foundation.GeneralCommand.Default_Response or len(zcl) < found[1] + 2:
        return None
    return zcl[found[1]], zcl[found[1] + 1]
