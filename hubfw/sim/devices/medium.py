"""The simulated air between the hub's radio and the simulated OTA client devices.

`SimulatedAir` is the `Air` the simulated NCP (or the hub's in-process radio) delivers coordinator
frames to; what devices send goes back through an `AirUplink`. Delivery only queues: devices answer in
`step`, after `deliver` has returned, as on the air.

Time comes from the injected clock. Under real time `run` is the whole driver. Under a VirtualClock a
scenario calls `step`, then jumps the clock to the earlier of the hub's and `next_deadline()` — or
keeps `run` going and calls `wake()` after each jump.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Protocol

import zigpy.types as t

from hubfw.clock import Clock
from hubfw.errors import HubfwError
from hubfw.sim.devices.behaviour import BROADCAST_FLOOR
from hubfw.sim.devices.client import OtaClientDevice
from hubfw.zigbee.aps import ApsFrame

LOGGER = logging.getLogger(__name__)

RX_ON_WHEN_IDLE_BROADCAST = 0xFFFD
"""Broadcasts to 0xFFFD (and 0xFFFC, routers) never reach a sleepy end device."""
DEFAULT_JOIN_RETRY = 30.0


class AirError(HubfwError):
    """A simulated HAN set up inconsistently (two devices with one address)."""


class AirUplink(Protocol):
    """How devices reach the hub: only over the radio. `SimulatedNcp` and the hub's virtual radio both fit.

    A False result means the frame or the join was refused (network down, joining closed, bad key).
    """

    def receive(self, frame: ApsFrame, /) -> bool | None: ...

    def join(self, ieee: t.EUI64, nwk: t.NWK, install_code: bytes | None, /) -> bool | None: ...


class SimulatedAir:
    """The devices on the HAN; implements `hubfw.radio.air.Air`."""

    def __init__(self, clock: Clock, devices: Iterable[OtaClientDevice] = (),
                 join_retry: float = DEFAULT_JOIN_RETRY) -> None:
        self._clock = clock
        self._join_retry = join_retry
        self._by_ieee: dict[t.EUI64, OtaClientDevice] = {}
        self._by_nwk: dict[int, OtaClientDevice] = {}
        self._join_at: dict[t.EUI64, float] = {}
        self._arrived: deque[tuple[OtaClientDevice, ApsFrame]] = deque()
        self._uplink: AirUplink | None = None
        self._wake = asyncio.Event()
        for device in devices:
            self.add(device)

    @property
    def devices(self) -> list[OtaClientDevice]:
        return list(self._by_ieee.values())

    def add(self, device: OtaClientDevice) -> None:
        """Put a device on the HAN; it asks to join at the next `step`."""
        ieee, nwk = device.identity.ieee, int(device.identity.nwk)
        if ieee in self._by_ieee or nwk in self._by_nwk:
            raise AirError(f"a device with EUI-64 {ieee} or NWK 0x{nwk:04X} is already on the HAN")
        self._by_ieee[ieee] = device
        self._by_nwk[nwk] = device
        self._join_at[ieee] = self._clock.now()
        self.wake()

    def device(self, ieee: t.EUI64) -> OtaClientDevice:
        return self._by_ieee[ieee]

    # ------------------------------------------------------------------ Air

    def deliver(self, frame: ApsFrame) -> bool:
        """Queue a coordinator frame for its device(s); False when the addressee is off or absent, or cannot
        open it (APS-secured under a key it does not hold). A payload longer than its frame carries
        (`ApsFrame.fits`: 73 bytes APS-encrypted, 71 in a fragment) reaches nobody."""
        if not frame.fits:
            LOGGER.warning("a %d-byte APS payload for %s does not fit one frame: nobody hears it",
                           len(frame.payload), frame.dst_ieee)
            return False
        if frame.dst_nwk >= BROADCAST_FLOOR:
            for device in self._by_ieee.values():
                if self._reachable(device) and (frame.dst_nwk > RX_ON_WHEN_IDLE_BROADCAST
                                                or device.behaviour.sleepy is None):
                    self._arrived.append((device, frame))
            self.wake()
            return True
        addressee = self._by_ieee.get(frame.dst_ieee) or self._by_nwk.get(int(frame.dst_nwk))
        if addressee is None or not self._reachable(addressee) or not addressee.hears(frame):
            return False
        self._arrived.append((addressee, frame))
        self.wake()
        return True

    # ------------------------------------------------------------------ driving

    def attach(self, uplink: AirUplink) -> None:
        """Where device frames and join requests go."""
        self._uplink = uplink
        self.wake()

    def step(self) -> int:
        """Let devices hear what arrived, join, and do what is due now; returns how many frames they sent."""
        uplink = self._uplink
        if uplink is None:
            raise AirError("the simulated HAN has no uplink: attach() it to a radio first")
        now = self._clock.now()
        sent = 0
        while self._arrived:
            device, frame = self._arrived.popleft()
            sent += self._send(uplink, device.on_frame(frame, now))
        for ieee, due in list(self._join_at.items()):
            if due <= now:
                self._join(uplink, self._by_ieee[ieee], now)
        for device in self._by_ieee.values():
            deadline = device.next_deadline()
            if deadline is not None and deadline <= now:
                sent += self._send(uplink, device.tick(now))
        return sent

    def next_deadline(self) -> float | None:
        """When `step` next has work (now, if frames are waiting to be heard)."""
        if self._arrived:
            return self._clock.now()
        times = [device.next_deadline() for device in self._by_ieee.values()]
        times += self._join_at.values()
        return min((time for time in times if time is not None), default=None)

    def wake(self) -> None:
        """Make `run` look again at once (after a delivery, or after a virtual clock jumped)."""
        self._wake.set()

    async def run(self, uplink: AirUplink) -> None:
        """Drive the devices until cancelled, sleeping until the next deadline or delivery."""
        self.attach(uplink)
        while True:
            self._wake.clear()
            self.step()
            deadline = self.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock.now())
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel racing a wake-up
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ helpers

    def _join(self, uplink: AirUplink, device: OtaClientDevice, now: float) -> None:
        identity = device.identity
        if not device.powered or uplink.join(identity.ieee, identity.nwk, identity.install_code) is False:
            self._join_at[identity.ieee] = now + self._join_retry
            return
        del self._join_at[identity.ieee]
        device.on_join(now)

    @staticmethod
    def _reachable(device: OtaClientDevice) -> bool:
        return device.joined and device.powered

    @staticmethod
    def _send(uplink: AirUplink, frames: list[ApsFrame]) -> int:
        for frame in frames:
            uplink.receive(frame)
        return len(frames)
