"""The hub's GB HAN presence servers beside OTA: so far the Smart Energy Key Establishment cluster
(0x0800), transport-free and clock-driven like `hubfw.server`, with a device-side client."""

from hubfw.han.ke_client import KeyEstablishmentClient
from hubfw.han.ke_config import KeyEstablishmentConfig, KeyEstablishmentConfigError
from hubfw.han.ke_events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.ke_wire import KEY_ESTABLISHMENT_CLUSTER, KeRequest, KeResponse, TerminateStatus
from hubfw.han.key_establishment import KeyEstablishmentServer

__all__ = [
    "KEY_ESTABLISHMENT_CLUSTER",
    "KeRequest",
    "KeResponse",
    "KeyEstablishmentClient",
    "KeyEstablishmentConfig",
    "KeyEstablishmentConfigError",
    "KeyEstablishmentEvent",
    "KeyEstablishmentFailed",
    "KeyEstablishmentServer",
    "LinkKeyEstablished",
    "TerminateStatus",
]
