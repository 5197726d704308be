"""A hub without a radio for the simulated-device tests: `HubCore` (the core `hubfw serve` runs) on an
emulated flash and a virtual clock, and a direct radio that carries APS frames between it and the devices."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.clock import VirtualClock
from hubfw.devices import parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import FlashProfile
from hubfw.hub.core import CoreConfig, HubCore
from hubfw.ota.image import build_image
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.sim.devices import OtaClientDevice, SimulatedAir
from hubfw.store.state import StoredImage
from hubfw.store.store import ImageStore
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame

MANUFACTURER = 0x1234
IMAGE_TYPE = 0x0301
OLD_VERSION = 0x0000_0100
NEW_VERSION = 0x0000_0200
HUB_IEEE = parse_eui64("00:0d:6f:ff:fe:00:00:01")

# 256 KiB of NOR with 4 KiB sectors: two 64 KiB image blocks and room for the metadata log.
BENCH_FLASH = FlashProfile(
    name="simdev-nor", size=256 * 1024, sector_size=4096, page_size=256, block_size=None, endurance=100_000,
    program_unit=1, max_writes_per_unit=None, page_program_s=(0.0004, 0.003), sector_erase_s=(0.045, 0.4),
    block_erase_s=None,
)
MAX_IMAGE = 64 * 1024


def eui(n: int) -> t.EUI64:
    return parse_eui64(f"00:0d:6f:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}")


def ota_file(size: int = 3000, *, version: int = NEW_VERSION, sign_key: ec.EllipticCurvePrivateKey | None = None,
             **header: int) -> bytes:
    """A valid OTA file of about `size` bytes (reproducible payload)."""
    payload = bytes((i * 7 + version) % 251 for i in range(size))
    return build_image(
        manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=version, payload=payload,
        sign_key=sign_key, **header,
    ).to_bytes()


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    frame: OutgoingFrame = field(compare=False)


class DirectRadio:
    """The radio's part, in-test: device frames go straight into the hub core, its answers onto the HAN
    (page responses no earlier than their `not_before`). Implements the HAN's uplink."""

    def __init__(self, clock: VirtualClock, core: HubCore, han: SimulatedAir) -> None:
        self.clock, self.core, self.han = clock, core, han
        self.nwk: dict[t.EUI64, t.NWK] = {}
        self.uplinked: list[ApsFrame] = []
        self.undelivered: list[ApsFrame] = []
        self._outbox: list[_Scheduled] = []
        self._seq = itertools.count()
        han.attach(self)

    # --- AirUplink
    def receive(self, frame: ApsFrame) -> bool:
        self.uplinked.append(frame)
        incoming = IncomingFrame(frame.src_ieee, frame.src_nwk, frame.profile, frame.src_ep, frame.dst_ep,
                                 frame.cluster, frame.payload, frame.aps_encrypted)
        self.send(self.core.handle(incoming))
        return True

    def join(self, ieee: t.EUI64, nwk: t.NWK, install_code: bytes | None) -> bool:
        self.nwk[ieee] = nwk
        return True

    # --- the hub side
    def send(self, frames: Sequence[OutgoingFrame]) -> None:
        for frame in frames:
            due = self.clock.now() if frame.not_before is None else frame.not_before
            heapq.heappush(self._outbox, _Scheduled(due, next(self._seq), frame))

    def step(self) -> None:
        now = self.clock.now()
        while self._outbox and self._outbox[0].due <= now:
            for aps in self.on_air(heapq.heappop(self._outbox).frame):
                if not self.han.deliver(aps):
                    self.undelivered.append(aps)
        self.han.step()
        self.send(self.core.run_due())

    def on_air(self, out: OutgoingFrame) -> list[ApsFrame]:
        """The APS frame(s) a hub frame goes out as."""
        return [ApsFrame(HUB_IEEE, t.NWK(0), out.destination, self.nwk.get(out.destination, t.NWK(0xFFFE)),
                         out.profile, out.cluster, out.src_ep, out.dst_ep, out.zcl, out.aps_encrypt)]

    def next_deadline(self) -> float | None:
        times = [self.han.next_deadline(), self.core.next_deadline()]
        if self._outbox:
            times.append(self._outbox[0].due)
        return min((time for time in times if time is not None), default=None)

    def run_until(self, done: Callable[[], bool], within: float) -> float:
        """Step, jumping the virtual clock from deadline to deadline, until `done()`; returns the time taken."""
        start = self.clock.now()
        while not done():
            if not self._advance(start + within) and not done():
                raise AssertionError(f"not done within {within} s")
        return self.clock.now() - start

    def run_for(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self._advance(end):
            pass
        self.clock.set(end)
        self.step()

    def _advance(self, limit: float) -> bool:
        """One step, then jump to the next deadline if it is no later than `limit`."""
        for _ in range(10_000):  # steps at one instant: a loop that never lets time pass is a bug
            self.step()
            deadline = self.next_deadline()
            if deadline is None or deadline > limit:
                return False
            if deadline > self.clock.now():
                self.clock.set(deadline)
                return True
        raise AssertionError("the simulation keeps working without letting time pass")


@dataclass
class Rig:
    clock: VirtualClock
    core: HubCore
    han: SimulatedAir
    radio: DirectRadio

    @property
    def store(self) -> ImageStore:
        return self.core.store

    @property
    def server(self) -> OtaServer:
        return self.core.server

    def distribute(self, ota: bytes, devices: Sequence[OtaClientDevice]) -> StoredImage:
        """What CS05b/c does: admit and store the image for the targets and notify them."""
        device_type = devices[0].identity.device_type
        distributed = self.core.distribute(ota, [device.ieee for device in devices], device_type)
        self.radio.send(distributed.frames)
        return distributed.image

    def alerts(self, ieee: t.EUI64) -> list[TransferAlert]:
        return [alert for alert in self.store.pending_alerts() if alert.entity == ieee]

    def alert_codes(self, ieee: t.EUI64) -> list[AlertCode]:
        return [alert.code for alert in self.alerts(ieee)]


def make_hub(devices: Sequence[OtaClientDevice] = (), **server_config: Any) -> Rig:
    clock = VirtualClock()
    config = CoreConfig(OtaServerConfig(**server_config), max_image_size=MAX_IMAGE)
    core = HubCore.open(NorFlash(BENCH_FLASH), clock, config)
    han = SimulatedAir(clock, devices)
    radio = DirectRadio(clock, core, han)
    rig = Rig(clock, core, han, radio)
    radio.step()  # devices join
    return rig
