"""The ZDO requests a coordinator answers about itself (zigpy interviews its own coordinator),
encoded with zigpy's ZDO schemas."""

from __future__ import annotations

from typing import Any

import zigpy.types as zt
import zigpy.zdo.types as zdo_t

COORDINATOR_NWK = zt.NWK(0x0000)
SILABS_MANUFACTURER_CODE = 0x1049


def answer(cluster: int, body: bytes, endpoints: dict[int, zdo_t.SimpleDescriptor]) -> tuple[int, bytes] | None:
    """The response cluster and payload (after the TSN) to a request body, or None if the
    request is not one answered here."""
    if cluster == zdo_t.ZDOCmd.Node_Desc_req:
        descriptor = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0,
            user_descriptor_available=0, reserved=0, aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=zdo_t.NodeDescriptor.MACCapabilityFlags(0x8F),
            manufacturer_code=SILABS_MANUFACTURER_CODE, maximum_buffer_size=82, maximum_incoming_transfer_size=128,
            server_mask=0x2C41, maximum_outgoing_transfer_size=128, descriptor_capability_field=0)
        return _reply(zdo_t.ZDOCmd.Node_Desc_rsp, zdo_t.Status.SUCCESS, descriptor.as_dict())
    if cluster == zdo_t.ZDOCmd.Active_EP_req:
        return _reply(zdo_t.ZDOCmd.Active_EP_rsp, zdo_t.Status.SUCCESS, sorted(endpoints))
    if cluster == zdo_t.ZDOCmd.Simple_Desc_req and len(body) >= 3:
        simple = endpoints.get(body[2])
        if simple is None:
            return zdo_t.ZDOCmd.Simple_Desc_rsp, zdo_t.Status.NOT_ACTIVE.serialize() + COORDINATOR_NWK.serialize()
        return _reply(zdo_t.ZDOCmd.Simple_Desc_rsp, zdo_t.Status.SUCCESS, simple.as_dict())
    return None


def _reply(cluster: zdo_t.ZDOCmd, status: zdo_t.Status, about: Any) -> tuple[int, bytes]:
    """Status ‖ the coordinator's NWK ‖ `about`, the shape of every *_rsp answered here."""
    kinds: Any = zdo_t.CLUSTERS[cluster][1]  # (names, types) at run time, whatever zigpy's annotation says
    about_kind = kinds[2]
    encoded = about_kind(**about) if isinstance(about, dict) else about_kind(about)
    return cluster, status.serialize() + COORDINATOR_NWK.serialize() + encoded.serialize()
