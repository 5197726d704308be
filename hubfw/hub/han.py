"""The hub's side of the GB HAN presence: its HAN server, which devices hold a CBKE link key, what their
tunnels carried, and the rule that Smart Energy traffic needs that key.

A real Communications Hub serves Smart Energy traffic only over the CBKE link key, so with CBKE
credentials configured a Smart Energy profile (0x0109) frame — OTA or HAN — from a device without an
established key, or not APS-encrypted, is answered with Default Response NOT_AUTHORIZED. Key
Establishment itself and Basic (discovery) are exempt; Match_Desc is ZDO and never reaches the hub.
Home Automation profile (0x0104) traffic is served as before (bench test devices), and
`allow_without_cbke` relaxes the rule entirely.

Which devices hold a key is kept in `state/cbke/link_keys.json` (EUI-64 → suite and when), not read
back from the NCP: its key table does not say which suite made a key, and the hub must know after a
restart whose unicasts to encrypt before any frame arrives. The keys themselves stay in the NCP only.
"""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.han.events import GbcsMessageReceived, KeyEstablishmentFailed, TunnelClosed, TunnelOpened
from hubfw.han.server import HanServer
from hubfw.hub.credentials import cbke_dir
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import default_response, parse_header as parse_request_header
from hubfw.store.policy import iso_utc

LINK_KEYS_FORMAT = "hubfw-link-keys/1"
OPEN_WITHOUT_KEY = frozenset({BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER})
"""Smart Energy clusters a device may use before it holds a CBKE link key."""
MAX_KEPT_MESSAGES = 1000
"""GBCS messages from devices kept for `hubfw tunnel messages` (oldest dropped first)."""


class LinkKeyRegistryError(HubfwError):
    """The record of established CBKE link keys cannot be read or written."""


@dataclass(frozen=True)
class EstablishedKey:
    suite: CryptoSuite
    time: float


class LinkKeyRegistry:
    """`state/cbke/link_keys.json`: devices with a CBKE link key in the NCP, rewritten atomically on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys = self._load()

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

    def record(self, eui64: t.EUI64, suite: CryptoSuite, time: float) -> None:
        self._keys[eui64] = EstablishedKey(suite, time)
        record = {
            "format": LINK_KEYS_FORMAT,
            "devices": {str(eui64): {"suite": key.suite.value, "time": iso_utc(key.time), "unix_time": key.time}
                        for eui64, key in sorted(self._keys.items(), key=lambda item: str(item[0]))},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("w", encoding="utf-8") as out:
                json.dump(record, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            raise LinkKeyRegistryError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _load(self) -> dict[t.EUI64, EstablishedKey]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LinkKeyRegistryError(f"cannot read {self.path}: {exc}") from None
        try:
            if record["format"] != LINK_KEYS_FORMAT:
                raise ValueError(f"not a {LINK_KEYS_FORMAT} file")
            return {
                parse_eui64(eui64): EstablishedKey(CryptoSuite(int(entry["suite"])), float(entry["unix_time"]))
                for eui64, entry in record["devices"].items()
            }
        except (KeyError, TypeError, ValueError, HubfwError) as exc:
            raise LinkKeyRegistryError(f"{self.path}: {exc}") from None


@dataclass(frozen=True)
class KeyEstablishmentFailure:
    """The last failed exchange of a device, for `hubfw devices`."""

    status: str | None
    reason: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "time": iso_utc(self.time)}


class HubHan:
    """The HAN server plus what the hub remembers about each device's key and tunnel."""

    def __init__(self, server: HanServer, keys: LinkKeyRegistry, *, require_cbke: bool) -> None:
        self.server = server
        self.keys = keys
        self.require_cbke = require_cbke
        self.failures: dict[t.EUI64, KeyEstablishmentFailure] = {}
        self.messages: collections.deque[GbcsMessageReceived] = collections.deque(maxlen=MAX_KEPT_MESSAGES)
        self.tunnels: dict[t.EUI64, str] = {}

    def refusal(self, frame: IncomingFrame) -> list[OutgoingFrame] | None:
        """None when the frame may be served; otherwise what to answer instead (NOT_AUTHORIZED to a
        command, nothing to a response)."""
        if (
            not self.require_cbke
            or frame.profile != SMART_ENERGY_PROFILE
            or frame.cluster in OPEN_WITHOUT_KEY
            or (frame.aps_encrypted and frame.source in self.keys)
        ):
            return None
        try:
            header, _ = parse_request_header(frame.zcl)
        except (ValueError, KeyError):
            return []
        is_default_response = header.is_general and header.command_id == foundation.GeneralCommand.Default_Response
        if not header.client_to_server or is_default_response:
            return []
        zcl = default_response(header.tsn, header.command_id, foundation.Status.NOT_AUTHORIZED)
        return [OutgoingFrame(frame.source, frame.profile, frame.dst_ep, frame.src_ep, frame.cluster, zcl, False)]

    def key_failed(self, event: KeyEstablishmentFailed, time: float) -> None:
        status = None if event.status is None else event.status.name
        self.failures[event.eui64] = KeyEstablishmentFailure(status, event.reason, time)

    def device_view(self, eui64: t.EUI64) -> dict[str, Any]:
        """The HAN fields of one `hubfw devices` entry."""
        suite = self.keys.suite(eui64)
        failure = self.failures.get(eui64)
        return {
            "key_establishment": None if suite is None else f"suite{suite.value}",
            "key_establishment_failure": None if failure is None else failure.to_json(),
            "tunnel": self.tunnel_state(eui64),
        }

    def tunnel_event(self, event: TunnelOpened | TunnelClosed) -> None:
        self.tunnels[event.eui64] = "open" if isinstance(event, TunnelOpened) else "closed"

    def tunnel_state(self, eui64: t.EUI64) -> str | None:
        """"open" or "closed" for a device that has had a tunnel since the hub started, else None."""
        return self.tunnels.get(eui64)

    def tunnel_open(self, eui64: t.EUI64) -> bool:
        return self.tunnels.get(eui64) == "open"

    def messages_from(self, eui64: t.EUI64 | None) -> list[dict[str, Any]]:
        return [
            {"eui64": str(message.eui64), "time": iso_utc(message.time), "length": len(message.message),
             "message": message.message.hex()}
            for message in self.messages if eui64 is None or message.eui64 == eui64
        ]
