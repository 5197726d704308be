"""A stateful property test of the block rules (REQUIREMENTS §4) against an independent reference.

Hypothesis drives image arrivals of all four device types (some naming more targets than the
flash layout can journal), downloads, UpgradeEnd outcomes, hardware
queries, clock jumps from seconds to weeks, acknowledgements, reboots, power cuts (in any mode, at
any upcoming operation, during any call) and flash wear. The reference below re-states the rules
from the requirement text; after every step the store must agree with it exactly — the alerts owed
(content and order), each block's image and its targets' states, what is offered and served — and a
cut call must leave one of the states the reference passes through.

`make test` runs the `ci` profile (at least 500 examples of 50 steps, on a 64 KiB flash with 4 KiB
images). For a nightly soak: HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest tests/store/test_store_machine.py
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hubfw.alerts import ActivationOutcome, AlertCode, TransferResponse
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash, PowerCut, WearOutMode
from hubfw.store.errors import StoreError, StoreRejected
from hubfw.store.layout import alert_slots
from hubfw.store.records import MAX_DEVICE_MESSAGE
from hubfw.store.state import Block
from hubfw.store.store import ImageStore
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR, eui, ota_file

DAY, HOUR = 86_400, 3_600
# HCALCS requests may name more targets than SMALL_NOR's layout journals per image (9): those are refused.
POOLS = {DeviceType.ESME: range(1, 5), DeviceType.GSME: range(10, 13), DeviceType.PPMID: range(20, 23),
         DeviceType.HCALCS: range(30, 41)}
R = TransferResponse


# ----- the reference: §4 restated, independent of hubfw.store.policy


@dataclass
class RefTarget:
    entity: object
    started: bool = False
    last: float = 0.0
    response: TransferResponse | None = None


@dataclass
class RefImage:
    device_type: DeviceType
    version: int
    arrived: float
    hw: tuple[int, int] | None
    data: bytes
    targets: list[RefTarget]

    @property
    def finished(self) -> bool:
        return all(t.response is not None for t in self.targets)


@dataclass
class Ref:
    blocks: dict[Block, RefImage] = field(default_factory=dict)
    owed: list[tuple] = field(default_factory=list)  # (entity, version, code, response, time) in journal order

    def owe(self, image: RefImage, target: RefTarget, response: TransferResponse, now: float) -> None:
        target.response = response
        code = AlertCode.TRANSFER_SUCCESS if response is R.SUCCESS else AlertCode.TRANSFER_FAILURE
        self.owed.append((str(target.entity), image.version, code, response, math.floor(now)))

    def settle(self) -> None:
        self.blocks = {b: image for b, image in self.blocks.items() if not image.finished}

    def time_rules(self, now: float) -> None:
        for block in (Block.ESME, Block.GSME):
            image = self.blocks.get(block)
            for target in [] if image is None else image.targets:
                if target.response is None and target.started and now >= target.last + DAY:
                    self.owe(image, target, R.FILE_TRANSFER_FAILURE, now)
                elif target.response is None and not target.started and now >= image.arrived + 14 * DAY:
                    self.owe(image, target, R.IMAGE_DISCARDED, now)
        self.settle()

    def find(self, entity) -> tuple[RefImage, RefTarget] | None:
        for image in self.blocks.values():
            for target in image.targets:
                if target.entity == entity and target.response is None:
                    return image, target
        return None

    def open_targets(self) -> int:
        return sum(t.response is None for image in self.blocks.values() for t in image.targets)


class Refused(Exception):
    """The reference refuses the image; `state` is where its time rules left things."""

    def __init__(self, state: Ref) -> None:
        self.state = state


def ref_distribute(ref: Ref, image: RefImage, now: float, capacity: int, target_limit: int) -> list[Ref]:
    """The states a distribution passes through (after time rules, after a discard, after the image).

    Raises Refused if a rule (or a full alert journal) refuses it; time rules due still apply, except
    for a request naming more targets than the layout journals, which is refused before anything.
    """
    if len(image.targets) > target_limit:
        raise Refused(copy.deepcopy(ref))
    states = [copy.deepcopy(ref)]
    current = copy.deepcopy(ref)
    current.time_rules(now)
    states.append(copy.deepcopy(current))
    block = Block.ESME if image.device_type is DeviceType.ESME else Block.GSME
    resident = current.blocks.get(block)
    if resident is not None:
        meter = resident.device_type in (DeviceType.ESME, DeviceType.GSME)
        if meter and any(t.started and t.response is None for t in resident.targets):
            raise Refused(current)
        if (resident.device_type is DeviceType.GSME and image.device_type in (DeviceType.PPMID, DeviceType.HCALCS)
                and now < resident.arrived + 14 * DAY):
            raise Refused(current)
    if len(current.owed) + current.open_targets() + len(image.targets) > capacity:
        raise Refused(current)
    if resident is not None:
        for target in resident.targets:
            if target.response is None:
                current.owe(resident, target, R.IMAGE_DISCARDED, now)
        current.settle()
        states.append(copy.deepcopy(current))
    current.blocks[block] = image
    states.append(current)
    return states


def observe_ref(ref: Ref) -> tuple:
    return (
        tuple((b, i.device_type, i.version, tuple((str(t.entity), t.last if t.started else None, t.response)
                                                  for t in i.targets))
              for b, i in sorted(ref.blocks.items())),
        tuple(ref.owed),
    )


def observe_store(store: ImageStore) -> tuple:
    blocks = []
    for block in store.status().blocks:
        if block.image is not None:
            i = block.image.image
            blocks.append((block.block, i.device_type, i.file_version, tuple(
                (t.entity, None if t.started_at is None else t.last_activity,
                 None if t.alert_id is None else _response(t.state))
                for t in block.image.targets)))
    owed = tuple((str(a.entity), a.firmware_version, a.code, a.transfer_response, a.time)
                 for a in store.pending_alerts() if a.code is not AlertCode.ACTIVATION)
    return tuple(blocks), owed


def _response(state: str) -> TransferResponse:
    return {"success": R.SUCCESS, "discarded": R.IMAGE_DISCARDED, "hardware-mismatch": R.HARDWARE_VERSION_MISMATCH,
            "failed": R.FILE_TRANSFER_FAILURE}[state]


# ----- the machine


class StoreMachine(RuleBasedStateMachine):
    @initialize(wear_out=st.sampled_from(list(WearOutMode)))
    def start(self, wear_out: WearOutMode) -> None:
        self.flash = NorFlash(SMALL_NOR, wear_out=wear_out)
        self.clock = VirtualClock()
        self.store = self.open()
        self.ref = Ref()
        self.capacity = self.store.layout.limits.owed_alerts
        self.target_limit = self.store.layout.limits.targets_per_image
        self.version = 0x100
        self.seen_ids: dict[int, object] = {}
        self.seen_counters: dict[int, int] = {}  # originator counter -> the one alert id that has it
        self.counter_of: dict[int, int] = {}  # alert id -> its counter
        self.counters_checked: set[int] = set()
        self.worn = 0

    def open(self) -> ImageStore:
        # checkpoint every download block, so the reference's "last activity" is exact across reboots
        return ImageStore.open(self.flash, self.clock, max_image_size=SMALL_IMAGE, checkpoint_seconds=0)

    def attempt(self, call, candidates: list[Ref], cut: tuple[CutMode, int] | None = None) -> None:
        """Run a store call (maybe with a power cut scheduled); then the store must show the last
        candidate state, or — if the call was cut or failed on worn flash — one of them."""
        if cut is not None:
            self.arm_cut(self.flash.operations + cut[1], cut[0])
        try:
            try:
                call()
            finally:
                self.flash.on_operation = None
        except PowerCut:
            self.flash.reboot()
            self.store = self.open()
            self.adopt(candidates)
            return
        except StoreError as exc:
            assert not isinstance(exc, StoreRejected), exc
            self.adopt(candidates)
            return
        assert observe_store(self.store) == observe_ref(candidates[-1])
        self.ref = candidates[-1]

    def arm_cut(self, index: int, mode: CutMode) -> None:
        """Cut power at operation `index` if the call gets that far (the hook runs before the
        device takes its scheduled cuts, and goes away with the call, so nothing stale remains)."""
        def cut_there(operation: int, kind: str, address: int, length: int) -> None:
            if operation == index:
                self.flash.schedule_cut(operation, mode)
        self.flash.on_operation = cut_there

    def adopt(self, candidates: list[Ref]) -> None:
        seen = observe_store(self.store)
        matches = [ref for ref in candidates if observe_ref(ref) == seen]
        assert matches, f"state after interruption matches none of the allowed states: {seen}"
        self.ref = matches[-1]

    def reference_step(self, change) -> list[Ref]:
        before = copy.deepcopy(self.ref)
        after = copy.deepcopy(self.ref)
        after.time_rules(self.clock.now())
        after_rules = copy.deepcopy(after)
        change(after)
        return [before, after_rules, after]

    # ----- rules

    @rule(device_type=st.sampled_from(list(DeviceType)), data=st.data(),
          hw=st.none() | st.just((2, 4)), cut=st.none() | st.tuples(st.sampled_from(list(CutMode)),
                                                                    st.integers(0, 80)))
    def distribute(self, device_type, data, hw, cut) -> None:
        pool = list(POOLS[device_type])
        count = data.draw(st.integers(1, len(pool)))
        entities = [eui(n) for n in data.draw(st.permutations(pool))[:count]]
        self.version += 1
        size = data.draw(st.integers(200, SMALL_IMAGE))
        file = ota_file(self.version, size, **({} if hw is None else {"min_hw_version": hw[0],
                                                                        "max_hw_version": hw[1]}))
        image = RefImage(device_type, self.version, self.clock.now(), hw, file, [RefTarget(e) for e in entities])
        layout = self.store.layout
        activations = sum(alert_slots(a, layout.page_size, layout.program_unit)
                          for a in self.store.pending_alerts() if a.code is AlertCode.ACTIVATION)
        try:
            candidates = ref_distribute(self.ref, image, self.clock.now(), self.capacity - activations,
                                        self.target_limit)
        except Refused as refused:
            try:
                self.store.distribute(file, [(e, device_type) for e in entities])
            except StoreRejected:
                self.ref = refused.state
                return
            except StoreError:  # worn flash failed the time rules before the rejection
                self.adopt([self.ref, refused.state])
                return
            raise AssertionError(f"the store admitted a {device_type.value} image the rules reject") from None
        self.attempt(lambda: self.store.distribute(file, [(e, device_type) for e in entities]), candidates, cut)

    def pick_target(self, data):
        open_targets = [(image, target) for image in self.ref.blocks.values() for target in image.targets
                        if target.response is None]
        return data.draw(st.sampled_from(open_targets))

    def image_id(self, image: RefImage) -> int:
        for block in self.store.status().blocks:
            if block.image is not None and block.image.image.file_version == image.version:
                return block.image.image.image_id
        raise AssertionError("image of the reference missing from the store")

    def has_open_targets(self) -> bool:
        return self.ref.open_targets() > 0

    @precondition(has_open_targets)
    @rule(data=st.data(), cut=st.none() | st.tuples(st.sampled_from(list(CutMode)), st.integers(0, 3)))
    def download(self, data, cut) -> None:
        image, target = self.pick_target(data)
        image_id, entity, now = self.image_id(image), target.entity, self.clock.now()

        def change(ref: Ref) -> None:
            found = ref.find(entity)
            if found is not None and found[0].version == image.version:
                found[1].started, found[1].last = True, now

        self.attempt(lambda: self.store.note_progress(entity, image_id, data.draw(st.integers(0, 4000))),
                     self.reference_step(change), cut)

    @precondition(has_open_targets)
    @rule(data=st.data(), status=st.sampled_from([0, 0, 0x95, 0x96]),
          cut=st.none() | st.tuples(st.sampled_from(list(CutMode)), st.integers(0, 6)))
    def upgrade_end(self, data, status, cut) -> None:
        image, target = self.pick_target(data)
        image_id, entity, now = self.image_id(image), target.entity, self.clock.now()

        def change(ref: Ref) -> None:
            found = ref.find(entity)
            if found is not None and found[0].version == image.version:
                ref.owe(found[0], found[1], R.SUCCESS if status == 0 else R.FILE_TRANSFER_FAILURE, now)
                ref.settle()

        self.attempt(lambda: self.store.note_end(entity, image_id, status), self.reference_step(change), cut)

    @precondition(has_open_targets)
    @rule(data=st.data(), hardware=st.none() | st.integers(0, 6))
    def query(self, data, hardware) -> None:
        image, target = self.pick_target(data)
        image_id, entity, now = self.image_id(image), target.entity, self.clock.now()
        mismatch = image.hw is not None and hardware is not None and not image.hw[0] <= hardware <= image.hw[1]

        def change(ref: Ref) -> None:
            found = ref.find(entity)
            if mismatch and found is not None and found[0].version == image.version:
                ref.owe(found[0], found[1], R.HARDWARE_VERSION_MISMATCH, now)
                ref.settle()

        answers = []
        candidates = self.reference_step(change)
        self.attempt(lambda: answers.append(self.store.note_query(entity, image_id, hardware)), candidates)
        still_there = any(i.version == image.version for i in candidates[1].blocks.values())
        assert answers in ([], [not (mismatch and still_there)])

    @rule(seconds=st.sampled_from([1, 59, HOUR, DAY - 1, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY]),
          tick=st.booleans())
    def time_passes(self, seconds, tick) -> None:
        self.clock.advance(seconds)
        if tick:
            self.attempt(self.store.tick, self.reference_step(lambda ref: None))

    @rule(cut=st.none() | st.tuples(st.sampled_from(list(CutMode)), st.integers(0, 2)))
    def acknowledge(self, cut) -> None:
        ids = [a.alert_id for a in self.store.pending_alerts()]
        candidates = [copy.deepcopy(self.ref), Ref(copy.deepcopy(self.ref.blocks), [])]
        self.attempt(lambda: self.store.acknowledge(ids), candidates, cut)

    @rule(entity=st.sampled_from(list(POOLS[DeviceType.PPMID])), version=st.integers(1, 3),
          source=st.sampled_from(["hub", "tunnel"]))
    def activation(self, entity, version, source) -> None:
        owed = [a for a in self.store.pending_alerts()
                if (a.code, a.entity, a.firmware_version) == (AlertCode.ACTIVATION, eui(entity), version)]
        try:
            alert = self.store.note_activation(eui(entity), version, source=source)
        except StoreError:
            return
        assert (alert.code, alert.entity, alert.firmware_version) == (AlertCode.ACTIVATION, eui(entity), version)
        assert alert == owed[0] if owed else alert.source == source  # a repeat is the alert already owed
        assert alert in self.store.pending_alerts()

    @rule(entity=st.sampled_from(list(POOLS[DeviceType.PPMID])), version=st.integers(1, 3),
          outcome=st.sampled_from(list(ActivationOutcome)),
          message=st.binary(min_size=1, max_size=MAX_DEVICE_MESSAGE) | st.integers(1, MAX_DEVICE_MESSAGE).map(
              lambda n: bytes([n & 0xFF]) * n),
          cut=st.none() | st.tuples(st.sampled_from(list(CutMode)), st.integers(0, 12)))
    def device_activation(self, entity, version, outcome, message, cut) -> None:
        """A PPMID's own 0x8F8B through the tunnel, with its signed GBCS message (maybe cut while written)."""
        pending = self.store.pending_alerts()
        owed = [a for a in pending
                if (a.code, a.entity, a.firmware_version) == (AlertCode.ACTIVATION, eui(entity), version)]
        if cut is not None:
            self.arm_cut(self.flash.operations + cut[1], cut[0])
        try:
            try:
                alert = self.store.note_activation(eui(entity), version, source="tunnel", outcome=outcome,
                                                   message=message)
            finally:
                self.flash.on_operation = None
        except PowerCut:
            self.flash.reboot()
            self.store = self.open()
            now = self.store.pending_alerts()
            assert now[: len(pending)] == pending and len(now) - len(pending) in (0, 1)
            if len(now) > len(pending):  # it landed: with its message and outcome, byte for byte
                assert (now[-1].message, now[-1].outcome, now[-1].source) == (message, outcome, "tunnel")
            return
        except StoreError as exc:
            assert "journal is full" in str(exc) or "worn" in str(exc) or "metadata region" in str(exc), exc
            self.adopt([self.ref])
            return
        if owed:
            assert alert == owed[0]  # a repeat is the alert already owed: its first message is kept
        else:
            assert (alert.message, alert.outcome, alert.source) == (message, outcome, "tunnel")
        assert alert in self.store.pending_alerts()

    @rule()
    def reboot(self) -> None:
        pending = self.store.pending_alerts()
        self.flash.reboot()
        self.store = self.open()
        assert self.store.pending_alerts() == pending  # same alerts, same ids, same order

    def may_wear(self) -> bool:
        return self.worn < 3  # a few worn sectors: enough to hit blocks and regions, not to kill the part

    @precondition(may_wear)
    @rule(data=st.data(), remaining=st.integers(0, 2))
    def wear(self, data, remaining) -> None:
        self.worn += 1
        sector = data.draw(st.integers(0, self.flash.sector_count - 1))
        self.flash.stats.erase_counts[sector] = max(
            self.flash.stats.erase_counts[sector], SMALL_NOR.endurance - remaining)

    # ----- invariants

    @invariant()
    def agrees_with_the_reference(self) -> None:
        assert observe_store(self.store) == observe_ref(self.ref)

    @invariant()
    def blocks_hold_the_right_types_and_serve_exact_bytes(self) -> None:
        for block in self.store.status().blocks:
            if block.image is None:
                continue
            image = block.image.image
            assert (block.block is Block.ESME) == (image.device_type is DeviceType.ESME)
            ref_image = self.ref.blocks[block.block]
            assert self.store.read(image.image_id, 0, image.total_size) == ref_image.data

    @invariant()
    def offers_and_deadlines(self) -> None:
        now = self.clock.now()
        deadlines = []
        for image in self.ref.blocks.values():
            for target in image.targets:
                if target.response is None:
                    due = target.last + DAY if target.started else image.arrived + 14 * DAY
                    deadlines.append(due)
                    offered = self.store.offer(target.entity)
                    assert (offered is not None and offered.file_version == image.version) == (now < due)
        assert self.store.next_deadline() == min(deadlines, default=None)

    @invariant()
    def originator_counters_are_stable_unique_and_increase_in_owe_order(self) -> None:
        """Every alert id keeps its counter (and message: `seen_ids` compares whole alerts) across reboots and
        cuts; no counter is reused; an alert newly owed has a counter above every one seen before; and the
        store's next counter is above them all."""
        highest = max(self.seen_counters, default=0)
        previous = 0
        for alert in self.store.pending_alerts():  # journal order: the order they became owed
            assert alert.counter is not None and alert.counter > previous
            previous = alert.counter
            assert self.seen_counters.setdefault(alert.counter, alert.alert_id) == alert.alert_id, "counter reused"
            if self.counter_of.setdefault(alert.alert_id, alert.counter) != alert.counter:
                raise AssertionError(f"alert {alert.alert_id} changed counter")
        for alert in self.store.pending_alerts():
            if alert.alert_id not in self.counters_checked:
                assert alert.counter > highest, f"new alert {alert.alert_id} got counter {alert.counter} <= {highest}"
        self.counters_checked.update(self.counter_of)
        assert self.store._model.next_alert_counter > max(self.seen_counters, default=0)

    @invariant()
    def alert_ids_are_stable_and_terminal_alerts_unique(self) -> None:
        terminal_keys = {}
        for alert in self.store.pending_alerts():
            assert self.seen_ids.setdefault(alert.alert_id, alert) == alert
        for alert in self.seen_ids.values():
            if alert.code is not AlertCode.ACTIVATION:
                key = (alert.entity, alert.firmware_version)
                assert terminal_keys.setdefault(key, alert.alert_id) == alert.alert_id


StoreMachine.TestCase.settings = settings(
    settings.default,
    max_examples=max(500, settings.default.max_examples),
    stateful_step_count=max(50, settings.default.stateful_step_count),
)
test_store_machine = StoreMachine.TestCase
