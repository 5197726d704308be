"""The record codec: every record round-trips, and a torn or corrupted frame never decodes."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.store.records import (
    MAX_DEVICE_MESSAGE,
    AckRecord,
    ActivationRecord,
    AlertCounterRecord,
    AlertRecord,
    CommitRecord,
    CompletedRecord,
    CountersRecord,
    DeviceActivationRecord,
    ImageRecord,
    OwedAlertRecord,
    ProgressRecord,
    RecordError,
    TerminalRecord,
    decode,
    encode,
    frame_length,
)
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress
from tests.store.helpers import eui

T0 = 1_767_225_600.0
IMAGE = StoredImage(3, Block.GSME, DeviceType.HCALCS, 0x1234, 7, 0x0102_0304, 750_000, 1, 9, b"\x01" * 32,
                    b"\x02" * 32, T0)
RECORDS = [
    ImageRecord(IMAGE, (TargetProgress(eui(1)), TargetProgress(
        eui(2), TransferResponse.SUCCESS, T0 + 9, T0 + 1, 4096, T0 + 5, offset=4096, last_activity=T0 + 5)), True),
    ImageRecord(IMAGE, (TargetProgress(eui(1)),), False),
    CommitRecord(3),
    ProgressRecord(3, 1, 65536, T0 + 60),
    TerminalRecord(T0, ((3, 0, TransferResponse.IMAGE_DISCARDED), (4, 2, TransferResponse.SUCCESS))),
    AlertRecord(TransferAlert(0x301, AlertCode.TRANSFER_FAILURE, eui(1), 0x300, TransferResponse.IMAGE_DISCARDED, T0)),
    AlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 0x300, None, T0)),
    AlertRecord(TransferAlert(0x2FF, AlertCode.ACTIVATION, eui(1), 0x301, None, T0, source="tunnel")),
    AckRecord((0x301, 0x1FF)),
    ActivationRecord(0x2FF, eui(5), 0x301, T0),
    ActivationRecord(0x3FF, eui(5), 0x302, T0, source="tunnel"),
    CompletedRecord(CompletedTransfer(eui(2), 3, DeviceType.HCALCS, 0x0102_0304, b"\x02" * 32, T0 + 9)),
    CountersRecord(5, 3),
    AlertCounterRecord(0x0102_0304_0506_0708),
    OwedAlertRecord(TransferAlert(0x301, AlertCode.TRANSFER_FAILURE, eui(1), 0x300, TransferResponse.IMAGE_DISCARDED,
                                  T0, counter=7)),
    OwedAlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 0x300, None, T0, counter=(1 << 64) - 1)),
    OwedAlertRecord(TransferAlert(0x2FF, AlertCode.ACTIVATION, eui(1), 0x301, None, T0, source="tunnel",
                                  outcome=ActivationOutcome.FAILURE, counter=9)),
    OwedAlertRecord(TransferAlert(0x3FF, AlertCode.ACTIVATION, eui(1), 0x302, None, T0, source="tunnel",
                                  counter=10, message=bytes(range(256)) * 2)),
    DeviceActivationRecord(0x4FF, eui(5), 0x303, T0, "tunnel", ActivationOutcome.SUCCESS, b"\xdd" * 300),
    DeviceActivationRecord(0x5FF, eui(5), 0x304, T0, "tunnel", ActivationOutcome.FAILURE, None),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("unit", [1, 4])
def test_round_trip(record, unit):
    frame = encode(record, unit)
    assert len(frame) % unit == 0
    assert frame_length(frame[:4]) <= len(frame)
    assert decode(frame[: frame_length(frame[:4])]) == record


def test_an_unknown_alert_source_does_not_decode():
    frame = bytearray(encode(ActivationRecord(0x2FF, eui(5), 0x301, T0, source="tunnel")))
    frame[-5] = 2  # the source byte, just before the CRC: 0 hub, 1 tunnel, nothing else
    frame[-4:] = zlib.crc32(frame[1:-4]).to_bytes(4, "little")
    with pytest.raises(RecordError, match="malformed record of type 7"):
        decode(bytes(frame))


@given(record=st.sampled_from(RECORDS), data=st.data())
def test_a_torn_frame_never_decodes(record, data):
    frame = encode(record)
    landed = data.draw(st.integers(0, len(frame) - 1))
    partial = data.draw(st.integers(0, 255))
    torn = frame[:landed] + bytes([frame[landed] | partial]) + b"\xff" * (len(frame) - landed - 1)
    if torn == frame:  # the bytes that did not land were 0xFF anyway: the record is complete
        return
    with pytest.raises(RecordError):
        decode(torn[: frame_length(torn[:4])]) if torn[0] == 0xA7 else frame_length(torn[:4])


@given(record=st.sampled_from(RECORDS), data=st.data())
def test_a_flipped_bit_never_decodes(record, data):
    frame = bytearray(encode(record))
    bit = data.draw(st.integers(4 * 8, len(frame) * 8 - 1))  # past the head (whose damage frame_length sees)
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(RecordError):
        decode(bytes(frame))


def framed(kind: int, payload: bytes) -> bytes:
    body = bytes([0xA7, kind]) + len(payload).to_bytes(2, "little") + payload
    return body + zlib.crc32(body[1:]).to_bytes(4, "little")


def test_an_owed_alert_without_a_message_takes_the_short_form_and_one_with_one_the_long():
    short = OwedAlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 0x300, None, T0, counter=3))
    assert len(short.payload()) == 40
    long = OwedAlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 0x300, None, T0, counter=3,
                                         message=b"\x01\x02"))
    assert long.payload() == short.payload() + b"\x00\x02\x00\x01\x02"


@pytest.mark.parametrize("payload", [
    pytest.param(lambda p: p[:41], id="41-bytes"),
    pytest.param(lambda p: p[:-1], id="message-shorter-than-n"),
    pytest.param(lambda p: p + b"\x00", id="message-longer-than-n"),
    pytest.param(lambda p: p[:40] + b"\x02" + p[41:], id="unknown-outcome-code"),
])
def test_a_malformed_owed_alert_does_not_decode(payload):
    record = OwedAlertRecord(TransferAlert(0x2FF, AlertCode.ACTIVATION, eui(1), 0x301, None, T0, source="tunnel",
                                           counter=9, message=b"abc"))
    with pytest.raises(RecordError, match="malformed record of type 11"):
        decode(framed(OwedAlertRecord.TYPE, payload(record.payload())))
    assert decode(framed(OwedAlertRecord.TYPE, record.payload())) == record  # the control: unchanged, it decodes


def test_a_transfer_alert_never_carries_a_device_message():
    record = OwedAlertRecord(TransferAlert(0x2FF, AlertCode.ACTIVATION, eui(1), 0x301, None, T0, counter=9,
                                           message=b"abc"))
    payload = bytearray(record.payload())
    payload[8:10] = int(AlertCode.TRANSFER_FAILURE).to_bytes(2, "little")
    payload[22] = int(TransferResponse.IMAGE_DISCARDED)
    with pytest.raises(RecordError, match="only an activation alert"):
        decode(framed(OwedAlertRecord.TYPE, bytes(payload)))


def test_a_device_message_longer_than_the_maximum_is_neither_written_nor_read():
    record = DeviceActivationRecord(0x4FF, eui(5), 0x303, T0, "tunnel", ActivationOutcome.SUCCESS,
                                    b"\xdd" * MAX_DEVICE_MESSAGE)
    assert decode(encode(record)) == record
    with pytest.raises(RecordError, match=f"longer than {MAX_DEVICE_MESSAGE}"):
        encode(DeviceActivationRecord(0x4FF, eui(5), 0x303, T0, "tunnel", ActivationOutcome.SUCCESS,
                                      b"\xdd" * (MAX_DEVICE_MESSAGE + 1)))
