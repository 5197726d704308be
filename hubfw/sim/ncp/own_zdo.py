"""The ZDO requests a coordinator answers about itself (zigpy interviews its own coordinator): the
same ZDO server as any simulated node, describing the coordinator and the endpoints its host registered."""

from __future__ import annotations

import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from hubfw.sim.devices import zdo

COORDINATOR_NWK = zt.NWK(0x0000)
SILABS_MANUFACTURER_CODE = 0x1049
COORDINATOR_MAC = zdo.MAINS_ROUTER_MAC | zdo.Mac.AlternatePanCoordinator
COORDINATOR_SERVER_MASK = 0x2C41
"""Primary trust centre and network manager, stack compliance revision 22: what EmberZNet reports."""
COORDINATOR_NODE = zdo.node_descriptor(zdo_t.LogicalType.Coordinator, COORDINATOR_MAC, SILABS_MANUFACTURER_CODE,
                                       COORDINATOR_SERVER_MASK)


def answer(cluster: int, body: bytes, endpoints: dict[int, zdo_t.SimpleDescriptor]) -> tuple[int, bytes] | None:
    """The response cluster and payload (after the TSN) to a request body, or None if the
    request is not one answered here."""
    return zdo.answer(cluster, body, zdo.NodeDescriptors(COORDINATOR_NWK, COORDINATOR_NODE, endpoints))
