"""The hub (layer 5): one state directory, one radio, the image store and the OTA server, wired together.

The state directory holds everything that must survive a restart: `flash.bin` (the emulated NOR
flash with the image store and its alert journal), `zigbee.db` (zigpy's device database) and
`alerts.jsonl` (every alert the hub raised, one JSON object per line). Alerts travel at least once:
the hub appends owed alerts to the log, syncs it, and only then acknowledges them in the store — a
crash in between repeats them, so consumers de-duplicate by `alert_id`.

Time comes from an injected clock. With the system clock a timer task runs the store's and the
server's deadlines; with a `VirtualClock` nothing runs by itself and `advance` jumps time, running
every deadline on the way in order (a 14-day scenario takes milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zigpy.types as t
import zigpy.util
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import TransferAlert
from hubfw.clock import Clock, VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, get_profile
from hubfw.ota.admission import admit
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.radio import SE_ENDPOINT, OtaRadio
from hubfw.server import IncomingFrame, OtaServer, OtaServerConfig, OutgoingFrame
from hubfw.store.policy import iso_utc
from hubfw.store.store import ImageStore

LOGGER = logging.getLogger(__name__)

ALERT_LOG_NAME = "alerts.jsonl"
MAX_TIMER_SLEEP = 3600.0
"""The realtime timer re-checks at least this often, in case the wall clock jumped."""
MIN_TIMER_SLEEP = 0.01
"""Never spin: a deadline that is somehow still due after running is looked at again shortly."""

RadioOpener = Callable[[Path], Awaitable[OtaRadio]]
"""Starts the radio application whose zigpy database lives in the given state directory."""


class HubError(HubfwError):
    """A hub request that cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class HubConfig:
    flash_profile: str = DEFAULT_PROFILE
    """Used when the flash file is created; an existing file must have been made with it."""
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    server: OtaServerConfig = field(default_factory=OtaServerConfig)
    """The radio's real maximum APS payload and the coordinator's SE endpoint replace the defaults."""
    trust: tuple[ec.EllipticCurvePublicKey, ...] = ()
    """Manufacturer signature trust anchors for admission."""
    require_signature: bool = False
    cpl: CentralProductsList | None = None


def alert_log_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / ALERT_LOG_NAME


def read_alert_log(path: Path) -> list[TransferAlert]:
    """Every alert in a log, first appearance of each `alert_id` only (the log is at-least-once).

    A torn last line (the hub was killed mid-write) is skipped: the store still owes that alert
    and the next start writes it again."""
    alerts: dict[int, TransferAlert] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HubError(f"cannot read the alert log {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            alert = TransferAlert.from_json(json.loads(line))
        except (ValueError, HubfwError) as exc:
            if number == len(lines):
                continue
            raise HubError(f"{path}:{number}: not an alert record ({exc})") from None
        alerts.setdefault(alert.alert_id, alert)
    return list(alerts.values())


class AlertLog:
    """`alerts.jsonl`: appended and synced before the store forgets an alert."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, alerts: Sequence[TransferAlert]) -> None:
        with self.path.open("a", encoding="utf-8") as log:
            for alert in alerts:
                log.write(json.dumps(alert.to_json(), separators=(",", ":")) + "\n")
            log.flush()
            os.fsync(log.fileno())


class Hub:
    """Owns a state directory while started; every method runs on the event loop that started it."""

    def __init__(
        self, state_dir: str | os.PathLike[str], radio: RadioOpener, clock: Clock, config: HubConfig | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        self.clock = clock
        self.config = config or HubConfig()
        self.alert_log = AlertLog(alert_log_path(self.state_dir))
        self._open_radio = radio
        self._realtime = not isinstance(clock, VirtualClock)
        self._flash: NorFlash | None = None
        self._store: ImageStore | None = None
        self._server: OtaServer | None = None
        self._app: OtaRadio | None = None
        self._timer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue[TransferAlert]] = set()

    # ----- life cycle

    async def start(self) -> None:
        """Open (or create) the flash file and recover the store, start the radio, write owed alerts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._flash = self._open_flash()
        try:
            self._store = ImageStore.open(self._flash, self.clock, max_image_size=self.config.max_image_size)
            self._app = await self._open_radio(self.state_dir)
            server_config = replace(
                self.config.server, aps_max_payload=self._app.max_aps_payload, server_endpoint=SE_ENDPOINT
            )
            self._server = OtaServer(self._store, self.clock, server_config)
            self._app.set_ota_handler(self._on_frame, self.clock)
            self._app.send_ota_frames(self._server.notify(self._not_started()))
            self._run_due()
        except BaseException:
            await self.stop()
            raise
        if self._realtime:
            self._timer = asyncio.create_task(self._timer_loop(), name="hubfw-hub-timer")

    async def stop(self) -> None:
        """Stop answering, shut the radio down, flush and close the flash. Every store change is
        already durable when it returns, so stopping never leaves the flash half-written."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._app is not None:
            self._app.set_ota_handler(None)
            await self._app.shutdown()
            self._app = None
        if self._flash is not None:
            self._flash.close()
            self._flash = None
        self._store = self._server = None

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def app(self) -> OtaRadio:
        if self._app is None:
            raise HubError("the hub is not running")
        return self._app

    @property
    def store(self) -> ImageStore:
        if self._store is None:
            raise HubError("the hub is not running")
        return self._store

    @property
    def server(self) -> OtaServer:
        if self._server is None:
            raise HubError("the hub is not running")
        return self._server

    def _not_started(self) -> list[t.EUI64]:
        """Targets that had not started downloading when the hub went down: told again at start-up (those
        that had started carry on by themselves, from the offset they hold)."""
        return [
            parse_eui64(target.entity)
            for block in self.store.status().blocks if block.image is not None
            for target in block.image.targets if target.state == "waiting"
        ]

    # ----- time

    async def advance(self, seconds: float) -> None:
        """VirtualClock only: move time forward, stopping at every deadline on the way to run it."""
        if not isinstance(self.clock, VirtualClock):
            raise HubError("only a hub on a virtual clock can jump time")
        target = self.clock.now() + seconds
        while (deadline := self._next_deadline()) is not None and deadline <= target:
            if deadline <= self.clock.now():
                break  # already run at this instant: nothing more is due before the target
            self.clock.set(deadline)
            self._run_due()
            await asyncio.sleep(0)  # let the radio send what the deadline produced
        self.clock.set(target)
        self._run_due()
        await asyncio.sleep(0)

    def _next_deadline(self) -> float | None:
        times = [when for when in (self.store.next_deadline(), self.server.next_deadline()) if when is not None]
        return min(times, default=None)

    def _run_due(self) -> None:
        """Store time rules (24 h stall, 14 days unstarted), ImageNotify re-sends, version reads."""
        self.store.tick()
        self.app.send_ota_frames(self.server.tick())
        self._publish_alerts()

    async def _timer_loop(self) -> None:
        while True:
            try:
                self._run_due()
            except HubfwError as exc:  # e.g. worn flash: keep serving what still works
                LOGGER.error("hub timer: %s", exc)
            deadline = self._next_deadline()
            timeout = MAX_TIMER_SLEEP if deadline is None else min(MAX_TIMER_SLEEP, deadline - self.clock.now())
            timeout = max(MIN_TIMER_SLEEP, timeout)
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancel that races the wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _changed(self) -> None:
        """After anything that may owe alerts or move deadlines."""
        self._publish_alerts()
        self._wake.set()

    # ----- the radio side

    def _on_frame(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        replies = self.server.handle(frame)
        self._changed()
        return replies

    # ----- requests (the control socket's verbs)

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType) -> dict[str, Any]:
        """CS05b/CS05c: admission checks, then store, then ImageNotify to each target."""
        if not targets:
            raise HubError("name at least one target device (--to EUI64[,EUI64...])")
        report = admit(
            ota_file, max_size=self.config.max_image_size, trust=self.config.trust, cpl=self.config.cpl,
            require_signature=self.config.require_signature,
        )
        report.raise_if_rejected()
        image = self.store.distribute(ota_file, [(eui64, device_type) for eui64 in targets])
        self.app.send_ota_frames(self.server.notify(targets))
        self._changed()
        return {
            "image_id": image.image_id, "block": image.block.value, "device_type": image.device_type.value,
            "manufacturer_code": f"0x{image.manufacturer_code:04X}", "image_type": f"0x{image.image_type:04X}",
            "file_version": f"0x{image.file_version:08X}", "total_size": image.total_size,
            "manufacturer_image_sha256": image.manufacturer_image_sha256.hex(),
            "targets": [str(eui64) for eui64 in targets],
            "checks": [check.line() for check in report.checks],
        }

    def activate(self, eui64: t.EUI64, manufacturer_image_sha256: bytes) -> dict[str, Any]:
        """CS06: tell a device that completed a transfer of this Manufacturer Image to run it now."""
        frames = self.server.activate(eui64, manufacturer_image_sha256)
        self.app.send_ota_frames(frames)
        self._changed()
        return {"entity": str(eui64), "manufacturer_image_sha256": manufacturer_image_sha256.hex()}

    async def permit(
        self, time_s: int, install_code: bytes | None = None, eui64: t.EUI64 | None = None
    ) -> dict[str, Any]:
        """Open joins for `time_s` seconds; with an install code only that device may join, under its derived key."""
        if not 0 <= time_s <= 254:
            raise HubError(f"permit time must be 0..254 seconds, not {time_s}")
        if install_code is None:
            if eui64 is not None:
                raise HubError("--eui64 names the device an install code is for; give --install-code too")
            await self.app.permit(time_s)
            return {"permit_s": time_s}
        if eui64 is None:
            raise HubError("an install code is for one device: give its --eui64 too")
        try:
            link_key = zigpy.util.convert_install_code(install_code)
        except ValueError as exc:
            raise HubError(f"bad install code: {exc}") from None
        await self.app.permit_with_link_key(node=eui64, link_key=link_key, time_s=time_s)
        return {"permit_s": time_s, "eui64": str(eui64), "link_key": str(link_key)}

    def status(self) -> dict[str, Any]:
        """Blocks, images with each target's state, progress and deadline, and what the hub waits for next."""
        found = self.store.status().to_json()
        images = []
        for block in found["blocks"]:
            image = block.pop("image")
            block["image_id"] = None if image is None else image["image_id"]
            if image is not None:
                for target in image["targets"]:
                    target["progress"] = round(target["offset"] / image["total_size"], 4)
                images.append({"block": block["block"], **image})
        deadline = self._next_deadline()
        return {
            "blocks": found["blocks"],
            "images": images,
            "pending_alerts": found["pending_alerts"],
            "completed_transfers": found["completed_transfers"],
            "next_deadline": None if deadline is None else iso_utc(deadline),
            "now": iso_utc(self.clock.now()),
            "alert_log": str(self.alert_log.path),
        }

    def transfers(self) -> list[dict[str, Any]]:
        """Every unfinished target with its image and byte offset: what `hubfw transfers` draws."""
        active = []
        for image in self.status()["images"]:
            for target in image["targets"]:
                if target["state"] in ("waiting", "downloading"):
                    active.append({
                        "entity": target["entity"], "state": target["state"], "image_id": image["image_id"],
                        "device_type": image["device_type"], "file_version": image["file_version"],
                        "offset": target["offset"], "total_size": image["total_size"], "progress": target["progress"],
                        "last_activity": target["last_activity"], "deadline": target["deadline"],
                    })
        return active

    def devices(self) -> list[dict[str, Any]]:
        """The devices zigpy knows (joined or from its database), coordinator excluded."""
        coordinator = self.app.state.node_info.ieee
        targets = {transfer["entity"]: transfer for transfer in self.transfers()}
        listed = []
        for ieee, device in sorted(self.app.devices.items(), key=lambda item: str(item[0])):
            if ieee == coordinator:
                continue
            last_seen = getattr(device, "last_seen", None)
            transfer = targets.get(str(ieee))
            ota = None if transfer is None else {key: transfer[key] for key in ("state", "image_id", "progress")}
            listed.append({
                "eui64": str(ieee), "nwk": f"0x{int(device.nwk):04X}", "manufacturer": device.manufacturer,
                "model": device.model, "initialized": device.is_initialized,
                "last_seen": None if last_seen is None else iso_utc(last_seen),
                "transfer": ota,
            })
        return listed

    # ----- alerts

    @contextlib.contextmanager
    def subscribe_alerts(self) -> Iterator[asyncio.Queue[TransferAlert]]:
        """A queue receiving every alert written to the log from now on."""
        queue: asyncio.Queue[TransferAlert] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _publish_alerts(self) -> None:
        owed = self.store.pending_alerts()
        if not owed:
            return
        try:
            self.alert_log.append(owed)
        except OSError as exc:  # the alerts stay owed in flash and are written on the next attempt
            LOGGER.error("cannot write the alert log %s: %s", self.alert_log.path, exc.strerror or exc)
            return
        self.store.acknowledge(alert.alert_id for alert in owed)
        for alert in owed:
            for queue in self._subscribers:
                queue.put_nowait(alert)

    # ----- internals

    def _open_flash(self) -> NorFlash:
        path = flash_path(self.state_dir)
        profile = get_profile(self.config.flash_profile)
        if path.exists():
            return NorFlash.open(path, profile=profile)
        return NorFlash.create(path, profile)
