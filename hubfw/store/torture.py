"""Power-cut torture: prove on a flash profile that the store loses nothing, whenever power goes.

A dry run drives a full store cycle — two images in, progress checkpoints, a hardware mismatch, a
success, an acknowledgement, a GSME image replacing an in-progress PPMID image, an activation alert,
a PPMID's own activation alert carrying its GBCS message, and a 14-day discard — on an emulated flash. Before every program/erase of it, the flash's
`on_operation` hook forks the device and replays that operation on the fork with power cut BEFORE,
DURING (torn) and AFTER it; the fork is rebooted and the store re-opened (recovery) with the clock
where the interrupted call had it. Then:

* the recovered durable state must be the state just before the cut operation or just after it
  (each store call moves through states that are each one record);
* every image it serves must read back byte-identical to the file that was distributed;
* retrying the interrupted call (as a caller that got PowerCut would) must end in exactly the state
  the uninterrupted run reached — no owed alert lost, no terminal alert minted twice;
* originator counters: every alert id keeps the counter (and device message) it was first seen with,
  in the dry run or in any recovered state; no counter goes to two alert ids; an alert's counters
  increase in the order alerts became owed; and a recovered store's next counter is above every counter
  the store had handed out before the cut (so a cut during a compaction cannot lower it).

With `depth=2` every operation of each recovery is cut again (a second cut during recovery).
Cut points are shared round-robin between worker processes, each repeating the (cheap) dry run.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import zigpy.types as t

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash
from hubfw.flash.profiles import FlashProfile
from hubfw.ota.image import build_image
from hubfw.store.model import StoreModel
from hubfw.store.store import ImageStore

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0
MAX_EXAMPLES = 5
CHUNK = 64  # workers take runs of consecutive operations, so a BEFORE cut can reuse the AFTER cut before it

Summary = tuple


def _eui(last: int) -> t.EUI64:
    return t.EUI64.convert(f"00:0d:6f:00:00:00:00:{last:02x}")


ESME_1, ESME_2, PPMID_1, PPMID_2, GSME_1 = (_eui(n) for n in (0x11, 0x12, 0x21, 0x22, 0x31))


@dataclass(frozen=True)
class Step:
    """One store call at a fixed clock time; `retry` if a caller would simply repeat it after a cut."""

    name: str
    at: float
    action: Callable[[ImageStore], object]
    retry: bool = True


@dataclass(frozen=True)
class Cycle:
    steps: tuple[Step, ...]
    files: dict[bytes, bytes]  # SHA-256 of each distributed file -> the file


def standard_cycle(image_size: int, seed: int = 0) -> Cycle:
    """The full store cycle the torture cuts through (see the module docstring)."""
    rng = random.Random(seed)

    def ota_file(image_type: int, version: int, **hw: int) -> bytes:
        empty = build_image(manufacturer_code=0x1234, image_type=image_type, file_version=version, payload=b"", **hw)
        payload = rng.randbytes(image_size - empty.header.total_size)
        return build_image(
            manufacturer_code=0x1234, image_type=image_type, file_version=version, payload=payload, **hw
        ).to_bytes()

    esme = ota_file(0x0101, 0x0000_0200, min_hw_version=1, max_hw_version=3)
    ppmid = ota_file(0x0301, 0x0000_0300)
    gsme = ota_file(0x0201, 0x0000_0400)
    ids: dict[str, int] = {}
    # The PPMID's own signed 0x8F8B (opaque to the store): longer than a page, so it takes several programs.
    device_message = bytes(rng.randbytes(300))

    def distribute(name: str, data: bytes, targets: list[tuple[t.EUI64, DeviceType]]) -> Callable[[ImageStore], None]:
        def act(store: ImageStore) -> None:
            # A careful sender: after a cut it resends only if the image did not make it in.
            sha = hashlib.sha256(data).digest()
            present = [b.image.image for b in store.status().blocks if b.image and b.image.image.file_sha256 == sha]
            ids[name] = present[0].image_id if present else store.distribute(data, targets).image_id
        return act

    def ack_all(store: ImageStore) -> None:
        store.acknowledge([alert.alert_id for alert in store.pending_alerts()])

    later = START + 2000 + 15 * DAY
    steps = (
        Step("distribute ESME image", START, distribute("esme", esme, [(ESME_1, DeviceType.ESME),
                                                                        (ESME_2, DeviceType.ESME)]), retry=False),
        Step("distribute PPMID image", START + 60, distribute("ppmid", ppmid, [(PPMID_1, DeviceType.PPMID),
                                                                               (PPMID_2, DeviceType.PPMID)]),
             retry=False),
        Step("ESME download starts", START + 120, lambda s: s.note_progress(ESME_1, ids["esme"], 0)),
        Step("PPMID download starts", START + 180, lambda s: s.note_progress(PPMID_1, ids["ppmid"], 0)),
        Step("ESME hardware mismatch", START + 240, lambda s: s.note_query(ESME_2, ids["esme"], 7)),
        Step("ESME checkpoint", START + 900, lambda s: s.note_progress(ESME_1, ids["esme"], image_size // 2)),
        Step("PPMID checkpoint", START + 1000, lambda s: s.note_progress(PPMID_1, ids["ppmid"], image_size // 3)),
        Step("ESME success", START + 1500, lambda s: s.note_end(ESME_1, ids["esme"], 0)),
        Step("acknowledge", START + 1600, ack_all),
        Step("GSME replaces PPMID", START + 2000, distribute("gsme", gsme, [(GSME_1, DeviceType.GSME)]), retry=False),
        Step("PPMID activation alert", START + 2100, lambda s: s.note_activation(PPMID_1, 0x0000_0300)),
        Step("PPMID's own activation alert", START + 2200, lambda s: s.note_activation(
            PPMID_2, 0x0000_0301, source="tunnel", outcome=ActivationOutcome.FAILURE, message=device_message)),
        Step("14 days without a start", later, lambda s: s.tick()),
        Step("acknowledge all", later + 1, ack_all),
    )
    return Cycle(steps, {hashlib.sha256(data).digest(): data for data in (esme, ppmid, gsme)})


@dataclass
class Tally:
    """What the sweep found; every count but the first two must be zero."""

    operations: int = 0
    cut_points: int = 0
    lost_images: int = 0
    torn_served: int = 0
    lost_alerts: int = 0
    duplicate_terminal_alerts: int = 0
    inconsistent_states: int = 0
    recovery_failures: int = 0
    counter_violations: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for f in fields(self):
            if f.name == "examples":
                self.examples = (self.examples + other.examples)[:MAX_EXAMPLES]
            elif f.name != "operations":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.operations = max(self.operations, other.operations)

    def note(self, counter: str, where: str) -> None:
        setattr(self, counter, getattr(self, counter) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{counter}: {where}")

    @property
    def failures(self) -> int:
        return (self.lost_images + self.torn_served + self.lost_alerts + self.duplicate_terminal_alerts
                + self.inconsistent_states + self.recovery_failures + self.counter_violations)


@dataclass(frozen=True)
class TortureConfig:
    profile: FlashProfile
    image_size: int
    modes: tuple[CutMode, ...] = tuple(CutMode)
    depth: int = 1  # 2: also cut every operation of every recovery
    seed: int = 0
    store_class: type[ImageStore] = ImageStore  # a deliberately unsafe subclass proves the sweep sees losses
    only_ops: frozenset[int] | None = None  # cut only these operation indexes (random multi-cut runs)

    def open_store(self, flash: NorFlash, clock: VirtualClock) -> ImageStore:
        return self.store_class.open(flash, clock, max_image_size=self.image_size)


@dataclass(frozen=True)
class _Outcome:
    """What one recovery showed: its durable state (None if it failed), the state after retrying
    the interrupted call, and findings (torn images served, failures) as (counter, message)."""

    recovered: Summary | None
    retried: Summary | None
    problems: tuple[tuple[str, str], ...] = ()


class _Sweep:
    """One worker's pass: the dry run with a hook that cuts at this worker's share of the operations."""

    def __init__(self, config: TortureConfig, worker: int, workers: int) -> None:
        self.config = config
        self.worker, self.workers = worker, workers
        self.cycle = standard_cycle(config.image_size, config.seed)
        self.tally = Tally()
        self.flash = NorFlash(config.profile, seed=config.seed)
        self.clock = VirtualClock(START)
        self.store: ImageStore | None = None
        self.step: Step | None = None
        self._awaiting_after: list[tuple[Summary, Summary, str]] = []  # (before, recovered, where)
        self._awaiting_step_end: list[tuple[Summary, str]] = []  # (retried, where)
        self._last_after: tuple[int, Step, _Outcome] | None = None
        self._ever_owed: dict[int, TransferAlert] = {}  # every alert the dry run has owed, acknowledged or not
        # Originator counters: alert id -> (counter, device message) as first seen in any state, dry run or
        # recovered; counter -> alert id; the highest counter the dry run has handed out so far.
        self._counters: dict[int, tuple[int | None, bytes | None]] = {}
        self._counter_ids: dict[int, int] = {}
        self._handed_out = 0

    def run(self) -> Tally:
        self.flash.on_operation = self._on_operation
        self.step = Step("format", START, lambda s: None, retry=False)
        self.store = self.config.open_store(self.flash, self.clock)
        self._finish_step()
        for step in self.cycle.steps:
            self.step = step
            self.clock.set(step.at)
            step.action(self.store)
            self._finish_step()
        self.tally.operations = self.flash.operations
        return self.tally

    def _summary(self) -> Summary:
        return StoreModel().durable_summary() if self.store is None else self.store.durable_summary()

    def _finish_step(self) -> None:
        end = self._summary()
        self._check_counters(end, f"{self.step.name if self.step else '?'}, dry run", dry_run=True)
        self._ever_owed.update(end[1])
        self._resolve_after(end)
        for retried, where in self._awaiting_step_end:
            self._classify(retried, [end], where)
        self._awaiting_step_end.clear()

    def _resolve_after(self, after: Summary) -> None:
        for before, recovered, where in self._awaiting_after:
            self._classify(recovered, [before, after], where)
        self._awaiting_after.clear()

    def _on_operation(self, index: int, kind: str, address: int, length: int) -> None:
        current = self._summary()
        self._check_counters(current, f"{self.step.name if self.step else '?'}, dry run op {index}", dry_run=True)
        if self._awaiting_after:
            self._resolve_after(current)
        if (index // CHUNK) % self.workers != self.worker:
            return
        if self.config.only_ops is not None and index not in self.config.only_ops:
            return
        pending = self.flash.pending
        assert pending is not None and self.step is not None
        for mode in self.config.modes:
            where = f"{self.step.name}, op {index} ({kind}) cut {mode.value}"
            previous = self._last_after
            if mode is CutMode.BEFORE and previous is not None and previous[:2] == (index - 1, self.step):
                # Cut before this operation = cut after the previous one: the very same device state,
                # already recovered; check it against this cut point's allowed states.
                self._record(previous[2], current, where)
                continue
            fork = self.flash.fork()
            fork.apply_cut(pending, mode)
            fork.reboot()
            outcome = self._recover(fork, current, where, self.config.depth)
            self._record(outcome, current, where)
            if mode is CutMode.AFTER and self.config.depth == 1:
                self._last_after = (index, self.step, outcome)

    def _record(self, outcome: _Outcome, before: Summary, where: str) -> None:
        self.tally.cut_points += 1
        for counter, problem in outcome.problems:
            self.tally.note(counter, f"{where}: {problem}")
        for state, label in ((outcome.recovered, where), (outcome.retried, f"{where}, after retry")):
            if state is not None:
                self._check_counters(state, label, dry_run=False)
        if outcome.recovered is not None:
            self._awaiting_after.append((before, outcome.recovered, where))
        if outcome.retried is not None:
            self._awaiting_step_end.append((outcome.retried, f"{where}, after retry"))

    def _recover(self, flash: NorFlash, before: Summary, where: str, depth: int) -> _Outcome:
        """Re-open the store on a cut device (cutting its recovery again if depth > 1), then check it."""
        assert self.step is not None
        if depth > 1:
            def cut_recovery(index: int, kind: str, address: int, length: int) -> None:
                pending = flash.pending
                assert pending is not None
                for mode in self.config.modes:
                    twin = flash.fork()
                    twin.apply_cut(pending, mode)
                    twin.reboot()
                    deeper = f"{where}, then recovery op {index} ({kind}) cut {mode.value}"
                    self._record(self._recover(twin, before, deeper, depth - 1), before, deeper)
            flash.on_operation = cut_recovery
        try:
            store = self.config.open_store(flash, VirtualClock(self.step.at))
        except Exception as exc:  # any failure to recover is a finding, not a crash of the harness
            return _Outcome(None, None, (("recovery_failures", f"{type(exc).__name__}: {exc}"),))
        finally:
            flash.on_operation = None
        problems = tuple(("torn_served", problem) for problem in self._served_wrong(store))
        recovered, retried = store.durable_summary(), None
        if self.step.retry:
            try:
                self.step.action(store)
            except Exception as exc:
                failure = ("recovery_failures", f"retry: {type(exc).__name__}: {exc}")
                return _Outcome(recovered, None, (*problems, failure))
            retried = store.durable_summary()
        return _Outcome(recovered, retried, problems)

    def _check_counters(self, state: Summary, where: str, *, dry_run: bool) -> None:
        """The originator-counter invariants (module docstring) for one durable state."""
        alerts, next_counter = state[1], state[3]
        problems = []
        previous = 0
        for alert_id, alert in alerts:  # journal order = the order they became owed
            if alert.counter is None or alert.counter <= previous:
                problems.append(f"alert {alert_id} has counter {alert.counter} after {previous} in owe order")
            previous = alert.counter or previous
            seen = self._counters.setdefault(alert_id, (alert.counter, alert.message))
            if seen != (alert.counter, alert.message):
                problems.append(f"alert {alert_id} has counter {alert.counter}, before {seen[0]} (or a new message)")
            if alert.counter is not None and self._counter_ids.setdefault(alert.counter, alert_id) != alert_id:
                problems.append(f"counter {alert.counter} reused: alerts {self._counter_ids[alert.counter]} "
                                f"and {alert_id}")
        if alerts and next_counter <= previous:
            problems.append(f"next counter {next_counter} is not above the owed alerts' ({previous})")
        if next_counter <= self._handed_out:
            problems.append(f"next counter {next_counter}, but {self._handed_out} was handed out before the cut")
        if dry_run:
            self._handed_out = max(self._handed_out, next_counter - 1)
        for problem in problems:
            self.tally.note("counter_violations", f"{where}: {problem}")

    def _served_wrong(self, store: ImageStore) -> list[str]:
        wrong = []
        for block in store.status().blocks:
            if block.image is None:
                continue
            image = block.image.image
            original = self.cycle.files.get(image.file_sha256)
            if original is None or store.read(image.image_id, 0, image.total_size) != original:
                wrong.append(f"image {image.image_id} served with wrong bytes")
        return wrong

    def _classify(self, got: Summary, candidates: Sequence[Summary], where: str) -> None:
        """Zero findings if `got` is one of the allowed states; otherwise say what is missing or extra."""
        if got in candidates:
            return
        got_images, got_alerts = got[:2]
        image_ids = {image.image_id for image, _ in got_images}
        common_images = set.intersection(*({image.image_id for image, _ in c[0]} for c in candidates))
        common_alerts = set.intersection(*({alert_id for alert_id, _ in c[1]} for c in candidates))
        alerts = dict(got_alerts)
        allowed = {alert_id for c in candidates for alert_id, _ in c[1]}
        known = {**self._ever_owed, **{alert_id: alert for c in candidates for alert_id, alert in c[1]}}
        found = False
        if common_images - image_ids:
            self.tally.note("lost_images", f"{where}: images {sorted(common_images - image_ids)} lost")
            found = True
        if common_alerts - alerts.keys():
            self.tally.note("lost_alerts", f"{where}: alerts {sorted(common_alerts - alerts.keys())} lost")
            found = True
        terminal_keys = {(a.entity, a.firmware_version) for a in known.values() if a.code is not AlertCode.ACTIVATION}
        for alert_id, alert in alerts.items():
            is_terminal = alert.code is not AlertCode.ACTIVATION
            contradicts = alert_id in known and known[alert_id] != alert
            resurrected = alert_id in known and alert_id not in allowed  # delivered and acknowledged before
            key = (alert.entity, alert.firmware_version)
            minted_again = alert_id not in known and is_terminal and key in terminal_keys
            if contradicts or resurrected or minted_again:
                self.tally.note("duplicate_terminal_alerts", f"{where}: alert {alert_id} contradicts or repeats one")
                found = True
        if not found:
            self.tally.note("inconsistent_states", f"{where}: recovered state is neither before nor after the cut")


def _work(args: tuple[TortureConfig, int, int]) -> Tally:
    config, worker, workers = args
    return _Sweep(config, worker, workers).run()


def run_torture(config: TortureConfig, workers: int = 2) -> tuple[Tally, float]:
    """Sweep every cut point of the cycle; returns the combined tally and the wall-clock seconds."""
    began = time.perf_counter()
    jobs = [(config, worker, workers) for worker in range(workers)]
    if workers == 1:
        tallies = [_work(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            tallies = pool.map(_work, jobs)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total, time.perf_counter() - began


def report(config: TortureConfig, tally: Tally, seconds: float, workers: int) -> dict[str, Any]:
    return {
        "profile": config.profile.name,
        "image_size": config.image_size,
        "operations": tally.operations,
        "cut_points": tally.cut_points,
        "modes": [mode.value for mode in config.modes],
        "depth": config.depth,
        "lost_images": tally.lost_images,
        "torn_served": tally.torn_served,
        "lost_alerts": tally.lost_alerts,
        "duplicate_terminal_alerts": tally.duplicate_terminal_alerts,
        "inconsistent_states": tally.inconsistent_states,
        "recovery_failures": tally.recovery_failures,
        "counter_violations": tally.counter_violations,
        "examples": tally.examples,
        "workers": workers,
        "seconds": round(seconds, 2),
    }
