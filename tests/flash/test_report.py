"""`hubfw flash format` and `hubfw flash report`: the numbers match the operations performed."""

import json
import math
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from hubfw.cli.main import main
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.persist import flash_path
from hubfw.flash.report import project
from hubfw.plots.common import PIXELS, png_size


def hubfw(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def state(tmp_path):
    """A state directory whose serial-nor flash went through a known sequence of operations."""
    directory = tmp_path / "state"
    result = hubfw("flash", "format", "--state", directory)
    assert result.exit_code == 0, result.output
    assert "serial-nor, 2097152 bytes in 512 sectors of 4096" in result.output
    with NorFlash.open(flash_path(directory), strict=False) as flash:
        flash.program_range(0, bytes(1000))  # 4 pages: 256 + 256 + 256 + 232 bytes
        flash.program(0, b"\xff")  # a double write, counted in lax mode
        for _ in range(3):
            flash.erase_sector(0)
        flash.erase_sector(5)
        flash.erase_block(1)  # sectors 16..31
        flash.read(0, 100)
        flash.read(4096, 28)
        flash.schedule_cut(flash.operations, CutMode.AFTER)
        with pytest.raises(PowerCut):
            flash.erase_sector(0)
    return directory


def test_report_json_matches_the_operations(state):
    result = hubfw("flash", "report", "--state", state, "--json", "--updates", 2, "--rate", 4)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    counts = report["erase_counts"]
    assert len(counts) == 512
    assert counts[0] == 4 and counts[5] == 1 and counts[16:32] == [1] * 16
    assert sum(counts) == 4 + 1 + 16
    assert (report["erase_min"], report["erase_max"]) == (0, 4)
    assert report["erase_mean"] == pytest.approx(21 / 512)
    mean = 21 / 512
    stddev = math.sqrt((16 + 17) / 512 - mean**2)  # E[x²] − mean², with 4² once and 1² seventeen times
    assert report["erase_stddev"] == pytest.approx(stddev)
    assert report["endurance_used_max_percent"] == pytest.approx(100 * 4 / 100_000)
    assert report["operations"] == 4 + 1 + 3 + 1 + 1 + 1
    assert report["calls"] == {
        "program": {"calls": 5, "bytes": 1001},
        "erase": {"calls": 5, "bytes": 5 * 4096},
        "block_erase": {"calls": 1, "bytes": 65536},
        "read": {"calls": 2, "bytes": 128},
    }
    assert (report["double_writes"], report["power_cuts"], report["bad_sectors"]) == (1, 1, [])
    assert report["busy_s"] == pytest.approx(5 * 0.0004 + 5 * 0.045 + 0.150)
    assert report["busy_max_s"] == pytest.approx(5 * 0.003 + 5 * 0.4 + 2.0)
    # Sector 0 wore 4 erases in 2 updates: 99 996 cycles left at 2 per update.
    assert report["projection"] == {
        "updates_so_far": 2,
        "updates_per_year": 4.0,
        "updates_until_first_bad_sector": pytest.approx(49_998),
        "years": pytest.approx(49_998 / 4),
    }


def test_report_text_and_wear_map(state, tmp_path):
    """--png and --svg draw the wear map (tests/plots/ checks what is on it); the text report is unchanged."""
    image, vector = tmp_path / "wear.png", tmp_path / "wear.svg"
    result = hubfw("flash", "report", "--file", flash_path(state), "--png", image, "--svg", vector)
    assert result.exit_code == 0, result.output
    assert "erase counts      min 0  mean 0.04  max 4" in result.output
    assert "pass --updates and --rate" in result.output
    assert png_size(image.read_bytes()) == PIXELS == (1600, 900)
    assert ElementTree.parse(vector).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_wear_map_to_an_unwritable_path_is_one_line(state, tmp_path):
    result = hubfw("flash", "report", "--state", state, "--png", tmp_path / "missing" / "wear.png")
    assert result.exit_code == 1
    assert result.output.startswith(f"hubfw: error: cannot write {tmp_path / 'missing' / 'wear.png'}: ")
    assert len(result.output.strip().splitlines()) == 1


def test_projection_without_wear_is_unlimited():
    assert math.isinf(project([0, 0], 100, updates_so_far=3, updates_per_year=2).years)


def test_report_of_a_missing_or_foreign_file_is_one_line(tmp_path):
    result = hubfw("flash", "report", "--state", tmp_path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"hubfw: error: flash file {tmp_path / 'flash.bin'} does not exist (create it with `hubfw flash format`)"
    ]
    (tmp_path / "flash.bin").write_bytes(b"not flash")
    result = hubfw("flash", "report", "--state", tmp_path)
    assert result.output == f"hubfw: error: {tmp_path / 'flash.bin'} is not a hubfw flash file\n"


def test_format_never_overwrites(state):
    before = flash_path(state).read_bytes()
    result = hubfw("flash", "format", "--state", state, "--profile", "mcu-internal")
    assert result.exit_code == 1 and "already exists" in result.output
    assert flash_path(state).read_bytes() == before


def test_format_mcu_profile(tmp_path):
    result = hubfw("flash", "format", "--file", tmp_path / "mcu.bin", "--profile", "mcu-internal")
    assert result.exit_code == 0, result.output
    with NorFlash.open(tmp_path / "mcu.bin", read_only=True) as flash:
        assert flash.profile.name == "mcu-internal" and flash.is_erased(0, flash.size)


def test_report_options_must_pair(state):
    assert hubfw("flash", "report", "--state", state, "--updates", 3).exit_code == 2
    assert hubfw("flash", "report", "--state", state, "--file", "x").exit_code == 2
