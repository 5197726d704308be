"""The keys an EZSP coordinator holds, read from it when asked: for a sniffer (`hubfw keys export`).

The hub keeps no key on disk; the NCP does. What it holds, and how a host reads it:

- **The network key** and its sequence number. EZSP v13 and later: the security manager's `exportKey` with a
  NETWORK context (`sl_zb_sec_man_export_key`) and `getNetworkKeyInfo`; before v13, `getKey`.
- **The trust-centre link key**: `exportKey` with a TC_LINK context (before v13, `getKey`). bellows forms
  every network with TRUST_CENTER_USES_HASHED_LINK_KEY, so this is the root the stack hashes with a device's
  EUI-64 for a device that has no key-table entry (`hubfw.sim.ncp.keys`).
- **The key table** (APP_LINK keys; where the hub puts each device's CBKE key): `exportLinkKeyByIndex` for
  every index below EZSP_CONFIG_KEY_TABLE_SIZE. The stack answers SL_STATUS_NOT_FOUND for an empty entry
  (`sli_zigbee_stack_sec_man_export_link_key_by_index`, Simplicity SDK zigbee-security-manager.c). Before
  v13, `getKeyTableEntry`.
- **Transient keys** (TC_LINK_WITH_TIMEOUT, RAM only, gone after EMBER_TRANSIENT_KEY_TIMEOUT_S): the
  install-code derived keys bellows' `permit_with_link_key` gives the NCP. `exportTransientKeyByIndex` from
  index 0 until the stack answers NOT_FOUND (before v13, `getTransientKeyTableEntry`).

Every reply is read by its field names in the negotiated version's own table (`ezsp.COMMANDS`): EZSP v14 moved
`status` to the front of most replies, and bellows 1.2.1's own `read_link_keys` reads v14's
`exportLinkKeyByIndex` in v13's field order (bellows/ezsp/v13/__init__.py, which v14 inherits), so it is not
used here.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import bellows.types as bt
import zigpy.types as t

from hubfw.errors import HubfwError

SECURITY_MANAGER_SINCE = 13
"""EZSP v13 dropped getKey / getKeyTableEntry / getTransientKeyTableEntry for the security manager's exports."""
MAX_TABLE_INDEX = 0xFF
"""Indexes are one byte: no table the host walks is longer."""
NO_EUI64 = t.EUI64.convert("00:00:00:00:00:00:00:00")


class NcpKeyError(HubfwError):
    """The coordinator would not give up its keys."""


class KeyKind(enum.Enum):
    NETWORK = "network"
    TRUST_CENTRE_LINK = "trust_centre_link"
    LINK = "link"
    """A key-table (APP_LINK) entry: on a hubfw coordinator, a device's CBKE link key."""
    TRANSIENT = "transient"
    """A transient (TC_LINK_WITH_TIMEOUT) key: on a hubfw coordinator, a joiner's install-code derived key."""


@dataclasses.dataclass(frozen=True)
class NcpKey:
    kind: KeyKind
    key: t.KeyData
    eui64: t.EUI64 | None = None
    """The partner device (link and transient keys); ff:ff:ff:ff:ff:ff:ff:ff is a transient key for any joiner."""
    index: int | None = None
    """Its entry in the key table or the transient key table."""
    sequence: int | None = None
    """The network key's sequence number."""
    ttl_s: int | None = None
    """Seconds a transient key has left."""

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind.value, "key": bytes(self.key).hex()}
        for name in ("eui64", "index", "sequence", "ttl_s"):
            value = getattr(self, name)
            if value is not None:
                found[name] = str(value) if name == "eui64" else value
        return found


async def read_ncp_keys(ezsp: Any) -> list[NcpKey]:
    """Every key the coordinator behind bellows' `ezsp` holds: network, trust-centre link, key table, transient."""
    if ezsp.ezsp_version >= SECURITY_MANAGER_SINCE:
        keys = [await _network_key(ezsp), await _tc_link_key(ezsp)]
        keys += await _key_table(ezsp)
        keys += await _transient_keys(ezsp)
    else:
        keys = await _legacy_keys(ezsp)
    return keys


async def _call(ezsp: Any, command: str, **request: Any) -> dict[str, Any]:
    """A command's reply by field name, its status (if any) as an sl_Status."""
    names = list(ezsp.COMMANDS[command][2])
    reply = dict(zip(names, await getattr(ezsp, command)(**request)))
    if "status" in reply:
        reply["status"] = bt.sl_Status.from_ember_status(reply["status"])
    return reply


def _context(kind: bt.SecurityManagerKeyType) -> bt.SecurityManagerContextV13:
    """A context naming one of the NCP's unindexed keys, as bellows' own `get_network_key` builds it."""
    return bt.SecurityManagerContextV13(
        core_key_type=kind, key_index=0, derived_type=bt.SecurityManagerDerivedKeyTypeV13.NONE, eui64=NO_EUI64,
        multi_network_index=0, flags=bt.SecurityManagerContextFlags.NONE, psa_key_alg_permission=0)


async def _export_key(ezsp: Any, kind: bt.SecurityManagerKeyType, what: str) -> t.KeyData:
    reply = await _call(ezsp, "exportKey", context=_context(kind))
    if reply["status"] != bt.sl_Status.OK:
        raise NcpKeyError(f"the NCP refused to export its {what}: {reply['status']!r}")
    return t.KeyData(reply["key"])


async def _network_key(ezsp: Any) -> NcpKey:
    key = await _export_key(ezsp, bt.SecurityManagerKeyType.NETWORK, "network key")
    info = await _call(ezsp, "getNetworkKeyInfo")
    if info["status"] != bt.sl_Status.OK or not info["network_key_info"].network_key_set:
        raise NcpKeyError("the NCP has no network key: no network is formed")
    return NcpKey(KeyKind.NETWORK, key, sequence=int(info["network_key_info"].network_key_sequence_number))


async def _tc_link_key(ezsp: Any) -> NcpKey:
    return NcpKey(KeyKind.TRUST_CENTRE_LINK,
                  await _export_key(ezsp, bt.SecurityManagerKeyType.TC_LINK, "trust-centre link key"))


async def _key_table_size(ezsp: Any) -> int:
    reply = await _call(ezsp, "getConfigurationValue", configId=bt.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
    if reply["status"] != bt.sl_Status.OK:
        raise NcpKeyError(f"the NCP did not say how big its key table is: {reply['status']!r}")
    return int(reply["value"])


async def _key_table(ezsp: Any) -> list[NcpKey]:
    keys = []
    for index in range(min(await _key_table_size(ezsp), MAX_TABLE_INDEX)):
        reply = await _call(ezsp, "exportLinkKeyByIndex", index=index)
        if reply["status"] != bt.sl_Status.OK:
            continue  # an empty entry
        eui64 = reply["eui64"] if "eui64" in reply else reply["context"].eui64  # v13 : v14 and later
        keys.append(NcpKey(KeyKind.LINK, t.KeyData(reply["plaintext_key"]), t.EUI64(eui64), index=index))
    return keys


async def _transient_keys(ezsp: Any) -> list[NcpKey]:
    keys = []
    for index in range(MAX_TABLE_INDEX):
        reply = await _call(ezsp, "exportTransientKeyByIndex", index=index)
        if reply["status"] != bt.sl_Status.OK:
            break
        keys.append(NcpKey(KeyKind.TRANSIENT, t.KeyData(reply["plaintext_key"]), t.EUI64(reply["context"].eui64),
                           index=index, ttl_s=int(reply["key_data"].ttl_in_seconds)))
    return keys


async def _legacy_keys(ezsp: Any) -> list[NcpKey]:
    """EZSP v4-v12: getKey for the network and trust-centre keys, getKeyTableEntry, getTransientKeyTableEntry."""
    keys = []
    for kind, key_type in ((KeyKind.NETWORK, bt.EmberKeyType.CURRENT_NETWORK_KEY),
                           (KeyKind.TRUST_CENTRE_LINK, bt.EmberKeyType.TRUST_CENTER_LINK_KEY)):
        reply = await _call(ezsp, "getKey", keyType=key_type)
        if reply["status"] != bt.sl_Status.OK:
            raise NcpKeyError(f"the NCP refused getKey({key_type.name}): {reply['status']!r}")
        found = reply["keyStruct"]
        keys.append(NcpKey(kind, t.KeyData(found.key),
                           sequence=int(found.sequenceNumber) if kind is KeyKind.NETWORK else None))
    for index in range(min(await _key_table_size(ezsp), MAX_TABLE_INDEX)):
        reply = await _call(ezsp, "getKeyTableEntry", index=index)
        if reply["status"] == bt.sl_Status.OK:
            entry = reply["keyStruct"]
            keys.append(NcpKey(KeyKind.LINK, t.KeyData(entry.key), t.EUI64(entry.partnerEUI64), index=index))
    if "getTransientKeyTableEntry" in ezsp.COMMANDS:
        for index in range(MAX_TABLE_INDEX):
            reply = await _call(ezsp, "getTransientKeyTableEntry", index=index)
            if reply["status"] != bt.sl_Status.OK:
                break
            entry = reply["transient_key_data"] if "transient_key_data" in reply else reply["keyStruct"]  # v8+ : v7
            ttl = getattr(entry, "remainingTimeSeconds", None)
            if ttl is None:
                ttl = int(entry.countdownTimerMs) // 1000
            keys.append(NcpKey(KeyKind.TRANSIENT, t.KeyData(entry.keyData), t.EUI64(entry.eui64), index=index,
                               ttl_s=int(ttl)))
    return keys
