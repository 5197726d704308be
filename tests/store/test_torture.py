"""Power cuts at every operation: the store loses nothing; a deliberately unsafe store is caught."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from hubfw.alerts import TransferAlert
from hubfw.clock import VirtualClock
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.profiles import PROFILES
from hubfw.store.cli import torture
from hubfw.store.model import StoreModel
from hubfw.store.records import AlertCounterRecord, AlertRecord, CommitRecord, OwedAlertRecord
from hubfw.store.state import Block
from hubfw.store.store import ImageStore
from hubfw.store.torture import START, Cycle, Step, Tally, TortureConfig, run_torture, standard_cycle
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR

FULL_SIZE = 768_000


def assert_clean(tally: Tally) -> None:
    assert tally.failures == 0, tally.examples
    assert tally.cut_points > 0


def test_every_cut_of_a_full_size_cycle_in_every_mode_loses_nothing():
    config = TortureConfig(PROFILES["serial-nor"], FULL_SIZE)
    tally, _ = run_torture(config, workers=2)
    assert_clean(tally)
    assert tally.operations > 9000  # three 750 KB images programmed, two blocks erased
    assert tally.cut_points == tally.operations * len(CutMode)


def test_second_cut_during_recovery_exhaustively_on_a_small_image():
    config = TortureConfig(SMALL_NOR, SMALL_IMAGE, depth=2)
    tally, _ = run_torture(config, workers=2)
    assert_clean(tally)
    assert tally.cut_points > 3 * tally.operations  # recoveries that write were cut again


def test_second_cuts_at_random_points_of_the_full_size_cycle():
    rng = random.Random(20260101)
    operations = run_torture(TortureConfig(PROFILES["serial-nor"], FULL_SIZE, modes=()), workers=1)[0].operations
    chosen = frozenset(rng.sample(range(operations), 12))
    config = TortureConfig(PROFILES["serial-nor"], FULL_SIZE, depth=2, seed=7, only_ops=chosen)
    tally, _ = run_torture(config, workers=2)
    assert_clean(tally)
    assert tally.cut_points > len(chosen) * 3


def test_mcu_word_write_profile_survives_every_cut():
    tally, _ = run_torture(TortureConfig(PROFILES["mcu-internal"], 40_000), workers=2)
    assert_clean(tally)


class CommitBeforeData(ImageStore):
    """UNSAFE on purpose: the image becomes visible before its data is written (no commit ordering)."""

    def _write_image(self, block: Block, data: bytes) -> None:
        self._commit(CommitRecord(self._model.images[block].image.image_id))
        self._flash.program_range(self._layout.block_address(block), data)


class EraseBeforeTombstone(ImageStore):
    """UNSAFE on purpose: a replaced image is erased before the record that discards it."""

    def _terminate(self, entries) -> None:
        for block in {image.image.block for image, _, _ in entries if len(entries) > 1}:
            for sector in self._layout.block_sector_range(block):
                self._flash.erase_sector(sector)
        super()._terminate(entries)


class _ForgetfulModel(StoreModel):
    def snapshot_records(self):
        return [r for r in super().snapshot_records() if not isinstance(r, AlertCounterRecord)]


class _RenumberingModel(StoreModel):
    def snapshot_records(self):
        return [AlertRecord(r.alert) if isinstance(r, OwedAlertRecord) else r for r in super().snapshot_records()]


class ForgetsTheNextCounter(ImageStore):
    """UNSAFE on purpose: snapshots leave out ALERT COUNTER, so an emptied journal restarts at counter 1."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._model.__class__ = _ForgetfulModel


class RenumbersOnCompaction(ImageStore):
    """UNSAFE on purpose: snapshots keep owed alerts without their counters (the old ALERT record)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._model.__class__ = _RenumberingModel


@pytest.mark.parametrize("unsafe", [ForgetsTheNextCounter, RenumbersOnCompaction])
def test_the_sweep_catches_a_store_that_loses_or_reassigns_counters(unsafe):
    # Recovery compacts after a torn record; a second cut after that compaction re-reads what it wrote.
    tally, _ = run_torture(TortureConfig(SMALL_NOR, SMALL_IMAGE, depth=2, store_class=unsafe), workers=2)
    assert tally.counter_violations > 0, tally
    assert any(example.startswith("counter_violations") for example in tally.examples)


@pytest.mark.parametrize("unsafe", [CommitBeforeData, EraseBeforeTombstone])
def test_the_sweep_catches_a_deliberately_unsafe_store(unsafe):
    tally, _ = run_torture(TortureConfig(SMALL_NOR, SMALL_IMAGE, store_class=unsafe), workers=1)
    assert tally.lost_images > 0, tally
    assert tally.examples


def test_torture_cli_json(tmp_path):
    result = CliRunner().invoke(torture, ["--image-size", "30000", "--json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("operations", "cut_points", "modes", "lost_images", "torn_served", "lost_alerts",
                "duplicate_terminal_alerts", "seconds"):
        assert key in report
    assert report["modes"] == ["before", "during", "after"]
    assert report["cut_points"] == 3 * report["operations"] > 0
    assert report["lost_images"] == report["torn_served"] == report["lost_alerts"] == 0
    assert report["duplicate_terminal_alerts"] == report["counter_violations"] == 0



def run_with_random_cuts(
    rng: random.Random, cycle: Cycle, cut_probability: float
) -> tuple[list[tuple], list[bytes], int]:
    """Run the cycle on a full-size flash, cutting power at random moments (recoveries included) and
    retrying each interrupted call after a reboot; returns every alert ever owed, what was served and
    how many cuts there were."""
    flash = NorFlash(PROFILES["serial-nor"], seed=rng.randrange(1 << 30))
    clock = VirtualClock(START)
    owed: dict[int, TransferAlert] = {}
    served: list[bytes] = []
    store: ImageStore | None = None
    cuts = 0
    for step in (Step("format", START, lambda s: None), *cycle.steps):
        clock.set(step.at)
        while True:
            target, mode = flash.operations + rng.randrange(1000), rng.choice(list(CutMode))

            def cut_there(index: int, kind: str, address: int, length: int) -> None:
                if index == target:
                    flash.schedule_cut(index, mode)
            flash.on_operation = cut_there if rng.random() < cut_probability else None
            try:
                if store is None:
                    store = ImageStore.open(flash, clock, max_image_size=FULL_SIZE)
                step.action(store)
                break
            except PowerCut:
                cuts += 1
                flash.reboot()
                store = None
            finally:
                flash.on_operation = None
        owed.update((alert.alert_id, alert) for alert in store.pending_alerts())
        for block in store.status().blocks:
            if block.image is not None:
                served.append(store.read(block.image.image.image_id, 0, FULL_SIZE))
    return sorted((str(a.entity), a.firmware_version, a.code, a.transfer_response, a.time, a.counter, a.message)
                  for a in owed.values()), served, cuts


def test_random_multi_cut_runs_on_the_full_size_end_where_an_uninterrupted_run_ends():
    cycle = standard_cycle(FULL_SIZE)
    expected, _, _ = run_with_random_cuts(random.Random(0), cycle, cut_probability=0)
    # ESME: mismatch + success; PPMID: 2 discarded; 2 activations (one with the PPMID's message); GSME: discarded
    assert len(expected) == 7
    assert sorted(alert[5] for alert in expected) == list(range(1, 8))  # originator counters 1..7, none reused
    total_cuts = 0
    for seed in range(1, 5):
        alerts, served, cuts = run_with_random_cuts(random.Random(seed), cycle, cut_probability=0.7)
        assert alerts == expected
        assert served and all(data in cycle.files.values() for data in served)
        total_cuts += cuts
    assert total_cuts >= 8
