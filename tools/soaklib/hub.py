"""The hub under soak: `HubCore`, the core `hubfw serve` runs, on one emulated NOR flash, driven in-process
against the simulated devices (no radio, no event loop), and able to die at any moment and come back.

A hub process dies when its flash loses power in the middle of an operation (a scheduled cut) or when
it is killed; either way everything in memory is gone — the core's soft state, frames in flight —
and only the flash survives. The restart is the core's own boot (`HubCore.open` then `start`): the
store recovers, a fresh server re-notifies targets that had not started, owed alerts are handed over.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.clock import VirtualClock
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash, PowerCut, PoweredOff
from hubfw.gbcs.alert_message import GbcsIdentity
from hubfw.hub.core import TEST_CH_ID, CoreConfig, HubCore
from hubfw.ota.keys import new_private_key
from hubfw.server import OtaServerConfig
from hubfw.sim.devices import SimulatedAir
from hubfw.store.errors import ActivationRejected, StoreRejected
from hubfw.store.status import ImageStatus, StoreStatus
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame
from soaklib import air
from soaklib.fleet import SoakImage
from soaklib.ledger import Ledger

HUB_IEEE = parse_eui64("00:0d:6f:ff:fe:50:4b:01")
UNKNOWN_NWK = t.NWK(0xFFFE)


class Outcome(enum.Enum):
    STORED = "stored"
    REFUSED = "refused"  # a block rule said no (the ledger checks it was right to)
    INTERRUPTED = "interrupted"  # the hub died while storing it
    HUB_DOWN = "hub down"


@dataclass(order=True)
class _Queued:
    due: float
    seq: int
    frame: OutgoingFrame = field(compare=False)


@dataclass(frozen=True)
class Faults:
    """Deliberate faults for the checker's negative controls (never set in a real soak)."""

    corrupt_block: int | None = None
    """Flip a bit in the image data of the n-th image block a device receives."""
    drop_terminal_alert: int | None = None
    """Acknowledge the n-th terminal alert without recording it (an alert the hub 'lost')."""


@dataclass
class HubCounters:
    starts: int = 0
    power_cuts: int = 0
    kills: int = 0
    hub_errors: int = 0
    frames_lost: int = 0  # in the hub's outbox when it died, or to a device that was off
    activations_sent: int = 0
    activations_refused: int = 0


class SoakHub:
    """Implements the HAN's uplink; `step` and `next_deadline` drive it under a VirtualClock."""

    def __init__(self, clock: VirtualClock, flash: NorFlash, han: SimulatedAir, ledger: Ledger,
                 server_config: OtaServerConfig, rng: random.Random, faults: Faults = Faults(),
                 gbcs: GbcsIdentity | None = None) -> None:
        self.clock, self.flash, self.han, self.ledger = clock, flash, han, ledger
        self.server_config = server_config
        self.gbcs = gbcs or GbcsIdentity(TEST_CH_ID, new_private_key())
        """The CH's GBCS identity, the same across restarts as `hubfw serve` keeps its DS key in the state directory."""
        self.rng = rng
        self.faults = faults
        self.counters = HubCounters()
        self.core: HubCore | None = None
        self.down_until: float | None = clock.now()
        self._nwk: dict[t.EUI64, t.NWK] = {}
        self._outbox: list[_Queued] = []
        self._seq = itertools.count()
        self._blocks_delivered = 0
        self._terminal_alerts_seen = 0
        han.attach(self)

    @property
    def up(self) -> bool:
        return self.core is not None

    # ----- life and death

    def start(self) -> None:
        """Boot: power the flash back up, then the core's own boot."""
        self.down_until = None
        self.counters.starts += 1
        with self._running():
            self.flash.reboot()
            rng = random.Random(self.rng.getrandbits(32))
            self.core = HubCore.open(self.flash, self.clock, CoreConfig(self.server_config, gbcs=self.gbcs), rng=rng)
            self._send(self.core.start())

    def kill(self, downtime: float) -> None:
        """The hub process is killed (no flash operation interrupted); it restarts after `downtime`."""
        if self.up:
            self.counters.kills += 1
            self._die(downtime)

    def _die(self, downtime: float) -> None:
        self.core = None
        self.counters.frames_lost += len(self._outbox)
        self._outbox.clear()
        self.down_until = self.clock.now() + downtime

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        """Run hub code; a power cut (or any error the hub would die of) takes the hub down."""
        try:
            yield
        except (PowerCut, PoweredOff):
            self.counters.power_cuts += 1
            self._die(self.rng.uniform(5.0, 120.0))  # a hub reboots within a couple of minutes
        except HubfwError as exc:
            self.counters.hub_errors += 1
            self.ledger.fail(self.clock.now(), f"the hub died of an error: {exc}")
            self._die(60.0)

    # ----- AirUplink

    def receive(self, frame: ApsFrame) -> bool:
        if self.core is None:
            return False
        now = self.clock.now()
        self.ledger.heard(frame.src_ieee, frame.payload, now)
        with self._running():
            replies = self.core.handle(IncomingFrame(
                frame.src_ieee, frame.src_nwk, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster,
                frame.payload, frame.aps_encrypted,
            ))
            for reply in replies:
                self.ledger.answered(reply.destination, reply.zcl, now)
            self._send(replies)
        return self.up

    def join(self, ieee: t.EUI64, nwk: t.NWK, install_code: bytes | None) -> bool:
        if not self.up:
            return False
        self._nwk[ieee] = nwk
        return True

    # ----- what the supplier (the DCC) asks

    def distribute(self, image: SoakImage) -> Outcome:
        """CS05b/c: store the image for its targets, then ImageNotify them."""
        if self.core is None:
            return Outcome.HUB_DOWN
        now = self.clock.now()
        resident = self._resident(self.core, image)
        outcome = Outcome.INTERRUPTED
        with self._running():
            try:
                distributed = self.core.distribute(image.data, image.targets, image.device_type)
            except StoreRejected as exc:
                self.ledger.refused(image, resident, now, str(exc))
                return Outcome.REFUSED
            outcome = Outcome.STORED
            self.ledger.stored(image, resident, now, confirmed=True)
            self._send(distributed.frames)
        if outcome is Outcome.INTERRUPTED:
            self.ledger.stored(image, resident, now, confirmed=False)
        return outcome

    def activate(self, entity: t.EUI64, manufacturer_image_sha256: bytes) -> bool:
        """CS06: tell a device to run the image it downloaded. False only if the store refused it."""
        if self.core is None:
            return True
        with self._running():
            try:
                frames = self.core.activate(entity, manufacturer_image_sha256)
            except ActivationRejected:
                self.counters.activations_refused += 1
                return False
            self.counters.activations_sent += 1
            self._send(frames)
        return True

    # ----- driving

    def step(self) -> None:
        """Restart if due, deliver due frames, let devices act, run the hub's timers, collect alerts."""
        now = self.clock.now()
        if self.down_until is not None and now >= self.down_until:
            self.start()
        while self._outbox and self._outbox[0].due <= now:
            self._deliver(heapq.heappop(self._outbox).frame)
        self.han.step()
        if self.core is None:
            return
        core = self.core
        with self._running():
            self._send(core.run_due())
            self._collect_alerts(core)
            self.ledger.check_store(core.store.status(), now)

    def next_deadline(self) -> float | None:
        times = [self.han.next_deadline()]
        if self._outbox:
            times.append(self._outbox[0].due)
        if self.core is not None:
            times.append(self.core.next_deadline())
        else:
            times.append(self.down_until)
        return min((time for time in times if time is not None), default=None)

    def status(self) -> StoreStatus | None:
        return None if self.core is None else self.core.store.status()

    # ----- internals

    def _send(self, frames: Sequence[OutgoingFrame]) -> None:
        for frame in frames:
            due = self.clock.now() if frame.not_before is None else frame.not_before
            heapq.heappush(self._outbox, _Queued(due, next(self._seq), frame))

    def _deliver(self, out: OutgoingFrame) -> None:
        zcl = out.zcl
        block = air.image_data(zcl)
        if block is not None:
            self._blocks_delivered += 1
            if self._blocks_delivered == self.faults.corrupt_block:
                zcl = zcl[:-1] + bytes([zcl[-1] ^ 0x01])
                block = air.image_data(zcl)
        aps = ApsFrame(HUB_IEEE, t.NWK(0), out.destination, self._nwk.get(out.destination, UNKNOWN_NWK),
                       out.profile, out.cluster, out.src_ep, out.dst_ep, zcl, out.aps_encrypt)
        if not self.han.deliver(aps):
            self.counters.frames_lost += 1
        elif block is not None:
            self.ledger.received(out.destination, block, self.clock.now())

    def _collect_alerts(self, core: HubCore) -> None:
        """What the hub does with owed alerts: hand them on, then acknowledge them (at least once)."""
        owed = core.take_alerts()
        if not owed:
            return
        now = self.clock.now()
        for alert in owed:
            if alert.transfer_response is not None and alert.alert_id not in self.ledger.alerts:
                self._terminal_alerts_seen += 1
                if self._terminal_alerts_seen == self.faults.drop_terminal_alert:
                    continue
            self.ledger.alert(alert, now)
        core.acknowledge(owed)

    @staticmethod
    def _resident(core: HubCore, image: SoakImage) -> ImageStatus | None:
        for block in core.store.status().blocks:
            if block.block is image.block:
                return block.image
        return None
