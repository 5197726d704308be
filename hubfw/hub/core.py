"""The hub core (layer 4): the image store, the OTA server, the HAN servers and the alert journal wired
together, with no event loop, radio, socket or file of its own.

Every way of running a hub drives this one class: `hubfw serve` (hubfw.hub.service, on a serial or
simulated radio), the soak (tools/soaklib), the ZCL fuzzers (tools/fuzzlib) and the simulated-device rigs
in tests/. What they prove about restarts, alerts and frame handling is then true of the hub a user runs.

The core takes frames and requests in and gives frames out; what needs the outside world it hands to its
driver instead of doing it:
- **owed alerts** (`take_alerts`): the driver writes them somewhere durable, then `acknowledge`s them, so
  alerts travel at least once (a crash in between repeats them; consumers de-duplicate by `alert_id`). Each
  comes with the GBCS message a CH sends for it (`hubfw.gbcs.alert_message`): the same octets every time it is
  handed over, since the store keeps its originator counter and the signature is deterministic;
- **NCP work** (`take_ncp_work`): a new CBKE link key must be in the NCP before the Confirm Key Response
  goes out (`KeyInstall`, then `keys_installed`), and with the NCP's own CBKE library its computations
  (`NcpWork`, then `resume_key_establishment`).
Time comes from the injected clock: the driver calls `run_due` at `next_deadline`.

The GBCS tunnels (10.2.2.1): right after a device's new link key is in the NCP, behind its Confirm Key
Response, the hub sends it a RequestTunnel (`HanServer.request_tunnel`), and at boot it sends one to every
device its link-key records name. GBCS wants this for ESMEs, HCALCSs and PPMIDs, not GSMEs; nothing on the
air says reliably which a device is (SE gives ESME and GSME one device id, and the hub learns a device's
type only from a distribution naming it), so every keyed device gets the request unless the store names it
a GSME target. A GSME shows itself anyway: it has no Tunneling server (the hub stops asking on its
UNSUPPORTED_CLUSTER) and it requests its own tunnel (the hub then leaves the tunnel to it).

GBCS commands through the tunnels (hubfw.gbcs.remote_party): given a `RemoteParty` (the bench's supplier and ACB
keys), `send_command` builds a CS06 or CS08 for a device and queues it for its tunnel; each GBCS message a device
sends back is matched against the commands still awaiting an answer, and the checked outcome is the driver's to
take (`take_command_outcomes`). The CH itself only carries these messages [GBCS 10.2.2.1; the comms-hub-function
plugin passes tunnel data through]: the device checks the command and activates, or not.

Faults on demand (hubfw.hub.faults): the core owns the `FaultBook` (`faults`) its servers consult, and applies
SILENCE itself where frames leave it: while a device's silence lasts, every frame to it (OTA, ImageNotify
re-sends, HAN) is dropped and recorded in its history.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import AlertCode
from hubfw.clock import Clock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.flash.device import NorFlash
from hubfw.gbcs.alert_message import GbcsIdentity
from hubfw.gbcs.bench_keys import entity_of
from hubfw.gbcs.remote_party import CS06, CommandOutcome, IssuedCommand, RemoteParty
from hubfw.han.config import HanConfig
from hubfw.han.events import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    HanEvent,
    TunnelClosed,
    TunnelOpened,
    TunnelRequestFailed,
)
from hubfw.han.key_establishment.engine import ConfirmKeys, NcpEngine, NcpWork
from hubfw.han.key_establishment.events import KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.key_establishment.server import KeyEstablishmentServer
from hubfw.han.server import HanServer
from hubfw.hub.alert_log import LoggedAlert, RawTunnelAlert
from hubfw.hub.faults import FaultBook, FaultKind
from hubfw.hub.han import HubHan
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.ota.admission import AdmissionReport, admit
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE
from hubfw.ota.keys import new_private_key
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.server.exchanges import note_refusal
from hubfw.store.state import StoredImage
from hubfw.store.store import ImageStore
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER, SMART_ENERGY_PROFILE

LOGGER = logging.getLogger(__name__)


class HubError(HubfwError):
    """A hub request that cannot be carried out (the message says why)."""


class NoGbcsKeys(HubError):
    """A GBCS command asked of a hub serving without a bench key set (`--gbcs-keys`)."""

    MESSAGE = ("the hub has no GBCS keys to build CS06 or CS08 with: serve with --gbcs-keys DIR "
               "(`hubfw gbcs keys new --out DIR`), or activate with --method zcl")


@dataclass(frozen=True)
class CoreConfig:
    server: OtaServerConfig = field(default_factory=OtaServerConfig)
    """Its `server_endpoint` is the Smart Energy endpoint of the HAN servers too."""
    max_image_size: int = DEFAULT_MAX_IMAGE_SIZE
    trust: tuple[ec.EllipticCurvePublicKey, ...] = ()
    """Manufacturer signature trust anchors for admission."""
    require_signature: bool = False
    cpl: CentralProductsList | None = None
    gbcs: GbcsIdentity | None = None
    """Whose GBCS messages carry the alerts (the CH's entity id and DS key); None: a test identity made for this
    core (`TEST_CH_ID` and a fresh key), for rigs that do not restart."""


MAX_AWAITED_COMMANDS = 64
"""GBCS commands kept awaiting an answer; the oldest is forgotten beyond this (its answer is then only a message)."""
GBCS, ZCL = "gbcs", "zcl"
"""How `hubfw activate` tells a device to activate: CS06 through its tunnel, or an unsolicited UpgradeEndResponse."""

TEST_CH_ID = t.EUI64(bytes.fromhex("00DB1234567890A2")[::-1])
"""The CH entity id of the RTDS messages, for a core given no GBCS identity."""


@dataclass(frozen=True)
class HanSetup:
    """What the core needs to run the HAN servers beside OTA."""

    key_establishment: KeyEstablishmentServer
    keys: LinkKeyRegistry
    """Devices holding a CBKE link key; it survives restarts (the NCP's key table does not say which suite)."""
    require_cbke: bool = True
    """Smart Energy frames from a device without a CBKE key get NOT_AUTHORIZED (hubfw.hub.han)."""
    config: HanConfig = field(default_factory=HanConfig)
    ncp_engine: NcpEngine | None = None
    """The NCP's CBKE library computes the key agreements: its work goes to the driver."""


@dataclass(frozen=True)
class KeyInstall:
    """New link keys for the NCP, and the frames (the Confirm Key Responses) held back until they are in."""

    established: tuple[LinkKeyEstablished, ...]
    frames: tuple[OutgoingFrame, ...]


@dataclass(frozen=True)
class CommandSent:
    """A GBCS command queued for a device's tunnel, and the frames that carry it now (none while the tunnel is shut)."""

    command: IssuedCommand
    frames: list[OutgoingFrame]


@dataclass(frozen=True)
class Distributed:
    image: StoredImage
    admission: AdmissionReport
    frames: list[OutgoingFrame]
    warnings: tuple[str, ...] = ()
    """Targets already seen asking for another manufacturer code or image type than the image's."""


class HubCore:
    """One hub's rules; every method returns the frames to send now (each may carry a `not_before`)."""

    def __init__(
        self, store: ImageStore, clock: Clock, config: CoreConfig | None = None, *, han: HanSetup | None = None,
        rng: random.Random | None = None, observe_han: Callable[[HanEvent], None] | None = None,
        faults: FaultBook | None = None, remote_party: RemoteParty | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config or CoreConfig()
        self.faults = FaultBook() if faults is None else faults
        """The faults set per device (hubfw.hub.faults); a driver may hand in its own book to keep it across
        restarts."""
        self.gbcs = self.config.gbcs or GbcsIdentity(TEST_CH_ID, new_private_key())
        self.server = OtaServer(store, clock, self.config.server, rng, tunnel_open=self._tunnel_open,
                                faults=self.faults)
        self.han = None if han is None else self._han(han)
        self._ncp_engine = None if han is None else han.ncp_engine
        self._observe_han = observe_han
        self._raw_alerts: list[RawTunnelAlert] = []
        self._ncp_work: list[KeyInstall | NcpWork] = []
        self._endpoint_unknown: set[t.EUI64] = set()
        """Keyed devices whose records predate endpoints: the hub requests their tunnel when they next speak."""
        self.remote_party = remote_party
        """The supplier and ACB whose CS06 and CS08 commands the hub sends (`hubfw serve --gbcs-keys`)."""
        self._awaited: list[IssuedCommand] = []
        self._outcomes: list[CommandOutcome] = []

    @classmethod
    def open(cls, flash: NorFlash, clock: Clock, config: CoreConfig | None = None, **kwargs: object) -> HubCore:
        """Boot on a flash: the store recovers (hubfw/store/DESIGN.md) and nothing in memory survives."""
        config = config or CoreConfig()
        return cls(ImageStore.open(flash, clock, max_image_size=config.max_image_size), clock, config, **kwargs)

    def _han(self, setup: HanSetup) -> HubHan:
        # The hub's own rule (HubHan.refusal) guards every SE cluster, tunnel included, and knows the keys
        # established before a restart, which the HAN server's in-memory record does not.
        server = HanServer(
            self.clock, se_endpoint=self.config.server.server_endpoint, key_establishment=setup.key_establishment,
            image_waiting=self._image_waiting, config=replace(setup.config, require_key_establishment=False),
            faults=self.faults,  # key establishment and tunnel faults
        )
        return HubHan(server, setup.keys, require_cbke=setup.require_cbke)

    @property
    def cbke_on_ncp(self) -> bool:
        return self._ncp_engine is not None

    def start(self) -> list[OutgoingFrame]:
        """After boot: tell targets that had not started downloading (those that had carry on by themselves,
        from the offset they hold), request the tunnels of the devices holding a key (the hub's tunnels did
        not survive), and run what fell due while the hub was down."""
        return self._out(self.server.notify(self.not_started()) + self._request_tunnels_at_boot() + self.run_due())

    def not_started(self) -> list[t.EUI64]:
        return [
            parse_eui64(target.entity)
            for block in self.store.status().blocks if block.image is not None
            for target in block.image.targets if target.state == "waiting"
        ]

    # ----- time

    def next_deadline(self) -> float | None:
        deadlines = [self.store.next_deadline(), self.server.next_deadline()]
        if self.han is not None:
            deadlines.append(self.han.server.next_deadline())
        return min((when for when in deadlines if when is not None), default=None)

    def run_due(self) -> list[OutgoingFrame]:
        """Store time rules (24 h stall, 14 days unstarted), ImageNotify re-sends, version reads, HAN timeouts."""
        self.store.tick()
        frames = self.server.tick()
        if self.han is not None:
            frames += self._after_han(self.han.server.tick())
        return self._out(frames)

    # ----- frames from the radio

    def handles_han(self, frame: IncomingFrame) -> bool:
        return self.han is not None and self.han.server.handles(frame)

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """Any frame, routed as the radio adapters route them: the HAN servers' clusters on the Smart Energy
        endpoint to them, the OTA cluster (any endpoint) to the OTA server, nothing else."""
        if self.handles_han(frame):
            return self.handle_han(frame)
        if frame.cluster == OTA_CLUSTER:
            return self.handle_ota(frame)
        return []

    def handle_ota(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        refused = None if self.han is None else self.han.refusal(frame)
        if refused is not None:
            assert self.han is not None
            note_refusal(self.server.exchanges, frame, self.clock.now(), refused, self.han.refusal_reason(frame))
            return self._out(refused)
        answer = self.server.handle(frame)
        sent = self._out(answer)
        if answer and not sent:
            self.server.exchanges.dropped(frame.source, f"fault injected: {FaultKind.SILENCE.value} (answer dropped)")
        return sent + self._out(self._endpoint_learnt(frame))

    def handle_han(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        assert self.han is not None
        refused = self.han.refusal(frame)
        if refused is not None:
            return self._out(refused)
        return self._out(self._after_han(self.han.server.handle(frame)) + self._endpoint_learnt(frame))

    # ----- requests

    def distribute(self, ota_file: bytes, targets: Sequence[t.EUI64], device_type: DeviceType, *,
                   allow_broken: bool = False) -> Distributed:
        """CS05b/CS05c: admission checks, then store, then ImageNotify to each target. `allow_broken` lets an image
        that fails admission through (a deliberately broken test image); the report still lists every failure."""
        if not targets:
            raise HubError("name at least one target device (--to EUI64[,EUI64...])")
        report = admit(
            ota_file, max_size=self.config.max_image_size, trust=self.config.trust, cpl=self.config.cpl,
            require_signature=self.config.require_signature, allow_broken=allow_broken,
        )
        if allow_broken and report.failures:
            LOGGER.warning("admitting a broken image (--allow-broken): %s",
                           "; ".join(f"{check.name}: {check.detail}" for check in report.failures))
        else:
            report.raise_if_rejected()
        image = self.store.distribute(ota_file, [(eui64, device_type) for eui64 in targets], allow_broken=allow_broken)
        warnings = self._mismatched_targets(image, targets)
        for warning in warnings:
            LOGGER.warning("%s", warning)
        return Distributed(image, report, self._out(self.server.notify(targets)), warnings)

    def _mismatched_targets(self, image: StoredImage, targets: Sequence[t.EUI64]) -> tuple[str, ...]:
        """A warning for each target whose last QueryNextImage (since the hub started) named another manufacturer
        code or image type than `image`: the server will not offer it the image."""
        warnings = []
        for eui64 in targets:
            queried = self.server.exchanges.queried(eui64)
            if queried is None or queried == (image.manufacturer_code, image.image_type):
                continue
            warnings.append(
                f"{eui64} was seen asking for manufacturer 0x{queried[0]:04X} image type 0x{queried[1]:04X}; "
                f"the image is manufacturer 0x{image.manufacturer_code:04X} image type 0x{image.image_type:04X}, "
                "so it will not be offered"
            )
        return tuple(warnings)

    def activate(self, eui64: t.EUI64, manufacturer_image_sha256: bytes) -> list[OutgoingFrame]:
        """Activation the plain Zigbee way (`hubfw activate --method zcl`): the hub checks the hash against the
        device's completed transfer and sends an unsolicited UpgradeEndResponse to upgrade now."""
        return self._out(self.server.activate(eui64, manufacturer_image_sha256))

    def activation_method(self, eui64: t.EUI64) -> str:
        """GBCS where the device has had a GBCS tunnel since the hub started (a GB device: CS06 through it), else ZCL
        (a plain Zigbee test device)."""
        return GBCS if self.han is not None and self.han.tunnel_state(eui64) is not None else ZCL

    def send_command(self, eui64: t.EUI64, kind: str, image_hash: bytes | None = None) -> CommandSent:
        """CS06 (with the Manufacturer Image hash) or CS08 for `eui64`, built by the remote party and queued for the
        device's tunnel; its answer comes out of `take_command_outcomes`. The hub does not check the hash itself:
        the device does, and answers hashMismatch."""
        party = self.remote_party
        if party is None:
            raise NoGbcsKeys(NoGbcsKeys.MESSAGE)
        now = self.clock.now()
        if kind == CS06:
            if image_hash is None:
                raise HubError("CS06 names the Manufacturer Image hash to activate")
            command = party.activate(entity_of(eui64), image_hash, now)
        else:
            command = party.read_version(entity_of(eui64), now)
        frames = self.send_gbcs(eui64, command.message)
        self._awaited = [*self._awaited, command][-MAX_AWAITED_COMMANDS:]
        return CommandSent(command, frames)

    def take_command_outcomes(self) -> list[CommandOutcome]:
        """The answers to sent commands that arrived since the last call, checked (oldest first)."""
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def send_gbcs(self, eui64: t.EUI64, message: bytes) -> list[OutgoingFrame]:
        """Queue a GBCS message for a device's tunnel; the frames go out now if the tunnel is open."""
        if not message:
            raise HubError("a GBCS message has at least one byte")
        return self._out(self.require_han().server.send_gbcs(eui64, message))

    def require_han(self) -> HubHan:
        if self.han is None:
            raise HubError(
                "the hub has no HAN server: serve with --cbke FILE (credentials whose subject is the coordinator) "
                "or on the simulated radio"
            )
        return self.han

    # ----- what the driver does for the core

    def take_alerts(self) -> list[LoggedAlert]:
        """Alerts owed, each with its GBCS message: the store's (until acknowledged) and undecodable device alerts
        (handed over once)."""
        raw, self._raw_alerts = self._raw_alerts, []
        return [*(self.gbcs.deliver(alert) for alert in self.store.pending_alerts()), *raw]

    def acknowledge(self, alerts: Iterable[LoggedAlert]) -> None:
        """The driver has the alerts durably: the store may forget them."""
        ids = [alert.alert_id for alert in alerts if alert.alert_id is not None]
        if ids:
            self.store.acknowledge(ids)

    def take_ncp_work(self) -> list[KeyInstall | NcpWork]:
        work, self._ncp_work = self._ncp_work, []
        return work

    def keys_installed(self, install: KeyInstall, refused: Mapping[t.EUI64, str]) -> list[OutgoingFrame]:
        """The driver put the keys in the NCP, except `refused` (device → why). A refused device gets no
        Confirm Key Response (it would switch to a key the NCP lacks): its exchange times out and it retries."""
        assert self.han is not None
        now = self.clock.now()
        tunnels: list[OutgoingFrame] = []
        gsmes = self._known_gsmes()
        for event in install.established:
            if event.eui64 in refused:
                reason = f"link key not installed in the NCP: {refused[event.eui64]}"
                self.han.key_failed(KeyEstablishmentFailed(event.eui64, None, reason), now)
                continue
            try:
                self.han.keys.record(event.eui64, event.suite, now, event.endpoint)
            except HubfwError as exc:  # the key works now; after a restart the hub will not know of it
                LOGGER.error("%s", exc)
            LOGGER.info("CBKE suite %d link key of %s installed", event.suite.value, event.eui64)
            self._endpoint_unknown.discard(event.eui64)
            if event.endpoint is not None and event.eui64 not in gsmes:
                tunnels += self.han.server.request_tunnel(event.eui64, event.endpoint)
        confirms = [frame for frame in install.frames if frame.destination not in refused]
        # GBCS 10.2.2.1: RequestTunnel after the key establishment
        return self._out(self._after_han(confirms + tunnels))

    def resume_key_establishment(self, work: NcpWork, outcome: ConfirmKeys | Exception) -> list[OutgoingFrame]:
        """The NCP's CBKE library finished `work` (or failed with the exception)."""
        assert self.han is not None
        return self._out(self._after_han(self.han.server.resume_key_establishment(work, outcome)))

    # ----- internals

    def _out(self, frames: list[OutgoingFrame]) -> list[OutgoingFrame]:
        """Where frames leave the core: SILENCE drops every frame to its device while its window lasts."""
        if not frames or not self.faults.listed():
            return frames
        now = self.clock.now()
        sent = []
        for frame in frames:
            dropped = self.faults.take(frame.destination, [FaultKind.SILENCE], now, dropped=_describe(frame))
            if dropped is None:
                sent.append(frame)
        return sent

    def _request_tunnels_at_boot(self) -> list[OutgoingFrame]:
        if self.han is None:
            return []
        frames: list[OutgoingFrame] = []
        gsmes = self._known_gsmes()
        for eui64 in sorted(self.han.keys.devices() - gsmes, key=str):
            endpoint = self.han.keys.endpoint(eui64)
            if endpoint is None:
                self._endpoint_unknown.add(eui64)
            else:
                frames += self.han.server.request_tunnel(eui64, endpoint)
        return self._after_han(frames)

    def _endpoint_learnt(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """A keyed device whose endpoint the records lacked spoke Smart Energy under its key: request its
        tunnel from the endpoint it spoke from."""
        if frame.source not in self._endpoint_unknown or frame.profile != SMART_ENERGY_PROFILE:
            return []
        self._endpoint_unknown.discard(frame.source)
        assert self.han is not None
        return self._after_han(self.han.server.request_tunnel(frame.source, frame.src_ep))

    def _known_gsmes(self) -> frozenset[t.EUI64]:
        """The devices the store knows as GSMEs: targets of a GSME image, stored or completed."""
        status = self.store.status()
        found = {done.entity for done in status.completed if done.device_type is DeviceType.GSME}
        for block in status.blocks:
            if block.image is not None and block.image.image.device_type is DeviceType.GSME:
                found.update(parse_eui64(target.entity) for target in block.image.targets)
        return frozenset(found)

    def _after_han(self, frames: list[OutgoingFrame]) -> list[OutgoingFrame]:
        """Act on what the HAN server reported. When a link key was established its frames wait for the
        driver to put the key in the NCP, so the device's first encrypted frame finds it there."""
        established = self._take_han_events()
        if self._ncp_engine is not None:
            self._ncp_work.extend(self._ncp_engine.take_work())
        if not established:
            return frames
        self._ncp_work.append(KeyInstall(tuple(established), tuple(frames)))
        return []

    def _take_han_events(self) -> list[LinkKeyEstablished]:
        assert self.han is not None
        established = []
        for event in self.han.server.take_events():
            if self._observe_han is not None:
                self._observe_han(event)
            if isinstance(event, LinkKeyEstablished):
                established.append(event)
            elif isinstance(event, KeyEstablishmentFailed):
                LOGGER.warning("key establishment with %s failed: %s", event.eui64, event.reason)
                self.han.key_failed(event, self.clock.now())
            elif isinstance(event, (TunnelOpened, TunnelClosed)):
                what = "opened" if isinstance(event, TunnelOpened) else f"closed ({event.reason})"
                LOGGER.info("GBCS tunnel %d of %s (opened by the %s) %s", event.tunnel_id, event.eui64,
                            event.opened_by, what)
                self.han.tunnel_event(event)
            elif isinstance(event, TunnelRequestFailed):
                when = "not again" if event.retry_at is None else f"again in {event.retry_at - self.clock.now():.0f} s"
                LOGGER.info("RequestTunnel to %s got no tunnel (%s); asking %s", event.eui64, event.reason, when)
            elif isinstance(event, GbcsMessageReceived):
                self.han.messages.append(event)
                self._match_answer(event)
            elif isinstance(event, DeviceAlertReceived):
                self._tunnel_alert(event)
        return established

    def _match_answer(self, event: GbcsMessageReceived) -> None:
        """A device's message that answers a command awaiting one becomes that command's outcome."""
        if self.remote_party is None:
            return
        device = entity_of(event.eui64)
        for command in self._awaited:
            if command.device != device:
                continue
            outcome = self.remote_party.answer(command, event.message)
            if outcome is not None:
                self._awaited.remove(command)
                self._outcomes.append(outcome)
                LOGGER.info("%s answered %s %d: %s", event.eui64, command.kind, command.originator_counter,
                            outcome.code_name)
                return

    def _tunnel_alert(self, event: DeviceAlertReceived) -> None:
        """A PPMID's own 0x8F8B becomes the store's activation alert (source "tunnel"), its message kept verbatim
        for the DCC side; anything that cannot be read as one is handed over raw."""
        alert = event.alert
        if alert is not None and alert.code is AlertCode.ACTIVATION:
            try:
                self.store.note_activation(event.eui64, alert.firmware_version, source="tunnel",
                                           outcome=alert.outcome, message=alert.message, time=alert.time)
            except HubfwError as exc:  # e.g. a full alert journal: the version read stands in later
                LOGGER.error("cannot record the 0x8F8B of %s: %s", event.eui64, exc)
                return
            self.server.activation_reported(event.eui64)
            return
        self._raw_alerts.append(RawTunnelAlert(event.eui64, event.raw, event.time))

    def _image_waiting(self, eui64: t.EUI64) -> bool:
        """Metering FunctionalNotificationFlags bit 0: the store holds an image for this device."""
        return self.store.offer(eui64) is not None

    def _tunnel_open(self, eui64: t.EUI64) -> bool:
        return self.han is not None and self.han.tunnel_open(eui64)


def _describe(frame: OutgoingFrame) -> str:
    """A dropped frame as its history shows it: cluster and command id (`0x0019/0x05`)."""
    at = 4 if frame.zcl and frame.zcl[0] & 0x04 else 2  # a manufacturer code comes before the TSN
    command = frame.zcl[at] if len(frame.zcl) > at else None
    return f"0x{frame.cluster:04X}" + ("" if command is None else f"/0x{command:02X}")
