"""The numbers both ends of the HAN must agree on: profile, cluster, endpoint, device and EZSP library ids.

Cluster ids are read off zigpy's cluster classes, so they are the ones zigpy parses with; zigpy has no
Smart Energy profile module, so the SE profile and device ids are written out here.
"""

from __future__ import annotations

import enum

from zigpy.profiles import zha
from zigpy.zcl.clusters import general, smartenergy

SMART_ENERGY_PROFILE = 0x0109
"""The Zigbee Smart Energy application profile, which GB HAN devices speak."""
HOME_AUTOMATION_PROFILE = int(zha.PROFILE_ID)
"""0x0104: bench test devices and zigpy's own OTA speak it."""
ZDO_PROFILE = 0x0000
ZDO_ENDPOINT = 0
"""The Zigbee Device Object answers on endpoint 0 under profile 0."""

SE_ENDPOINT = 3
"""The hub's Smart Energy endpoint (zigpy itself registers 1 = HA, 2 = ZLL, 242 = GP on the coordinator)."""

BASIC_CLUSTER = int(general.Basic.cluster_id)
IDENTIFY_CLUSTER = int(general.Identify.cluster_id)
TIME_CLUSTER = int(general.Time.cluster_id)
OTA_CLUSTER = int(general.Ota.cluster_id)
PRICE_CLUSTER = int(smartenergy.Price.cluster_id)
DRLC_CLUSTER = int(smartenergy.Drlc.cluster_id)
METERING_CLUSTER = int(smartenergy.Metering.cluster_id)
PREPAYMENT_CLUSTER = int(smartenergy.Prepayment.cluster_id)
TUNNELING_CLUSTER = int(smartenergy.Tunneling.cluster_id)
KEY_ESTABLISHMENT_CLUSTER = int(smartenergy.KeyEstablishment.cluster_id)


class SeDeviceId(enum.IntEnum):
    """Smart Energy profile device ids (SE 1.4 Table 5-1) of the hub and the GB HAN device kinds."""

    ENERGY_SERVICE_INTERFACE = 0x0500
    """The role a Communications Hub plays on the HAN."""
    METERING_DEVICE = 0x0501
    LOAD_CONTROL_DEVICE = 0x0504
    PREPAYMENT_TERMINAL = 0x0506


class LibraryId(enum.IntEnum):
    """EmberZNet's `EmberLibraryId` (stack/include/library.h), which `getLibraryStatus` takes; bellows has
    no enum for it and passes a plain uint8."""

    ZIGBEE_PRO = 0x00
    BINDING = 0x01
    END_DEVICE_BIND = 0x02
    SECURITY_CORE = 0x03
    SECURITY_LINK_KEYS = 0x04
    ALARM = 0x05
    CBKE = 0x06
    """Smart Energy 1.0/1.1 key establishment (curve sect163k1)."""
    CBKE_DSA_SIGN = 0x07
    ECC = 0x08
    CBKE_DSA_VERIFY = 0x09
    PACKET_VALIDATE = 0x0A
    INSTALL_CODE = 0x0B
    ZLL = 0x0C
    CBKE_283K1 = 0x0D
    """Key establishment on sect283k1, the SE 1.2 curve GBCS devices use."""
    ECC_283K1 = 0x0E
    CBKE_CORE = 0x0F
    NCP = 0x10
    MULTI_NETWORK = 0x11
    ENHANCED_BEACON_REQUEST = 0x12
    CBKE_283K1_DSA_VERIFY = 0x13
    MULTI_PAN = 0x14


LIBRARY_PRESENT = 0x80
"""`getLibraryStatus` bit: the library is linked in, not a stub (EMBER_LIBRARY_PRESENT_MASK)."""
LIBRARY_IS_STUB = 0x00
LIBRARY_ERROR = 0xFF
"""`getLibraryStatus` for an id the firmware does not know (EMBER_LIBRARY_ERROR)."""
LIBRARY_ROUTER_SUPPORT = 0x01
"""The ZigBee PRO and security libraries' "router / trust centre capable" status bit."""
