"""EZSP frames seen from the NCP: headers, and parameters coded with bellows' own tables.

The schemas are never re-typed here: requests are decoded with a version's `tx` schema from
`bellows.ezsp.vNN.commands` and responses encoded with its `rx` schema, so the simulator
follows bellows exactly (and shows where a real NCP would disagree with it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import bellows.types as t
import zigpy.types as zt
from bellows.ezsp import EZSP

from hubfw.errors import HubfwError

FRAME_FORMAT_VERSION_1 = 0x01
CONTROL_RESPONSE = 0x80
CONTROL_ASYNC_CALLBACK = 0x10
LEGACY_VERSION_FRAME_LENGTH = 4  # seq, control, frame id 0x00, desired version

# One representative per (sl_Status, legacy type), for commands that still speak EmberStatus
_LEGACY_STATUS: dict[tuple[t.sl_Status, type], Any] = {}
for (_legacy_type, _legacy), _sl in t.SL_STATUS_MAP.items():
    _LEGACY_STATUS.setdefault((_sl, _legacy_type), _legacy)
# The scan refusals bellows' map leaves out
_LEGACY_STATUS[(t.sl_Status.MAC_INCORRECT_SCAN_TYPE, t.EmberStatus)] = t.EmberStatus.MAC_INCORRECT_SCAN_TYPE
_LEGACY_STATUS[(t.sl_Status.BAD_SCAN_DURATION, t.EmberStatus)] = t.EmberStatus.MAC_BAD_SCAN_DURATION
_LEGACY_FALLBACK = {t.EmberStatus: t.EmberStatus.ERR_FATAL, t.EzspStatus: t.EzspStatus.ERROR_INVALID_CALL}


class EzspFrameError(HubfwError):
    """A frame from the host that is not EZSP at all."""


@dataclasses.dataclass(frozen=True)
class EzspRequest:
    seq: int
    frame_id: int
    legacy: bool  # the pre-v8 header, which bellows uses only for its first `version`
    params: bytes


def parse_request(data: bytes) -> EzspRequest:
    if len(data) == LEGACY_VERSION_FRAME_LENGTH and data[2] == 0x00:
        return EzspRequest(data[0], 0x0000, True, data[3:])
    if len(data) < 5 or data[2] != FRAME_FORMAT_VERSION_1:
        raise EzspFrameError(f"not an EZSP frame: {data.hex()}")
    return EzspRequest(data[0], int.from_bytes(data[3:5], "little"), False, data[5:])


def frame_header(seq: int, frame_id: int, *, legacy: bool, callback: bool) -> bytes:
    control = CONTROL_RESPONSE | (CONTROL_ASYNC_CALLBACK if callback else 0)
    if legacy:
        return bytes([seq, control, frame_id])
    return bytes([seq, control, FRAME_FORMAT_VERSION_1]) + frame_id.to_bytes(2, "little")


Schema = Any  # bellows writes a schema as {field name: type} or, for a few replies, as a Struct class


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    frame_id: int
    request: Schema
    response: Schema


class CommandTable:
    """bellows' command table of one EZSP version, indexed both ways."""

    def __init__(self, version: int) -> None:
        if version not in EZSP._BY_VERSION:
            raise HubfwError(f"bellows has no EZSP v{version} command table "
                             f"(it knows {sorted(EZSP._BY_VERSION)})")
        self.version = version
        self.by_name = {name: Command(name, frame_id, tx, rx)
                        for name, (frame_id, tx, rx) in EZSP._BY_VERSION[version].COMMANDS.items()}
        self.by_id = {cmd.frame_id: cmd for cmd in self.by_name.values()}


def zero_value(kind: Any) -> Any:
    """The all-zero value of a bellows/zigpy type: what an NCP reports for an empty field."""
    if issubclass(kind, zt.Struct):
        return kind(**{f.name: zero_value(f.type) for f in kind.fields})
    if issubclass(kind, zt.FixedList):
        return kind([zero_value(kind._item_type)] * kind._length)
    if issubclass(kind, (list, bytes)):
        return kind()
    return kind(0)


def coerce(kind: Any, value: Any) -> Any:
    """Fit a handler's value to the schema's type; an sl_Status becomes the legacy status
    enum the older versions still use."""
    if isinstance(value, t.sl_Status) and kind in _LEGACY_FALLBACK:
        return _LEGACY_STATUS.get((value, kind), _LEGACY_FALLBACK[kind])
    if isinstance(value, kind):
        return value
    return kind(value)


def encode_params(schema: Schema, values: dict[str, Any]) -> bytes:
    """Serialise a response; fields the handler leaves out are zero (status zero = success)."""
    if isinstance(schema, dict):
        unknown = set(values) - set(schema)
        if unknown:
            raise KeyError(f"fields {sorted(unknown)} are not in the schema {list(schema)}")
        return b"".join(
            (coerce(kind, values[name]) if name in values else zero_value(kind)).serialize()
            for name, kind in schema.items()
        )
    fields = {f.name: coerce(f.type, values[f.name]) if f.name in values else zero_value(f.type)
              for f in schema.fields if f.name in values or (f.requires is None and not f.optional)}
    return schema(**fields).serialize()


def decode_params(schema: Schema, data: bytes) -> dict[str, Any]:
    """A request's fields by name; trailing bytes are ignored, as EmberZNet ignores them."""
    if isinstance(schema, dict):
        values, _rest = t.deserialize_dict(data, schema)
        return values
    value, _rest = schema.deserialize(data)
    return value.as_dict()
