"""Which APS link key an EmberZNet trust centre holds for a device, and for how long.

What the Silicon Labs stack keeps (Gecko SDK 4.4.1, protocol/zigbee/stack/include/ and stack/security/):

- **The key table** (APP_LINK keys, `importLinkKey`): persistent, one entry per device. bellows erases a
  joiner's entry on every unsecured join (`ControllerApplication.cleanup_tc_link_key`); the hub puts the
  CBKE key there afterwards. APS data to a device with an entry goes under that entry.
- **Transient keys** (TC_LINK_WITH_TIMEOUT, `importTransientKey`; bellows' `permit_with_link_key`): RAM only,
  "removed once this amount of time has passed" — EMBER_TRANSIENT_KEY_TIMEOUT_S, 300 s by default
  (security.h `emberTransientKeyTimeoutS`; sl_zigbee_pro_stack_config.h), settable as
  EZSP_CONFIG_TRANSIENT_KEY_TIMEOUT_S or EZSP_VALUE_TRANSIENT_KEY_TIMEOUT_S. A device joins with one; the
  joiner's own APS-secured frames (a Zigbee 3.0 device's Request Key) are checked against it while it lasts.
  The stack secures outgoing APS data with a transient key only under its internal
  EMBER_APS_OPTION_ENCRYPT_WITH_TRANSIENT_KEY (ember-types.h) — the key transport of the join — and its
  link-key lookup for ordinary frames asks for a key that "is not transient" (zigbee-security-manager.c,
  `sl_zb_sec_man_have_link_key`). A host's APS-encrypted sendUnicast never uses one.
- **The trust-centre link key** for every device without a key-table entry: with
  EMBER_TRUST_CENTER_USES_HASHED_LINK_KEY the preconfigured key is a root known only to the trust centre,
  "hashed with the IEEE Address of the destination device to create the actual Link Key"
  (ember-types.h) — HMAC-AES-MMO(root, EUI-64) (`zb_sec_man_derive_key`,
  SL_ZB_SEC_MAN_DERIVED_KEY_TYPE_TC_HASHED_LINK_KEY); with EMBER_TRUST_CENTER_GLOBAL_LINK_KEY alone it is the
  preconfigured key itself; with neither there is none. bellows forms every network with both bits and a
  random root (`bellows.zigbee.util.zha_security`, `use_hashed_tclk` for EZSP > 4), so a real NCP always
  has *a* key for a joined device — one a device that joined with its install code never learns unless it
  asks the trust centre for a new link key (Zigbee 3.0), which a Smart Energy device does not: it gets its
  key by CBKE, over Key Establishment frames secured at the network layer only.

So between its join and CBKE a GB device shares no key with a real NCP that the NCP would secure a
host's frame with: such a frame goes out under the hashed key, the device cannot authenticate it and sends
no APS ACK, and the host gets EMBER_DELIVERY_FAILED in messageSentHandler. Without even a trust-centre
link key the stack cannot encrypt at all: EMBER_APS_ENCRYPTION_ERROR (error-def.h: "there is no link key
entry in the table associated with the destination").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import bellows.types as t
import zigpy.types as zt

from hubfw.cbke.kdf import hmac_mmo

TRANSIENT_KEY_TIMEOUT_S = 300
"""EMBER_TRANSIENT_KEY_TIMEOUT_S's default (Gecko SDK sl_zigbee_pro_stack_config.h); bellows leaves it alone."""
WILDCARD_EUI64 = zt.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
"""A transient key for this address lets any device join with it (network-creator-security.c)."""
_HASHED = int(t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY)
_GLOBAL = int(t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY)


def trust_centre_link_key(security_bitmask: int, preconfigured: zt.KeyData, ieee: zt.EUI64) -> zt.KeyData | None:
    """The key the trust centre secures a device's APS frames with when the device has no key-table entry."""
    if security_bitmask & _HASHED == _HASHED:
        return zt.KeyData(hmac_mmo(bytes(preconfigured), ieee.serialize()))
    if security_bitmask & _GLOBAL:
        return preconfigured
    return None


@dataclasses.dataclass(frozen=True)
class TransientKey:
    key: zt.KeyData
    expires_at: float
    """On the NCP's own clock (`TransientKeys.now`)."""


class TransientKeys:
    """The NCP's transient key table: keys a device may join with, each gone `timeout_s` seconds after it was
    added. Time is the NCP's own monotonic clock, not the hub's: a dongle counts its own seconds."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._keys: dict[zt.EUI64, TransientKey] = {}

    def add(self, ieee: zt.EUI64, key: zt.KeyData, timeout_s: int) -> None:
        self._keys[ieee] = TransientKey(key, self.now() + timeout_s)

    def get(self, ieee: zt.EUI64) -> zt.KeyData | None:
        """The live key for `ieee` (or the wildcard one), forgetting any that expired."""
        now = self.now()
        for expired in [eui64 for eui64, entry in self._keys.items() if entry.expires_at <= now]:
            del self._keys[expired]
        entry = self._keys.get(ieee) or self._keys.get(WILDCARD_EUI64)
        return None if entry is None else entry.key

    def remaining_s(self, ieee: zt.EUI64) -> int | None:
        """Whole seconds `ieee`'s own transient key has left, None without one."""
        if self.get(ieee) is None or ieee not in self._keys:
            return None
        return max(0, int(self._keys[ieee].expires_at - self.now()))

    def entries(self) -> list[tuple[zt.EUI64, zt.KeyData, int]]:
        """The live keys in the order they were added (the table's indexes): EUI-64, key, whole seconds left."""
        self.get(WILDCARD_EUI64)  # forgets the expired ones
        now = self.now()
        return [(ieee, entry.key, max(0, int(entry.expires_at - now))) for ieee, entry in self._keys.items()]

    def clear(self) -> None:
        self._keys.clear()
