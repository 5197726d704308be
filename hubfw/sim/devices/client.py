"""One simulated GB HAN OTA client: a transport-free state machine over APS frames and time.

It behaves as the ZCL OTA Upgrade client chapter says, with the knobs real devices differ in (see
`Behaviour`), and answers what a coordinator asks a device that just joined: ZDO descriptor requests
and a read of its Basic cluster. Nothing here reads a clock or touches a radio: `on_frame` and `tick`
take `now` and return the frames the device sends, so the same device runs under real time on the
simulated NCP and under a virtual clock that jumps days.

The download area survives the device's power cycles (as a real device's external flash does), so a
device cut off mid-transfer asks again on power-up and carries on from the offset it holds.

A GB device also owns a Smart Energy session (`GbHanSession`: Match_Desc, CBKE, Time, the GBCS
tunnel) that runs first; its OTA client starts once the session has a link key (or will not get one).
Every frame leaves through `_outbound`, which secures it under the device's current link key and cuts
what exceeds one APS payload into fragments; fragments from the hub are joined before anything else.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.util import convert_install_code
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, ImageBlockCommand, ImageNotifyCommand, Ota, QueryNextImageCommand

from hubfw.alerts import TransferAlert, activation_alert
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, activation_message
from hubfw.gbcs.bench_keys import DS, KA, GbcsKeys, GbcsKeysError, entity_of
from hubfw.gbcs.device_commands import (
    ActivateCommand,
    ActivationCode,
    CommandReceiver,
    CommandRefused,
    DeviceGbcsKeys,
    dlms_date_time,
)
from hubfw.ota.image import OtaImage
from hubfw.ota.integrity import check_integrity_code
from hubfw.ota.keys import new_private_key
from hubfw.ota.signing import verify_signature
from hubfw.ota.status import Verdict
from hubfw.sim.devices import zcl, zdo
from hubfw.sim.devices.behaviour import BROADCAST_FLOOR, Behaviour, Identity
from hubfw.sim.devices.fragments import Reassembly, fragment
from hubfw.sim.devices.gb_session import GbHanSession, GbHanSettings
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import BASIC_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, OTA_CLUSTER, ZDO_ENDPOINT, ZDO_PROFILE
from hubfw.zigbee.zcl import TO_SERVER, OtaCommand, cluster_command, parse_frame

Status = foundation.Status
UpgradeStatus = Ota.ImageUpgradeStatus
Attribute = Ota.AttributeDefs

COORDINATOR_NWK = t.NWK(0x0000)
UNKNOWN_SERVER = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
"""ZCL's 'no upgrade server yet' value of the UpgradeServerID attribute."""
UPGRADE_ON_COMMAND = 0xFFFFFFFF
WILDCARD = 0xFFFF
WELL_KNOWN_KEY = t.KeyData(b"ZigBeeAlliance09")
"""The Zigbee Alliance's well-known trust centre link key: a device without an install code joins with it."""
MANUFACTURER_NAME = "hubfw simulator"
"""The Basic cluster's ManufacturerName of every simulated device (its model names the device kind)."""


class Phase(enum.Enum):
    IDLE = "idle"
    QUERYING = "querying"
    DOWNLOADING = "downloading"
    ENDING = "ending"
    WAITING_TO_UPGRADE = "waiting to upgrade"
    COUNTING_DOWN = "counting down"


_UPGRADE_STATUS = {
    Phase.IDLE: UpgradeStatus.Normal,
    Phase.QUERYING: UpgradeStatus.Normal,
    Phase.DOWNLOADING: UpgradeStatus.Download_in_progress,
    Phase.ENDING: UpgradeStatus.Download_complete,
    Phase.WAITING_TO_UPGRADE: UpgradeStatus.Waiting_to_upgrade,
    Phase.COUNTING_DOWN: UpgradeStatus.Count_down,
}


@dataclass(frozen=True)
class Offer:
    """The image a QueryNextImageResponse offered: how the device names what it downloads."""

    manufacturer_code: int
    image_type: int
    file_version: int
    image_size: int


@dataclass(frozen=True)
class LogEntry:
    """What the device sent ("tx") or heard ("rx"), as bytes and parsed by zigpy, or a "note" on what it did.

    `command` is None for a note, and for a frame zigpy cannot parse (the absent-field quirk's requests).
    """

    at: float
    kind: Literal["tx", "rx", "note"]
    what: str
    command: foundation.CommandSchema | None = None
    payload: bytes = b""


@dataclass(frozen=True)
class _Exchange:
    """The request awaiting its answer: the TSN the answer must carry, and for a page where it ends."""

    tsn: int
    page_end: int | None = None


class OtaClientDevice:
    """A GB HAN device's OTA Upgrade client; see the module docstring.

    `rng` draws the jitters and the first TSN; seed it for a reproducible run. `ds_key` is the device's GBCS
    Digital Signing key (P-256), which signs the 0x8F8B a PPMID raises; by default the key `gb` carries, else a
    fresh one (a bench that tells the hub its devices' keys gives them from `hubfw.gbcs.device_keys`).
    """

    def __init__(self, identity: Identity, behaviour: Behaviour | None = None,
                 rng: random.Random | None = None, gb: GbHanSettings | None = None,
                 ds_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.identity = identity
        self.behaviour = behaviour or Behaviour()
        self.descriptors = zdo.gb_han_device(identity.device_type, identity.nwk, identity.manufacturer_code,
                                             identity.endpoint, identity.profile,
                                             sleepy=self.behaviour.sleepy is not None)
        self.rng = rng or random.Random()
        self.current_file_version = self.identity.file_version
        self.powered = True
        self.joined = False
        self.phase = Phase.IDLE
        self.raised_alerts: list[TransferAlert] = []
        self.log: list[LogEntry] = []
        self.completed_image: bytes | None = None
        """The last download that verified, kept after activation so tests can compare it."""
        self._download = bytearray()
        self._download_offer: Offer | None = None
        self._offer: Offer | None = None
        self._end_status = Status.SUCCESS
        self._exchange: _Exchange | None = None
        self._retries = 0
        self._timer_at: float | None = None
        self._activation_at: float | None = None
        self._power_on_at: float | None = None
        self._cuts_done = 0
        self._block_period = 0.0
        self._block_period_raw = 0
        self._last_request_at = -math.inf
        self._held: list[ApsFrame] = []
        self._held_since = 0.0
        self._long_poll_anchor = 0.0
        self._joined_at = -math.inf
        self._server_ieee = UNKNOWN_SERVER
        self._server_ep = 1
        self._tsn = self.rng.randrange(256)
        self._aps_counter = self.rng.randrange(256)
        self._reassembly = Reassembly()
        self.join_key = WELL_KNOWN_KEY if identity.install_code is None else convert_install_code(identity.install_code)
        """The link key the device joined with: its install code's, or the well-known key."""
        self.gb = None if gb is None else GbHanSession(self, gb, self.join_key, self.rng)
        """The Smart Energy session (Match_Desc, CBKE, Time, tunnel) of a GB device; None: OTA alone."""
        self._ota_started = False
        self._past_end_asked = False
        self._given_up = False
        self.ds_key: ec.EllipticCurvePrivateKey = ds_key or (gb.ds_key if gb is not None else None) \
            or new_private_key()
        """The device's GBCS Digital Signing key: it signs the device's own GBCS messages (a PPMID's 0x8F8B)."""
        self.originator_counter = 0
        """The originator counter of the last GBCS message the device originated (0: none yet)."""
        self._commands: CommandReceiver | None = None
        self.gbcs_answers: list[tuple[bytes, bytes]] = []
        """(command, response) of every GBCS command the device answered, oldest first."""

    # ------------------------------------------------------------------ what tests read

    @property
    def ieee(self) -> t.EUI64:
        return self.identity.ieee

    @property
    def nwk(self) -> t.NWK:
        return self.identity.nwk

    @property
    def endpoint(self) -> int:
        return self.identity.endpoint

    @property
    def profile(self) -> int:
        return self.identity.profile

    @property
    def link_key(self) -> t.KeyData:
        """The key this device's APS-secured frames travel under (CBKE's once it has one)."""
        return self.join_key if self.gb is None else self.gb.current_key

    @property
    def download(self) -> bytes:
        """The bytes in the download area: a partial image while downloading, held across power cycles."""
        return bytes(self._download)

    def sent(self, what: str) -> list[LogEntry]:
        return [entry for entry in self.log if entry.kind == "tx" and entry.what == what]

    def received(self, what: str) -> list[LogEntry]:
        return [entry for entry in self.log if entry.kind == "rx" and entry.what == what]

    def has(self, defect: str) -> bool:
        """Whether the device has this known defect (`Behaviour.defects`)."""
        return defect in self.behaviour.defects

    def notes(self) -> list[str]:
        return [entry.what for entry in self.log if entry.kind == "note"]

    # ------------------------------------------------------------------ inputs

    def on_join(self, now: float) -> None:
        """The device is on the network: start its Smart Energy session, or straight away its query schedule."""
        self.joined = True
        self._long_poll_anchor = self._joined_at = now
        self.note(now, "joined")
        if self.gb is not None:
            self.gb.on_join(now)
        else:
            self._start_ota(now)

    def hears(self, frame: ApsFrame) -> bool:
        """Whether the device can open the frame (no APS ACK otherwise): an APS-secured frame must come
        under the link key the device holds for the hub."""
        if self.gb is not None:
            return self.gb.accepts_key(frame)
        return not frame.aps_encrypted or frame.link_key is None or frame.link_key == self.join_key

    def on_frame(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        """A frame the radio delivered to this device (the HAN only delivers while it is powered)."""
        if not self.powered:
            return []
        whole = self._reassembly.add(frame)
        if whole is None:
            return []
        if self.behaviour.sleepy is not None:
            if not self._held:
                self._held_since = now
            self._held.append(whole)
            return []
        return self._outbound(self._process(whole, now))

    def tick(self, now: float) -> list[ApsFrame]:
        """Do whatever is due at `now`: power-up, a sleepy poll, the session's requests, an OTA request, a retry
        or an activation."""
        if not self.powered:
            if self._power_on_at is not None and now >= self._power_on_at:
                self.power_on(now)
            return []
        out: list[ApsFrame] = []
        poll_at = self._poll_due()
        if poll_at is not None and now >= poll_at:
            held, self._held = self._held, []
            for frame in held:
                out += self._process(frame, now)
        if self.gb is not None:
            out += self._session_tick(now)
        if self._timer_at is not None and now >= self._timer_at:
            self._timer_at = None
            out += self._on_timer(now)
        return self._outbound(out)

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do."""
        if not self.powered:
            return self._power_on_at
        session = None if self.gb is None else self.gb.next_deadline()
        times = [time for time in (self._timer_at, self._poll_due(), session) if time is not None]
        return min(times, default=None)

    def power_off(self, now: float) -> None:
        """Lose power: anything in flight is lost; the download area and a pending activation are kept."""
        self.powered = False
        self._power_on_at = None
        self._held = []
        self._exchange = None
        self._timer_at = None
        if self.phase in (Phase.QUERYING, Phase.DOWNLOADING, Phase.ENDING):
            self.phase = Phase.IDLE
        self.note(now, f"power off holding {len(self._download)} bytes")

    def power_on(self, now: float) -> None:
        """Boot: ask the server again soon (resuming a held download), or keep waiting for activation."""
        self.powered = True
        self._given_up = False
        self._power_on_at = None
        self.note(now, f"power on holding {len(self._download)} bytes")
        if self.phase is Phase.IDLE and self._ota_started:
            self._timer_at = now + self.behaviour.boot_delay
        elif self.phase is Phase.COUNTING_DOWN and self._activation_at is not None:
            self._timer_at = max(now, self._activation_at)

    # ------------------------------------------------------------------ frames in

    def _process(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        if self.gb is not None and self.gb.takes(frame):
            out = self.gb.on_frame(frame, now)
            self._session_settled(now)
            return out
        if frame.profile == ZDO_PROFILE and frame.dst_ep == ZDO_ENDPOINT:
            return self._on_zdo_request(frame, now)
        if frame.cluster == BASIC_CLUSTER and frame.dst_ep == self.identity.endpoint:
            return self._on_basic_request(frame, now)
        if frame.cluster != OTA_CLUSTER or frame.dst_ep != self.identity.endpoint:
            self.note(now, f"ignored cluster 0x{frame.cluster:04X} endpoint {frame.dst_ep}")
            return []
        if not self._ota_started:
            return self._ignore(now, "OTA frame before the Smart Energy session settled")
        if self.gb is not None and self.gb.link_key is not None and not frame.aps_encrypted:
            return self._refuse_unsecured(frame, now)
        if self.identity.aps_encrypted and not frame.aps_encrypted:
            self.note(now, "dropped a frame without APS encryption")
            return []
        message = zcl.parse_server_frame(frame.payload)
        if message is None:
            self.note(now, f"ignored malformed frame {frame.payload.hex()}")
            return []
        self._server_ieee, self._server_ep = frame.src_ieee, frame.src_ep
        self.log.append(LogEntry(now, "rx", message.name, message.command, frame.payload))
        if message.name == "image_notify":
            return self._on_image_notify(message, now, broadcast=frame.dst_nwk >= BROADCAST_FLOOR)
        if message.name == "upgrade_end_response" and self.activation == "gbcs" and int(
                message.command.upgrade_time) != UPGRADE_ON_COMMAND:
            if self._answers_exchange(message):  # its own UpgradeEnd answered: it goes on waiting, for CS06
                self._on_upgrade_end_response(message, now)
            return self._refuse_activation(frame, now)
        handler = {
            zcl.READ_ATTRIBUTES: self._on_read_attributes,
            "query_next_image_response": self._on_query_response,
            "image_block_response": self._on_block_response,
            "upgrade_end_response": self._on_upgrade_end_response,
            zcl.DEFAULT_RESPONSE: self._on_default_response,
        }.get(message.name)
        if handler is None:
            return self._ignore(now, message.name)
        return handler(message, now)

    def _refuse_unsecured(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        """After CBKE, OTA only under the link key: an unsecured frame earns NOT_AUTHORIZED and nothing else."""
        self.note(now, "refused an OTA frame without APS encryption: NOT_AUTHORIZED")
        payload = zcl.refusal(frame.payload, Status.NOT_AUTHORIZED)
        if payload is None:
            return []
        return [self._answer(now, frame, OTA_CLUSTER, payload, zcl.DEFAULT_RESPONSE, _parse_own(payload))]

    def _refuse_activation(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        """A device activated only by GBCS CS06 refuses an UpgradeEndResponse that names an upgrade time (anything but
        0xFFFFFFFF, wait), solicited or not: NOT_AUTHORIZED, and it goes on waiting. So does Silicon Labs' OTA client
        whose UpgradeActivationPolicy is out-of-band only [SiliconLabs/simplicity_sdk
        protocol/zigbee/app/framework/plugin/ota-client/ota-client.c `upgradeEndResponseParse`, citing SE 1.2b OTA
        updates 15-0324-02 11.10.12]; an UpgradeEndResponse saying wait is taken, as there."""
        self.note(now, "refused an upgrade end response naming an upgrade time: NOT_AUTHORIZED (activated by GBCS CS06 "
                       "only)")
        payload = zcl.refusal(frame.payload, Status.NOT_AUTHORIZED)
        if payload is None:
            return []
        return [self._answer(now, frame, OTA_CLUSTER, payload, zcl.DEFAULT_RESPONSE, _parse_own(payload))]

    def _session_tick(self, now: float) -> list[ApsFrame]:
        assert self.gb is not None
        out = self.gb.tick(now)
        self._session_settled(now)
        return out

    def _session_settled(self, now: float) -> None:
        """Start the OTA client once the session has its key (or gave up on one); query at once when the
        hub's notification flags said an image waits."""
        assert self.gb is not None
        if not self._ota_started and self.gb.settled:
            if self.gb.hub.se_endpoint is not None:
                self._server_ieee, self._server_ep = self.gb.hub.ieee, self.gb.hub.se_endpoint
            self._start_ota(now)
        if self.gb.take_image_flag() and self._ota_started and self.phase is Phase.IDLE:
            self._timer_at = now if self._timer_at is None else min(self._timer_at, now)

    def _start_ota(self, now: float) -> None:
        self._ota_started = True
        if self.behaviour.query_interval is not None:
            self._timer_at = now + self.rng.uniform(0, self.behaviour.query_jitter)

    def _on_zdo_request(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        """Node_Desc, Active_EP and Simple_Desc requests: the device describes itself (no APS security,
        as ZDO uses none)."""
        name = _zdo_name(frame.cluster)
        self.log.append(LogEntry(now, "rx", name, payload=frame.payload))
        answer = zdo.answer(frame.cluster, frame.payload[1:], self.descriptors) if frame.payload else None
        if answer is None:
            return self._ignore(now, f"ZDO request {name}")
        cluster, body = answer
        return [self._answer(now, frame, cluster, frame.payload[:1] + body, _zdo_name(cluster), None)]

    def _on_basic_request(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        """A read of the Basic cluster (zigpy's interview asks for the manufacturer name and model)."""
        request = zcl.parse_read_attributes_request(frame.payload)
        if request is None:
            return self._ignore(now, f"Basic cluster frame {frame.payload.hex()}")
        tsn, attribute_ids = request
        self.log.append(LogEntry(now, "rx", zcl.READ_ATTRIBUTES, payload=frame.payload))
        values = self._basic_attribute_values()
        payload = zcl.read_attributes_response(tsn, {attribute: values.get(attribute) for attribute in attribute_ids},
                                               foundation.Direction.Server_to_Client)
        return [self._answer(now, frame, frame.cluster, payload, "Read_Attributes_rsp", _parse_own(payload))]

    def _on_image_notify(self, message: zcl.ServerMessage, now: float, broadcast: bool) -> list[ApsFrame]:
        notify = message.command
        kind = ImageNotifyCommand.PayloadType
        if self.has("ignores-image-notify"):
            return self._ignore(now, "image notify (defect: waits for its next poll)")
        if self.phase is not Phase.IDLE:
            return self._ignore(now, "image notify while busy")
        mismatch = (
            (notify.payload_type >= kind.QueryJitter_ManufacturerCode
             and notify.manufacturer_code != self.identity.manufacturer_code)
            or (notify.payload_type >= kind.QueryJitter_ManufacturerCode_ImageType
                and notify.image_type != self.identity.image_type)
            or (notify.payload_type >= kind.QueryJitter_ManufacturerCode_ImageType_NewFileVersion
                and notify.new_file_version == self.current_file_version)
        )
        if mismatch:
            return self._ignore(now, "image notify not for this device")
        if broadcast and self.rng.randint(1, 100) > notify.query_jitter:
            return self._ignore(now, "image notify jitter says not now")
        query_at = now + self.rng.uniform(0, self.behaviour.notify_delay)
        self._timer_at = query_at if self._timer_at is None else min(self._timer_at, query_at)
        return []

    def _on_query_response(self, message: zcl.ServerMessage, now: float) -> list[ApsFrame]:
        if self.phase is not Phase.QUERYING or not self._answers_exchange(message):
            return self._ignore(now, "unexpected query next image response")
        self._answered()
        response = message.command
        if response.status != Status.SUCCESS:
            self.phase = Phase.IDLE
            self._schedule_query(now)
            return []
        if (response.manufacturer_code, response.image_type) != (self.identity.manufacturer_code,
                                                                  self.identity.image_type):
            self.note(now, "offered an image for another manufacturer or image type")
            self.phase = Phase.IDLE
            self._schedule_query(now)
            return []
        offer = Offer(response.manufacturer_code, response.image_type, response.file_version, response.image_size)
        self._offer = offer
        if self._download_offer != offer:
            self._download = bytearray()
            self._download_offer = offer
        elif self._download and self.has("restarts-from-zero"):
            self.note(now, f"restarting from offset 0 (defect), holding {len(self._download)} bytes")
            self._download = bytearray()
        elif self._download:
            self.note(now, f"resuming at offset {len(self._download)}")
        self.phase = Phase.DOWNLOADING
        if len(self._download) >= offer.image_size:
            return self._finish_download(now)
        return self._next_request(now)

    def _on_block_response(self, message: zcl.ServerMessage, now: float) -> list[ApsFrame]:
        exchange = self._exchange
        if self.phase is not Phase.DOWNLOADING or exchange is None or not self._answers_exchange(message):
            return self._ignore(now, "unexpected image block response")
        response = message.command
        if response.status == Status.WAIT_FOR_DATA:
            self._answered()
            self._adopt_block_period(int(response.minimum_block_period))
            wait = int(response.request_time) - int(response.current_time) if response.current_time else int(
                response.request_time)
            if self.has("ignores-wait-for-data"):
                wait = self.behaviour.block_delay  # its usual pace, as if the wait were not there
            self._timer_at = now + max(0, wait)
            return []
        if response.status != Status.SUCCESS:
            self._answered()
            self.note(now, f"download aborted by server ({response.status.name})")
            self._discard_download()
            self.phase = Phase.IDLE
            self._schedule_query(now)
            return []
        assert self._offer is not None
        named = Offer(response.manufacturer_code, response.image_type, response.file_version, self._offer.image_size)
        end = response.file_offset + len(response.image_data)
        if named != self._offer or response.file_offset != len(self._download) or end > self._offer.image_size:
            return self._ignore(now, f"block at offset {response.file_offset} does not continue the download")
        self._download += response.image_data
        self._retries = 0
        if self._power_cut_due(now):
            return []
        if len(self._download) >= self._offer.image_size:
            self._exchange = None
            if self.has("reads-past-end") and not self._past_end_asked:
                self._past_end_asked = True  # asks at offset image_size, then ends whatever the answer
                return self._next_request(now)
            return self._finish_download(now)
        if exchange.page_end is not None and len(self._download) < exchange.page_end:
            self._timer_at = now + self.behaviour.response_timeout  # more of this page is on its way
            return []
        self._exchange = None
        return self._next_request(now)

    def _on_upgrade_end_response(self, message: zcl.ServerMessage, now: float) -> list[ApsFrame]:
        response = message.command
        waiting = self.phase in (Phase.WAITING_TO_UPGRADE, Phase.COUNTING_DOWN)
        answering = self.phase is Phase.ENDING and self._end_status == Status.SUCCESS and self._answers_exchange(
            message)
        if not (waiting or answering) or self._offer is None or not self._names_offer(response):
            return self._ignore(now, "unexpected upgrade end response")
        self._answered()
        upgrade_time = int(response.upgrade_time)
        if self.activation == "gbcs" and upgrade_time != UPGRADE_ON_COMMAND:  # refused (`_refuse_activation`)
            self.note(now, "upgrade end response says activate: waiting for a GBCS CS06 instead")
            upgrade_time = UPGRADE_ON_COMMAND
        if upgrade_time == UPGRADE_ON_COMMAND:
            self.phase = Phase.WAITING_TO_UPGRADE
            self._timer_at = self._activation_at = None
            return []
        delay = upgrade_time - int(response.current_time) if response.current_time else upgrade_time
        if delay <= 0:
            return self._activate(now)
        self.phase = Phase.COUNTING_DOWN
        self._timer_at = self._activation_at = now + delay
        return []

    def _on_default_response(self, message: zcl.ServerMessage, now: float) -> list[ApsFrame]:
        answer = message.command
        self.note(now, f"default response to command 0x{answer.command_id:02X}: {answer.status.name}")
        if not self._answers_exchange(message):
            return []
        self._answered()
        if self._past_end_asked and self.phase is Phase.DOWNLOADING:
            return self._finish_download(now)
        if self.phase is Phase.ENDING and (self._end_status != Status.SUCCESS or answer.status != Status.SUCCESS):
            if answer.status == Status.ABORT:
                self.note(now, "server said abort: image discarded, not activated")
                self._discard_download()
                self.completed_image = None
            self.phase = Phase.IDLE
            self._schedule_query(now)
        elif answer.status != Status.SUCCESS:
            self.phase = Phase.IDLE
            self._timer_at = now + self.behaviour.retry_backoff
        return []

    def _on_read_attributes(self, message: zcl.ServerMessage, now: float) -> list[ApsFrame]:
        values = self._attribute_values()
        answer = {int(attribute): values.get(int(attribute)) for attribute in message.command.attribute_ids}
        return [self._frame(now, zcl.read_attributes_response(message.tsn, answer), "Read_Attributes_rsp")]

    # ------------------------------------------------------------------ timers and requests

    def _on_timer(self, now: float) -> list[ApsFrame]:
        if self.phase is Phase.IDLE:
            if self._given_up:
                return self._ignore(now, "the time to query (defect: gave up after the silence)")
            self.phase = Phase.QUERYING
            return self._send_request(now)
        if self.phase is Phase.COUNTING_DOWN:
            return self._activate(now)
        if self._exchange is not None:  # the answer never came
            self._retries += 1
            if self._retries > self.behaviour.max_retries:
                self.note(now, f"gave up after {self.behaviour.max_retries} retries while {self.phase.value}")
                self._exchange = None
                self._retries = 0
                if self.has("gives-up-after-silence") and self.phase is Phase.DOWNLOADING:
                    self.note(now, "abandoned the download for good (defect)")
                    self._discard_download()
                    self._given_up = True
                self.phase = Phase.IDLE
                self._timer_at = now + self.behaviour.retry_backoff
                return []
            if self.phase is Phase.DOWNLOADING and self._download and self.has("restarts-from-zero"):
                self.note(now, f"restarting from offset 0 (defect), holding {len(self._download)} bytes")
                self._download = bytearray()
        return self._send_request(now)

    def _next_request(self, now: float) -> list[ApsFrame]:
        """The next block or page request, now or once MinimumBlockPeriod and the device's own delay allow."""
        at = max(now + self.behaviour.block_delay, self._last_request_at + self._block_period)
        if at > now:
            self._timer_at = at
            return []
        return self._send_request(now)

    def _send_request(self, now: float) -> list[ApsFrame]:
        """(Re)send the request the current phase waits on, and time out waiting for its answer."""
        tsn = self.next_tsn()
        page_end = None
        if self.phase is Phase.QUERYING:
            name, payload = "query_next_image", self._query_next_image(tsn)
        elif self.phase is Phase.DOWNLOADING:
            name, payload, page_end = self._transfer_request(tsn)
        else:
            name, payload = "upgrade_end", self._upgrade_end(tsn)
        self._exchange = _Exchange(tsn, page_end)
        self._last_request_at = now
        self._timer_at = now + self.behaviour.response_timeout
        if page_end is not None:
            blocks = math.ceil((page_end - len(self._download)) / self.behaviour.max_data_size)
            self._timer_at += blocks * self.behaviour.response_spacing_ms / 1000
        return [self._frame(now, payload, name)]

    def _query_next_image(self, tsn: int) -> bytes:
        hardware = self.identity.hardware_version
        control = QueryNextImageCommand.FieldControl(0 if hardware is None else 1)
        return cluster_command(
            tsn, OtaCommand.query_next_image, TO_SERVER, field_control=control,
            manufacturer_code=self.identity.manufacturer_code, image_type=self.identity.image_type,
            current_file_version=self.current_file_version, hardware_version=hardware,
        )

    def _transfer_request(self, tsn: int) -> tuple[str, bytes, int | None]:
        assert self._offer is not None
        offer, offset = self._offer, len(self._download)
        image = {"manufacturer_code": offer.manufacturer_code, "image_type": offer.image_type,
                 "file_version": offer.file_version, "file_offset": offset,
                 "maximum_data_size": self.behaviour.max_data_size}
        page_size = self.behaviour.page_size
        if page_size is not None:
            payload = cluster_command(
                tsn, OtaCommand.image_page, TO_SERVER, field_control=0, page_size=page_size,
                response_spacing=self.behaviour.response_spacing_ms, **image,
            )
            return "image_page", payload, min(offset + page_size, offer.image_size)
        if self.behaviour.announces_absent_block_period:
            return "image_block", zcl.block_request_announcing_absent_period(tsn, field_control=0, **image), None
        if self._block_period_raw:
            control = ImageBlockCommand.FieldControl.MinimumBlockPeriod
            payload = cluster_command(tsn, OtaCommand.image_block, TO_SERVER, field_control=control,
                                      minimum_block_period=self._block_period_raw, **image)
        else:
            payload = cluster_command(tsn, OtaCommand.image_block, TO_SERVER, field_control=0, **image)
        return "image_block", payload, None

    def _upgrade_end(self, tsn: int) -> bytes:
        assert self._offer is not None
        return cluster_command(
            tsn, OtaCommand.upgrade_end, TO_SERVER, status=self._end_status,
            manufacturer_code=self._offer.manufacturer_code, image_type=self._offer.image_type,
            file_version=self._offer.file_version,
        )

    # ------------------------------------------------------------------ the end of a download

    def _finish_download(self, now: float) -> list[ApsFrame]:
        """Check the image as the device's bootloader would, then tell the server how it went."""
        self._past_end_asked = False
        problem = None if self.has("activates-corrupt-image") else self._image_problem()
        if problem is None:
            self._end_status = Status.SUCCESS
            self.completed_image = bytes(self._download)
            self.note(now, "download verified")
        else:
            self._end_status = Status.INVALID_IMAGE
            self.note(now, f"download rejected: {problem}")
            self._discard_download()
        self.phase = Phase.ENDING
        return self._send_request(now)

    def _image_problem(self) -> str | None:
        assert self._offer is not None
        if self.behaviour.rejects_image:
            return "this device rejects the image"
        try:
            image = OtaImage.parse(bytes(self._download))
        except HubfwError as exc:
            return str(exc)
        integrity = check_integrity_code(image)  # present: it must match (absent: nothing to check)
        if integrity.verdict is Verdict.INVALID:
            return integrity.detail
        header = image.header
        if (header.manufacturer_code, header.image_type, header.file_version) != (
            self._offer.manufacturer_code, self._offer.image_type, self._offer.file_version
        ):
            return "the OTA header does not name the offered image"
        hardware = self.identity.hardware_version
        if hardware is not None and header.min_hw_version is not None and header.max_hw_version is not None:
            if not header.min_hw_version <= hardware <= header.max_hw_version:
                return f"hardware version {hardware} is outside the image's range"
        if self.behaviour.trust_anchors:
            verdict = verify_signature(image, self.behaviour.trust_anchors)
            if not verdict.valid:
                return verdict.detail
        return None

    def _activate(self, now: float) -> list[ApsFrame]:
        """Run the new image; a PPMID then raises 0x8F8B with the version it now runs, sent through its GBCS
        tunnel when it has one."""
        assert self._offer is not None
        version = self._offer.file_version
        self.current_file_version = version
        self._discard_download()
        self._activation_at = None
        self.phase = Phase.IDLE
        self.note(now, f"activated file version 0x{version:08X}")
        self._schedule_query(now)
        if self.identity.device_type is not DeviceType.PPMID:
            return []
        if self.has("no-8f8b"):
            self.note(now, "sent no 0x8F8B (defect)")
            return []
        alert = replace(activation_alert(len(self.raised_alerts) + 1, self.ieee, version, now), source="tunnel")
        if self.gb is not None and self.gb.settings.uses_tunnel:
            counter = self.next_originator_counter(now)
            message = activation_message(alert, counter, DEFAULT_ACB_ID, key=self.ds_key)
            alert = replace(alert, counter=counter, message=message)
            self.gb.queue_gbcs(message, now)
        self.raised_alerts.append(alert)
        return []

    # ------------------------------------------------------------------ GBCS commands through the tunnel

    @property
    def activation(self) -> str:
        """How the device is told to activate: "zcl" (UpgradeEndResponse) or "gbcs" (CS06 only)."""
        return "zcl" if self.gb is None else self.gb.settings.activation

    @property
    def held_image(self) -> bytes | None:
        """The verified download the device holds, waiting to be activated (None once activated, or without one)."""
        ended = self.phase is Phase.ENDING and self._end_status == Status.SUCCESS
        if ended or self.phase in (Phase.WAITING_TO_UPGRADE, Phase.COUNTING_DOWN):
            return self.completed_image
        return None

    def gbcs_message(self, message: bytes, now: float) -> None:
        """A GBCS message the hub sent through the tunnel: a CS06 or CS08 is checked (`hubfw.gbcs.device_commands`:
        the ACB's MAC, the supplier's signature, the originator counter) and answered through the tunnel; anything
        else, or a command that fails a check, is discarded with a note."""
        receiver = self._command_receiver(now)
        if receiver is None or self.gb is None:
            return
        try:
            command = receiver.receive(message)
        except CommandRefused as exc:
            self.note(now, f"discarded a GBCS command: {exc}")
            return
        if isinstance(command, ActivateCommand):
            self._on_activate_command(command, message, now)
            return
        if self.identity.device_type not in (DeviceType.PPMID, DeviceType.HCALCS):
            self.note(now, "discarded a CS08: only a PPMID or an HCALCS answers Read PPMID/HCALCS Firmware Version")
            return
        response = receiver.read_version_response(command, self.current_file_version)
        self.note(now, f"CS08: answered firmware version 0x{self.current_file_version:08X}")
        self._answer_gbcs(message, response, now)

    def _on_activate_command(self, command: ActivateCommand, message: bytes, now: float) -> None:
        """CS06: activate the held image if its Manufacturer Image hash is the command's, and answer (before the
        activation's own messages, a PPMID's 0x8F8B)."""
        assert self._commands is not None
        held = self.held_image
        if held is None:
            code = ActivationCode.NO_IMAGE_HELD
        elif _manufacturer_image_sha256(held) != command.content.image_hash and not self.has("activates-any-hash"):
            code = ActivationCode.HASH_MISMATCH
        elif self.behaviour.fails_activation:
            code = ActivationCode.ACTIVATION_FAILURE
        else:
            code = ActivationCode.SUCCESS
        version = self.current_file_version
        if code is ActivationCode.SUCCESS:
            assert self._offer is not None
            version = self._offer.file_version
        offset = self.gb.hub.time_offset if self.gb is not None else None
        response = self._commands.activate_response(command, code, version, dlms_date_time(now + (offset or 0.0)))
        self.note(now, f"CS06: {code.name} (firmware version 0x{version:08X})")
        self._answer_gbcs(message, response, now)
        if code is ActivationCode.SUCCESS:
            self._exchange = None
            self._activate(now)

    def _answer_gbcs(self, command: bytes, response: bytes, now: float) -> None:
        assert self.gb is not None
        self.gbcs_answers.append((command, response))
        self.gb.queue_gbcs(response, now)

    def _command_receiver(self, now: float) -> CommandReceiver | None:
        """The device's command checks, made with its keys on the first command; None (noted) without keys."""
        if self._commands is not None:
            return self._commands
        settings = None if self.gb is None else self.gb.settings
        if settings is None or settings.ka_key is None or settings.gbcs_keys is None:
            self.note(now, "discarded a GBCS message: this device has no GBCS Key Agreement key or bench key set")
            return None
        try:
            keys = settings.gbcs_keys if isinstance(settings.gbcs_keys, GbcsKeys) else GbcsKeys.load(
                settings.gbcs_keys)
            trusted = DeviceGbcsKeys(entity_of(self.ieee), self.ds_key, settings.ka_key, keys.acb_id,
                                     keys.public(keys.acb_id, KA), keys.supplier_id, keys.public(keys.supplier_id, DS))
        except GbcsKeysError as exc:
            self.note(now, f"discarded a GBCS message: {exc}")
            return None
        self._commands = CommandReceiver(trusted, replay_protection=not self.has("accepts-replays"))
        return self._commands

    def next_originator_counter(self, now: float) -> int:
        """The originator counter of the next GBCS message the device originates: `max(last + 1, now in ms)`.

        GBCS has a receiver discard a message whose originator counter is not greater than the last one it accepted
        from that originator (GBCS section 4, "Originator Counter" of the transaction-id; replay protection), so a
        device's counters only ever increase. The simulated device keeps its last counter while the object lives
        (across hub restarts in one process: the same device keeps talking), and starts from its clock in
        milliseconds, so a device made again in a later process (`hubfw serve --radio sim` restarted under the
        real clock) still counts on above what it sent before, as long as it sends fewer than 1000 a second."""
        self.originator_counter = max(self.originator_counter + 1, int(now * 1000))
        return self.originator_counter

    # ------------------------------------------------------------------ helpers

    def _power_cut_due(self, now: float) -> bool:
        cuts = self.behaviour.power_cuts
        if self._cuts_done >= len(cuts) or len(self._download) < cuts[self._cuts_done].at_offset:
            return False
        cut = cuts[self._cuts_done]
        self._cuts_done += 1
        self.power_off(now)
        self._power_on_at = now + cut.off_for
        return True

    def _adopt_block_period(self, raw: int) -> None:
        self._block_period_raw = raw
        self._block_period = 0.0 if self.has("ignores-minimum-block-period") else (
            raw * self.behaviour.block_period_unit.value)

    def _answers_exchange(self, message: zcl.ServerMessage) -> bool:
        return self._exchange is not None and self._exchange.tsn == message.tsn

    def _answered(self) -> None:
        self._exchange = None
        self._retries = 0
        self._timer_at = None

    def _names_offer(self, response: Any) -> bool:
        assert self._offer is not None
        return (
            response.manufacturer_code in (WILDCARD, self._offer.manufacturer_code)
            and response.image_type in (WILDCARD, self._offer.image_type)
            and response.file_version == self._offer.file_version
        )

    def _discard_download(self) -> None:
        self._download = bytearray()
        self._download_offer = None

    def _schedule_query(self, now: float) -> None:
        interval = self.behaviour.query_interval
        self._timer_at = None if interval is None else now + interval - self.rng.uniform(0, self.behaviour.query_jitter)

    def _poll_due(self) -> float | None:
        """When a sleepy device next polls its parent (strictly after the first held frame arrived)."""
        sleepy = self.behaviour.sleepy
        if sleepy is None or not self._held:
            return None
        if self._exchange is not None:
            anchor, period = self._last_request_at, sleepy.fast_poll
        elif self.gb is not None and self.gb.awaiting_answer:
            anchor, period = self._held_since, sleepy.fast_poll
        elif self._held_since < self._joined_at + sleepy.fast_after_join:
            anchor, period = self._joined_at, sleepy.fast_poll
        else:
            anchor, period = self._long_poll_anchor, sleepy.long_poll
        return anchor + (math.floor(max(0.0, self._held_since - anchor) / period) + 1) * period

    def _attribute_values(self) -> dict[int, object]:
        values: dict[int, object] = {
            Attribute.upgrade_server_id.id: self._server_ieee,
            Attribute.current_file_version.id: t.uint32_t(self.current_file_version),
            Attribute.image_upgrade_status.id: _UPGRADE_STATUS[self.phase],
            Attribute.manufacturer_id.id: t.uint16_t(self.identity.manufacturer_code),
            Attribute.image_type_id.id: t.uint16_t(self.identity.image_type),
            Attribute.minimum_block_req_delay.id: t.uint16_t(self._block_period_raw),
        }
        if self._download_offer is not None:
            values[Attribute.file_offset.id] = t.uint32_t(len(self._download))
            values[Attribute.downloaded_file_version.id] = t.uint32_t(self._download_offer.file_version)
        return values

    def _basic_attribute_values(self) -> dict[int, object]:
        basic = Basic.AttributeDefs
        power = Basic.PowerSource.Battery if self.behaviour.sleepy else Basic.PowerSource.Mains_single_phase
        return {
            basic.manufacturer.id: t.CharacterString(MANUFACTURER_NAME),
            basic.model.id: t.CharacterString(f"simulated {self.identity.device_type.name}"),
            basic.power_source.id: power,
        }

    def _ignore(self, now: float, why: str) -> list[ApsFrame]:
        self.note(now, f"ignored {why}")
        return []

    def note(self, now: float, what: str) -> None:
        self.log.append(LogEntry(now, "note", what))

    def _outbound(self, frames: list[ApsFrame]) -> list[ApsFrame]:
        """Frames as they leave the radio: a GB device with a CBKE key secures everything but ZDO and Key
        Establishment (which SE sends under network security only); secured frames carry the device's link
        key; what exceeds one APS payload goes in fragments."""
        secured_session = self.gb is not None and self.gb.link_key is not None
        out = []
        for frame in frames:
            if secured_session and frame.profile != ZDO_PROFILE and frame.cluster != KEY_ESTABLISHMENT_CLUSTER:
                frame = replace(frame, aps_encrypted=True)
            if frame.aps_encrypted:
                frame = replace(frame, link_key=self.link_key)
            out += fragment(frame)
        return out

    def _frame(self, now: float, payload: bytes, name: str) -> ApsFrame:
        """An OTA client frame for the server."""
        self.log.append(LogEntry(now, "tx", name, _parse_own(payload), payload))
        return ApsFrame(
            src_ieee=self.ieee, src_nwk=self.identity.nwk, dst_ieee=self._server_ieee, dst_nwk=COORDINATOR_NWK,
            profile=self.identity.profile, cluster=OTA_CLUSTER, src_ep=self.identity.endpoint, dst_ep=self._server_ep,
            payload=payload, aps_encrypted=self.identity.aps_encrypted, aps_counter=self.next_aps_counter(),
        )

    def _answer(self, now: float, request: ApsFrame, cluster: int, payload: bytes, name: str,
                command: foundation.CommandSchema | None) -> ApsFrame:
        """The answer to `request`, from the endpoint it addressed: same profile, APS-secured in kind."""
        self.log.append(LogEntry(now, "tx", name, command, payload))
        return ApsFrame(
            src_ieee=self.ieee, src_nwk=self.identity.nwk, dst_ieee=request.src_ieee, dst_nwk=request.src_nwk,
            profile=request.profile, cluster=cluster, src_ep=request.dst_ep, dst_ep=request.src_ep, payload=payload,
            aps_encrypted=request.aps_encrypted, aps_counter=self.next_aps_counter(),
        )

    def next_aps_counter(self) -> int:
        self._aps_counter = (self._aps_counter + 1) % 256
        return self._aps_counter

    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn


def _manufacturer_image_sha256(image: bytes) -> bytes | None:
    """The image's Manufacturer Image hash as the hub's store computes it (`OtaImage.manufacturer_image_sha256`: SHA-256
    of the upgrade-image sub-element's payload); None when it has no single Manufacturer Image."""
    try:
        return OtaImage.parse(image).manufacturer_image_sha256
    except HubfwError:
        return None


def _zdo_name(cluster: int) -> str:
    try:
        return zdo_t.ZDOCmd(cluster).name
    except ValueError:
        return f"ZDO 0x{cluster:04X}"


def _parse_own(payload: bytes) -> foundation.CommandSchema | None:
    """What the device itself sent, parsed back for the log (None for the deliberately malformed)."""
    try:
        return parse_frame(payload, Ota.server_commands)[2]
    except ValueError:
        return None
