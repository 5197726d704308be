"""The hub's alert log, `alerts.jsonl` in its state directory: one JSON object per line, appended and
synced before the store forgets an alert (so alerts travel at least once and consumers de-duplicate by
`alert_id`), plus raw records of device alerts from a GBCS tunnel that could not be decoded.

A raw record is `{"kind": "raw", "alert_id": null, "code": null, "entity": EUI64, "time": ISO 8601,
"unix_time": seconds, "source": "tunnel", "raw": hex of the whole GBCS message, "gbcs": the same hex (the
message goes to the DCC side as the device sent it)}`; it is written once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import zigpy.types as t

from hubfw.alerts import TransferAlert
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.store.policy import iso_utc

ALERT_LOG_NAME = "alerts.jsonl"


class AlertLogError(HubfwError):
    """The alert log cannot be read, or holds a line that is not an alert record."""


def alert_log_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / ALERT_LOG_NAME


@dataclass(frozen=True)
class RawTunnelAlert:
    """A GBCS alert a device sent through its tunnel that hubfw could not decode, logged as its bytes.

    It has no alert id and no code (the store never held it); `raw` is the whole GBCS message."""

    entity: t.EUI64
    raw: bytes
    time: float
    alert_id: ClassVar[None] = None
    code: ClassVar[None] = None
    source: ClassVar[str] = "tunnel"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "raw", "alert_id": None, "code": None, "entity": str(self.entity),
                "time": iso_utc(self.time), "unix_time": self.time, "source": self.source, "raw": self.raw.hex(), "gbcs": self.raw.hex()}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> RawTunnelAlert:
        try:
            return cls(parse_eui64(record["entity"]), bytes.fromhex(record["raw"]), float(record["unix_time"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AlertLogError(f"not a raw tunnel alert record: {exc}") from None


LoggedAlert = TransferAlert | RawTunnelAlert
"""A line of the alert log: an alert the hub raised, or a device's undecodable tunnel alert."""


def read_alert_log(path: Path) -> list[LoggedAlert]:
    """Every alert in a log in log order, first appearance of each `alert_id` only (the log is at-least-once;
    raw tunnel records are written once).

    A torn last line (the hub was killed mid-write) is skipped: the store still owes that alert
    and the next start writes it again."""
    alerts: dict[int | tuple[int], LoggedAlert] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AlertLogError(f"cannot read the alert log {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            raw = record.get("kind") == "raw"
            alert = RawTunnelAlert.from_json(record) if raw else TransferAlert.from_json(record)
        except (ValueError, HubfwError) as exc:
            if number == len(lines):
                continue
            raise AlertLogError(f"{path}:{number}: not an alert record ({exc})") from None
        alerts.setdefault((number,) if alert.alert_id is None else alert.alert_id, alert)
    return list(alerts.values())


class AlertLog:
    """`alerts.jsonl`: appended and synced before the store forgets an alert."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, alerts: Sequence[LoggedAlert]) -> None:
        with self.path.open("a", encoding="utf-8") as log:
            for alert in alerts:
                log.write(json.dumps(alert.to_json(), separators=(",", ":")) + "\n")
            log.flush()
            os.fsync(log.fileno())
