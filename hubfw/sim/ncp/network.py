"""The NCP's non-volatile tokens: network parameters, keys and the devices it knows.

A real dongle keeps these in NVM3 so a restarted host finds the network formed; here they
live in `state_dir/ncp.json`, written atomically whenever they change.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import zigpy.types as t

from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.files import replace_file

STATE_FILE = "ncp.json"
SILABS_OUI = bytes.fromhex("000d6f")


class NcpStateError(HubfwError):
    """The NCP token file is unreadable or belongs to another NCP."""


@dataclasses.dataclass
class LinkKey:
    ieee: t.EUI64
    key: t.KeyData
    tx_counter: int = 0
    rx_counter: int = 0


@dataclasses.dataclass
class NetworkTokens:
    ieee: t.EUI64
    formed: bool = False
    pan_id: int = 0xFFFF
    extended_pan_id: t.EUI64 = dataclasses.field(default_factory=lambda: t.EUI64.convert("00:00:00:00:00:00:00:00"))
    channel: int = 11
    channel_mask: int = 0
    tx_power: int = 8
    nwk_update_id: int = 0
    nwk_manager_id: int = 0x0000
    network_key: t.KeyData = dataclasses.field(default_factory=lambda: t.KeyData([0] * 16))
    network_key_seq: int = 0
    network_key_frame_counter: int = 0
    tc_link_key: t.KeyData = dataclasses.field(default_factory=lambda: t.KeyData(b"ZigBeeAlliance09"))
    aps_frame_counter: int = 0
    security_bitmask: int = 0
    key_table: list[LinkKey] = dataclasses.field(default_factory=list)
    devices: dict[t.EUI64, t.NWK] = dataclasses.field(default_factory=dict)

    def set_link_key(self, ieee: t.EUI64, key: t.KeyData) -> None:
        self.key_table = [entry for entry in self.key_table if entry.ieee != ieee]
        self.key_table.append(LinkKey(ieee, key))

    def table_key_for(self, ieee: t.EUI64) -> t.KeyData | None:
        """The device's key-table entry; None without one (the stack then falls back on the trust-centre
        link key, see `EmberStack.link_key_for`)."""
        entry = next((entry for entry in self.key_table if entry.ieee == ieee), None)
        return entry.key if entry is not None else None

    def nwk_for(self, ieee: t.EUI64) -> t.NWK | None:
        return self.devices.get(ieee)

    def ieee_for(self, nwk: int) -> t.EUI64 | None:
        return next((ieee for ieee, known in self.devices.items() if known == nwk), None)

    def forget_network(self) -> None:
        """What `leaveNetwork` and a token factory reset wipe; the node's IEEE stays."""
        fresh = NetworkTokens(ieee=self.ieee)
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(fresh, field.name))

    # -- persistence --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "ieee": str(self.ieee),
            "formed": self.formed,
            "pan_id": self.pan_id,
            "extended_pan_id": str(self.extended_pan_id),
            "channel": self.channel,
            "channel_mask": self.channel_mask,
            "tx_power": self.tx_power,
            "nwk_update_id": self.nwk_update_id,
            "nwk_manager_id": self.nwk_manager_id,
            "network_key": bytes(self.network_key).hex(),
            "network_key_seq": self.network_key_seq,
            "network_key_frame_counter": self.network_key_frame_counter,
            "tc_link_key": bytes(self.tc_link_key).hex(),
            "aps_frame_counter": self.aps_frame_counter,
            "security_bitmask": self.security_bitmask,
            "key_table": [{"ieee": str(k.ieee), "key": bytes(k.key).hex(), "tx_counter": k.tx_counter,
                           "rx_counter": k.rx_counter} for k in self.key_table],
            "devices": {str(ieee): int(nwk) for ieee, nwk in self.devices.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkTokens:
        return cls(
            ieee=parse_eui64(data["ieee"]),
            formed=bool(data["formed"]),
            pan_id=int(data["pan_id"]),
            extended_pan_id=parse_eui64(data["extended_pan_id"]),
            channel=int(data["channel"]),
            channel_mask=int(data["channel_mask"]),
            tx_power=int(data["tx_power"]),
            nwk_update_id=int(data["nwk_update_id"]),
            nwk_manager_id=int(data["nwk_manager_id"]),
            network_key=_key(data["network_key"]),
            network_key_seq=int(data["network_key_seq"]),
            network_key_frame_counter=int(data["network_key_frame_counter"]),
            tc_link_key=_key(data["tc_link_key"]),
            aps_frame_counter=int(data["aps_frame_counter"]),
            security_bitmask=int(data["security_bitmask"]),
            key_table=[LinkKey(parse_eui64(k["ieee"]), _key(k["key"]), int(k["tx_counter"]),
                               int(k["rx_counter"])) for k in data["key_table"]],
            devices={parse_eui64(ieee): t.NWK(int(nwk)) for ieee, nwk in data["devices"].items()},
        )  # "join_keys", which earlier simulators wrote, is ignored: EmberZNet keeps no such key


def _key(text: str) -> t.KeyData:
    raw = bytes.fromhex(text)
    if len(raw) != 16:
        raise ValueError(f"a key has 16 bytes, not {len(raw)}")
    return t.KeyData(raw)


class TokenStore:
    """Loads and atomically saves the tokens of one simulated NCP."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATE_FILE

    def load(self, ieee: t.EUI64 | None) -> NetworkTokens:
        """The stored tokens, or factory-fresh ones for `ieee` (random Silicon Labs EUI-64 if None)."""
        if not self.path.exists():
            return NetworkTokens(ieee=ieee or t.EUI64((SILABS_OUI + os.urandom(5))[::-1]))
        try:
            tokens = NetworkTokens.from_json(json.loads(self.path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, HubfwError) as exc:
            raise NcpStateError(f"{self.path}: unreadable NCP token file ({exc})") from None
        if ieee is not None and ieee != tokens.ieee:
            raise NcpStateError(f"{self.path}: tokens belong to NCP {tokens.ieee}, not {ieee}")
        return tokens

    def save(self, tokens: NetworkTokens) -> None:
        replace_file(self.path, json.dumps(tokens.to_json(), indent=1).encode("utf-8"), 0o644)
