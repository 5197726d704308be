"""The on-flash format (hubfw/store/FORMAT.md) pinned to golden bytes made by the layout-2 code.

A failure here means flash written by an earlier hubfw would change meaning. Restore the old bytes,
or bump LAYOUT_VERSION and make new golden files. layout2.bin is a flash of the previous release and is
never regenerated; make_golden.py rewrites only what the code reports from it and the record frames.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import zlib
from pathlib import Path
from typing import get_args

import pytest

from hubfw.alerts import SOURCES, ActivationOutcome, AlertCode, TransferResponse
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.store.layout import Layout
from hubfw.store.metalog import MetadataLog
from hubfw.store.model import StoreModel
from hubfw.store.records import (
    BLOCK_CODES,
    DEVICE_TYPE_CODES,
    OUTCOME_CODES,
    SOURCE_CODES,
    Record,
    RecordError,
    decode,
    encode,
)
from hubfw.store.state import Block
from hubfw.store.store import ImageStore

GOLDEN = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

FLASH = (GOLDEN / golden.FLASH_FILE).read_bytes()
STATUS = json.loads((GOLDEN / golden.STATUS_FILE).read_text(encoding="utf-8"))
RECORDS = json.loads((GOLDEN / golden.RECORDS_FILE).read_text(encoding="utf-8"))


def golden_flash(contents: bytes = FLASH) -> NorFlash:
    return NorFlash(golden.PROFILE, backing=bytearray(contents))


# ----- (a) the golden flash

def test_the_golden_flash_reports_the_golden_status():
    assert golden.status(FLASH) == STATUS


def test_opening_the_golden_flash_writes_nothing():
    flash = golden_flash()
    ImageStore.open(flash, VirtualClock(golden.OPENED_AT), max_image_size=golden.MAX_IMAGE_SIZE)
    assert flash.operations == 0 and flash.read(0, flash.size) == FLASH


def test_the_generator_reproduces_the_golden_files(tmp_path):
    golden.write(tmp_path)
    for name in (golden.STATUS_FILE, golden.RECORDS_FILE):
        assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes(), name
    assert not (tmp_path / golden.FLASH_FILE).exists()


def test_the_golden_flash_of_the_previous_release_is_unchanged():
    assert hashlib.sha256(FLASH).hexdigest() == LAYOUT2_SHA256


# ----- (a') originator counters on the previous release's flash

LAYOUT2_SHA256 = "85b3be34a340c30eca7cae06613bd18b52fb211fd87fcdcbad41b62dd30a01a6"


def _golden_store(flash: NorFlash) -> ImageStore:
    return ImageStore.open(flash, VirtualClock(golden.OPENED_AT), max_image_size=golden.MAX_IMAGE_SIZE)


def test_the_previous_release_flash_gets_counters_in_journal_order():
    """Its log has type-5 ALERT and type-7 ACTIVATION records: every alert the replay meets takes the next
    counter, 1..n in journal order (acknowledged ones included), and the owed ones keep that order."""
    flash = golden_flash()
    records = MetadataLog.scan(flash, Layout.read_superblock(flash)).records
    assert {type(r).__name__ for r in records} >= {"AlertRecord", "ActivationRecord", "TerminalRecord"}
    assert not {type(r).__name__ for r in records} & {"AlertCounterRecord", "OwedAlertRecord"}
    model = StoreModel()
    seen = []
    for record in records:
        before = set(model.alerts)
        model.apply(record)
        seen += [model.alerts[alert_id].counter for alert_id in model.alerts if alert_id not in before]
    assert seen == list(range(1, len(seen) + 1)) and model.next_alert_counter == len(seen) + 1
    pending = _golden_store(flash).pending_alerts()
    assert [a.counter for a in pending] == sorted(a.counter for a in pending)
    assert [a.counter for a in pending] == [alert["originator_counter"] for alert in STATUS["pending_alerts"]]
    assert len(pending) == 13 and pending[0].counter == 3  # G1's and G2's alerts (1, 2) were acknowledged


def test_a_compaction_of_the_previous_release_flash_keeps_every_counter_and_the_next():
    flash = golden_flash()
    store = _golden_store(flash)
    pending, sequence = store.pending_alerts(), store.status().metadata_sequence
    after_last = max(a.counter for a in pending) + 1
    flash.schedule_cut(flash.operations, CutMode.DURING)
    with pytest.raises(PowerCut):
        store.note_activation(golden.P(1), 0x0400_0002)  # torn: consumes no counter; the next open compacts
    flash.reboot()
    store = _golden_store(flash)
    assert store.status().metadata_sequence == sequence + 1 and store.pending_alerts() == pending
    records = MetadataLog.scan(flash, Layout.read_superblock(flash)).records
    assert [type(r).__name__ for r in records[:2]] == ["CountersRecord", "AlertCounterRecord"]
    assert records[1].next_counter == after_last
    assert not any(type(r).__name__ == "AlertRecord" for r in records)
    store.acknowledge([a.alert_id for a in pending])
    assert store.note_activation(golden.P(1), 0x0400_0002).counter == after_last
    flash.reboot()
    assert [a.counter for a in _golden_store(flash).pending_alerts()] == [after_last]


def test_a_reader_written_from_format_md_finds_what_the_store_reads():
    """Superblock, region headers, the page rule and the image blocks, read by FORMAT.md alone."""
    magic, version, unit, sector, page, max_image, block_sectors, regions, crc = struct.unpack_from(
        "<8sHHIIIIII", FLASH
    )
    assert (magic, version, unit, sector, page, max_image, block_sectors) == (b"HUBFWSTO", 2, 4, 1024, 64, 4096, 4)
    assert crc == zlib.crc32(FLASH[:32])
    region_sectors, region_count = regions >> 16, regions & 0xFFFF
    valid = {}
    for region in range(region_count):
        base = (1 + 2 * block_sectors + region * region_sectors) * sector
        magic, sequence, length, body_crc, head_crc = struct.unpack_from("<4sIIII", FLASH, base)
        body = FLASH[base + page : base + page + length]
        if magic == b"HMR1" and head_crc == zlib.crc32(FLASH[base : base + 16]) and body_crc == zlib.crc32(body):
            valid[sequence] = FLASH[base : base + region_sectors * sector]
    assert sorted(valid) == [1, 2, 3]

    log, position, frames = valid[3], page, []
    while log[position] != 0xFF or position % page:
        if log[position] == 0xFF:
            position += -position % page
            continue
        length = 8 + struct.unpack_from("<H", log, position + 2)[0]
        assert length > page and position % page == 0 or position // page == (position + length - 1) // page
        frame = log[position : position + length]
        assert frame[0] == 0xA7 and struct.unpack_from("<I", frame, length - 4)[0] == zlib.crc32(frame[1:-4])
        frames.append(frame)
        position += length + -length % unit
    assert log[position:] == b"\xff" * (len(log) - position)
    flash = golden_flash()
    assert [decode(frame) for frame in frames] == MetadataLog.scan(flash, Layout.read_superblock(flash)).records

    for block, first_sector in zip(STATUS["status"]["blocks"], (1, 1 + block_sectors), strict=True):
        size, start = block["image"]["total_size"], first_sector * sector
        assert hashlib.sha256(FLASH[start : start + size]).hexdigest() == block["image"]["file_sha256"]
        assert set(FLASH[start + size : start + block_sectors * sector]) == {0xFF}


# ----- (b) every record type

def test_the_golden_records_cover_every_record_type():
    assert {record["type"] for record in RECORDS.values()} == set(range(1, 13))


@pytest.mark.parametrize("name", list(golden.EXAMPLES))
def test_each_record_encodes_to_its_golden_bytes_and_back(name):
    record, expected = golden.EXAMPLES[name], RECORDS[name]
    frame = bytes.fromhex(expected["frame"])
    assert encode(record) == frame
    assert encode(record, 4) == frame + b"\xff" * (-len(frame) % 4)
    decoded = decode(frame)
    assert decoded == record
    assert (decoded.TYPE, type(decoded).__name__, golden.fields(decoded)) == (
        expected["type"], expected["record"], expected["fields"]
    )


# ----- (c) the codes on flash

def test_the_code_tables_are_pinned():
    assert BLOCK_CODES == {Block.ESME: 0, Block.GSME: 1}
    assert DEVICE_TYPE_CODES == {DeviceType.ESME: 0, DeviceType.GSME: 1, DeviceType.PPMID: 2, DeviceType.HCALCS: 3}
    assert SOURCE_CODES == {"hub": 0, "tunnel": 1}
    assert OUTCOME_CODES == {ActivationOutcome.SUCCESS: 0, ActivationOutcome.FAILURE: 1}
    assert set(OUTCOME_CODES) == set(ActivationOutcome)
    # Every value has a code: a new enum member needs a new number (and a new layout version).
    assert (set(BLOCK_CODES), set(DEVICE_TYPE_CODES), set(SOURCE_CODES)) == (set(Block), set(DeviceType), set(SOURCES))


def test_the_record_types_and_protocol_codes_are_pinned():
    assert {record.__name__: record.TYPE for record in get_args(Record)} == {
        "ImageRecord": 1, "CommitRecord": 2, "ProgressRecord": 3, "TerminalRecord": 4, "AlertRecord": 5,
        "AckRecord": 6, "ActivationRecord": 7, "CompletedRecord": 8, "CountersRecord": 9, "AlertCounterRecord": 10,
        "OwedAlertRecord": 11, "DeviceActivationRecord": 12,
    }
    assert {r.name: r.value for r in TransferResponse} == {
        "SUCCESS": 0, "IMAGE_DISCARDED": 1, "HARDWARE_VERSION_MISMATCH": 2, "FILE_TRANSFER_FAILURE": 3,
    }
    assert {c.name: c.value for c in AlertCode} == {
        "TRANSFER_FAILURE": 0x8F89, "TRANSFER_SUCCESS": 0x8F8A, "ACTIVATION": 0x8F8B,
    }


# ----- (d) the checks can fail

def with_byte(data: bytes, address: int, value: int, crc: tuple[int, int, int] | None = None) -> bytes:
    """`data` with one byte changed; `crc` = (start, end, at): the CRC of [start, end) stored at `at` again."""
    changed = bytearray(data)
    changed[address] = value
    if crc is not None:
        start, end, at = crc
        changed[at : at + 4] = zlib.crc32(changed[start:end]).to_bytes(4, "little")
    return bytes(changed)


def reframed(name: str, payload_offset: int, value: int) -> bytes:
    """A golden frame with one payload byte changed and its frame CRC made to match again."""
    frame = bytes.fromhex(RECORDS[name]["frame"])
    return with_byte(frame, 4 + payload_offset, value, (1, len(frame) - 4, len(frame) - 4))


@pytest.mark.parametrize(("name", "offset"), [("image_committed", 5), ("completed", 12)])
def test_a_changed_device_type_code_reads_as_another_type_or_fails_clearly(name, offset):
    assert decode(reframed(name, offset, 0)) != golden.EXAMPLES[name]
    kind = RECORDS[name]["type"]
    with pytest.raises(RecordError, match=f"^malformed record of type {kind}: unknown device type code 4$"):
        decode(reframed(name, offset, 4))
    unframed = bytearray.fromhex(RECORDS[name]["frame"])
    unframed[4 + offset] = 0
    with pytest.raises(RecordError, match="CRC mismatch"):
        decode(bytes(unframed))


# The golden COMPLETED record at 0x6480 in the active region: its device type byte, and its frame CRC.
_COMPLETED_TYPE, _COMPLETED_CRC = 0x6480 + 4 + 12, (0x6481, 0x6480 + 4 + 57, 0x6480 + 4 + 57)


@pytest.mark.parametrize("changed", [
    pytest.param(with_byte(FLASH, 0x400 + 100, FLASH[0x400 + 100] ^ 1), id="esme-image-data"),
    pytest.param(with_byte(FLASH, _COMPLETED_TYPE, 9, _COMPLETED_CRC), id="unknown-device-type-code"),
    pytest.param(with_byte(FLASH, _COMPLETED_TYPE, 1), id="torn-record"),
    pytest.param(with_byte(FLASH, 0x6404, 4), id="region-header"),
])
def test_a_modified_golden_flash_does_not_report_the_golden_status(changed):
    assert golden.status(changed) != STATUS


def test_a_changed_device_type_code_on_flash_changes_what_the_store_reports():
    # The region's body CRC still matches: a frame with its own CRC corrected leaves it unchanged (FORMAT.md).
    reported = golden.status(with_byte(FLASH, _COMPLETED_TYPE, DEVICE_TYPE_CODES[DeviceType.GSME], _COMPLETED_CRC))
    assert [c["device_type"] for c in reported["status"]["completed_transfers"]] == [
        "gsme", "gsme", "ppmid", "esme", "ppmid"
    ]
    assert reported["status"]["metadata"] == STATUS["status"]["metadata"]


def test_a_golden_flash_of_another_layout_version_is_refused():
    with pytest.raises(RuntimeError, match="store layout version 3 is not supported"):
        golden.status(with_byte(FLASH, 8, 3, (0, 32, 32)))
