"""What a key establishment exchange ends in, for the hub (install the key) and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.cbke.suites import CryptoSuite
from hubfw.han.key_establishment.wire import TerminateStatus


@dataclass(frozen=True)
class LinkKeyEstablished:
    """Both sides confirmed the key: install it (importLinkKey) and APS-encrypt every unicast to `eui64`.

    `key` is None when the NCP's CBKE library computed it: the NCP stores it itself
    (clearTemporaryDataMaybeStoreLinkKey) and it never reaches the host. `endpoint` is the peer's endpoint
    the exchange ran on (the hub's tunnel request goes there), None where it does not matter."""

    eui64: t.EUI64
    key: bytes | None = field(repr=False)
    suite: CryptoSuite
    endpoint: int | None = None


@dataclass(frozen=True)
class KeyEstablishmentFailed:
    """The exchange with `eui64` ended without a key.

    `status` is the Terminate status sent or received, None when the peer fell silent; `wait_time`
    the seconds the peer asked us to wait before retrying (0 unless the peer terminated).
    """

    eui64: t.EUI64
    status: TerminateStatus | None
    reason: str
    wait_time: int = 0


KeyEstablishmentEvent = LinkKeyEstablished | KeyEstablishmentFailed
