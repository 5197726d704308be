"""The zigpy configuration every hub radio shares: database, Smart Energy endpoint, zigpy OTA off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zigpy.config as zconf

from hubfw.zigbee.ids import (
    BASIC_CLUSTER,
    KEY_ESTABLISHMENT_CLUSTER,
    METERING_CLUSTER,
    OTA_CLUSTER,
    SE_ENDPOINT,
    SMART_ENERGY_PROFILE,
    TIME_CLUSTER,
    TUNNELING_CLUSTER,
    SeDeviceId,
)

DATABASE_FILE_NAME = "zigbee.db"


def se_endpoint_descriptor() -> dict[str, Any]:
    """An ESI endpoint serving what a GB device looks for on profile 0x0109 — Basic, Time, OTA Upgrade,
    Metering, Tunneling and Key Establishment — so its Match_Desc for any of them finds the endpoint, and
    with Tunneling as a client cluster too: the hub requests the tunnels to ESMEs, HCALCSs and PPMIDs (GBCS
    10.2.2.1; Silicon Labs' Comms Hub Function plugin runs a Tunneling client endpoint beside its server)
    (as the dict zigpy's config schema turns into a `SimpleDescriptor`)."""
    return {
        "endpoint": SE_ENDPOINT,
        "profile": SMART_ENERGY_PROFILE,
        "device_type": SeDeviceId.ENERGY_SERVICE_INTERFACE,
        "device_version": 0,
        "input_clusters": [
            BASIC_CLUSTER, TIME_CLUSTER, OTA_CLUSTER, METERING_CLUSTER, TUNNELING_CLUSTER, KEY_ESTABLISHMENT_CLUSTER,
        ],
        "output_clusters": [TUNNELING_CLUSTER],
    }


def hub_zigpy_config(
    state_dir: Path, device: dict[str, Any] | None = None, channel: int | None = None
) -> dict[str, Any]:
    """zigpy config for a hub whose zigpy database lives in `state_dir`.

    zigpy's own OTA is off (the hub intercepts the cluster anyway) and topology scans are off
    (a bench HAN does not need the extra traffic).
    """
    config: dict[str, Any] = {
        zconf.CONF_DATABASE: str(Path(state_dir) / DATABASE_FILE_NAME),
        zconf.CONF_ADDITIONAL_ENDPOINTS: [se_endpoint_descriptor()],
        zconf.CONF_OTA: {zconf.CONF_OTA_ENABLED: False},
        zconf.CONF_TOPO_SCAN_ENABLED: False,
    }
    if device is not None:
        config[zconf.CONF_DEVICE] = device
    if channel is not None:
        config[zconf.CONF_NWK] = {zconf.CONF_NWK_CHANNEL: channel}
    return config
