"""Make the golden layout-2 files: what the store reports from the golden flash, and one frame per record type.

`build()` was run once with the layout-2 code of commit 34b260f567a53acb8a4a44363198960fccac0dd6 to write
layout2.bin: a flash of the previous release, frozen since (a user's old flash; its SHA-256 is pinned by
tests/store/test_format.py). Later code writes the layout-2 additions (ALERT COUNTER, OWED ALERT) in its
snapshots, so `build()` no longer reproduces it and `write` does not run it: `write` makes
layout2.status.json (what this code reports from layout2.bin) and records.json. Re-running it must
reproduce the same bytes (test_format.py does, into a temporary directory); a frame that no longer
does means the on-flash format changed: bump LAYOUT_VERSION and make new golden files instead.

    python tests/store/golden/make_golden.py [--out DIR]

Everything is deterministic: a virtual clock, unsigned OTA files with seeded payloads, and one power
cut whose torn bytes come from the emulated flash's seeded generator. The flash is a 64 KiB part
with 4-byte program units, so frames on it show their 0xFF padding; records.json holds unpadded
frames (program unit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import json
import random
import tempfile
from pathlib import Path
from typing import Any, get_args

import zigpy.types as t
from click.testing import CliRunner

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.cli.main import main
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import FlashProfile
from hubfw.ota.image import build_image
from hubfw.store.layout import Layout
from hubfw.store.metalog import MetadataLog
from hubfw.store.model import activation_alert_id, transfer_alert_id
from hubfw.store.policy import DAY, HOUR
from hubfw.store.records import (
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
    Record,
    TerminalRecord,
    encode,
)
from hubfw.store.state import Block, CompletedTransfer, StoredImage, TargetProgress
from hubfw.store.store import ImageStore

HERE = Path(__file__).resolve().parent
FLASH_FILE, STATUS_FILE, RECORDS_FILE = "layout2.bin", "layout2.status.json", "records.json"

PROFILE = FlashProfile(
    name="golden-nor", size=64 * 1024, sector_size=1024, page_size=64, block_size=None, endurance=100_000,
    program_unit=4, max_writes_per_unit=None, page_program_s=(0.0004, 0.003), sector_erase_s=(0.045, 0.4),
    block_erase_s=None,
)
MAX_IMAGE_SIZE = 4096
CHECKPOINT_BYTES = 1024  # so a 3 KB download writes a few PROGRESS records (the flash does not record it)
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, where VirtualClock starts
OPENED_AT = T0 + 15 * DAY + 2 * HOUR  # the clock the golden status was taken at

MANUFACTURER = 0x1234
UPGRADE_END_ABORT = 0x95


def eui(kind: int, n: int) -> t.EUI64:
    return t.EUI64.convert(f"00:0d:6f:00:00:00:{kind:02x}:{n:02x}")


E, G, P, H = (functools.partial(eui, kind) for kind in (0xE5, 0x65, 0x9D, 0xCA))  # ESME, GSME, PPMID, HCALCS


def ota_file(image_type: int, version: int, **hw: int) -> bytes:
    payload = random.Random(version).randbytes(3000)
    return build_image(
        manufacturer_code=MANUFACTURER, image_type=image_type, file_version=version, payload=payload, **hw
    ).to_bytes()


class Scenario:
    """A store on the golden part, driven at times given from T0 (the clock only moves forward)."""

    def __init__(self) -> None:
        self.flash = NorFlash(PROFILE)
        self.clock = VirtualClock(T0)
        self.store = self._open()

    def _open(self) -> ImageStore:
        return ImageStore.open(self.flash, self.clock, max_image_size=MAX_IMAGE_SIZE, checkpoint_bytes=CHECKPOINT_BYTES)

    def at(self, when: float) -> ImageStore:
        self.clock.set(T0 + when)
        return self.store

    def distribute(self, when: float, data: bytes, device_type: DeviceType, *devices: t.EUI64) -> int:
        return self.at(when).distribute(data, [(device, device_type) for device in devices]).image_id

    def blocks(self, when: float, device: t.EUI64, image_id: int, offsets: range, every: float) -> float:
        """The device is served a block at each offset, `every` seconds apart; returns the last time."""
        for offset in offsets:
            when += every
            self.at(when).note_progress(device, image_id, offset)
        return when

    def download(self, when: float, device: t.EUI64, image_id: int, end: int | None = 0, upto: int = 3100) -> None:
        """QueryNextImage, a block a minute up to `upto`, then UpgradeEnd with status `end` (None: none yet)."""
        self.at(when).note_query(device, image_id, 1)
        when = self.blocks(when, device, image_id, range(0, upto, 256), 60)
        if end is not None:
            self.at(when + 60).note_end(device, image_id, end)

    def ack(self, when: float, *alert_ids: int) -> None:
        self.at(when).acknowledge(alert_ids)

    def cut_next_write_and_reboot(self, when: float, device: t.EUI64, image_id: int, offset: int) -> None:
        """Power fails while a PROGRESS record is programmed; the reboot finds a torn record and compacts."""
        sequence = self.store.status().metadata_sequence
        self.flash.schedule_cut(self.flash.operations, CutMode.DURING)
        try:
            self.at(when).note_progress(device, image_id, offset)
        except PowerCut:
            self.flash.reboot()
            self.store = self._open()
        assert self.store.status().metadata_sequence == sequence + 1, "the torn record did not force a compaction"


def build() -> NorFlash:
    """The golden flash as the previous release made it (layout2.bin): every record type it had, and
    targets in every state, after compactions. Kept as the record of how layout2.bin was made."""
    s = Scenario()
    hcalcs = s.distribute(0, ota_file(3, 0x0300_0001), DeviceType.HCALCS, H(1), H(2))
    s.download(0, H(1), hcalcs)
    # A GSME image discards the HCALCS image (H2 never started); one success, one hardware mismatch.
    gsme = s.distribute(HOUR, ota_file(2, 0x0200_0001, min_hw_version=1, max_hw_version=3),
                        DeviceType.GSME, G(1), G(2))
    s.download(HOUR, G(1), gsme)
    s.at(HOUR + 30 * 60).note_query(G(2), gsme, 7)
    esme_old = s.distribute(2 * HOUR, ota_file(1, 0x0100_0001), DeviceType.ESME, E(1), E(2))
    s.download(2 * HOUR, E(1), esme_old)
    s.ack(3 * HOUR, transfer_alert_id(hcalcs, 0), transfer_alert_id(hcalcs, 1))

    ppmid = s.distribute(DAY, ota_file(4, 0x0400_0002, min_hw_version=1, max_hw_version=4),
                         DeviceType.PPMID, *(P(n) for n in range(1, 8)))
    s.download(DAY, P(3), ppmid, None, upto=1)  # starts, then stalls: 24 h later it has failed
    s.at(DAY + 30 * 60).note_query(P(4), ppmid, 9)  # hardware version outside 1..4
    s.download(DAY + HOUR, P(5), ppmid)
    s.download(DAY + 2 * HOUR, P(6), ppmid, UPGRADE_END_ABORT, upto=1500)
    s.at(DAY + 3 * HOUR).note_activation(P(5), 0x0400_0002)
    s.at(DAY + 4 * HOUR).note_activation(P(9), 0x0400_0001, source="tunnel")
    # P1 is served a block an hour for eleven and a half days: the metadata log fills and compacts.
    hours = 11 * 24 + 15
    when = s.blocks(DAY + 5 * HOUR, P(1), ppmid, range(0, hours * 8, 8), HOUR)
    s.cut_next_write_and_reboot(when + HOUR, P(1), ppmid, hours * 8)

    # A new ESME image replaces the old one (E2 never started), then every other appended record type.
    esme = s.distribute(13 * DAY, ota_file(1, 0x0100_0002), DeviceType.ESME, *(E(n) for n in range(1, 5)))
    s.download(13 * DAY, E(1), esme)
    s.download(13 * DAY + HOUR, E(4), esme, UPGRADE_END_ABORT, upto=700)
    s.download(13 * DAY + 2 * HOUR, P(7), ppmid)
    s.at(13 * DAY + 3 * HOUR).note_activation(P(7), 0x0400_0002)
    s.at(13 * DAY + 4 * HOUR).note_activation(P(9), 0x0400_0002, source="tunnel")
    # Acknowledged: G1's and G2's alerts, and P9's first (tunnel) activation alert.
    s.ack(13 * DAY + 5 * HOUR, transfer_alert_id(gsme, 0), transfer_alert_id(gsme, 1), activation_alert_id(2))
    s.at(13 * DAY + 6 * HOUR).note_query(E(2), esme, 1)
    for hour in range(1, 42):  # E2 and P1 downloading until day 15
        s.at(13 * DAY + (6 + hour) * HOUR).note_progress(E(2), esme, hour * 64)
        s.at(13 * DAY + (6 + hour) * HOUR + 60).note_progress(P(1), ppmid, (hours + hour) * 8)
    s.at(OPENED_AT - T0).tick()  # P2 never started: 14 days after the PPMID image arrived it is discarded
    _check_coverage(s.flash)
    return s.flash


def _check_coverage(flash: NorFlash) -> None:
    """The active region holds every record type, both IMAGE forms, and follows a compaction."""
    scan = MetadataLog.scan(flash, Layout.read_superblock(flash))
    kinds = {(type(record).__name__, getattr(record, "committed", None)) for record in scan.records}
    missing = {(cls.__name__, None) for cls in get_args(Record)[:9] if cls is not ImageRecord}
    missing |= {("ImageRecord", True), ("ImageRecord", False)}
    assert scan.clean and scan.sequence >= 3 and not missing - kinds, (scan.sequence, missing - kinds)


def status(contents: bytes) -> dict[str, Any]:
    """What the store reports from these flash contents: `hubfw store status --json`, then after an open."""
    flash = NorFlash(PROFILE, backing=bytearray(contents))
    with tempfile.TemporaryDirectory() as state:
        with NorFlash.create(flash_path(state), PROFILE) as copy:
            copy.restore(flash.snapshot())
        result = CliRunner().invoke(main, ["store", "status", "--state", state, "--json"])
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    store = ImageStore.open(flash, VirtualClock(OPENED_AT), max_image_size=MAX_IMAGE_SIZE)
    return {
        "opened_at": OPENED_AT,
        "store_status_cli": json.loads(result.output),
        "status": store.status().to_json(),
        "pending_alerts": [alert.to_json() for alert in store.pending_alerts()],
        "next_deadline": store.next_deadline(),
    }


# ----- one record of every type

_IMAGE = StoredImage(7, Block.GSME, DeviceType.PPMID, 0x1234, 0x0004, 0x0400_0002, 3080, 1, None,
                     bytes(range(32)), bytes(range(32, 64)), T0 + 0.5)
_DONE = TargetProgress(P(3), TransferResponse.SUCCESS, T0 + 900, T0 + 60, 2816, T0 + 600, offset=2816,
                       last_activity=T0 + 600)
DEVICE_MESSAGE = bytes(range(0xC0, 0x100)) + bytes(range(0x20))
"""A stand-in for a PPMID's signed GBCS message: the store keeps it as opaque bytes (96 here)."""
EXAMPLES: dict[str, Record] = {
    "image_committed": ImageRecord(_IMAGE, (TargetProgress(P(1)), _DONE), True),
    "image_intent": ImageRecord(dataclasses.replace(_IMAGE, image_id=8, block=Block.ESME, device_type=DeviceType.ESME,
                                                    min_hw_version=None), (TargetProgress(E(2)),), False),
    "commit": CommitRecord(7),
    "progress": ProgressRecord(7, 1, 1024, T0 + 3600),
    "terminal": TerminalRecord(T0 + 7200, ((7, 0, TransferResponse.IMAGE_DISCARDED),
                                           (7, 1, TransferResponse.HARDWARE_VERSION_MISMATCH))),
    "alert_transfer": AlertRecord(TransferAlert(transfer_alert_id(7, 1), AlertCode.TRANSFER_FAILURE, P(2),
                                                0x0400_0002, TransferResponse.FILE_TRANSFER_FAILURE, T0 + 86400)),
    "alert_activation_tunnel": AlertRecord(TransferAlert(activation_alert_id(3), AlertCode.ACTIVATION, P(9),
                                                         0x0400_0001, None, T0 + 60, "tunnel")),
    "ack": AckRecord((transfer_alert_id(7, 0), activation_alert_id(3))),
    "activation_hub": ActivationRecord(activation_alert_id(4), P(5), 0x0400_0002, T0 + 120, "hub"),
    "activation_tunnel": ActivationRecord(activation_alert_id(5), P(9), 0x0400_0002, T0 + 180, "tunnel"),
    "completed": CompletedRecord(CompletedTransfer(G(1), 2, DeviceType.HCALCS, 0x0300_0001, bytes(range(1, 33)),
                                                   T0 + 5400)),
    "counters": CountersRecord(8, 6),
    # Layout-2 additions (types 10-12): originator counters and a device's own GBCS message.
    "alert_counter": AlertCounterRecord(17),
    "owed_alert_transfer": OwedAlertRecord(TransferAlert(
        transfer_alert_id(7, 1), AlertCode.TRANSFER_FAILURE, P(2), 0x0400_0002, TransferResponse.FILE_TRANSFER_FAILURE,
        T0 + 86400, counter=9)),
    "owed_alert_activation_hub": OwedAlertRecord(TransferAlert(
        activation_alert_id(4), AlertCode.ACTIVATION, P(5), 0x0400_0002, None, T0 + 120, "hub", counter=10)),
    "owed_alert_device_message": OwedAlertRecord(TransferAlert(
        activation_alert_id(5), AlertCode.ACTIVATION, P(9), 0x0400_0002, None, T0 + 180, "tunnel",
        ActivationOutcome.FAILURE, counter=16, message=DEVICE_MESSAGE)),
    "device_activation": DeviceActivationRecord(activation_alert_id(6), P(9), 0x0400_0003, T0 + 240, "tunnel",
                                                ActivationOutcome.SUCCESS, DEVICE_MESSAGE),
}


def fields(value: Any) -> Any:
    """A record's field values as JSON: enums by name, bytes as hex, EUI-64s as text."""
    if dataclasses.is_dataclass(value):
        return {f.name: fields(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, t.EUI64):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [fields(item) for item in value]
    return value


def records() -> dict[str, Any]:
    return {
        name: {"type": record.TYPE, "record": type(record).__name__, "fields": fields(record),
               "frame": encode(record).hex()}
        for name, record in EXAMPLES.items()
    }


def write(out: Path) -> None:
    contents = (HERE / FLASH_FILE).read_bytes()  # frozen: see the module docstring
    for name, content in ((STATUS_FILE, status(contents)), (RECORDS_FILE, records())):
        (out / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write the golden files to")
    write(parser.parse_args().out)
