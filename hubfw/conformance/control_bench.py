"""`ControlBench`: the conformance run against a hub that is already serving (`hubfw serve --state DIR`), driven
through its control socket (hubfw.hub.control) instead of a `Hub` in this process.

It offers what `run_conformance` uses of a `HilBench`: distribute, transfers, devices, the alert log, faults on
demand, and the OTA frames the hub heard and sent (the `ota_frames` verb), handed to the run's `FrameLog` with
the hub's clock time of each frame. Time is the hub's wall clock: waiting polls the socket every `poll_s`.
It cannot restart the hub (resume-after-restart is not run), and power-cycles the DUT only when given a way to.

The control client blocks on the socket, so the serving hub must run in another process (or thread)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import zigpy.types as t

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.hub.alert_log import alert_log_path, read_alert_log
from hubfw.hub.control import ControlClient, ControlError
from hubfw.hub.core import NoGbcsKeys
from hubfw.hub.faults import Fault
from hubfw.hub.ota_frames import MAX_ANSWER, frame_from_json
from hubfw.sim.hil.bench import PERMIT_S, HilTimeout

POLL_S = 0.25
"""Seconds between looks at the serving hub while waiting."""
NOW_CURSOR = 2**53
"""An `ota_frames` cursor past every frame: the answer's `next` is where the ring stands now."""


class _RemoteClock:
    """The serving hub's clock: its wall clock as of the last answer, moved on by ours; while frames are handed to
    the observers, the time the hub stamped on the frame."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frame_at: float | None = None

    def now(self) -> float:
        return self.frame_at if self.frame_at is not None else time.time() + self.offset


class _RemoteApp:
    def __init__(self, client: ControlClient) -> None:
        self._client = client

    @property
    def devices(self) -> dict[t.EUI64, dict[str, Any]]:
        """The devices the serving hub knows, by EUI-64 (as `hubfw devices` lists them)."""
        return {parse_eui64(entry["eui64"]): entry for entry in self._client.call("devices")}


class RemoteHub:
    """The part of `Hub` a conformance run touches, for a hub behind a control socket."""

    def __init__(self, client: ControlClient) -> None:
        self.client = client
        self.clock = _RemoteClock()
        self.app = _RemoteApp(client)
        self.frame_observers: list[Callable[[str, Any], None]] = []


class ControlBench:
    """A `HilBench` over the control socket of the hub serving `state_dir`; `dut` is the device under test."""

    def __init__(self, state_dir: str | Path, dut: t.EUI64, device_type: DeviceType, *,
                 install_code: bytes | None = None, poll_s: float = POLL_S,
                 power_cycle_dut: Callable[[], Awaitable[None]] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.client = ControlClient(self.state_dir)
        self.device_under_test = dut
        self.dut_install_code = install_code
        self.device_type = device_type
        self.cbke = False
        self.description = f"serving hub at {self.state_dir}"
        self.poll_s = poll_s
        self.missed_frames = 0
        """OTA frames of the DUT that fell off the hub's ring before this bench read them (polls too far apart)."""
        self._hub = RemoteHub(self.client)
        self._cursor = NOW_CURSOR
        self._alert_log = alert_log_path(self.state_dir)
        if power_cycle_dut is not None:
            self.power_cycle_dut = power_cycle_dut

    @property
    def hub(self) -> RemoteHub:
        return self._hub

    async def start(self) -> None:
        """Check a hub serves `state_dir` (ControlError, naming `hubfw serve`, if none does) and start following its
        OTA frames from now."""
        status = self.client.call("status")
        self._alert_log = Path(status.get("alert_log") or self._alert_log)
        self.cbke = bool((status.get("han") or {}).get("cbke_required"))
        self._cursor = NOW_CURSOR
        self.sync()

    async def stop(self) -> None:
        self._hub.frame_observers.clear()

    def dut_image(self) -> bytes:
        raise HubfwError("a serving hub's bench has no test image of its own: give --image")

    # ----- following the hub

    def sync(self) -> None:
        """Hand the OTA frames of the DUT the hub logged since the last look to the frame observers, each at the
        hub's time for it; and set the clock from the hub's."""
        while True:
            answer = self.client.call("ota_frames", since=self._cursor, eui64=str(self.device_under_test))
            self._hub.clock.offset = float(answer["now"]) - time.time()
            if self._cursor != NOW_CURSOR:
                self.missed_frames += int(answer.get("missed", 0))
            self._cursor = int(answer["next"])
            for entry in answer["frames"]:
                frame = frame_from_json(entry)
                self._hub.clock.frame_at = float(entry["at"])
                try:
                    for observer in list(self._hub.frame_observers):
                        observer(entry["direction"], frame)
                finally:
                    self._hub.clock.frame_at = None
            if len(answer["frames"]) < MAX_ANSWER:
                return

    async def wait_until(self, goal: Callable[[], bool], timeout: float) -> None:
        """Poll the hub (its frames, then `goal()`) until `goal()` holds; `timeout` is wall-clock seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync()
            if goal():
                return
            if time.monotonic() >= deadline:
                raise HilTimeout(f"not reached within {timeout:.0f} s")
            await asyncio.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    # ----- what the run asks of the hub

    activation: str | None = None
    """`hubfw activate --method`: "gbcs", "zcl", or None for the serving hub's default for the DUT."""

    async def activate(self, entity: t.EUI64, image_hash: bytes, timeout: float) -> dict[str, Any]:
        """`hubfw activate`: the serving hub sends CS06 (or the ZCL UpgradeEndResponse) and answers once the device's
        checked response is in; HilTimeout when none came within `timeout` seconds."""
        return self._command("activate", timeout, eui64=str(entity), sha256=image_hash.hex(), method=self.activation)

    async def read_version(self, entity: t.EUI64, timeout: float) -> dict[str, Any]:
        """`hubfw read-version`: CS08 and the device's checked answer."""
        return self._command("read_version", timeout, eui64=str(entity))

    def _command(self, verb: str, timeout: float, **arguments: Any) -> dict[str, Any]:
        try:
            answer = self.client.call(verb, timeout=timeout, **arguments)
        except ControlError as exc:  # the hub's own errors, by their words: the socket carries only the message
            if " response from " in str(exc) and str(exc).startswith("no "):  # Hub.command_outcome's time-out
                raise HilTimeout(str(exc)) from None
            if str(exc) == NoGbcsKeys.MESSAGE:
                raise NoGbcsKeys(str(exc)) from None
            raise
        self.sync()
        return dict(answer)

    def tunnel_send(self, entity: t.EUI64, message: bytes) -> dict[str, Any]:
        return dict(self.client.call("tunnel_send", eui64=str(entity), message=message.hex()))

    def tunnel_messages(self, entity: t.EUI64) -> list[dict[str, Any]]:
        return list(self.client.call("tunnel_messages", eui64=str(entity)))

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType) -> dict[str, Any]:
        self.sync()  # what came before belongs before the run's mark
        return self.client.call("distribute", image=base64.b64encode(ota_file).decode("ascii"),
                                targets=[str(target) for target in targets], device_type=device_type.value)

    async def admit(self, eui64: t.EUI64, install_code: bytes | None) -> None:
        """Open the serving hub's network (for `eui64` alone under its install code, when given) and wait for it."""
        self.client.call("permit", time_s=PERMIT_S, install_code=None if install_code is None else install_code.hex(),
                         eui64=None if install_code is None else str(eui64))
        await self.wait_until(lambda: eui64 in self._hub.app.devices, PERMIT_S)

    def alerts(self, entity: t.EUI64 | None = None) -> list[TransferAlert]:
        """The serving hub's alert log in order (each alert once), optionally for one entity."""
        return [alert for alert in read_alert_log(self._alert_log)
                if isinstance(alert, TransferAlert) and (entity is None or alert.entity == entity)]

    async def wait_for_alert(self, entity: t.EUI64, code: AlertCode, timeout: float, *,
                             firmware_version: int | None = None) -> TransferAlert:
        def found() -> TransferAlert | None:
            return next((alert for alert in self.alerts(entity) if alert.code is code
                         and (firmware_version is None or alert.firmware_version == firmware_version)), None)

        await self.wait_until(lambda: found() is not None, timeout)
        alert = found()
        assert alert is not None
        return alert

    def transfer(self, entity: t.EUI64) -> dict[str, Any] | None:
        return next((entry for entry in self.client.call("transfers") if entry["entity"] == str(entity)), None)

    def han_view(self, entity: t.EUI64) -> dict[str, Any]:
        entry = next((entry for entry in self.client.call("devices") if entry["eui64"] == str(entity)), {})
        return {key: entry.get(key) for key in ("key_establishment", "tunnel", "tunnel_opened_by")}

    def set_fault(self, eui64: t.EUI64, fault: Fault) -> dict[str, Any]:
        return self.client.call("fault_set", eui64=str(eui64), fault=fault.to_json())

    def clear_faults(self, eui64: t.EUI64 | None = None) -> dict[str, Any]:
        return self.client.call("fault_clear", eui64=None if eui64 is None else str(eui64))

    def fault_history(self, eui64: t.EUI64) -> list[dict[str, Any]]:
        return list(self.client.call("fault_list", history=True).get("history", {}).get(str(eui64), []))


__all__ = ["ControlBench", "ControlError", "RemoteHub"]
