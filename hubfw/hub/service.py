"""The running hub (layer 6): one state directory and one radio around the hub core (hubfw.hub.core).

`Hub` adds no rules of its own: it opens the flash and the radio, builds the core, hands it every frame
the radio delivers, sends what it answers, runs its deadlines (a timer task on the system clock; on a
`VirtualClock` nothing runs by itself and `advance` jumps time, running every deadline on the way in
order, so a 14-day scenario takes milliseconds), and does for it what needs the outside world:
- alerts: owed alerts are appended to `alerts.jsonl` and synced, and only then acknowledged to the core
  (at least once; consumers de-duplicate by `alert_id`, hubfw.hub.alert_log), and passed to subscribers;
- the NCP: a device's new CBKE link key goes into the NCP before the Confirm Key Response goes out, and
  with `cbke_on_ncp` the NCP's own CBKE library runs the key agreements (hubfw.han.key_establishment.engine).

The state directory holds everything that must survive a restart: `flash.bin` (the emulated NOR flash
with the image store and its alert journal), `zigbee.db` (zigpy's device database), `alerts.jsonl`, and
with CBKE credentials `cbke/` (hubfw.hub.credentials, hubfw.hub.link_keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zigpy.types as t
import zigpy.util
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.capture.frames import CapturedFrame
from hubfw.capture.sinks import CaptureSink, PcapCapture, ZepCapture
from hubfw.cbke.agreement import DeviceCredentials
from hubfw.clock import Clock, VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.flash.persist import flash_path
from hubfw.flash.profiles import DEFAULT_PROFILE, get_profile
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, GbcsIdentity
from hubfw.gbcs.bench_keys import entity_of, eui64_of
from hubfw.gbcs.ds_key import ch_ds_key
from hubfw.gbcs.remote_party import CS06, CS08, CommandOutcome, OriginatorCounters, RemoteParty, describe
from hubfw.han.config import HanConfig
from hubfw.han.faults import check_status
from hubfw.han.key_establishment.engine import (
    ConfirmKeys,
    HostEngine,
    KeyAgreementEngine,
    NcpEngine,
    NcpWork,
    ReleaseAgreement,
)
from hubfw.han.key_establishment.server import KeyEstablishmentServer
from hubfw.hub import views
from hubfw.hub.alert_log import AlertLog, LoggedAlert, alert_log_path
from hubfw.hub.core import GBCS, ZCL, CoreConfig, HanSetup, HubCore, HubError, KeyInstall
from hubfw.hub.credentials import (
    Presented,
    check_hub_credentials,
    check_ncp_certificates,
    hub_sim_credentials,
    presented_by,
    write_presented,
)
from hubfw.hub.faults import Fault, FaultBook
from hubfw.hub.han import HubHan
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.hub.ota_timeline import OtaTimeline, timeline_path
from hubfw.hub.sniffer_keys import coordinator_keys
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.radio import OtaRadio
from hubfw.radio.ncp_cbke import NcpCbkeRadio
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.store.store import ImageStore
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SE_ENDPOINT

LOGGER = logging.getLogger(__name__)

COUNTERS_FILE = Path("gbcs") / "originator-counters.json"
"""The originator counters of the GBCS commands the hub sent (hubfw.gbcs.remote_party.OriginatorCounters)."""
MAX_KEPT_OUTCOMES = 256
"""Answers to GBCS commands kept for `command_outcome` (oldest forgotten first)."""
MAX_TIMER_SLEEP = 3600.0
"""The realtime timer re-checks at least this often, in case the wall clock jumped."""
MIN_TIMER_SLEEP = 0.01
"""Never spin: a deadline that is somehow still due after running is looked at again shortly."""

RadioOpener = Callable[[Path], Awaitable[OtaRadio]]
"""Starts the radio application whose zigpy database lives in the given state directory."""


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
    ds_key: ec.EllipticCurvePrivateKey | None = None
    """The CH's GBCS Digital Signing key (`hubfw serve --ds-key`); without it, the state directory's own test key."""
    ch_id: t.EUI64 | None = None
    """The CH's GBCS entity id (`--ch-id`); None: the coordinator's EUI-64."""
    acb_id: t.EUI64 = DEFAULT_ACB_ID
    """The access control broker the alerts are addressed to (`--acb-id`)."""
    device_keys: Mapping[t.EUI64, ec.EllipticCurvePublicKey] | None = None
    """The devices' DS public keys their 0x8F8B signatures are checked with (`--device-certs DIR`)."""
    gbcs_keys: Path | None = None
    """The bench GBCS key set the hub builds CS06 and CS08 with (`--gbcs-keys DIR`, hubfw.gbcs.bench_keys); None:
    `hubfw activate` only the ZCL way, no `hubfw read-version`."""

    def __post_init__(self) -> None:
        if self.cbke_on_ncp and self.cbke_credentials:
            raise HubError("give either --cbke FILE (CBKE on the host) or --cbke-on-ncp (the NCP's own), not both")

    def core(self, radio: OtaRadio, ds_key: ec.EllipticCurvePrivateKey) -> CoreConfig:
        """The core's part, with the radio's real maximum APS payload and the coordinator's SE endpoint, and the
        CH's GBCS identity (by default the coordinator's EUI-64 as its entity id)."""
        server = replace(self.server, aps_max_payload=radio.max_aps_payload, server_endpoint=SE_ENDPOINT)
        ch_id = radio.state.node_info.ieee if self.ch_id is None else self.ch_id
        gbcs = GbcsIdentity(ch_id, ds_key, self.acb_id, self.device_keys)
        return CoreConfig(server, self.max_image_size, self.trust, self.require_signature, self.cpl, gbcs)


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
        self._core: HubCore | None = None
        self._app: OtaRadio | None = None
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue[LoggedAlert]] = set()
        self.ds_key: ec.EllipticCurvePrivateKey | None = None
        """The CH's GBCS Digital Signing key, once started: it signs the hub's alerts."""
        self.fault_book = FaultBook()
        """The faults set per device (hubfw.hub.faults); the core consults it, and it outlives a stop and start."""
        self.frame_observers: list[Callable[[str, IncomingFrame | OutgoingFrame], None]] = []
        """Called with ("rx", frame) for each OTA frame the hub hears and ("tx", frame) for each it sends: how a
        conformance run (hubfw.conformance) sees the device under test's OTA client from the hub's side."""
        self.timeline = OtaTimeline(timeline_path(self.state_dir), clock)
        """The OTA event timeline in the state directory, drawn by `hubfw transfers --plot` (hubfw.hub.ota_timeline)."""
        self.frame_observers.append(self.timeline.observe)
        self._outcomes: dict[tuple[str, str, int], CommandOutcome] = {}
        """The checked answers to the GBCS commands sent since start, by device, originator and originator counter
        (`_outcome_key`)."""
        self._outcome_waiters: dict[tuple[str, str, int], asyncio.Future[None]] = {}
        self.captures: list[CaptureSink] = []
        """Where every APS frame the radio sends and receives goes, stamped with the hub's clock (hubfw.capture):
        `start_capture` (pcap), `start_zep`; closed by `stop_capture` and when the hub stops."""

    # ----- life cycle

    async def start(self) -> None:
        """Open (or create) the flash file and recover the store, start the radio, write owed alerts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ds_key = ch_ds_key(self.state_dir, self.config.ds_key)
        self._flash = self._open_flash()
        try:
            store = ImageStore.open(self._flash, self.clock, max_image_size=self.config.max_image_size)
            self._app = await self._open_radio(self.state_dir)
            han = await self._han_setup(self._app.state.node_info.ieee)
            self._core = HubCore(store, self.clock, self.config.core(self._app, self.ds_key), han=han,
                                 faults=self.fault_book, remote_party=self._remote_party())
            self.timeline.started()
            self._app.set_ota_handler(self._on_ota_frame, self.clock)
            self._app.set_capture(self._on_capture if self.captures else None)
            if self._core.han is not None:
                self._app.encrypt_unicasts_to(self._core.han.keys.devices())
                self._app.set_han_handler(self._on_han_frame, self._core.handles_han)
            self._send(self._core.start())
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
            self._app.set_capture(None)
            self._app = None
        self.stop_capture()
        if self._core is not None:
            self.timeline.stopped()
        if self._flash is not None:
            self._flash.close()
            self._flash = None
        self._core = None

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
    def core(self) -> HubCore:
        if self._core is None:
            raise HubError("the hub is not running")
        return self._core

    @property
    def store(self) -> ImageStore:
        return self.core.store

    @property
    def server(self) -> OtaServer:
        return self.core.server

    @property
    def han(self) -> HubHan:
        return self.core.require_han()

    def _remote_party(self) -> RemoteParty | None:
        """The supplier and ACB of `--gbcs-keys`, their originator counters kept in the state directory."""
        if self.config.gbcs_keys is None:
            return None
        counters = OriginatorCounters(self.state_dir / COUNTERS_FILE)
        return RemoteParty.from_directory(self.config.gbcs_keys, counters)

    async def _han_setup(self, coordinator: t.EUI64) -> HanSetup | None:
        """The HAN servers, when the hub has CBKE credentials (or is its own test CA, or uses the NCP's CBKE
        library)."""
        engine = await self._key_agreement_engine(coordinator)
        if engine is None:
            return None
        return HanSetup(
            KeyEstablishmentServer(engine, self.clock), LinkKeyRegistry.in_state_dir(self.state_dir),
            require_cbke=not self.config.allow_without_cbke, config=self.config.han,
            ncp_engine=engine if isinstance(engine, NcpEngine) else None,
        )

    async def _key_agreement_engine(self, coordinator: t.EUI64) -> KeyAgreementEngine | None:
        """The NCP's library (`cbke_on_ncp`), else the host with the configured or test-CA credentials, else
        none; what the hub presents is recorded for `hubfw cbke show`."""
        if self.config.cbke_on_ncp:
            if not isinstance(self.app, NcpCbkeRadio):
                raise HubError("--cbke-on-ncp needs an EZSP coordinator with the CBKE library; this radio has no NCP")
            certificates = check_ncp_certificates(await self.app.cbke_library.certificates(), coordinator)
            presented = {suite: Presented(certificate, None) for suite, certificate in certificates.items()}
            write_presented(self.state_dir, coordinator, presented)
            return NcpEngine(certificates)
        credentials = self.config.cbke_credentials
        if not credentials and self.config.cbke_sim_ca:
            credentials = hub_sim_credentials(self.state_dir, coordinator, self.clock)
        if not credentials:
            return None
        by_suite = check_hub_credentials(credentials, coordinator)
        write_presented(self.state_dir, coordinator, presented_by(by_suite))
        return HostEngine(by_suite)

    # ----- time

    async def advance(self, seconds: float) -> None:
        """VirtualClock only: move time forward, stopping at every deadline on the way to run it."""
        if not isinstance(self.clock, VirtualClock):
            raise HubError("only a hub on a virtual clock can jump time")
        target = self.clock.now() + seconds
        while (deadline := self.core.next_deadline()) is not None and deadline <= target:
            if deadline <= self.clock.now():
                break  # already run at this instant: nothing more is due before the target
            self.clock.set(deadline)
            self._run_due()
            await asyncio.sleep(0)  # let the radio send what the deadline produced
        self.clock.set(target)
        self._run_due()
        await asyncio.sleep(0)

    def _run_due(self) -> None:
        self._send(self.core.run_due())

    async def _timer_loop(self) -> None:
        while True:
            try:
                self._run_due()
            except HubfwError as exc:  # e.g. worn flash: keep serving what still works
                LOGGER.error("hub timer: %s", exc)
            deadline = self.core.next_deadline()
            timeout = MAX_TIMER_SLEEP if deadline is None else min(MAX_TIMER_SLEEP, deadline - self.clock.now())
            timeout = max(MIN_TIMER_SLEEP, timeout)
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancel that races the wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    # ----- driving the core

    def _on_ota_frame(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        self._observe("rx", [frame])
        replies = self.core.handle_ota(frame)
        self._observe("tx", replies)
        self._after()
        return replies

    def _on_han_frame(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        replies = self.core.handle_han(frame)
        self._after()
        return replies

    def _observe(self, direction: str, frames: Sequence[IncomingFrame | OutgoingFrame]) -> None:
        for observer in self.frame_observers:
            for frame in frames:
                observer(direction, frame)

    def _send(self, frames: Sequence[OutgoingFrame]) -> None:
        self._observe("tx", frames)
        self.app.send_ota_frames(frames)
        self._after()

    def _after(self) -> None:
        """After anything the core did: publish owed alerts and commands' answers, start its NCP work, let the timer
        re-plan."""
        self._publish_alerts()
        for outcome in self.core.take_command_outcomes():
            key = _outcome_key(str(eui64_of(outcome.command.device)), outcome.command.to_json())
            self._outcomes[key] = outcome
            while len(self._outcomes) > MAX_KEPT_OUTCOMES:
                del self._outcomes[next(iter(self._outcomes))]
            waiter = self._outcome_waiters.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        for work in self.core.take_ncp_work():
            self._spawn(self._install_then_send(work) if isinstance(work, KeyInstall) else self._run_on_ncp(work))
        self._wake.set()

    async def _install_then_send(self, install: KeyInstall) -> None:
        refused: dict[t.EUI64, str] = {}
        for event in install.established:
            try:
                if event.key is None:  # agreed by the NCP's CBKE library, which keeps the key
                    await self._cbke_radio().store_cbke_link_key(event.eui64, event.suite)
                else:
                    await self.app.install_link_key(event.eui64, t.KeyData(event.key))
            except Exception as exc:  # the NCP refused or went away
                LOGGER.error("cannot install the link key of %s in the NCP: %s", event.eui64, exc)
                refused[event.eui64] = str(exc)
        self._send(self.core.keys_installed(install, refused))
        for event in install.established:
            if event.eui64 not in refused:
                self._finish_interview(event.eui64)

    def _finish_interview(self, eui64: t.EUI64) -> None:
        """zigpy's interview of a device that joined may have asked it (its OTA version) before the device had its
        link key, and a GB device ignores that: the question waits out zigpy's wall-clock timeouts, and a device whose
        interview never ends is never written to zigpy's database, so the hub forgets it at its next start. Once the
        key is in, the interview is asked again (or, when all it lacked was its end, just concluded)."""
        device = self.app.devices.get(eui64)
        if device is None or not hasattr(device, "schedule_initialize"):
            return
        pending = getattr(device, "_initialize_task", None)
        if (pending is not None and not pending.done()) or not device.is_initialized:
            device.cancel_initialization()
            device.schedule_initialize()

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
        if self._core is not None:
            self._send(self._core.resume_key_establishment(work, outcome))

    def _cbke_radio(self) -> NcpCbkeRadio:
        app = self.app
        assert isinstance(app, NcpCbkeRadio)  # checked when the NCP engine was chosen
        return app

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----- requests (the control socket's verbs)

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType, *,
                   allow_broken: bool = False) -> dict[str, Any]:
        """CS05b/CS05c: admission checks, then store, then ImageNotify to each target (`allow_broken`: see
        `HubCore.distribute`)."""
        distributed = self.core.distribute(ota_file, targets, device_type, allow_broken=allow_broken)
        shown = views.distributed(distributed, targets)
        self.timeline.distributed(list(targets), device_type.value, shown["file_version"], shown["total_size"])
        self._send(distributed.frames)
        return shown

    def activate(self, eui64: t.EUI64, manufacturer_image_sha256: bytes, method: str | None = None) -> dict[str, Any]:
        """Tell a device that completed a transfer of this Manufacturer Image to run it now: by CS06 through its tunnel
        (`method` "gbcs"; the default for a device with a tunnel), or by an unsolicited UpgradeEndResponse ("zcl").
        A CS06's answer comes later: `command_outcome`."""
        method = method or self.core.activation_method(eui64)
        shown = {"entity": str(eui64), "method": method, "manufacturer_image_sha256": manufacturer_image_sha256.hex()}
        if method == ZCL:
            self._send(self.core.activate(eui64, manufacturer_image_sha256))
            return shown
        if method != GBCS:
            raise HubError(f"activation method {method!r} (want {GBCS} or {ZCL})")
        return {**shown, **self._send_command(eui64, CS06, manufacturer_image_sha256)}

    def read_version(self, eui64: t.EUI64) -> dict[str, Any]:
        """CS08 through the device's tunnel; its answer comes later: `command_outcome`."""
        return {"entity": str(eui64), **self._send_command(eui64, CS08)}

    async def command_outcome(self, sent: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """The checked answer to the command `activate` or `read_version` sent (their result), waiting up to `timeout`
        seconds (real time: the control socket's hub runs on the system clock); HubError when none came."""
        key = _outcome_key(sent["entity"], sent)
        if self.outcome_of(sent) is None:
            waiter = self._outcome_waiters.setdefault(key, asyncio.get_running_loop().create_future())
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(waiter)
            except TimeoutError:
                raise HubError(f"no {sent['command']} response from {sent['entity']} within {timeout:g} s; the "
                               "command stays queued for its tunnel (`hubfw tunnel messages` shows what came)") from None
            finally:
                self._outcome_waiters.pop(key, None)
        answered = self.outcome_of(sent)
        assert answered is not None  # the waiter is set only once the outcome is kept
        return answered

    def outcome_of(self, sent: Mapping[str, Any]) -> dict[str, Any] | None:
        """The checked answer to the command `activate` or `read_version` sent, once it is in (else None)."""
        outcome = self._outcomes.get(_outcome_key(sent["entity"], sent))
        return None if outcome is None else {"entity": sent["entity"], "method": GBCS, **outcome.to_json()}

    def _send_command(self, eui64: t.EUI64, kind: str, image_hash: bytes | None = None) -> dict[str, Any]:
        sent = self.core.send_command(eui64, kind, image_hash)
        self._send(sent.frames)
        return {**sent.command.to_json(), "sent": bool(sent.frames)}

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

    async def export_keys(self) -> dict[str, Any]:
        """Every key the coordinator holds, read from it now and labelled, for a sniffer (`hubfw keys export`)."""
        han = self.core.han
        return await coordinator_keys(self.app, None if han is None else han.keys)

    def status(self) -> dict[str, Any]:
        """Blocks, images with each target's state, progress and deadline, and what the hub waits for next."""
        return views.status(self.core, self.alert_log.path)

    def transfers(self) -> list[dict[str, Any]]:
        """Every unfinished target with its image and byte offset: what `hubfw transfers` draws."""
        return views.transfers(self.core)

    def devices(self) -> list[dict[str, Any]]:
        """The devices zigpy knows (joined or from its database), coordinator excluded."""
        return views.devices(self.core, self.app)

    # ----- faults on demand (hubfw.hub.faults)

    def set_fault(self, eui64: t.EUI64, fault: Fault) -> dict[str, Any]:
        """Arm `fault` for `eui64` from now (it replaces one of the same kind); recorded in its history. A status
        name the fault's cluster does not have is refused here, not when the fault acts (FaultError)."""
        check_status(fault)
        self.fault_book.set(eui64, fault, self.clock.now())
        self._wake.set()
        return {"eui64": str(eui64), **fault.to_json()}

    def clear_faults(self, eui64: t.EUI64 | None = None) -> dict[str, Any]:
        """Disarm every fault of `eui64` (of every device when None)."""
        cleared = self.fault_book.clear(self.clock.now(), eui64)
        return {"eui64": None if eui64 is None else str(eui64), "cleared": cleared}

    def faults(self) -> dict[str, list[dict[str, Any]]]:
        """The faults armed now, per device (window faults whose window has ended are spent)."""
        return views.faults(self.fault_book, self.clock.now())

    def fault_history(self, eui64: t.EUI64) -> list[dict[str, Any]]:
        """`eui64`'s fault history, oldest first: each fault set, each time one acted, cleared or expired."""
        return self.fault_book.history_of(eui64)

    def fault_histories(self) -> dict[str, list[dict[str, Any]]]:
        """Every device's fault history."""
        return {str(eui64): self.fault_book.history_of(eui64) for eui64 in self.fault_book.history}

    # ----- the GBCS tunnel

    def send_gbcs(self, eui64: t.EUI64, message: bytes) -> dict[str, Any]:
        """Queue a GBCS message for a device's tunnel; it goes out now if the tunnel is open."""
        frames = self.core.send_gbcs(eui64, message)
        self._send(frames)
        return {"eui64": str(eui64), "length": len(message), "sent": bool(frames)}

    def tunnel_messages(self, eui64: t.EUI64 | None = None) -> list[dict[str, Any]]:
        """The GBCS messages devices sent through their tunnels since the hub started (oldest first), each `decoded`
        (hubfw.gbcs.remote_party.describe), its signature and MAC checked with the `--gbcs-keys` set when there is
        one: how the answer to a CS06 sent with `hubfw tunnel send` shows."""
        party = self.core.remote_party
        messages = self.han.messages_from(eui64)
        keys = None if party is None else party.keys_covering(
            {entity_of(parse_eui64(shown["eui64"])) for shown in messages})
        return [{**shown, "decoded": describe(bytes.fromhex(shown["message"]), keys)} for shown in messages]

    # ----- captures (hubfw.capture)

    def start_capture(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Write every APS frame from now on to a pcap file (replaced if it exists)."""
        if any(isinstance(sink, PcapCapture) for sink in self.captures):
            raise HubError("a capture file is already being written: `hubfw capture stop` first")
        try:
            sink = PcapCapture(path, int(self.app.state.network_info.pan_id))
        except OSError as exc:
            raise HubError(f"cannot write the capture {path}: {exc.strerror or exc}") from None
        self._add_capture(sink)
        return {"capture": str(sink.path.resolve())}

    def start_zep(self, address: tuple[str, int]) -> dict[str, Any]:
        """Send every APS frame from now on as ZEP v2 over UDP to `address` (Wireshark's port is 17754)."""
        info = self.app.state.network_info
        try:
            sink = ZepCapture(address, int(info.pan_id), int(info.channel))
        except OSError as exc:
            raise HubError(f"cannot send ZEP to {address[0]}:{address[1]}: {exc.strerror or exc}") from None
        self._add_capture(sink)
        return {"zep": f"{address[0]}:{address[1]}"}

    def stop_capture(self) -> dict[str, Any]:
        """Stop every capture (file and ZEP); how many frames each took."""
        stopped = []
        for sink in self.captures:
            sink.close()
            stopped.append({"capture": sink.name, "frames": sink.frames})
        self.captures = []
        if self._app is not None:
            self._app.set_capture(None)
        return {"stopped": stopped}

    def _add_capture(self, sink: CaptureSink) -> None:
        self.captures.append(sink)
        self.app.set_capture(self._on_capture)

    def _on_capture(self, frame: CapturedFrame) -> None:
        """One frame from the radio, to every capture at the hub's time; a capture that fails is closed."""
        now = self.clock.now()
        for sink in list(self.captures):
            try:
                sink.write(now, frame)
            except (OSError, ValueError) as exc:
                LOGGER.error("capture stopped: %s", exc)
                self.captures.remove(sink)
                sink.close()

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
        """Append owed alerts to the log (fsynced), then acknowledge them; unwritten, they stay owed in flash
        for the next attempt."""
        owed = self.core.take_alerts()
        if not owed:
            return
        try:
            self.alert_log.append(owed)
        except OSError as exc:
            LOGGER.error("cannot write the alert log %s: %s", self.alert_log.path, exc.strerror or exc)
            return
        self.core.acknowledge(owed)
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


def _outcome_key(entity: str, command: Mapping[str, Any]) -> tuple[str, str, int]:
    """A command's answer is found by device, originator and originator counter: counters are per originator (the
    supplier's CS06 and the ACB's CS08 may carry the same number)."""
    return entity, command["originator"], command["originator_counter"]
