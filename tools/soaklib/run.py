"""The soak itself: a month of hub life on a virtual clock, then a drain, then the verdict.

While the soak runs, a supplier distributes images at random (replacing PPMID/HCALCS images in
mid-transfer, running into GSME protection and meter transfers), activates what meters downloaded,
devices switch off and on (some for longer than the 24-hour stall limit), the hub's flash loses
power in the middle of random operations and the hub process is killed. After `days` nothing new
happens: devices stay on and the clock runs until every image has met its end (at most 14 days),
and the ledger and the wear counter give their verdict.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, NorFlash
from hubfw.flash.profiles import DEFAULT_PROFILE, get_profile
from hubfw.gbcs.alert_message import GbcsIdentity
from hubfw.hub.core import TEST_CH_ID
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.ota.keys import new_private_key
from hubfw.server import OtaServerConfig
from hubfw.sim.devices import OtaClientDevice, SimulatedAir
from hubfw.store.layout import Layout
from hubfw.store.policy import NO_START_DISCARD_S
from hubfw.store.state import Block
from hubfw.store.store import DEFAULT_CHECKPOINT_SECONDS
from soaklib.fleet import Fleet, SoakImage
from soaklib.hub import Faults, Outcome, SoakHub
from soaklib.ledger import Ledger
from soaklib.wear import FlashOpCounter

HOUR = 3600.0
DAY = 24 * HOUR
MAX_STEPS_AT_ONE_INSTANT = 10_000


@dataclass(frozen=True)
class SoakConfig:
    devices: int = 50
    days: float = 30.0
    seed: int = 1
    min_image_size: int = 4 * 1024
    max_image_size: int = 48 * 1024
    distribution_gap_h: tuple[float, float] = (2.0, 12.0)
    device_off_mean_days: float = 3.0
    hub_cut_mean_h: float = 12.0
    hub_kill_mean_h: float = 48.0
    drain_days: float = NO_START_DISCARD_S / DAY + 2
    faults: Faults = Faults()


@dataclass
class SoakReport:
    config: dict[str, Any]
    simulated_days: float = 0.0
    wall_seconds: float = 0.0
    distributions: dict[str, int] = field(default_factory=dict)
    transfers_completed: int = 0
    alerts_by_code: dict[str, int] = field(default_factory=dict)
    terminal_responses: dict[str, int] = field(default_factory=dict)
    alerts_redelivered: int = 0
    discarded_mid_transfer: int = 0
    hub_restarts: int = 0
    power_cuts: int = 0
    process_kills: int = 0
    device_off_events: int = 0
    activations: dict[str, int] = field(default_factory=dict)
    air: dict[str, int] = field(default_factory=dict)
    flash: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def lines(self) -> list[str]:
        """The human summary."""
        def pairs(counts: dict[str, int]) -> str:
            return ", ".join(f"{key} {value}" for key, value in counts.items()) or "none"

        return [
            f"soak: {self.config['devices']} devices, {self.simulated_days:.1f} simulated days "
            f"(seed {self.config['seed']}) in {self.wall_seconds:.1f} s",
            f"images: {pairs(self.distributions)}",
            f"transfers completed: {self.transfers_completed}; discarded mid-transfer: {self.discarded_mid_transfer}",
            f"alerts by code: {pairs(self.alerts_by_code)} (redelivered {self.alerts_redelivered})",
            f"terminal responses: {pairs(self.terminal_responses)}",
            f"hub restarts: {self.hub_restarts} (power cuts {self.power_cuts}, process kills {self.process_kills})",
            f"device off/on events: {self.device_off_events}; activations: {pairs(self.activations)}",
            f"air: {pairs(self.air)}",
            f"flash operations: {pairs(self.flash)}",
            f"failures: {len(self.failures)}",
            *(f"  FAIL {failure}" for failure in self.failures[:50]),
            *([f"  ... and {len(self.failures) - 50} more"] if len(self.failures) > 50 else []),
        ]


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class Soak:
    """One soak run; `run()` returns its report."""

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.clock = VirtualClock()
        self.start_time = self.clock.now()
        self.end = self.start_time + config.days * DAY
        profile = get_profile(DEFAULT_PROFILE)
        # The hub formats its store for the default image size; its layout says how wide an image may be.
        target_limit = Layout.plan(profile, DEFAULT_MAX_IMAGE_SIZE).limits.targets_per_image
        self.fleet = Fleet.build(config.devices, self.rng, target_limit)
        self.flash = NorFlash(profile, seed=config.seed)
        self.ops = FlashOpCounter(self.flash)
        gbcs = GbcsIdentity(TEST_CH_ID, new_private_key())
        self.ledger = Ledger(self.fleet.devices, DEFAULT_CHECKPOINT_SECONDS, self.start_time, gbcs.key.public_key())
        self.han = SimulatedAir(self.clock, self.fleet.devices.values())
        self.hub = SoakHub(self.clock, self.flash, self.han, self.ledger, OtaServerConfig(),
                           random.Random(self.rng.getrandbits(32)), config.faults, gbcs)
        self.outcomes: dict[str, int] = {outcome.value: 0 for outcome in Outcome}
        self.device_offs = 0
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._successes_seen = 0

    # ----- the schedule

    def _at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, _Event(when, next(self._seq), action))

    def _soon(self, mean_h: float) -> float:
        return self.clock.now() + self.rng.expovariate(1 / (mean_h * HOUR))

    def _running(self) -> bool:
        return self.clock.now() < self.end

    def _plan(self) -> None:
        self._at(self.start_time + HOUR, self._distribute_next)
        for device in self.fleet.devices.values():
            self._at(self._soon(self.config.device_off_mean_days * 24), lambda device=device: self._switch_off(device))
        self._at(self._soon(self.config.hub_cut_mean_h), self._arm_power_cut)
        self._at(self._soon(self.config.hub_kill_mean_h), self._kill_hub)
        self._at(self.start_time + DAY, self._forget_device_logs)

    def _distribute_next(self) -> None:
        if not self._running():
            return
        image = self.fleet.new_image(self.rng, self.config.min_image_size, self.config.max_image_size)
        self._distribute(image)
        self._at(self.clock.now() + self.rng.uniform(*self.config.distribution_gap_h) * HOUR, self._distribute_next)

    def _distribute(self, image: SoakImage) -> None:
        outcome = self.hub.distribute(image)
        self.outcomes[outcome.value] += 1
        if outcome is Outcome.HUB_DOWN:
            self._at(self.clock.now() + 600.0, lambda: self._distribute(image))
            return
        if outcome is not Outcome.STORED:
            return
        if self.rng.random() < 0.3:
            # A target loses power soon after the notify: very likely in the middle of its download.
            device = self.fleet.devices[self.rng.choice(image.targets)]
            self._at(self.clock.now() + self.rng.uniform(10.0, 1800.0), lambda: self._switch_off(device, again=False))
        if image.device_type in (DeviceType.PPMID, DeviceType.HCALCS) and self.rng.random() < 0.35:
            # A newer PPMID/HCALCS image while this one is still downloading: abort and replace. Its
            # targets answer the notify within seconds, then fetch 64-byte blocks every ~0.1 s.
            download_s = len(image.data) / 64 * 0.1
            self._at(self.clock.now() + 6.0 + self.rng.uniform(0.0, download_s), self._replace_in_transfer)

    def _replace_in_transfer(self) -> None:
        if self._running():
            device_type = self.rng.choice((DeviceType.PPMID, DeviceType.HCALCS))
            self._distribute(self.fleet.new_image(
                self.rng, self.config.min_image_size, self.config.max_image_size, device_type,
            ))

    def _switch_off(self, device: OtaClientDevice, again: bool = True) -> None:
        if self._running() and device.powered:
            device.power_off(self.clock.now())
            self.device_offs += 1
            long = self.rng.random() < 0.25  # long enough for the 24-hour stall rule
            off_for = self.rng.uniform(20 * HOUR, 40 * HOUR) if long else self.rng.uniform(60.0, 4 * HOUR)
            self._at(self.clock.now() + off_for, lambda: device.power_on(self.clock.now()))
        if again and self._running():
            self._at(self._soon(self.config.device_off_mean_days * 24), lambda: self._switch_off(device))

    def _arm_power_cut(self) -> None:
        if not self._running():
            return
        if not self.ops.armed:
            # Half the cuts land on metadata writes (progress, terminal states, acknowledgements,
            # compactions, recovery), which the many page programs of an image would otherwise swamp.
            where = self._outside_image_blocks if self.rng.random() < 0.5 else None
            self.ops.arm(self.rng.randint(0, 40), self.rng.choice(list(CutMode)), where)
        self._at(self._soon(self.config.hub_cut_mean_h), self._arm_power_cut)

    def _forget_device_logs(self) -> None:
        """Devices log every frame for tests to read; the soak reads none, so a month must not pile them up."""
        for device in self.fleet.devices.values():
            device.log.clear()
        self._at(self.clock.now() + DAY, self._forget_device_logs)

    def _outside_image_blocks(self, kind: str, address: int) -> bool:
        core = self.hub.core
        if core is None:
            return True
        layout = core.store.layout
        blocks = layout.block_sectors * layout.sector_size
        return not any(layout.block_address(block) <= address < layout.block_address(block) + blocks
                       for block in Block)

    def _kill_hub(self) -> None:
        if not self._running():
            return
        self.hub.kill(self.rng.uniform(5.0, 600.0))
        self._at(self._soon(self.config.hub_kill_mean_h), self._kill_hub)

    def _after_alerts(self) -> None:
        """The supplier activates (CS06) what a meter or HCALCS downloaded, some time after the success alert."""
        for alert in self.ledger.successes[self._successes_seen:]:
            device = self.fleet.devices[alert.entity]
            if device.identity.device_type is not DeviceType.PPMID:
                image = self.ledger.targets[(alert.entity, alert.firmware_version)].image
                delay = self.rng.uniform(600.0, 6 * HOUR)
                self._at(self.clock.now() + delay, lambda a=alert, i=image: self._activate(a, i, attempts=8))
        self._successes_seen = len(self.ledger.successes)

    def _activate(self, alert: TransferAlert, image: SoakImage, attempts: int) -> None:
        device = self.fleet.devices[alert.entity]
        if device.current_file_version >= alert.firmware_version or attempts == 0:
            return
        if not self.hub.activate(alert.entity, image.manufacturer_image_sha256):
            self.ledger.activation_refused(alert.entity, alert.firmware_version, self.clock.now())
            return
        self._at(self.clock.now() + 6 * HOUR, lambda: self._activate(alert, image, attempts - 1))

    # ----- the loop

    def run(self) -> SoakReport:
        wall = time.perf_counter()
        self._plan()
        drain_limit = self.end + self.config.drain_days * DAY
        steps_here = 0
        while True:
            now = self.clock.now()
            while self._events and self._events[0].at <= now:
                heapq.heappop(self._events).action()
            self.hub.step()
            self._after_alerts()
            if now >= self.end and self._drained():
                break
            if now >= drain_limit:
                self.ledger.fail(now, "the hub did not settle within the drain period")
                break
            times = [self.hub.next_deadline(), drain_limit]
            if self._events:
                times.append(self._events[0].at)
            if now < self.end:
                times.append(self.end)
            deadline = min(when for when in times if when is not None)
            if deadline > now:
                self.clock.set(deadline)
                steps_here = 0
                continue
            steps_here += 1
            if steps_here > MAX_STEPS_AT_ONE_INSTANT:
                self.ledger.fail(now, "the simulation keeps working without letting time pass")
                break
        return self._report(time.perf_counter() - wall)

    def _drained(self) -> bool:
        status = self.hub.status()
        return status is not None and status.pending_alerts == 0 and all(b.image is None for b in status.blocks)

    def _report(self, wall_seconds: float) -> SoakReport:
        now = self.clock.now()
        status = self.hub.status()
        if status is not None:
            self.ledger.finish(status, now)
        for problem in self.ops.disagreements(self.hub.counters.power_cuts):
            self.ledger.fail(now, problem)
        counters = self.hub.counters
        stats = self.flash.stats
        config = asdict(self.config)
        config.pop("faults")
        return SoakReport(
            config=config,
            simulated_days=(now - self.start_time) / DAY,
            wall_seconds=wall_seconds,
            distributions={
                "stored": self.ledger.stored_images, "refused by a block rule": self.outcomes[Outcome.REFUSED.value],
                "rolled back by a power cut": self.ledger.rolled_back,
                "retried while the hub was down": self.outcomes[Outcome.HUB_DOWN.value],
            },
            transfers_completed=self.ledger.responses.get("success", 0),
            alerts_by_code=dict(sorted(self.ledger.alert_codes.items())),
            terminal_responses=dict(sorted(self.ledger.responses.items())),
            alerts_redelivered=self.ledger.redelivered,
            discarded_mid_transfer=self.ledger.discarded_mid_transfer,
            hub_restarts=counters.starts - 1,
            power_cuts=counters.power_cuts,
            process_kills=counters.kills,
            device_off_events=self.device_offs,
            activations={"sent": counters.activations_sent, "refused": counters.activations_refused,
                         "0x8F8B raised": self.ledger.alert_codes.get(f"0x{AlertCode.ACTIVATION:04X}", 0)},
            air={"image blocks received": self.ledger.blocks_received, "image bytes received": self.ledger.bytes_received,
                 "frames lost": counters.frames_lost},
            flash={"programs": stats.program_calls, "erases": stats.erase_calls, "max sector erases": max(stats.erase_counts),
                   "operations": self.flash.operations},
            failures=list(self.ledger.failures),
        )


def run_soak(config: SoakConfig) -> SoakReport:
    return Soak(config).run()
