"""A whole simulated bench: the hub on unmodified bellows, the simulated NCP on a pty, and simulated
devices behind it, all on one virtual clock.

Serial traffic runs in real time (it is real I/O on a pseudo-terminal); the hub's rules and the
devices' schedules run on a `VirtualClock` that `run_until` moves from one deadline to the next
once the line has gone quiet. That is how the demo shows a 14-day retention rule in seconds
while every frame still crosses bellows, ASH and EZSP.

With `cbke=True` the hub is its own Smart Energy test CA (in its state directory, as on `serve --radio
sim`) and runs Key Establishment; `gb_session` gives a simulated GB device credentials from that CA.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zigpy.types as t

from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.gbcs.bench_keys import bench_key_set, bench_keys_dir
from hubfw.gbcs.device_keys import DeviceKeyDirectory, device_ds_key, device_ka_key
from hubfw.hub.credentials import issue_sim_credentials
from hubfw.hub.service import Hub, HubConfig
from hubfw.radio import SerialSettings, open_bellows_radio
from hubfw.radio.bellows import HubControllerApplication
from hubfw.sim.devices import GbHanSettings, OtaClientDevice, SimulatedAir, gb_session
from hubfw.sim.ncp import SimulatedNcp

SETTLE_POLL_S = 0.002
"""Real seconds between looks at the serial counters while waiting for the line to go quiet."""
CHANNEL = 15
PERMIT_S = 254


class ScenarioTimeout(HubfwError):
    """A simulated scenario did not reach its goal within its virtual-time budget."""


class SimulatedWorld:
    """Hub + bellows + simulated NCP + simulated HAN; `async with` starts and stops all of it."""

    def __init__(self, state_dir: Path, *, ezsp_version: int = 13, config: HubConfig | None = None,
                 clock: VirtualClock | None = None, cbke: bool = False, capture: Path | None = None) -> None:
        self.state_dir = state_dir
        self.capture = capture
        """A pcap file for every APS frame the hub sends and receives, from the moment its radio is up."""
        self.clock = clock or VirtualClock()
        self.han = SimulatedAir(self.clock)
        self.ezsp_version = ezsp_version
        self.ncp = SimulatedNcp(state_dir / "ncp", ezsp_version=ezsp_version, han=self.han)
        config = config or HubConfig()
        if cbke:
            config = dataclasses.replace(config, cbke_sim_ca=True)
        self.cbke = config.cbke_sim_ca
        """The hub is its own test CA and runs Key Establishment (serving Smart Energy only under CBKE keys)."""
        self.gbcs_keys = bench_key_set(bench_keys_dir(state_dir))
        """The bench key set in `state_dir/gbcs-keys`: the supplier's and ACB's keys, the simulated devices' own."""
        if config.device_keys is None:  # the hub checks its simulated PPMIDs' signatures, as `serve --radio sim`
            config = dataclasses.replace(config, device_keys=DeviceKeyDirectory(self.gbcs_keys.directory))
        if config.gbcs_keys is None:  # and sends CS06 / CS08 with the bench's supplier and ACB keys
            config = dataclasses.replace(config, gbcs_keys=self.gbcs_keys.directory)
        self.hub = Hub(state_dir / "hub", self._open_radio, self.clock, config)
        self.port: str | None = None

    async def _open_radio(self, directory: Path) -> HubControllerApplication:
        self.port = await self.ncp.start()
        return await open_bellows_radio(SerialSettings(self.port, channel=CHANNEL), directory)

    @property
    def radio_description(self) -> str:
        return f"bellows EZSP v{self.ezsp_version} on {self.port} (simulated NCP)"

    async def start(self) -> None:
        await self.hub.start()
        if self.capture is not None:
            self.hub.start_capture(self.capture)
        self.han.attach(self.ncp)
        await self.hub.permit(PERMIT_S)

    async def stop(self) -> None:
        await self.hub.stop()
        await self.ncp.stop()

    async def __aenter__(self) -> SimulatedWorld:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def gb_session(self, eui64: t.EUI64, device_type: DeviceType, suite: CryptoSuite = CryptoSuite.SUITE_2,
                   **options: Any) -> GbHanSettings | None:
        """A GB device's session with credentials from the hub's test CA, and its GBCS Digital Signing and Key
        Agreement keys from the bench key set (unless `options` give them), which it checks GBCS commands against;
        None when the hub runs no CBKE (the device then speaks OTA alone, as before GB devices had sessions)."""
        if not self.cbke:
            return None
        credentials = issue_sim_credentials(self.hub.state_dir, eui64, suite, self.clock)
        options.setdefault("ds_key", device_ds_key(self.gbcs_keys.directory, eui64))
        options.setdefault("ka_key", device_ka_key(self.gbcs_keys.directory, eui64))
        options.setdefault("gbcs_keys", self.gbcs_keys)
        return gb_session(device_type, credentials, **options)

    async def add(self, *devices: OtaClientDevice) -> None:
        """Put devices on the HAN (admitting those with an install code under its key, as `hubfw permit
        --install-code` does) and wait until the hub knows them all and their Smart Energy sessions have
        settled (a link key, or a refusal that stands)."""
        for device in devices:
            code = device.identity.install_code
            if code is not None:
                await self.hub.permit(PERMIT_S, code, device.ieee)
            self.han.add(device)

        def arrived(device: OtaClientDevice) -> bool:
            return device.ieee in self.hub.app.devices and (device.gb is None or device.gb.settled)

        await self.run_until(lambda: all(arrived(device) for device in devices), 3600)

    async def settle(self) -> None:
        """Until no byte has crossed the serial line for one poll and the devices have heard everything."""
        last = None
        while True:
            await self.ncp.wait_idle()
            await asyncio.sleep(SETTLE_POLL_S)
            stats = self.ncp.stats
            seen = (stats.bytes_to_host, stats.bytes_from_host, self.han.next_deadline() == self.clock.now())
            if seen == last and not seen[2]:
                return
            last = seen
            self.han.step()

    async def run_until(self, goal: Callable[[], bool], virtual_seconds: float) -> None:
        """Run devices and hub, jumping the virtual clock deadline to deadline, until `goal()` holds."""
        limit = self.clock.now() + virtual_seconds
        while True:
            self.han.step()
            await self.settle()
            if goal():
                return
            deadlines = [self.han.next_deadline(), self.hub.server.next_deadline(), self.hub.store.next_deadline()]
            if self.cbke:
                deadlines.append(self.hub.han.server.next_deadline())
            now = self.clock.now()
            if now >= limit:
                raise ScenarioTimeout(f"scenario goal not reached within {virtual_seconds:.0f} virtual seconds")
            upcoming = min([*(when for when in deadlines if when is not None), limit])
            if upcoming > now:
                await self.hub.advance(upcoming - now)

    async def run_for(self, virtual_seconds: float) -> None:
        """Let the world live for a while (e.g. 14 days), every deadline on the way honoured."""
        end = self.clock.now() + virtual_seconds
        await self.run_until(lambda: self.clock.now() >= end, virtual_seconds + 1)
