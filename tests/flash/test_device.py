"""NorFlash semantics: NOR erase/program rules, wear, power cuts, snapshots and busy time."""

import dataclasses

import pytest

from hubfw.flash.device import (
    CutMode,
    EraseFailed,
    FlashError,
    NorFlash,
    PowerCut,
    PoweredOff,
    ProgramFailed,
    WearOutMode,
)
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES, UnknownProfile, get_profile


def worn(profile, sector, **options) -> NorFlash:
    """A device whose ``sector`` has used up its endurance: the next erase takes it past."""
    flash = NorFlash(profile, **options)
    for _ in range(profile.endurance):
        flash.erase_sector(sector)
    return flash


# ----- profiles


def test_profiles_hold_two_750k_image_blocks_and_metadata():
    for profile in PROFILES.values():
        block_sectors = -(-768_000 // profile.sector_size)
        assert 2 * block_sectors < profile.sector_count
    nor = PROFILES[DEFAULT_PROFILE]
    assert (nor.sector_size, nor.page_size, nor.block_size, nor.endurance) == (4096, 256, 65536, 100_000)
    assert nor.page_program_s == (0.0004, 0.003) and nor.sector_erase_s == (0.045, 0.4)
    mcu = PROFILES["mcu-internal"]
    assert (mcu.sector_size, mcu.endurance, mcu.program_unit, mcu.max_writes_per_unit) == (8192, 10_000, 4, 2)
    assert mcu.size % 8192 == 0


def test_profile_rejects_impossible_geometry():
    nor = PROFILES["serial-nor"]
    with pytest.raises(ValueError, match="multiple of page_size"):
        dataclasses.replace(nor, page_size=300)
    with pytest.raises(ValueError, match="block_size and block_erase_s go together"):
        dataclasses.replace(nor, block_size=None)


def test_unknown_profile_is_one_line_error():
    with pytest.raises(UnknownProfile, match="unknown flash profile 'nand'.*serial-nor"):
        get_profile("nand")


# ----- NOR semantics


def test_fresh_device_is_erased(tiny_nor):
    flash = NorFlash(tiny_nor)
    assert flash.read(0, tiny_nor.size) == b"\xff" * tiny_nor.size
    assert flash.is_erased(0, tiny_nor.size)


def test_program_is_bitwise_and_and_erase_restores_ff(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program(256, b"\xf0\x0f\xaa")
    flash.program(256, b"\x30\x0f\x2a")  # only clears bits: allowed in strict mode
    assert flash.read(256, 4) == b"\x30\x0f\x2a\xff"
    flash.program(0, b"\x00")
    flash.erase_sector(1)
    assert flash.read(256, 256) == b"\xff" * 256
    assert flash.read(0, 1) == b"\x00"  # the neighbouring sector is untouched
    assert flash.stats.erase_counts[:3] == [0, 1, 0]
    assert flash.operations == 4


def test_strict_double_write_is_an_error_that_changes_nothing_but_is_counted(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program(10, b"\xf0")
    with pytest.raises(FlashError, match="0 bits back into 1"):
        flash.program(10, b"\x0f")
    assert flash.read(10, 1) == b"\xf0"
    assert flash.operations == 1
    assert flash.stats.double_writes == 1


def test_lax_double_write_lands_as_and_and_is_counted(tiny_nor):
    flash = NorFlash(tiny_nor, strict=False)
    flash.program(10, b"\xf0")
    flash.program(10, b"\x3f")
    assert flash.read(10, 1) == b"\x30"
    assert flash.stats.double_writes == 1
    assert flash.operations == 2


def test_program_may_not_cross_a_page(tiny_nor):
    flash = NorFlash(tiny_nor)
    with pytest.raises(FlashError, match="crosses a 32-byte page boundary"):
        flash.program(30, b"\x00" * 4)
    assert flash.is_erased(0, 64) and flash.operations == 0


def test_program_range_is_one_operation_per_page(tiny_nor):
    flash = NorFlash(tiny_nor)
    seen = []
    flash.on_operation = lambda index, kind, address, length: seen.append((index, kind, address, length))
    flash.program_range(30, bytes(range(70)))
    assert seen == [(0, "program", 30, 2), (1, "program", 32, 32), (2, "program", 64, 32), (3, "program", 96, 4)]
    assert flash.read(30, 70) == bytes(range(70))
    assert flash.stats.program_calls == 4 and flash.stats.program_bytes == 70


@pytest.mark.parametrize(
    "action",
    [
        lambda f: f.read(4090, 7),
        lambda f: f.read(-1, 1),
        lambda f: f.program(4096, b"\x00"),
        lambda f: f.program_range(4000, bytes(97)),
        lambda f: f.erase_sector(16),
        lambda f: f.erase_sector(-1),
        lambda f: f.erase_block(4),
        lambda f: f.is_erased(0, 4097),
        lambda f: f.program(0, b""),
    ],
)
def test_out_of_range_is_a_flash_error_and_no_operation(tiny_nor, action):
    flash = NorFlash(tiny_nor)
    with pytest.raises(FlashError):
        action(flash)
    assert flash.operations == 0 and flash.is_erased(0, tiny_nor.size)


def test_block_erase_wears_every_sector_it_covers():
    flash = NorFlash(PROFILES["serial-nor"])
    flash.program_range(65536, b"\x00" * 8192)
    flash.erase_block(1)
    assert flash.is_erased(65536, 65536)
    counts = flash.stats.erase_counts
    assert counts[16:32] == [1] * 16 and sum(counts) == 16
    assert flash.stats.block_erase_calls == 1 and flash.stats.erase_calls == 0


def test_profile_without_blocks_refuses_block_erase(tiny_mcu):
    with pytest.raises(FlashError, match="no block erase"):
        NorFlash(tiny_mcu).erase_block(0)


def test_busy_time_is_the_sum_of_the_profile_timings(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program_range(0, bytes(100))  # 4 pages
    flash.erase_sector(0)
    flash.erase_sector(1)
    flash.erase_block(1)
    flash.read(0, 10)
    assert flash.stats.busy_s == pytest.approx(4 * 0.001 + 2 * 0.01 + 0.05)
    assert flash.stats.busy_max_s == pytest.approx(4 * 0.004 + 2 * 0.08 + 0.3)


def test_busy_time_counts_torn_and_completed_operations_but_not_cut_before(tiny_nor):
    flash = NorFlash(tiny_nor)
    for at, mode in ((0, CutMode.BEFORE), (0, CutMode.DURING), (1, CutMode.AFTER)):
        flash.schedule_cut(at, mode)
        with pytest.raises(PowerCut):
            flash.erase_sector(0)
        flash.reboot()
    assert flash.operations == 2 and flash.stats.power_cuts == 3
    assert flash.stats.busy_s == pytest.approx(2 * 0.01)


# ----- MCU word writes


def test_mcu_programs_whole_aligned_words(tiny_mcu):
    flash = NorFlash(tiny_mcu)
    with pytest.raises(FlashError, match="aligned 4-byte words"):
        flash.program(2, b"\x00" * 4)
    with pytest.raises(FlashError, match="aligned 4-byte words"):
        flash.program(0, b"\x00" * 3)
    flash.program(4, b"\x00\x11\x22\x33")
    assert flash.read(0, 8) == b"\xff" * 4 + b"\x00\x11\x22\x33"


def test_mcu_limits_writes_per_word_until_erase(tiny_mcu):
    flash = NorFlash(tiny_mcu)
    flash.program(0, b"\xff\xff\xff\x7f")
    flash.program(0, b"\xff\xff\xff\x3f")
    with pytest.raises(FlashError, match="more than 2 times between erases"):
        flash.program(0, b"\xff\xff\xff\x1f")
    assert flash.read(0, 4) == b"\xff\xff\xff\x3f" and flash.stats.excess_writes == 1
    flash.program(4, b"\x00" * 4)  # the neighbouring word has its own count
    flash.erase_sector(0)
    flash.program(0, b"\x01\x02\x03\x04")
    flash.program(0, b"\x00\x02\x03\x04")
    assert flash.read(0, 4) == b"\x00\x02\x03\x04"


def test_mcu_lax_mode_counts_excess_writes_and_lets_them_land(tiny_mcu):
    flash = NorFlash(tiny_mcu, strict=False)
    for value in (0x7F, 0x3F, 0x1F):
        flash.program(0, bytes([value]) * 4)
    assert flash.read(0, 4) == b"\x1f" * 4
    assert flash.stats.excess_writes == 1 and flash.operations == 3


# ----- wear-out


def test_sector_goes_bad_only_past_endurance(tiny_nor):
    flash = worn(tiny_nor, 2)
    assert flash.stats.bad_sectors == []
    flash.program(512, b"\x00")  # endurance cycles are all still guaranteed
    flash.erase_sector(2)
    assert flash.stats.bad_sectors == [2]
    assert flash.stats.erase_counts[2] == tiny_nor.endurance + 1


def test_wear_out_program_error(tiny_nor):
    flash = worn(tiny_nor, 2, wear_out=WearOutMode.PROGRAM_ERROR)
    flash.erase_sector(2)  # the erase itself still works in this mode
    with pytest.raises(ProgramFailed, match="sector 2 is worn out"):
        flash.program(512, b"\x00\x00")
    assert flash.read(512, 2) == b"\xff\xff"
    assert flash.operations == tiny_nor.endurance + 2  # a failed attempt is still an operation
    flash.program(0, b"\x00")  # other sectors are fine


def test_wear_out_erase_error(tiny_nor):
    flash = worn(tiny_nor, 2, wear_out=WearOutMode.ERASE_ERROR)
    flash.program(512, b"\x12")
    with pytest.raises(EraseFailed, match="sector 2 failed"):
        flash.erase_sector(2)
    assert flash.read(512, 2) == b"\x12\xff"
    assert flash.stats.erase_counts[2] == tiny_nor.endurance + 1


def test_wear_out_error_in_one_sector_of_a_block_erase(tiny_nor):
    flash = worn(tiny_nor, 5, wear_out=WearOutMode.ERASE_ERROR)
    flash.program(4 * 256, b"\x00")
    flash.program(5 * 256, b"\x00")
    with pytest.raises(EraseFailed, match="sector 5"):
        flash.erase_block(1)  # sectors 4..7
    assert flash.read(4 * 256, 1) == b"\xff" and flash.read(5 * 256, 1) == b"\x00"


def test_wear_out_silent_noop(tiny_nor):
    flash = worn(tiny_nor, 2, wear_out=WearOutMode.SILENT_NOOP)
    flash.program(512, b"\x12")
    flash.erase_sector(2)  # past endurance: reports success, erases nothing
    assert flash.read(512, 1) == b"\x12"
    flash.program(513, b"\x00")
    assert flash.read(513, 1) == b"\xff"


def test_wear_out_bit_flips(tiny_nor):
    flash = worn(tiny_nor, 2, wear_out=WearOutMode.BIT_FLIPS)
    flash.erase_sector(2)
    erased = flash.read(512, 256)
    assert erased != b"\xff" * 256
    assert 1 <= sum(bin(byte ^ 0xFF).count("1") for byte in erased) <= 4
    flash.program(0, b"\x00" * 8)  # a healthy sector stays exact
    assert flash.read(0, 8) == bytes(8)
    flash.program(600, b"\x00" * 8)  # sector 2 again: the program lands with damage
    damaged = flash.read(600, 8)
    assert 1 <= sum(bin(byte).count("1") for byte in damaged) <= 4


# ----- power cuts


def test_cut_before_does_nothing_and_powers_off_until_reboot(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.schedule_cut(0, CutMode.BEFORE)
    with pytest.raises(PowerCut):
        flash.program(0, b"\x00")
    assert not flash.powered and flash.operations == 0 and flash.stats.power_cuts == 1
    for action in (lambda: flash.read(0, 1), lambda: flash.program(0, b"\x00"), lambda: flash.erase_sector(0)):
        with pytest.raises(PoweredOff):
            action()
    flash.reboot()
    assert flash.powered and flash.read(0, 1) == b"\xff"
    flash.program(0, b"\x00")  # the cut was used up
    assert flash.operations == 1


def test_cut_after_completes_the_operation(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program(0, b"\x00")
    flash.schedule_cut(1, CutMode.AFTER)
    with pytest.raises(PowerCut):
        flash.erase_sector(0)
    flash.reboot()
    assert flash.is_erased(0, 256) and flash.operations == 2 and flash.stats.erase_counts[0] == 1


def torn_program(tiny_nor, seed: int) -> bytes:
    flash = NorFlash(tiny_nor, seed=seed)
    flash.program(0, b"\x5a" * 32)
    flash.schedule_cut(1, CutMode.DURING)
    with pytest.raises(PowerCut):
        flash.program(32, bytes(32))
    assert flash.operations == 2
    flash.reboot()
    assert flash.read(0, 32) == b"\x5a" * 32
    return flash.read(32, 32)


def test_cut_during_program_lands_a_prefix_and_part_of_one_byte(tiny_nor):
    results = {torn_program(tiny_nor, seed) for seed in range(20)}
    for landed in results:
        done = len(landed) - len(landed.lstrip(b"\x00"))
        assert done < 32
        assert landed[done + 1 :] == b"\xff" * (31 - done)  # nothing after the partial byte
    assert len(results) > 1


def test_torn_writes_are_deterministic_per_seed(tiny_nor):
    assert torn_program(tiny_nor, 7) == torn_program(tiny_nor, 7)


def test_cut_during_erase_resets_some_bytes_and_still_wears(tiny_nor):
    outcomes = set()
    for seed in range(10):
        flash = NorFlash(tiny_nor, seed=seed)
        flash.program_range(256, bytes(256))
        flash.schedule_cut(flash.operations, CutMode.DURING)
        with pytest.raises(PowerCut):
            flash.erase_sector(1)
        flash.reboot()
        torn = flash.read(256, 256)
        assert set(torn) <= {0x00, 0xFF}
        assert flash.stats.erase_counts[1] == 1
        outcomes.add(torn.count(0xFF))
    assert len(outcomes) > 1 and outcomes != {256}


def test_schedule_cut_in_the_past_is_refused(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program(0, b"\x00")
    with pytest.raises(FlashError, match="already past"):
        flash.schedule_cut(0, CutMode.AFTER)


# ----- hook, fork, snapshots


def test_hook_can_fork_and_replay_the_operation_with_a_cut(tiny_nor):
    """A fork made in the hook + apply_cut gives what a scheduled cut gives on the original."""
    for mode in CutMode:
        branches = []
        flash = NorFlash(tiny_nor, seed=3)

        def branch(index, kind, address, length, flash=flash, branches=branches, mode=mode):
            twin = flash.fork()
            twin.apply_cut(flash.pending, mode)
            branches.append(twin)

        flash.on_operation = branch
        flash.program_range(0, bytes(range(64)))
        flash.erase_sector(0)
        assert len(branches) == 3
        for index, twin in enumerate(branches):
            reference = NorFlash(tiny_nor, seed=3)
            reference.schedule_cut(index, mode)
            with pytest.raises(PowerCut):
                reference.program_range(0, bytes(range(64)))
                reference.erase_sector(0)
            assert not twin.powered
            twin.reboot()
            reference.reboot()
            assert twin.read(0, 256) == reference.read(0, 256)
            assert twin.operations == reference.operations
            assert twin.stats == reference.stats


def test_fork_is_independent(tiny_nor):
    flash = NorFlash(tiny_nor)
    flash.program(0, b"\x0f")
    flash.on_operation = lambda *args: None
    flash.schedule_cut(5, CutMode.BEFORE)
    twin = flash.fork()
    assert twin.on_operation is None
    twin.program(1, b"\x00")
    twin.erase_sector(3)
    flash.program(2, b"\x01")
    assert flash.read(0, 3) == b"\x0f\xff\x01" and twin.read(0, 3) == b"\x0f\x00\xff"
    assert flash.stats.erase_counts[3] == 0 and twin.stats.erase_counts[3] == 1
    for _ in range(4):
        twin.program(100, b"\x00")  # passes operation 5 without the original's cut
    assert twin.operations == 7


def test_forks_from_recycled_buffers_start_from_the_original(tiny_mcu):
    flash = NorFlash(tiny_mcu)
    flash.program(0, b"\x00\x00\xff\xff")
    for _ in range(6):  # dropped forks hand their buffers back; later forks reuse them
        twin = flash.fork()
        assert twin.read(0, tiny_mcu.size) == flash.read(0, tiny_mcu.size)
        assert twin.snapshot().unit_writes == flash.snapshot().unit_writes
        twin.program(4, b"\x00" * 4)
        twin.program(0, b"\x00" * 4)
        twin.erase_sector(3)
        del twin


def test_snapshot_restore_round_trip(tiny_mcu):
    flash = NorFlash(tiny_mcu)
    flash.program(0, b"\x00\x00\x00\x00")
    snap = flash.snapshot()
    flash.program(0, b"\x00\x00\x00\x00")
    flash.erase_sector(1)
    flash.schedule_cut(flash.operations, CutMode.AFTER)
    with pytest.raises(PowerCut):
        flash.program(8, b"\x00" * 4)
    flash.restore(snap)
    assert flash.powered and flash.operations == 1
    assert flash.stats == snap.stats and flash.stats is not snap.stats
    assert flash.read(0, 12) == b"\x00" * 4 + b"\xff" * 8
    flash.program(0, b"\x00\x00\x00\x00")  # the word's write count came back too: one write left
    with pytest.raises(FlashError, match="more than 2 times"):
        flash.program(0, b"\x00\x00\x00\x00")


def test_restore_refuses_another_profile(tiny_nor, tiny_mcu):
    with pytest.raises(FlashError, match="cannot restore"):
        NorFlash(tiny_nor).restore(NorFlash(tiny_mcu).snapshot())
