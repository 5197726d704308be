"""The ZDO server every Zigbee node runs on endpoint 0: the descriptor requests a coordinator sends a
device that just joined (zigpy's interview), answered from the node's descriptors with zigpy's ZDO
schemas. The simulated NCP answers its host's requests about the coordinator with the same code.

The simulated devices describe themselves as GB HAN devices do: a Smart Energy endpoint with the
device id of their kind, Basic and Key Establishment among its server clusters, and OTA Upgrade
among its client clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t

from hubfw.devices import DeviceType
from hubfw.sim.devices.behaviour import BROADCAST_FLOOR
from hubfw.zigbee.aps import MAX_APS_PAYLOAD
from hubfw.zigbee.ids import (
    BASIC_CLUSTER,
    DRLC_CLUSTER,
    IDENTIFY_CLUSTER,
    KEY_ESTABLISHMENT_CLUSTER,
    METERING_CLUSTER,
    OTA_CLUSTER,
    PREPAYMENT_CLUSTER,
    PRICE_CLUSTER,
    TIME_CLUSTER,
    TUNNELING_CLUSTER,
    SeDeviceId,
)

RESPONSE_BIT = 0x8000
"""A ZDO response's cluster id is its request's with this bit set."""
RX_ON_WHEN_IDLE = 0xFFFD
"""The broadcast address (and NWKAddrOfInterest) of every node that keeps its receiver on."""

Mac = zdo_t.NodeDescriptor.MACCapabilityFlags
MAINS_ROUTER_MAC = Mac.FullFunctionDevice | Mac.MainsPowered | Mac.RxOnWhenIdle | Mac.AllocateAddress
SLEEPY_END_DEVICE_MAC = Mac.AllocateAddress
"""A battery device that turns its receiver off between polls of its parent."""

SE_DEVICE_IDS = {
    DeviceType.ESME: SeDeviceId.METERING_DEVICE,
    DeviceType.GSME: SeDeviceId.METERING_DEVICE,
    DeviceType.PPMID: SeDeviceId.PREPAYMENT_TERMINAL,
    DeviceType.HCALCS: SeDeviceId.LOAD_CONTROL_DEVICE,
}
"""The Smart Energy device ids of the four GB HAN device kinds."""

_COMMON_SERVERS = (BASIC_CLUSTER, IDENTIFY_CLUSTER, KEY_ESTABLISHMENT_CLUSTER)
_COMMON_CLIENTS = (TIME_CLUSTER, OTA_CLUSTER)
_METER_SERVERS = (METERING_CLUSTER, PREPAYMENT_CLUSTER)
CLUSTERS: dict[DeviceType, tuple[tuple[int, ...], tuple[int, ...]]] = {
    DeviceType.ESME: (_COMMON_SERVERS + _METER_SERVERS + (PRICE_CLUSTER, TUNNELING_CLUSTER), _COMMON_CLIENTS),
    DeviceType.GSME: (_COMMON_SERVERS + _METER_SERVERS, _COMMON_CLIENTS + (TUNNELING_CLUSTER,)),
    DeviceType.PPMID: (_COMMON_SERVERS + (TUNNELING_CLUSTER,),
                       _COMMON_CLIENTS + (METERING_CLUSTER, PREPAYMENT_CLUSTER, PRICE_CLUSTER)),
    DeviceType.HCALCS: (_COMMON_SERVERS + (TUNNELING_CLUSTER,), _COMMON_CLIENTS + (DRLC_CLUSTER,)),
}
"""(server, client) clusters: meters serve metering and prepayment, a PPMID reads them, an HCALCS obeys load
control; the ESME, PPMID and HCALCS serve the tunnel the hub requests, the GSME is the client of its own
(GBCS 10.2.2)."""


@dataclass(frozen=True)
class NodeDescriptors:
    """What a node says about itself over ZDO."""

    nwk: t.NWK
    node: zdo_t.NodeDescriptor
    endpoints: dict[int, zdo_t.SimpleDescriptor]


def node_descriptor(logical_type: zdo_t.LogicalType, mac: Mac, manufacturer_code: int,
                    server_mask: int = 0) -> zdo_t.NodeDescriptor:
    """A 2.4 GHz node descriptor whose buffer and transfer sizes are one unfragmented APS payload."""
    return zdo_t.NodeDescriptor(
        logical_type=logical_type, complex_descriptor_available=0, user_descriptor_available=0, reserved=0,
        aps_flags=0, frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz, mac_capability_flags=mac,
        manufacturer_code=manufacturer_code, maximum_buffer_size=MAX_APS_PAYLOAD,
        maximum_incoming_transfer_size=MAX_APS_PAYLOAD, server_mask=server_mask,
        maximum_outgoing_transfer_size=MAX_APS_PAYLOAD, descriptor_capability_field=0)


def gb_han_device(device_type: DeviceType, nwk: t.NWK, manufacturer_code: int, endpoint: int, profile: int,
                  sleepy: bool) -> NodeDescriptors:
    """A GB HAN device: a router when mains powered, a sleepy end device on a battery (a GSME)."""
    if sleepy:
        node = node_descriptor(zdo_t.LogicalType.EndDevice, SLEEPY_END_DEVICE_MAC, manufacturer_code)
    else:
        node = node_descriptor(zdo_t.LogicalType.Router, MAINS_ROUTER_MAC, manufacturer_code)
    servers, clients = CLUSTERS[device_type]
    simple = zdo_t.SimpleDescriptor(endpoint=endpoint, profile=profile, device_type=SE_DEVICE_IDS[device_type],
                                    device_version=0, input_clusters=list(servers), output_clusters=list(clients))
    return NodeDescriptors(nwk, node, {endpoint: simple})


_ANSWERED = (zdo_t.ZDOCmd.Node_Desc_req, zdo_t.ZDOCmd.Active_EP_req, zdo_t.ZDOCmd.Simple_Desc_req,
             zdo_t.ZDOCmd.Match_Desc_req)


def answer(cluster: int, body: bytes, node: NodeDescriptors) -> tuple[int, bytes] | None:
    """The response cluster and payload (after the TSN) to a ZDO request `body` (after its TSN), or None
    for a request this node does not answer (nor a malformed one, nor a broadcast Match_Desc_req none of
    its endpoints matches: Zigbee leaves those unanswered)."""
    if cluster not in _ANSWERED:
        return None
    try:
        fields, _ = t.deserialize(body, zdo_t.CLUSTERS[cluster][1])
    except (ValueError, KeyError):
        return None
    response = zdo_t.ZDOCmd(cluster | RESPONSE_BIT)
    if cluster == zdo_t.ZDOCmd.Match_Desc_req and fields[0] >= BROADCAST_FLOOR:
        matches = _matching_endpoints(node, *fields[1:])
        return _reply(response, zdo_t.Status.SUCCESS, node.nwk, matches) if matches else None
    if fields[0] != node.nwk:  # an end device has no children to answer for; a router has none here
        refusal = (zdo_t.Status.INV_REQUESTTYPE if node.node.logical_type == zdo_t.LogicalType.EndDevice
                   else zdo_t.Status.DEVICE_NOT_FOUND)
        return _reply(response, refusal, fields[0], None)
    if cluster == zdo_t.ZDOCmd.Node_Desc_req:
        return _reply(response, zdo_t.Status.SUCCESS, node.nwk, node.node)
    if cluster == zdo_t.ZDOCmd.Active_EP_req:
        return _reply(response, zdo_t.Status.SUCCESS, node.nwk, sorted(node.endpoints))
    if cluster == zdo_t.ZDOCmd.Match_Desc_req:
        return _reply(response, zdo_t.Status.SUCCESS, node.nwk, _matching_endpoints(node, *fields[1:]))
    simple = node.endpoints.get(fields[1])
    if simple is None:
        return _reply(response, zdo_t.Status.NOT_ACTIVE, node.nwk, None)
    return _reply(response, zdo_t.Status.SUCCESS, node.nwk, simple)


def _matching_endpoints(node: NodeDescriptors, profile: int, in_clusters: list[int],
                        out_clusters: list[int]) -> list[int]:
    """Zigbee's match: same profile, and one of the requested clusters on the matching side."""
    return [number for number, simple in sorted(node.endpoints.items()) if simple.profile == profile and (
        set(in_clusters) & set(simple.input_clusters) or set(out_clusters) & set(simple.output_clusters))]


def _reply(response: zdo_t.ZDOCmd, status: zdo_t.Status, nwk: t.NWK, about: Any) -> tuple[int, bytes]:
    """Status ‖ NWKAddrOfInterest ‖ `about` in the response's zigpy schema; for a failure (`about` None)
    a zero count or length stands in for the list or descriptor, and a node descriptor is just left out."""
    kinds: Any = zdo_t.CLUSTERS[response][1]  # (names, types) at run time, whatever zigpy's annotation says
    payload = status.serialize() + t.NWK(nwk).serialize()
    if about is None:
        return response, payload + (b"" if response == zdo_t.ZDOCmd.Node_Desc_rsp else b"\x00")
    about_kind = kinds[2]
    encoded = about_kind(**about.as_dict()) if isinstance(about, t.Struct) else about_kind(about)
    return response, payload + encoded.serialize()


def match_descriptor_request(tsn: int, profile: int, in_clusters: list[int]) -> bytes:
    """A Match_Desc_req (TSN first) for the rx-on-when-idle nodes' endpoints serving `in_clusters` on `profile`."""
    _, kinds = zdo_t.CLUSTERS[zdo_t.ZDOCmd.Match_Desc_req]
    fields = [t.NWK(RX_ON_WHEN_IDLE), t.uint16_t(profile), [t.uint16_t(c) for c in in_clusters], []]
    return bytes([tsn]) + t.serialize(fields, kinds)


def parse_match_descriptor_response(payload: bytes) -> tuple[int, list[int]] | None:
    """The TSN and matching endpoints of a successful Match_Desc_rsp (TSN first); None for anything else."""
    if not payload:
        return None
    try:
        (status, _, endpoints), _ = t.deserialize(payload[1:], zdo_t.CLUSTERS[zdo_t.ZDOCmd.Match_Desc_rsp][1])
    except (ValueError, KeyError):
        return None
    if status != zdo_t.Status.SUCCESS:
        return None
    return payload[0], [int(endpoint) for endpoint in endpoints]
