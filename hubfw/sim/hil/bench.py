"""The two HIL back-ends behind one protocol: `SimulatedBench` (virtual time, simulated NCP and devices) and
`RealBench` (a real coordinator, wall-clock time). Tests written against `HilBench` run on either.

Both can run Smart Energy key establishment: the simulated bench's hub is its own test CA and its devices
carry certificates from it; a real bench's hub presents the credentials files HUBFW_HIL_CBKE names."""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import zigpy.types as t

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.clock import SystemClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.credentials import load_hub_credentials
from hubfw.hub.faults import Fault
from hubfw.hub.service import Hub, HubConfig
from hubfw.ota.image import build_image
from hubfw.ota.keys import new_private_key
from hubfw.radio import open_bellows_radio
from hubfw.sim.devices import OtaClientDevice, make_device
from hubfw.sim.hil.settings import HilConfigError, HilSettings
from hubfw.sim.world import ScenarioTimeout, SimulatedWorld

SIM_MANUFACTURER = 0x1234
SIM_IMAGE_TYPES = {DeviceType.PPMID: 0x0101, DeviceType.HCALCS: 0x0102, DeviceType.GSME: 0x0103,
                   DeviceType.ESME: 0x0104}
SIM_OLD_VERSION = 0x00000100
SIM_NEW_VERSION = 0x00000200
SIM_HARDWARE_VERSION = 2
SIM_PAYLOAD_BYTES = 8_000
"""Small images keep the suite quick; still 125 blocks of 64 bytes, so there is a middle to interrupt."""
SIM_DUT = parse_eui64("00:0d:6f:00:00:0b:00:01")
SIM_DUT_NWK = 0xB001
SIM_DUT_INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
"""The Zigbee specification's example install code (with its CRC)."""
PERMIT_S = 254
REAL_POLL_S = 0.5
"""Real bench: seconds between looks at the hub while waiting."""


class HilTimeout(HubfwError):
    """What a HIL test waited for did not happen in time."""


class HilBench(Protocol):
    """What a HIL test uses; the same on the simulator and on a real bench."""

    device_under_test: t.EUI64
    dut_install_code: bytes | None
    device_type: DeviceType
    cbke: bool
    """The hub runs CBKE and serves Smart Energy traffic only under the link keys it establishes."""

    @property
    def hub(self) -> Hub: ...

    def dut_image(self) -> bytes: ...

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType) -> dict[str, Any]: ...

    async def admit(self, eui64: t.EUI64, install_code: bytes | None) -> None: ...

    async def wait_until(self, goal: Callable[[], bool], timeout: float) -> None: ...

    async def wait_for_alert(self, entity: t.EUI64, code: AlertCode, timeout: float, *,
                             firmware_version: int | None = None) -> TransferAlert: ...

    async def activate(self, entity: t.EUI64, image_hash: bytes, timeout: float) -> dict[str, Any]: ...

    async def read_version(self, entity: t.EUI64, timeout: float) -> dict[str, Any]: ...

    def tunnel_send(self, entity: t.EUI64, message: bytes) -> dict[str, Any]: ...

    def tunnel_messages(self, entity: t.EUI64) -> list[dict[str, Any]]: ...

    def alerts(self, entity: t.EUI64 | None = None) -> list[TransferAlert]: ...

    def transfer(self, entity: t.EUI64) -> dict[str, Any] | None: ...

    def han_view(self, entity: t.EUI64) -> dict[str, Any]: ...

    def set_fault(self, eui64: t.EUI64, fault: Fault) -> dict[str, Any]: ...

    def clear_faults(self, eui64: t.EUI64 | None = None) -> dict[str, Any]: ...

    def fault_history(self, eui64: t.EUI64) -> list[dict[str, Any]]: ...


class _HubBench(abc.ABC):
    """What both back-ends do the same way, given `hub` and `wait_until`."""

    @property
    @abc.abstractmethod
    def hub(self) -> Hub: ...

    @abc.abstractmethod
    async def wait_until(self, goal: Callable[[], bool], timeout: float) -> None: ...

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType) -> dict[str, Any]:
        """CS05b/c through the hub: admission, store, ImageNotify (the hub's own `distribute`)."""
        return self.hub.distribute(ota_file, targets, device_type)

    def alerts(self, entity: t.EUI64 | None = None) -> list[TransferAlert]:
        """The alert log in order (each alert once), optionally for one entity; raw (undecodable) tunnel
        records are not alerts the hub raised and are left out."""
        logged = read_alert_log(self.hub.alert_log.path)
        return [alert for alert in logged
                if isinstance(alert, TransferAlert) and (entity is None or alert.entity == entity)]

    def transfer(self, entity: t.EUI64) -> dict[str, Any] | None:
        """The entity's unfinished transfer as `hubfw transfers` shows it (offset, total_size, state)."""
        return next((entry for entry in self.hub.transfers() if entry["entity"] == str(entity)), None)

    def han_view(self, entity: t.EUI64) -> dict[str, Any]:
        """The device's `key_establishment` ("suite1"/"suite2"/None), `tunnel` ("open"/"closed"/None) and
        `tunnel_opened_by` ("hub"/"device"/None) as `hubfw devices` shows them."""
        entry = next((entry for entry in self.hub.devices() if entry["eui64"] == str(entity)), {})
        return {key: entry.get(key) for key in ("key_establishment", "tunnel", "tunnel_opened_by")}

    def set_fault(self, eui64: t.EUI64, fault: Fault) -> dict[str, Any]:
        """Make the hub misbehave towards `eui64` (hubfw.hub.faults), from now on."""
        return self.hub.set_fault(eui64, fault)

    def clear_faults(self, eui64: t.EUI64 | None = None) -> dict[str, Any]:
        """Disarm the faults of `eui64` (of every device when None)."""
        return self.hub.clear_faults(eui64)

    def fault_history(self, eui64: t.EUI64) -> list[dict[str, Any]]:
        """Every fault set for `eui64`, each time one acted, and each cleared or expired, oldest first."""
        return self.hub.fault_history(eui64)

    activation: str | None = None
    """How `activate` tells the DUT to activate: "gbcs", "zcl", or None for the hub's default (`Hub.activate`)."""

    async def activate(self, entity: t.EUI64, image_hash: bytes, timeout: float) -> dict[str, Any]:
        """Tell `entity` to activate the image with this Manufacturer Image hash, as `hubfw activate` does: CS06
        through its tunnel, then its checked answer (waiting up to `timeout`); or, the ZCL way, what was sent."""
        sent = self.hub.activate(entity, image_hash, self.activation)
        return sent if "command" not in sent else await self._answer(sent, timeout)

    async def read_version(self, entity: t.EUI64, timeout: float) -> dict[str, Any]:
        """`hubfw read-version`: CS08 through `entity`'s tunnel and its checked answer (waiting up to `timeout`)."""
        return await self._answer(self.hub.read_version(entity), timeout)

    async def _answer(self, sent: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            await self.wait_until(lambda: self.hub.outcome_of(sent) is not None, timeout)
        except HilTimeout:
            raise HilTimeout(f"no {sent['command']} response from {sent['entity']} within {timeout:.0f} s") from None
        answer = self.hub.outcome_of(sent)
        assert answer is not None
        return answer

    def tunnel_send(self, entity: t.EUI64, message: bytes) -> dict[str, Any]:
        """`hubfw tunnel send`: one whole GBCS message, as it is, for `entity`'s tunnel."""
        return self.hub.send_gbcs(entity, message)

    def tunnel_messages(self, entity: t.EUI64) -> list[dict[str, Any]]:
        """`hubfw tunnel messages --json` for `entity`: what it sent through its tunnel, each `decoded`."""
        return self.hub.tunnel_messages(entity)

    async def wait_for_alert(self, entity: t.EUI64, code: AlertCode, timeout: float, *,
                             firmware_version: int | None = None) -> TransferAlert:
        """The first logged alert with this entity and code (and version, if given), waiting up to `timeout`."""
        def found() -> TransferAlert | None:
            return next((alert for alert in self.alerts(entity) if alert.code is code
                         and (firmware_version is None or alert.firmware_version == firmware_version)), None)

        try:
            await self.wait_until(lambda: found() is not None, timeout)
        except HilTimeout:
            seen = ", ".join(f"0x{alert.code:04X}" for alert in self.alerts(entity)) or "none"
            raise HilTimeout(f"no alert 0x{code:04X} for {entity} within {timeout:.0f} s (its alerts: {seen})") from None
        alert = found()
        assert alert is not None
        return alert


class SimulatedBench(_HubBench):
    """A `SimulatedWorld` with a simulated DUT (not yet joined) that trusts the bench's signing key. With `cbke`
    (the default, as on a GB HAN) the hub is its own test CA and every device from `device` runs CBKE first."""

    def __init__(self, state_dir: Path, device_type: DeviceType = DeviceType.PPMID, *, ezsp_version: int = 13,
                 cbke: bool = True, dut_options: dict[str, Any] | None = None) -> None:
        self.state_dir = state_dir
        self.ezsp_version = ezsp_version
        self.cbke = cbke
        self.signing_key = new_private_key()
        self.config = HubConfig(trust=(self.signing_key.public_key(),), require_signature=True, cbke_sim_ca=cbke)
        self.world = SimulatedWorld(state_dir, ezsp_version=ezsp_version, config=self.config)
        self.device_type = device_type
        self.dut = self.device(device_type, SIM_DUT, SIM_DUT_NWK, install_code=SIM_DUT_INSTALL_CODE,
                               **(dut_options or {}))
        """The simulated DUT; `dut_options` are `make_device` options, e.g. `defects={"no-8f8b"}`."""
        self.device_under_test = self.dut.ieee
        self.dut_install_code: bytes | None = SIM_DUT_INSTALL_CODE

    @property
    def hub(self) -> Hub:
        return self.world.hub

    async def start(self) -> None:
        await self.world.start()

    async def stop(self) -> None:
        await self.world.stop()

    def device(self, device_type: DeviceType, eui64: t.EUI64 | str, nwk: int, **options: Any) -> OtaClientDevice:
        """A simulated device that takes this bench's images for its type (not on the HAN yet: `add` or `admit`)."""
        options.setdefault("hardware_version", SIM_HARDWARE_VERSION)
        options.setdefault("file_version", SIM_OLD_VERSION)
        if "gb" not in options:
            options["gb"] = self.world.gb_session(parse_eui64(str(eui64)), device_type)
        return make_device(device_type, eui64, nwk, manufacturer_code=SIM_MANUFACTURER,
                           image_type=SIM_IMAGE_TYPES[device_type],
                           trust_anchors=(self.signing_key.public_key(),), **options)

    def image(self, device_type: DeviceType, file_version: int, payload_bytes: int = SIM_PAYLOAD_BYTES) -> bytes:
        """A signed OTA file the simulated devices of `device_type` accept."""
        payload = bytes((index * 7 + file_version) & 0xFF for index in range(payload_bytes))
        return build_image(manufacturer_code=SIM_MANUFACTURER, image_type=SIM_IMAGE_TYPES[device_type],
                           file_version=file_version, payload=payload, header_string=f"hubfw HIL 0x{file_version:08X}",
                           min_hw_version=1, max_hw_version=3, sign_key=self.signing_key).to_bytes()

    def dut_image(self) -> bytes:
        return self.image(self.device_type, SIM_NEW_VERSION)

    async def add(self, *devices: OtaClientDevice) -> None:
        """Devices without install codes join the open network; returns once the hub knows them."""
        await self.world.add(*devices)

    async def admit(self, eui64: t.EUI64, install_code: bytes | None) -> None:
        """Let the simulated device of that EUI-64 join; the world permits it under the install code it carries
        (`install_code`, as on a real bench)."""
        if eui64 != self.dut.ieee or install_code != self.dut.identity.install_code:
            raise HilConfigError(f"the simulated bench has no device {eui64} with that install code to admit "
                                 "(add others with `add`)")
        await self.world.add(self.dut)

    async def wait_until(self, goal: Callable[[], bool], timeout: float) -> None:
        """Drive the world on virtual time until `goal()` holds; `timeout` is virtual seconds."""
        if goal():
            return
        try:
            await self.world.run_until(goal, timeout)
        except ScenarioTimeout as exc:
            raise HilTimeout(str(exc)) from None

    async def power_cycle_dut(self, off_for: float = 10.0) -> None:
        """Switch the simulated DUT off for `off_for` virtual seconds and on again (it keeps its download area)."""
        now = self.world.clock.now()
        self.dut.power_off(now)
        await self.wait_until(lambda: self.world.clock.now() >= now + off_for, off_for + 1)
        self.dut.power_on(self.world.clock.now())

    async def restart_hub(self, down_for: float = 0.0) -> None:
        """Power-cycle the Communications Hub: hub and NCP stop, a new Hub and NCP start on the same state
        directory (flash, zigpy database, NCP tokens). The HAN devices keep running: they neither reboot nor
        rejoin; the new hub knows them from zigpy's database, where their interview left them. For `down_for`
        virtual seconds in between nothing answers them (what they send is lost), as while a real CH reboots. The
        faults set on the bench stay set (they are the bench's, not the hub's state), with their histories."""
        han, clock, faults = self.world.han, self.world.clock, self.world.hub.fault_book
        await self.world.stop()
        if down_for > 0:
            han.attach(_Unplugged())
            back = clock.now() + down_for
            while clock.now() < back:
                deadline = han.next_deadline()
                clock.set(back if deadline is None else min(back, max(deadline, clock.now())))
                han.step()
        self.world = SimulatedWorld(self.state_dir, ezsp_version=self.ezsp_version, config=self.config, clock=clock)
        self.world.han = self.world.ncp.han = han
        self.world.hub.fault_book = faults
        await self.world.start()


class _Unplugged:
    """The HAN's uplink while the hub is off: frames are lost, joins fail."""

    def receive(self, frame: Any, /) -> bool:
        return False

    def join(self, ieee: t.EUI64, nwk: t.NWK, install_code: bytes | None, /) -> bool:
        return False


class RealBench(_HubBench):
    """The hub on a real EZSP coordinator under the system clock, its state in a scratch directory."""

    def __init__(self, state_dir: Path, settings: HilSettings) -> None:
        assert settings.port is not None and settings.dut is not None
        self.settings = settings
        config = HubConfig(cbke_credentials=load_hub_credentials(settings.cbke_files), gbcs_keys=settings.gbcs_keys)
        self.cbke = bool(config.cbke_credentials)
        self.activation = settings.activation
        self._hub = Hub(state_dir, functools.partial(open_bellows_radio, settings.serial_settings()), SystemClock(),
                        config)
        self.device_under_test = settings.dut
        self.dut_install_code = settings.install_code
        self.device_type = settings.device_type

    @property
    def hub(self) -> Hub:
        return self._hub

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    def dut_image(self) -> bytes:
        return self.settings.test_image()

    async def admit(self, eui64: t.EUI64, install_code: bytes | None) -> None:
        """Open the network (for `eui64` alone, under its install code's key) and wait for it to join."""
        await self.hub.permit(PERMIT_S, install_code, None if install_code is None else eui64)
        await self.wait_until(lambda: eui64 in self.hub.app.devices, PERMIT_S)

    async def wait_until(self, goal: Callable[[], bool], timeout: float) -> None:
        """Poll `goal()` while the hub serves on its own; `timeout` is wall-clock seconds."""
        deadline = self.hub.clock.now() + timeout
        while not goal():
            if self.hub.clock.now() >= deadline:
                raise HilTimeout(f"not reached within {timeout:.0f} s")
            await asyncio.sleep(REAL_POLL_S)


async def watch_transfer(bench: HilBench, entity: t.EUI64, timeout: float) -> list[int]:
    """The byte offsets the hub recorded for `entity`'s transfer, sampled until a 0x8F89/0x8F8A alert ends it."""
    offsets: list[int] = []

    def ended() -> bool:
        entry = bench.transfer(entity)
        if entry is not None and (not offsets or entry["offset"] != offsets[-1]):
            offsets.append(entry["offset"])
        return any(alert.code is not AlertCode.ACTIVATION for alert in bench.alerts(entity))

    await bench.wait_until(ended, timeout)
    return offsets
