"""The metadata records and their on-flash framing.

Frame (little-endian)::

    u8 0xA7 | u8 record type | u16 payload length | payload | u32 CRC-32 of type..payload

padded with 0xFF to the flash's program unit. A record is valid only if its whole frame is there
and its CRC matches, so a record torn by a power cut reads as "not written". Payloads are fixed
`struct` layouts; optional numbers use a sentinel (-1, NaN, 0xFF) rather than a flag byte. Every
byte is specified in FORMAT.md.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import TypeVar

import zigpy.types as t

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress

FRAME_MAGIC = 0xA7
_FRAME_HEAD = struct.Struct("<BBH")
_CRC = struct.Struct("<I")
FRAME_OVERHEAD = _FRAME_HEAD.size + _CRC.size
MAX_PAYLOAD = 0xFFFF

# The codes on flash (FORMAT.md, "Code tables"). Written out, never taken from enum order or tuple
# position: reordering an enum must not change what existing flash means.
BLOCK_CODES: dict[Block, int] = {Block.ESME: 0, Block.GSME: 1}
DEVICE_TYPE_CODES: dict[DeviceType, int] = {DeviceType.ESME: 0, DeviceType.GSME: 1, DeviceType.PPMID: 2,
                                            DeviceType.HCALCS: 3}
SOURCE_CODES: dict[str, int] = {"hub": 0, "tunnel": 1}
OUTCOME_CODES: dict[ActivationOutcome, int] = {ActivationOutcome.SUCCESS: 0, ActivationOutcome.FAILURE: 1}
_NO_RESPONSE = 0xFF
_NO_OUTCOME = 0xFF
MAX_DEVICE_MESSAGE = 512
"""The longest device GBCS message (a PPMID's own 0x8F8B) the store keeps, in bytes (FORMAT.md)."""
_NO_TIME = math.nan

_V = TypeVar("_V")


class RecordError(ValueError):
    """Bytes that are not a valid record (torn, corrupt or foreign)."""


class _Codes(dict[int, _V]):
    """The inverse of a code table: what a code read from flash stands for (an unknown one is a RecordError)."""

    def __init__(self, field: str, codes: dict[_V, int]) -> None:
        super().__init__((code, value) for value, code in codes.items())
        self.field = field

    def __missing__(self, code: int) -> _V:
        raise RecordError(f"unknown {self.field} code {code}")


_BLOCKS = _Codes("block", BLOCK_CODES)
_DEVICE_TYPES = _Codes("device type", DEVICE_TYPE_CODES)
_SOURCES = _Codes("alert source", SOURCE_CODES)
_OUTCOMES = _Codes("activation outcome", OUTCOME_CODES)


def _time(value: float | None) -> float:
    return _NO_TIME if value is None else value


def _untime(value: float) -> float | None:
    return None if math.isnan(value) else value


def _response(value: TransferResponse | None) -> int:
    return _NO_RESPONSE if value is None else int(value)


def _unresponse(value: int) -> TransferResponse | None:
    return None if value == _NO_RESPONSE else TransferResponse(value)


def _eui(entity: t.EUI64) -> bytes:
    return entity.serialize()


def _uneui(raw: bytes) -> t.EUI64:
    return t.EUI64.deserialize(raw)[0]


@dataclass(frozen=True)
class ImageRecord:
    """An image and its targets. Written uncommitted before the image data (the intent), or
    committed with the targets' current state when a compaction copies a live image."""

    TYPE = 1
    _HEAD = struct.Struct("<IBBBHHIIii32s32sdB")
    _TARGET = struct.Struct("<8sBIddd")

    image: StoredImage
    targets: tuple[TargetProgress, ...]
    committed: bool

    def payload(self) -> bytes:
        i = self.image
        head = self._HEAD.pack(
            i.image_id, BLOCK_CODES[i.block], DEVICE_TYPE_CODES[i.device_type], self.committed,
            i.manufacturer_code, i.image_type, i.file_version, i.total_size,
            -1 if i.min_hw_version is None else i.min_hw_version, -1 if i.max_hw_version is None else i.max_hw_version,
            i.file_sha256, i.manufacturer_image_sha256, i.arrived_at, len(self.targets),
        )
        return head + b"".join(
            self._TARGET.pack(
                _eui(p.entity), _response(p.response), p.checkpoint_offset,
                _time(p.started_at), _time(p.checkpoint_time), _time(p.finished_at),
            )
            for p in self.targets
        )

    @classmethod
    def parse(cls, payload: bytes) -> ImageRecord:
        (image_id, block, device_type, committed, manufacturer_code, image_type, file_version, total_size,
         min_hw, max_hw, file_sha, mfr_sha, arrived_at, count) = cls._HEAD.unpack_from(payload)
        if len(payload) != cls._HEAD.size + count * cls._TARGET.size:
            raise RecordError("image record length does not match its target count")
        image = StoredImage(
            image_id, _BLOCKS[block], _DEVICE_TYPES[device_type], manufacturer_code, image_type, file_version,
            total_size, None if min_hw < 0 else min_hw, None if max_hw < 0 else max_hw, file_sha, mfr_sha, arrived_at,
        )
        targets = []
        for index in range(count):
            raw, response, offset, started, checkpoint, finished = cls._TARGET.unpack_from(
                payload, cls._HEAD.size + index * cls._TARGET.size
            )
            started_at, checkpoint_time = _untime(started), _untime(checkpoint)
            targets.append(TargetProgress(
                _uneui(raw), _unresponse(response), _untime(finished), started_at, offset, checkpoint_time,
                offset=offset, last_activity=checkpoint_time,
            ))
        return cls(image, tuple(targets), bool(committed))


@dataclass(frozen=True)
class CommitRecord:
    """The image's data is fully written and verified: from here on it is visible and served."""

    TYPE = 2
    _S = struct.Struct("<I")
    image_id: int

    def payload(self) -> bytes:
        return self._S.pack(self.image_id)

    @classmethod
    def parse(cls, payload: bytes) -> CommitRecord:
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class ProgressRecord:
    """A download checkpoint; the first one of a target is its "download started"."""

    TYPE = 3
    _S = struct.Struct("<IBId")
    image_id: int
    target: int
    offset: int
    time: float

    def payload(self) -> bytes:
        return self._S.pack(self.image_id, self.target, self.offset, self.time)

    @classmethod
    def parse(cls, payload: bytes) -> ProgressRecord:
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class TerminalRecord:
    """Terminal states reached at `time`, each owing exactly one alert (id derived from image+target).

    This one write is both the alert journal entry and the state change, so an owed alert can
    neither be lost nor minted twice. When it leaves all of an image's targets terminal, it is
    also the image's tombstone.
    """

    TYPE = 4
    _HEAD = struct.Struct("<dB")
    _ENTRY = struct.Struct("<IBB")
    time: float
    entries: tuple[tuple[int, int, TransferResponse], ...]  # (image_id, target index, response)

    def payload(self) -> bytes:
        return self._HEAD.pack(self.time, len(self.entries)) + b"".join(
            self._ENTRY.pack(image_id, target, int(response)) for image_id, target, response in self.entries
        )

    @classmethod
    def parse(cls, payload: bytes) -> TerminalRecord:
        time, count = cls._HEAD.unpack_from(payload)
        if len(payload) != cls._HEAD.size + count * cls._ENTRY.size:
            raise RecordError("terminal record length does not match its entry count")
        entries = tuple(
            (image_id, target, TransferResponse(response))
            for image_id, target, response in (
                cls._ENTRY.unpack_from(payload, cls._HEAD.size + n * cls._ENTRY.size) for n in range(count)
            )
        )
        return cls(time, entries)


_ALERT = struct.Struct("<QH8sIBdB")


def _alert_payload(a: TransferAlert) -> bytes:
    return _ALERT.pack(
        a.alert_id, int(a.code), _eui(a.entity), a.firmware_version, _response(a.transfer_response), a.time,
        SOURCE_CODES[a.source],
    )


def _parse_alert(payload: bytes, **extra: object) -> TransferAlert:
    alert_id, code, raw, version, response, time, source = _ALERT.unpack_from(payload)
    return TransferAlert(
        alert_id, AlertCode(code), _uneui(raw), version, _unresponse(response), time, _SOURCES[source], **extra
    )


def _message_part(outcome: ActivationOutcome | None, message: bytes | None) -> bytes:
    """u8 activation outcome (0xFF none) | u16 n | n bytes of the device's GBCS message (n = 0: none)."""
    message = message or b""
    if len(message) > MAX_DEVICE_MESSAGE:
        raise RecordError(f"device message of {len(message)} bytes is longer than {MAX_DEVICE_MESSAGE}")
    return _MESSAGE_HEAD.pack(_NO_OUTCOME if outcome is None else OUTCOME_CODES[outcome], len(message)) + message


def _parse_message_part(payload: bytes, offset: int) -> tuple[ActivationOutcome | None, bytes | None]:
    outcome, length = _MESSAGE_HEAD.unpack_from(payload, offset)
    start = offset + _MESSAGE_HEAD.size
    if length > MAX_DEVICE_MESSAGE or len(payload) != start + length:
        raise RecordError("device message length does not match the record")
    return None if outcome == _NO_OUTCOME else _OUTCOMES[outcome], payload[start:] or None


_MESSAGE_HEAD = struct.Struct("<BH")


@dataclass(frozen=True)
class AlertRecord:
    """An owed, unacknowledged alert as a compaction of the previous release copied it (its image may be
    long gone). No longer written; replay gives it the next originator counter (FORMAT.md)."""

    TYPE = 5
    alert: TransferAlert

    def payload(self) -> bytes:
        return _alert_payload(self.alert)

    @classmethod
    def parse(cls, payload: bytes) -> AlertRecord:
        if len(payload) != _ALERT.size:
            raise RecordError("alert record length is not 32")
        return cls(_parse_alert(payload))


@dataclass(frozen=True)
class AckRecord:
    """Alerts the consumer has taken delivery of; they leave the journal at the next compaction."""

    TYPE = 6
    MAX_IDS = 64
    alert_ids: tuple[int, ...]

    def payload(self) -> bytes:
        return struct.pack(f"<H{len(self.alert_ids)}Q", len(self.alert_ids), *self.alert_ids)

    @classmethod
    def parse(cls, payload: bytes) -> AckRecord:
        (count,) = struct.unpack_from("<H", payload)
        if len(payload) != 2 + 8 * count:
            raise RecordError("ack record length does not match its id count")
        return cls(struct.unpack_from(f"<{count}Q", payload, 2))


@dataclass(frozen=True)
class ActivationRecord:
    """A PPMID's 0x8F8B activation alert, owed from this write on; `source` says whether the hub saw
    the new version itself or the PPMID's own alert came through the GBCS tunnel."""

    TYPE = 7
    _S = struct.Struct("<Q8sIdB")
    alert_id: int
    entity: t.EUI64
    firmware_version: int
    time: float
    source: str = "hub"

    def payload(self) -> bytes:
        return self._S.pack(
            self.alert_id, _eui(self.entity), self.firmware_version, self.time, SOURCE_CODES[self.source]
        )

    @classmethod
    def parse(cls, payload: bytes) -> ActivationRecord:
        alert_id, raw, version, time, source = cls._S.unpack(payload)
        return cls(alert_id, _uneui(raw), version, time, _SOURCES[source])


@dataclass(frozen=True)
class CompletedRecord:
    """A completed transfer as a compaction copies it, so CS06 works after the image left flash."""

    TYPE = 8
    _S = struct.Struct("<8sIBI32sd")
    transfer: CompletedTransfer

    def payload(self) -> bytes:
        c = self.transfer
        return self._S.pack(
            _eui(c.entity), c.image_id, DEVICE_TYPE_CODES[c.device_type], c.file_version,
            c.manufacturer_image_sha256, c.completed_at,
        )

    @classmethod
    def parse(cls, payload: bytes) -> CompletedRecord:
        raw, image_id, device_type, version, mfr_sha, completed_at = cls._S.unpack(payload)
        return cls(CompletedTransfer(_uneui(raw), image_id, _DEVICE_TYPES[device_type], version, mfr_sha, completed_at))


@dataclass(frozen=True)
class CountersRecord:
    """The id counters, so ids are never reused even when no image or alert is left to show them."""

    TYPE = 9
    _S = struct.Struct("<II")
    next_image_id: int
    next_activation: int

    def payload(self) -> bytes:
        return self._S.pack(self.next_image_id, self.next_activation)

    @classmethod
    def parse(cls, payload: bytes) -> CountersRecord:
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class AlertCounterRecord:
    """The next originator counter, so counters never go back even when no owed alert is left to show them."""

    TYPE = 10
    _S = struct.Struct("<Q")
    next_counter: int

    def payload(self) -> bytes:
        return self._S.pack(self.next_counter)

    @classmethod
    def parse(cls, payload: bytes) -> AlertCounterRecord:
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class OwedAlertRecord:
    """An owed, unacknowledged alert as a compaction copies it: the ALERT payload and its originator
    counter, then, only for an activation alert with a failure outcome or a device message, the outcome
    and the device's GBCS message (the short 40-byte form otherwise: FORMAT.md says why)."""

    TYPE = 11
    _COUNTER = struct.Struct("<Q")
    alert: TransferAlert

    def payload(self) -> bytes:
        a = self.alert
        if a.counter is None:
            raise RecordError(f"alert {a.alert_id} has no originator counter to keep")
        head = _alert_payload(a) + self._COUNTER.pack(a.counter)
        if a.message is None and a.outcome in (None, ActivationOutcome.SUCCESS):
            return head
        return head + _message_part(a.outcome, a.message)

    @classmethod
    def parse(cls, payload: bytes) -> OwedAlertRecord:
        short = _ALERT.size + cls._COUNTER.size
        if len(payload) < short:
            raise RecordError("owed alert record is too short")
        (counter,) = cls._COUNTER.unpack_from(payload, _ALERT.size)
        outcome, message = (None, None) if len(payload) == short else _parse_message_part(payload, short)
        (code,) = struct.unpack_from("<H", payload, 8)
        if code != AlertCode.ACTIVATION and (outcome is not None or message is not None):
            raise RecordError("only an activation alert carries an outcome and a device message")
        return cls(_parse_alert(payload, outcome=outcome, counter=counter, message=message))


@dataclass(frozen=True)
class DeviceActivationRecord:
    """A device's own 0x8F8B activation alert (through the GBCS tunnel), owed from this write on, with
    its activation outcome and the device's GBCS message, relayed verbatim."""

    TYPE = 12
    alert_id: int
    entity: t.EUI64
    firmware_version: int
    time: float
    source: str
    outcome: ActivationOutcome
    message: bytes | None

    def payload(self) -> bytes:
        head = ActivationRecord(self.alert_id, self.entity, self.firmware_version, self.time, self.source).payload()
        return head + _message_part(self.outcome, self.message)

    @classmethod
    def parse(cls, payload: bytes) -> DeviceActivationRecord:
        size = ActivationRecord._S.size
        base = ActivationRecord.parse(payload[:size])
        outcome, message = _parse_message_part(payload, size)
        if outcome is None:
            raise RecordError("a device activation record needs an activation outcome")
        return cls(base.alert_id, base.entity, base.firmware_version, base.time, base.source, outcome, message)


Record = (
    ImageRecord | CommitRecord | ProgressRecord | TerminalRecord | AlertRecord | AckRecord | ActivationRecord
    | CompletedRecord | CountersRecord | AlertCounterRecord | OwedAlertRecord | DeviceActivationRecord
)
_TYPES: dict[int, type] = {
    cls.TYPE: cls
    for cls in (ImageRecord, CommitRecord, ProgressRecord, TerminalRecord, AlertRecord, AckRecord, ActivationRecord,
                CompletedRecord, CountersRecord, AlertCounterRecord, OwedAlertRecord, DeviceActivationRecord)
}


def encode(record: Record, program_unit: int = 1) -> bytes:
    """The framed record, padded with 0xFF to a whole number of program units."""
    payload = record.payload()
    if len(payload) > MAX_PAYLOAD:
        raise RecordError(f"record payload of {len(payload)} bytes is too large")
    body = _FRAME_HEAD.pack(FRAME_MAGIC, record.TYPE, len(payload)) + payload
    frame = body + _CRC.pack(zlib.crc32(body[1:]))
    return frame + b"\xff" * (-len(frame) % program_unit)


def frame_length(head: bytes) -> int:
    """The frame length announced by a frame's first four bytes (RecordError if not a frame start)."""
    magic, kind, length = _FRAME_HEAD.unpack(head)
    if magic != FRAME_MAGIC or kind not in _TYPES:
        raise RecordError("no record frame here")
    return _FRAME_HEAD.size + length + _CRC.size


def decode(frame: bytes) -> Record:
    """The record in a whole frame (as long as frame_length said); RecordError if torn or corrupt."""
    body, (crc,) = frame[:-_CRC.size], _CRC.unpack(frame[-_CRC.size:])
    if zlib.crc32(body[1:]) != crc:
        raise RecordError("record CRC mismatch")
    _, kind, _ = _FRAME_HEAD.unpack_from(body)
    try:
        return _TYPES[kind].parse(body[_FRAME_HEAD.size:])
    except (struct.error, ValueError, IndexError) as exc:
        raise RecordError(f"malformed record of type {kind}: {exc}") from None
