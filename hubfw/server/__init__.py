"""The transport-free OTA Upgrade cluster server (layer 3): frames in, frames and store events out."""

from hubfw.server.blocksize import DEFAULT_APS_MAX_PAYLOAD, max_block_data_size
from hubfw.server.config import OtaServerConfig, ServerConfigError
from hubfw.zigbee.zcl import (
    HOME_AUTOMATION_PROFILE,
    OTA_CLUSTER,
    SMART_ENERGY_PROFILE,
    IncomingFrame,
    OutgoingFrame,
)
from hubfw.server.ota import UPGRADE_NOW, UPGRADE_ON_COMMAND, OtaServer
from hubfw.server.store_api import ServerStore, ServedImage

__all__ = [
    "DEFAULT_APS_MAX_PAYLOAD",
    "HOME_AUTOMATION_PROFILE",
    "IncomingFrame",
    "OTA_CLUSTER",
    "OtaServer",
    "OtaServerConfig",
    "OutgoingFrame",
    "SMART_ENERGY_PROFILE",
    "ServedImage",
    "ServerConfigError",
    "ServerStore",
    "UPGRADE_NOW",
    "UPGRADE_ON_COMMAND",
    "max_block_data_size",
]
