"""The transport-free OTA Upgrade cluster server (layer 3): frames in, frames and store events out."""

from hubfw.server.blocksize import max_block_data_size
from hubfw.server.config import OtaServerConfig, ServerConfigError
from hubfw.server.ota import UPGRADE_NOW, UPGRADE_ON_COMMAND, OtaServer
from hubfw.server.store_api import ServedImage, ServerStore

__all__ = [
    "OtaServer",
    "OtaServerConfig",
    "ServedImage",
    "ServerConfigError",
    "ServerStore",
    "UPGRADE_NOW",
    "UPGRADE_ON_COMMAND",
    "max_block_data_size",
]
