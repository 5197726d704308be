"""The flash file: a restart loses nothing, and a bad file is a one-line error, never a silent reset."""

import struct
import zlib

import pytest

from hubfw.flash import persist
from hubfw.flash.device import CutMode, FlashError, NorFlash, PowerCut
from hubfw.flash.persist import HEADER_AREA, FileLayout, FlashFileError


@pytest.fixture
def path(tmp_path):
    return tmp_path / "flash.bin"


def test_round_trip_keeps_contents_counters_and_word_writes(path, tiny_mcu):
    with NorFlash.create(path, tiny_mcu) as flash:
        flash.program(0, b"\x00\x11\x22\x33")
        flash.erase_sector(3)
        flash.erase_sector(3)
        flash.read(0, 4)
        flash.schedule_cut(flash.operations, CutMode.AFTER)
        with pytest.raises(PowerCut):
            flash.program(0, b"\x00\x01\x02\x03")
        stats = flash.stats.copy()
    with NorFlash.open(path) as again:
        assert again.profile == tiny_mcu
        assert again.powered  # opening a file is powering the part up
        assert again.operations == 4
        assert again.stats == stats and again.stats.power_cuts == 1 and again.stats.read_calls == 1
        assert again.read(0, 8) == b"\x00\x01\x02\x03" + b"\xff" * 4
        with pytest.raises(FlashError, match="more than 2 times"):
            again.program(0, b"\x00" * 4)


def test_counters_survive_a_kill_without_flush(path, tiny_nor):
    """Contents and counters go through the mmap on every operation: no close needed."""
    flash = NorFlash.create(path, tiny_nor)
    flash.program(5, b"\x00")
    flash.erase_sector(2)
    reader = NorFlash.open(path, read_only=True)
    assert reader.read(5, 1) == b"\x00" and reader.operations == 2 and reader.stats.erase_counts[2] == 1
    reader.close()
    flash.close()


def test_create_refuses_an_existing_file(path, tiny_nor):
    path.write_bytes(b"precious")
    with pytest.raises(FlashFileError, match="already exists"):
        NorFlash.create(path, tiny_nor)
    assert path.read_bytes() == b"precious"


def test_missing_file(path):
    with pytest.raises(FlashFileError, match="does not exist.*hubfw flash format"):
        NorFlash.open(path)


def test_foreign_file(path):
    path.write_bytes(b"\x7fELF" + bytes(5000))
    with pytest.raises(FlashFileError, match="is not a hubfw flash file"):
        NorFlash.open(path)


def corrupt(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_other_format_version(path, tiny_nor):
    NorFlash.create(path, tiny_nor).close()
    corrupt(path, 8, struct.pack("<H", 9))
    with pytest.raises(FlashFileError, match="format version 9; this hubfw reads 1"):
        NorFlash.open(path)


def test_corrupt_header(path, tiny_nor):
    NorFlash.create(path, tiny_nor).close()
    corrupt(path, 40, b"\x01")
    with pytest.raises(FlashFileError, match="header is corrupt"):
        NorFlash.open(path)


def test_truncated_file(path, tiny_nor):
    NorFlash.create(path, tiny_nor).close()
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FlashFileError, match=r"needs \d+ \(truncated\?\)"):
        NorFlash.open(path)


def test_one_torn_counter_slot_falls_back_to_the_other(path, tiny_nor):
    """A kill while writing the counters tears one slot; the other one then holds the state before."""
    with NorFlash.create(path, tiny_nor) as flash:
        flash.erase_sector(0)
        flash.erase_sector(0)
        pristine = path.read_bytes()  # as a kill right now would leave it
    slot_size = FileLayout.of(tiny_nor).slot_size
    recovered = []
    for slot in range(2):
        path.write_bytes(pristine)
        corrupt(path, HEADER_AREA + slot * slot_size + 20, b"\xee\xee")
        with NorFlash.open(path) as flash:
            assert flash.stats.erase_counts[0] == flash.operations
            recovered.append(flash.operations)
    assert sorted(recovered) == [1, 2]


def test_both_counter_slots_corrupt(path, tiny_nor):
    NorFlash.create(path, tiny_nor).close()
    corrupt(path, HEADER_AREA, b"\xee" * 2 * FileLayout.of(tiny_nor).slot_size)
    with pytest.raises(FlashFileError, match="counters are corrupt"):
        NorFlash.open(path)


def test_second_writer_is_refused_but_a_reader_is_not(path, tiny_nor):
    with NorFlash.create(path, tiny_nor):
        with pytest.raises(FlashFileError, match="in use by another process"):
            NorFlash.open(path)
        with NorFlash.open(path, read_only=True) as reader:
            assert reader.is_erased(0, 64)
            with pytest.raises(FlashError, match="read-only"):
                reader.program(0, b"\x00")


def test_restore_writes_through_to_the_file(path, tiny_nor):
    with NorFlash.create(path, tiny_nor) as flash:
        snap = flash.snapshot()
        flash.program(0, b"\x00")
        flash.restore(snap)
    with NorFlash.open(path) as flash:
        assert flash.is_erased(0, 1) and flash.operations == 0


def test_closed_device_refuses_work(path, tiny_nor):
    flash = NorFlash.create(path, tiny_nor)
    flash.close()
    with pytest.raises(FlashError, match="closed"):
        flash.read(0, 1)


def test_open_checks_the_expected_profile(path, tiny_nor, tiny_mcu):
    NorFlash.create(path, tiny_nor).close()
    with pytest.raises(FlashFileError, match="holds a tiny-nor flash, not tiny-mcu"):
        NorFlash.open(path, profile=tiny_mcu)
    with NorFlash.open(path, profile=tiny_nor) as flash:  # and the file was released after the refusal
        assert flash.profile == tiny_nor


def test_fork_of_a_file_device_stays_in_memory(path, tiny_nor):
    with NorFlash.create(path, tiny_nor) as flash:
        flash.program(0, b"\x00")
        twin = flash.fork()
        twin.erase_sector(0)
        assert twin.is_erased(0, 1) and twin.operations == 2
    with NorFlash.open(path) as flash:
        assert flash.read(0, 1) == b"\x00" and flash.operations == 1


def test_header_with_an_impossible_geometry(path, tiny_nor):
    """A header whose CRC holds but whose geometry cannot be (a foreign writer) is refused, not guessed at."""
    NorFlash.create(path, tiny_nor).close()
    raw = bytearray(path.read_bytes())
    raw[44:48] = struct.pack("<I", 3)  # sector_size, right after magic, version, reserved, name, size
    header_size = persist._HEADER.size
    raw[header_size : header_size + 4] = struct.pack("<I", zlib.crc32(raw[:header_size]))
    path.write_bytes(bytes(raw))
    with pytest.raises(FlashFileError, match="impossible geometry"):
        NorFlash.open(path)
