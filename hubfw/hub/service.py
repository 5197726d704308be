"""The hub (layer 5): one state directory, one radio, the image store and the OTA server, wired together.

The state directory holds everything that must survive a restart: `flash.bin` (the emulated NOR
flash with the image store and its alert journal), `zigbee.db` (zigpy's device database),
`alerts.jsonl` (every alert the hub raised, one JSON object per line) and, with CBKE credentials,
`cbke/` (see hubfw.hub.credentials and hubfw.hub.han). Alerts travel at least once: the hub appends
owed alerts to the log, syncs it, and only then acknowledges them in the store — a crash in between
repeats them, so consumers de-duplicate by `alert_id` (hubfw.hub.alert_log). A device's own alert that
arrives through its GBCS tunnel but cannot be decoded is logged once as a raw record.

With CBKE credentials the hub also runs the HAN server on its Smart Energy endpoint (Key
Establishment, Time, Basic, Metering, Tunneling): a device's new link key goes into the NCP before
the confirming answer goes out, and a PPMID's 0x8F8B from its tunnel is recorded as the store's
activation alert with source "tunnel". With `cbke_on_ncp` the NCP's own CBKE library computes the key
agreements (hubfw.han.key_establishment.engine): the hub runs the library's commands for the Key Establishment server
and resumes it with their results, and the library stores each confirmed key itself.

Time comes from an injected clock. With the system clock a timer task runs the store's and the
server's deadlines; with a `VirtualClock` nothing runs by itself and `advance` jumps time, running
every deadline on the way in order (a 14-day scenario takes milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zigpy.types as t
import zigpy.util
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import AlertCode
from hubfw.cbke.agreement import DeviceCredentials
from hubfw.clock import Clock, VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, get_profile
from hubfw.han import KeyEstablishmentServer
from hubfw.han.config import HanConfig
from hubfw.han.events import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    KeyEstablishmentFailed,
    LinkKeyEstablished,
    TunnelClosed,
    TunnelOpened,
)
from hubfw.han.key_establishment.engine import ConfirmKeys, HostEngine, KeyAgreementEngine, NcpEngine, NcpWork, ReleaseAgreement
from hubfw.han.server import HanServer
from hubfw.hub.alert_log import (  # the log's names stay importable from here, where callers found them
    AlertLog,
    LoggedAlert,
    RawTunnelAlert,
    alert_log_path,
    read_alert_log,
)
from hubfw.hub.credentials import (
    Presented,
    check_hub_credentials,
    check_ncp_certificates,
    hub_sim_credentials,
    presented_by,
    write_presented,
)
from hubfw.hub.han import HubHan, LinkKeyRegistry
from hubfw.ota.admission import admit
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.radio import OtaRadio
from hubfw.radio.ncp_cbke import NcpCbkeRadio
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.store.policy import iso_utc
from hubfw.store.store import ImageStore
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SE_ENDPOINT

LOGGER = logging.getLogger(__name__)

MAX_TIMER_SLEEP = 3600.0
"""The realtime timer re-checks at least this often, in case the wall clock jumped."""
MIN_TIMER_SLEEP = 0.01
"""Never spin: a deadline that is somehow still due after running is looked at again shortly."""

NO_HAN_VIEW = {"key_establishment": None, "key_establishment_failure": None, "tunnel": None}
"""A device's HAN fields when the hub runs no HAN server."""

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
    cbke_credentials: tuple[DeviceCredentials, ...] = ()
    """The hub's CBKE credentials, one per suite (`hubfw serve --cbke`); each subject must be the
    coordinator's EUI-64. With any, the hub runs its HAN server."""
    cbke_sim_ca: bool = False
    """Without credentials, be a test CA in state/cbke and issue the hub's own (the simulated radio)."""
    cbke_on_ncp: bool = False
    """Use the NCP's own CBKE library and certificates (`hubfw serve --cbke-on-ncp`) instead of host-side
    crypto; the hub refuses to start when the firmware lacks the library."""
    allow_without_cbke: bool = False
    """Serve Smart Energy traffic to devices without a CBKE link key too (otherwise NOT_AUTHORIZED)."""
    han: HanConfig = field(default_factory=HanConfig)

    def __post_init__(self) -> None:
        if self.cbke_on_ncp and self.cbke_credentials:
            raise HubError("give either --cbke FILE (CBKE on the host) or --cbke-on-ncp (the NCP's own), not both")


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
        self._han: HubHan | None = None
        self._ncp_engine: NcpEngine | None = None
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue[LoggedAlert]] = set()

    # ----- life cycle

    async def start(self) -> None:
        """Open (or create) the flash file and recover the store, start the radio, write owed alerts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._flash = self._open_flash()
        try:
            self._store = ImageStore.open(self._flash, self.clock, max_image_size=self.config.max_image_size)
            self._app = await self._open_radio(self.state_dir)
            self._han = await self._start_han(self._app.state.node_info.ieee)
            server_config = replace(
                self.config.server, aps_max_payload=self._app.max_aps_payload, server_endpoint=SE_ENDPOINT
            )
            self._server = OtaServer(self._store, self.clock, server_config, tunnel_open=self._tunnel_open)
            self._app.set_ota_handler(self._on_frame, self.clock)
            if self._han is not None:
                self._app.encrypt_unicasts_to(self._han.keys.devices())
                self._app.set_han_handler(self._on_han_frame, self._han.server.handles)
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._app is not None:
            self._app.set_ota_handler(None)
            self._app.set_han_handler(None)
            await self._app.shutdown()
            self._app = None
        if self._flash is not None:
            self._flash.close()
            self._flash = None
        self._store = self._server = self._han = self._ncp_engine = None

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

    @property
    def han(self) -> HubHan:
        if self._han is None:
            raise HubError(
                "the hub has no HAN server: serve with --cbke FILE (credentials whose subject is the coordinator) "
                "or on the simulated radio"
            )
        return self._han

    async def _start_han(self, coordinator: t.EUI64) -> HubHan | None:
        """The HAN server with Key Establishment, when the hub has CBKE credentials (or is its own test CA, or
        uses the NCP's CBKE library)."""
        engine = await self._key_agreement_engine(coordinator)
        if engine is None:
            return None
        # The hub's own rule (HubHan.refusal) guards every SE cluster, tunnel included, and knows the keys
        # established before a restart, which the HAN server's in-memory record does not.
        server = HanServer(
            self.clock, se_endpoint=SE_ENDPOINT, key_establishment=KeyEstablishmentServer(engine, self.clock),
            image_waiting=self._image_waiting, config=replace(self.config.han, require_key_establishment=False),
        )
        return HubHan(server, LinkKeyRegistry.in_state_dir(self.state_dir), require_cbke=not self.config.allow_without_cbke)

    async def _key_agreement_engine(self, coordinator: t.EUI64) -> KeyAgreementEngine | None:
        """The NCP's library (`cbke_on_ncp`), else the host with the configured or test-CA credentials, else
        none; what the hub presents is recorded for `hubfw cbke show`."""
        if self.config.cbke_on_ncp:
            if not isinstance(self.app, NcpCbkeRadio):
                raise HubError("--cbke-on-ncp needs an EZSP coordinator with the CBKE library; this radio has no NCP")
            certificates = check_ncp_certificates(await self.app.cbke_library.certificates(), coordinator)
            presented = {suite: Presented(certificate, None) for suite, certificate in certificates.items()}
            write_presented(self.state_dir, coordinator, presented)
            self._ncp_engine = NcpEngine(certificates)
            return self._ncp_engine
        credentials = self.config.cbke_credentials
        if not credentials and self.config.cbke_sim_ca:
            credentials = hub_sim_credentials(self.state_dir, coordinator, self.clock)
        if not credentials:
            return None
        by_suite = check_hub_credentials(credentials, coordinator)
        write_presented(self.state_dir, coordinator, presented_by(by_suite))
        return HostEngine(by_suite)

    def _image_waiting(self, eui64: t.EUI64) -> bool:
        """Metering FunctionalNotificationFlags bit 0: the store holds an image for this device."""
        return self._store is not None and self._store.offer(eui64) is not None

    def _tunnel_open(self, eui64: t.EUI64) -> bool:
        return self._han is not None and self._han.tunnel_open(eui64)

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
        deadlines = [self.store.next_deadline(), self.server.next_deadline()]
        if self._han is not None:
            deadlines.append(self._han.server.next_deadline())
        return min((when for when in deadlines if when is not None), default=None)

    def _run_due(self) -> None:
        """Store time rules (24 h stall, 14 days unstarted), ImageNotify re-sends, version reads, HAN timeouts."""
        self.store.tick()
        self.app.send_ota_frames(self.server.tick())
        if self._han is not None:
            self.app.send_ota_frames(self._after_han(self._han.server.tick()))
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
        refused = None if self._han is None else self._han.refusal(frame)
        if refused is not None:
            return refused
        replies = self.server.handle(frame)
        self._changed()
        return replies

    def _on_han_frame(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        refused = self.han.refusal(frame)
        if refused is not None:
            return refused
        return self._after_han(self.han.server.handle(frame))

    def _after_han(self, frames: list[OutgoingFrame]) -> list[OutgoingFrame]:
        """Act on what the HAN server reported; when a link key was established, its frames (the
        Confirm Key Response) go out only once the key is in the NCP, so the device's first encrypted
        frame finds it there."""
        established = self._take_han_events()
        self._changed()
        if self._ncp_engine is not None:
            for work in self._ncp_engine.take_work():
                self._spawn(self._run_on_ncp(work))
        if not established:
            return frames
        self._spawn(self._install_then_send(established, frames))
        return []

    def _take_han_events(self) -> list[LinkKeyEstablished]:
        established = []
        for event in self.han.server.take_events():
            if isinstance(event, LinkKeyEstablished):
                established.append(event)
            elif isinstance(event, KeyEstablishmentFailed):
                LOGGER.warning("key establishment with %s failed: %s", event.eui64, event.reason)
                self.han.key_failed(event, self.clock.now())
            elif isinstance(event, (TunnelOpened, TunnelClosed)):
                LOGGER.info("GBCS tunnel %d of %s %s", event.tunnel_id, event.eui64,
                            "opened" if isinstance(event, TunnelOpened) else f"closed ({event.reason})")
                self.han.tunnel_event(event)
            elif isinstance(event, GbcsMessageReceived):
                self.han.messages.append(event)
            elif isinstance(event, DeviceAlertReceived):
                self._tunnel_alert(event)
        return established

    def _tunnel_alert(self, event: DeviceAlertReceived) -> None:
        """A PPMID's own 0x8F8B becomes the store's activation alert (source "tunnel"); anything that
        cannot be read as one is logged raw."""
        alert = event.alert
        if alert is not None and alert.code is AlertCode.ACTIVATION:
            try:
                self.store.note_activation(event.eui64, alert.firmware_version, source="tunnel")
            except HubfwError as exc:  # e.g. a full alert journal: the version read stands in later
                LOGGER.error("cannot record the 0x8F8B of %s: %s", event.eui64, exc)
                return
            self.server.activation_reported(event.eui64)
            return
        raw = [RawTunnelAlert(event.eui64, event.raw, event.time)]
        if self._write_alert_log(raw):
            self._notify(raw)

    async def _install_then_send(self, established: list[LinkKeyEstablished], frames: list[OutgoingFrame]) -> None:
        """Install each new key, then send the frames; a device whose key the NCP refused gets no Confirm
        Key Response (it would switch to a key the NCP lacks): its exchange times out and it tries again."""
        for event in established:
            try:
                if event.key is None:  # agreed by the NCP's CBKE library, which keeps the key
                    await self._cbke_radio().store_cbke_link_key(event.eui64, event.suite)
                else:
                    await self.app.install_link_key(event.eui64, t.KeyData(event.key))
            except Exception as exc:  # the NCP refused or went away
                LOGGER.error("cannot install the link key of %s in the NCP: %s", event.eui64, exc)
                failure = KeyEstablishmentFailed(event.eui64, None, f"link key not installed in the NCP: {exc}")
                self.han.key_failed(failure, self.clock.now())
                frames = [frame for frame in frames if frame.destination != event.eui64]
                continue
            try:
                self.han.keys.record(event.eui64, event.suite, self.clock.now())
            except HubfwError as exc:  # the key works now; after a restart the hub will not know of it
                LOGGER.error("%s", exc)
            LOGGER.info("CBKE suite %d link key of %s installed", event.suite.value, event.eui64)
        self.app.send_ota_frames(frames)

    async def _run_on_ncp(self, work: NcpWork) -> None:
        """One step of the NCP's CBKE library for the Key Establishment server. Tasks start in the order they
        were spawned and the library runs its operations one at a time in that order."""
        library = self._cbke_radio().cbke_library
        if isinstance(work, ReleaseAgreement):
            try:
                await library.release(work.suite)
            except Exception as exc:  # the next generateCbkeKeys replaces the data anyway
                LOGGER.warning("the NCP kept the temporary data of a failed suite %d CBKE: %s", work.suite, exc)
            return
        outcome: ConfirmKeys | Exception
        try:
            outcome = await library.calculate(work)
        except Exception as exc:  # the library refused the device's data or failed: the server picks the Terminate
            outcome = exc
        if self._han is not None:
            self.app.send_ota_frames(self._after_han(self._han.server.resume_key_establishment(work, outcome)))

    def _cbke_radio(self) -> NcpCbkeRadio:
        app = self.app
        assert isinstance(app, NcpCbkeRadio)  # checked when the NCP engine was chosen
        return app

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
            "han": None if self._han is None else self._han_status(self._han),
        }

    def _han_status(self, han: HubHan) -> dict[str, Any]:
        return {
            "se_endpoint": SE_ENDPOINT,
            "cbke_required": han.require_cbke,
            "cbke_on_ncp": self._ncp_engine is not None,
            "link_keys": len(han.keys.devices()),
            "tunnels": han.server.tunnels(),
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
                **(NO_HAN_VIEW if self._han is None else self._han.device_view(ieee)),
            })
        return listed

    # ----- the GBCS tunnel

    def send_gbcs(self, eui64: t.EUI64, message: bytes) -> dict[str, Any]:
        """Queue a GBCS message for a device's tunnel; it goes out now if the tunnel is open."""
        if not message:
            raise HubError("a GBCS message has at least one byte")
        frames = self.han.server.send_gbcs(eui64, message)
        self.app.send_ota_frames(frames)
        self._changed()
        return {"eui64": str(eui64), "length": len(message), "sent": bool(frames)}

    def tunnel_messages(self, eui64: t.EUI64 | None = None) -> list[dict[str, Any]]:
        """The GBCS messages devices sent through their tunnels since the hub started (oldest first)."""
        return self.han.messages_from(eui64)

    # ----- alerts

    @contextlib.contextmanager
    def subscribe_alerts(self) -> Iterator[asyncio.Queue[LoggedAlert]]:
        """A queue receiving every alert written to the log from now on."""
        queue: asyncio.Queue[LoggedAlert] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _publish_alerts(self) -> None:
        owed = self.store.pending_alerts()
        if owed and self._write_alert_log(owed):  # unwritten, they stay owed in flash for the next attempt
            self.store.acknowledge(alert.alert_id for alert in owed)
            self._notify(owed)

    def _write_alert_log(self, alerts: Sequence[LoggedAlert]) -> bool:
        """Append to the alert log (fsynced); False, logged, if it cannot be written."""
        try:
            self.alert_log.append(alerts)
        except OSError as exc:
            LOGGER.error("cannot write the alert log %s: %s", self.alert_log.path, exc.strerror or exc)
            return False
        return True

    def _notify(self, alerts: Sequence[LoggedAlert]) -> None:
        for alert in alerts:
            for queue in self._subscribers:
                queue.put_nowait(alert)

    # ----- internals

    def _open_flash(self) -> NorFlash:
        path = flash_path(self.state_dir)
        profile = get_profile(self.config.flash_profile)
        if path.exists():
            return NorFlash.open(path, profile=profile)
        return NorFlash.create(path, profile)
