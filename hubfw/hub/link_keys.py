"""The hub's link-key records, `state/cbke/link_keys.json`: which devices hold a CBKE link key in the NCP
(EUI-64 → suite, when, and the device endpoint the key establishment ran on), never the key itself.

They are not read back from the NCP: its key table does not say which suite made a key, and the hub
must know after a restart whose unicasts to encrypt before any frame arrives, and where to send its
RequestTunnel again. The keys stay in the NCP. A record written before endpoints were kept has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import zigpy.types as t

from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.files import replace_file
from hubfw.hub.credentials import cbke_dir
from hubfw.store.policy import iso_utc

LINK_KEYS_FORMAT = "hubfw-link-keys/1"


class LinkKeyRegistryError(HubfwError):
    """The record of established CBKE link keys cannot be read or written."""


@dataclass(frozen=True)
class EstablishedKey:
    suite: CryptoSuite
    time: float
    endpoint: int | None = None
    """The device's endpoint the key establishment came from (its Smart Energy endpoint)."""


class LinkKeyRegistry:
    """`state/cbke/link_keys.json`: devices with a CBKE link key in the NCP, rewritten atomically on change."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        """None: kept in memory only (rigs whose hub never restarts)."""
        self._keys = {} if path is None else self._load(path)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> LinkKeyRegistry:
        return cls(cbke_dir(state_dir) / "link_keys.json")

    def __contains__(self, eui64: object) -> bool:
        return eui64 in self._keys

    def devices(self) -> frozenset[t.EUI64]:
        return frozenset(self._keys)

    def suite(self, eui64: t.EUI64) -> CryptoSuite | None:
        found = self._keys.get(eui64)
        return None if found is None else found.suite

    def endpoint(self, eui64: t.EUI64) -> int | None:
        found = self._keys.get(eui64)
        return None if found is None else found.endpoint

    def record(self, eui64: t.EUI64, suite: CryptoSuite, time: float, endpoint: int | None = None) -> None:
        self._keys[eui64] = EstablishedKey(suite, time, endpoint)
        if self.path is not None:
            self._write(self.path)

    def _write(self, path: Path) -> None:
        record = {
            "format": LINK_KEYS_FORMAT,
            "devices": {str(eui64): {"suite": key.suite.value, "time": iso_utc(key.time), "unix_time": key.time,
                                     **({} if key.endpoint is None else {"endpoint": key.endpoint})}
                        for eui64, key in sorted(self._keys.items(), key=lambda item: str(item[0]))},
        }
        try:
            replace_file(path, json.dumps(record, indent=2).encode("utf-8"), 0o644)
        except OSError as exc:
            raise LinkKeyRegistryError(f"cannot write {path}: {exc.strerror or exc}") from None

    @staticmethod
    def _load(path: Path) -> dict[t.EUI64, EstablishedKey]:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LinkKeyRegistryError(f"cannot read {path}: {exc}") from None
        try:
            if record["format"] != LINK_KEYS_FORMAT:
                raise ValueError(f"not a {LINK_KEYS_FORMAT} file")
            return {
                parse_eui64(eui64): EstablishedKey(CryptoSuite(int(entry["suite"])), float(entry["unix_time"]),
                                                   _endpoint(entry.get("endpoint")))
                for eui64, entry in record["devices"].items()
            }
        except (KeyError, TypeError, ValueError, HubfwError) as exc:
            raise LinkKeyRegistryError(f"{path}: {exc}") from None


def _endpoint(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 1 <= value <= 240:
        raise ValueError(f"endpoint {value!r} is not an application endpoint (1..240)")
    return value
