"""`hubfw serve --radio sim`: the simulated EZSP NCP on a pty, with a small simulated HAN, under the real clock.

The hub opens the pty through `open_bellows_radio` exactly as it opens a dongle, so a served hub on the
simulator takes the production code path end to end; only the serial device differs. The NCP keeps its
tokens in `DIR/ncp`, so a restarted `serve` finds the same network. The default devices are GB devices:
they run CBKE with certificates from the test CA the hub keeps in `DIR/cbke/ca` (the one it certifies
itself with when serving on the simulator without `--cbke`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.gbcs.bench_keys import bench_key_set, bench_keys_dir
from hubfw.hub.credentials import hub_sim_credentials, issue_sim_credentials
from hubfw.hub.service import Hub
from hubfw.radio import SerialSettings, open_bellows_radio
from hubfw.radio.bellows import HubControllerApplication
from hubfw.sim.demo import HCALCS_IMAGE_TYPE, MANUFACTURER, OLD_VERSION, PPMID_IMAGE_TYPE
from hubfw.sim.devices import OtaClientDevice, SimulatedAir, gb_session, hcalcs, ppmid
from hubfw.sim.ncp import SimulatedNcp
from hubfw.sim.ncp.network import TokenStore

SIMULATED_RADIO = "sim"
NCP_DIR_NAME = "ncp"
DEFAULT_CHANNEL = 15
PERMIT_S = 60
JOIN_TIMEOUT_S = 30.0
"""Real seconds for the simulated devices to join at start; they join in milliseconds when all is well."""
JOIN_POLL_S = 0.02


class SimulatedRadioError(HubfwError):
    """The simulated HAN did not come up behind the simulated NCP."""


def default_devices(state_dir: Path, clock: Clock) -> list[OtaClientDevice]:
    """The demo's bench: two PPMIDs and an HCALCS, manufacturer 0x1234, image types 0x0101 / 0x0102, each with
    suite 2 credentials from the state directory's test CA and its GBCS Digital Signing and Key Agreement keys in the
    bench key set `bench_keys_dir(state_dir)` (made on first start; the hub is given the same directory, so it checks
    the PPMIDs' 0x8F8B signatures and sends CS06 / CS08 the devices take). The HCALCS activates only on CS06."""
    options = dict(manufacturer_code=MANUFACTURER, file_version=OLD_VERSION, hardware_version=2,
                   keys_dir=bench_key_set(bench_keys_dir(state_dir)).directory)

    def session(ieee: str, device_type: DeviceType) -> dict[str, object]:
        credentials = issue_sim_credentials(state_dir, parse_eui64(ieee), CryptoSuite.SUITE_2, clock)
        return {"gb": gb_session(device_type, credentials)}

    return [
        ppmid("00:0d:6f:00:00:00:e0:01", 0xE001, image_type=PPMID_IMAGE_TYPE,
              **session("00:0d:6f:00:00:00:e0:01", DeviceType.PPMID), **options),
        ppmid("00:0d:6f:00:00:00:e0:02", 0xE002, image_type=PPMID_IMAGE_TYPE,
              **session("00:0d:6f:00:00:00:e0:02", DeviceType.PPMID), **options),
        hcalcs("00:0d:6f:00:00:00:e0:03", 0xE003, image_type=HCALCS_IMAGE_TYPE,
               **session("00:0d:6f:00:00:00:e0:03", DeviceType.HCALCS), **options),
    ]


class SimulatedRadio:
    """The simulated NCP and its HAN for one `serve`: `open` is the hub's radio opener, `close` comes after
    the hub has stopped."""

    def __init__(self, state_dir: Path, clock: Clock, *, channel: int | None = None, ezsp_version: int = 13,
                 devices: Sequence[OtaClientDevice] | None = None, cbke_library: bool = False) -> None:
        """`cbke_library` builds the NCP with Silicon Labs' CBKE library and the hub's certificates for both
        suites from the state directory's test CA, as a Smart Energy dongle carries them from the factory
        (for `serve --cbke-on-ncp`)."""
        self.han = SimulatedAir(clock, default_devices(state_dir, clock) if devices is None else devices)
        ncp_dir = state_dir / NCP_DIR_NAME
        ncp_ieee = TokenStore(ncp_dir).load(None).ieee  # the certificates name the dongle's EUI-64
        credentials = hub_sim_credentials(state_dir, ncp_ieee, clock) if cbke_library else ()
        self.ncp = SimulatedNcp(ncp_dir, ezsp_version=ezsp_version, han=self.han, ieee=ncp_ieee,
                                cbke_library=cbke_library, cbke_credentials=credentials)
        self.channel = DEFAULT_CHANNEL if channel is None else channel
        self.port: str | None = None
        self._driver: asyncio.Task[None] | None = None

    @property
    def description(self) -> str:
        return f"bellows EZSP v{self.ncp.ezsp_version} on {self.port} (simulated NCP)"

    async def open(self, hub_state_dir: Path) -> HubControllerApplication:
        self.port = await self.ncp.start()
        return await open_bellows_radio(SerialSettings(self.port, channel=self.channel), hub_state_dir)

    async def join_devices(self, hub: Hub) -> None:
        """Open the network, let the HAN run under the real clock, and return once the hub knows every device."""
        await hub.permit(PERMIT_S)
        self._driver = asyncio.create_task(self.han.run(self.ncp), name="hubfw-sim-han")
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                while not all(device.ieee in hub.app.devices for device in self.han.devices):
                    await asyncio.sleep(JOIN_POLL_S)
        except TimeoutError:
            missing = [str(device.ieee) for device in self.han.devices if device.ieee not in hub.app.devices]
            raise SimulatedRadioError(f"simulated devices did not join within {JOIN_TIMEOUT_S:.0f} s: "
                                      f"{', '.join(missing)}") from None

    async def close(self) -> None:
        """Stop the devices, then power the NCP off (its tokens are saved)."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None
        await self.ncp.stop()
