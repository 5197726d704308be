"""The record codec: every record round-trips, and a torn or corrupted frame never decodes."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.store.records import (
    AckRecord,
    ActivationRecord,
    AlertRecord,
    CommitRecord,
    CompletedRecord,
    CountersRecord,
    ImageRecord,
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
