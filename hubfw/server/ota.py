"""The OTA Upgrade cluster server: ZCL bytes, device identity and time in; frames and store events out.

Image data is served statelessly: every ImageBlock/ImagePage request names its offset and is answered
from flash, so a device that power-cycles — or a hub that restarts — simply carries on. The only
state kept here is soft (ImageNotify re-send plans, concurrency slots, UpgradeEnd replies to repeat,
pending version reads); the durable per-target state lives in the store.

Answers to requests the server cannot serve (ZCL general command rules, and Silicon Labs' OTA server
plugin where the OTA chapter leaves the choice open):
- a frame too short for its command, or whose field control announces absent fields:
  Default Response MALFORMED_COMMAND;
- QueryNextImage with nothing to offer (unknown device, other manufacturer/image type, version
  policy says no, hardware version out of range): QueryNextImageResponse NO_IMAGE_AVAILABLE;
- ImageBlock/ImagePage for an image that is not this device's current offer: ImageBlockResponse
  ABORT (the client must stop and query again);
- an offset at or past the end of the image, a maximum data size or page size of 0:
  Default Response INVALID_FIELD;
- UpgradeEnd SUCCESS for an image not on offer: Default Response ABORT (do not activate it);
- commands this server does not implement (QuerySpecificFile, unknown ids): UNSUP_CLUSTER_COMMAND;
  manufacturer-specific commands: UNSUP_MANUF_CLUSTER_COMMAND.
Times in WAIT_FOR_DATA and UpgradeEndResponse are relative (CurrentTime 0), as Silicon Labs sends
them, so clients need no clock.

Faults on demand (hubfw.hub.faults): given a `FaultBook`, the server misbehaves on purpose towards the devices
it names, and nowhere else; each time a fault acts it is in that device's history. A QueryNextImage may be
answered NO_IMAGE_AVAILABLE or NOT_AUTHORIZED, or not at all (the store hears nothing of it). ImageBlock and
ImagePage requests, once the normal rules have found them valid, may get no answer (every Nth), ABORT (at or
after an offset), WAIT_FOR_DATA (ZCL OTA ImageBlockResponse with status WAIT_FOR_DATA carries CurrentTime
uint32, RequestTime uint32 and MinimumBlockPeriod uint16 — zigpy's `ImageBlockResponseCommand`; Silicon
Labs' ota-server.c puts CurrentTime 0 for relative time, then the wait in seconds, then the block period),
shorter blocks, a flipped byte (in what is sent only: the store's image is untouched) or answers sent late
(`not_before`). A SUCCESS UpgradeEnd may be answered with a later upgrade time, 0xFFFFFFFF or not at all;
what the server remembers to repeat is its own answer, so a repeat after a one-shot fault is answered normally.

Why isn't it downloading (hubfw.server.exchanges): each device's last request, the answer and, when that was not
image data, the reason the deciding rule gave are kept in `exchanges` (in memory only), with the pace of its recent
blocks.

A PPMID's 0x8F8B is recorded from a read of its current_file_version after it was told to activate.
A PPMID with an open GBCS tunnel sends its own 0x8F8B through it (the hub calls `activation_reported`),
so for it the read's alert waits `tunnel_alert_grace` seconds and is recorded only if none came.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageNotifyCommand, ImagePageCommand, Ota, QueryNextImageCommand

from hubfw.clock import Clock
from hubfw.devices import DeviceType
from hubfw.hub.faults import FaultBook, FaultKind
from hubfw.server.blocksize import max_block_data_size
from hubfw.server.config import OtaServerConfig
from hubfw.server.exchanges import IMAGE_BLOCK, IMAGE_PAGE, QUERY, UPGRADE_END, ExchangeLog, OtaRequestSeen
from hubfw.server.store_api import ServedImage, ServerStore
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import (
    TO_CLIENT,
    BlockRequest,
    Header,
    OtaCommand,
    OtaReply,
    cluster_command,
    decode,
    default_response_to,
    image_block_response,
    parse_block_request,
    parse_header,
    read_attributes,
)

Status = foundation.Status

UPGRADE_NOW = 0
"""UpgradeEndResponse UpgradeTime with CurrentTime 0: activate immediately."""
UPGRADE_ON_COMMAND = 0xFFFFFFFF
"""UpgradeEndResponse UpgradeTime: wait for a later upgrade command (the CS06 activation)."""

WILDCARD_MANUFACTURER = 0xFFFF
WILDCARD_IMAGE_TYPE = 0xFFFF
"""UpgradeEndResponse fields that match any manufacturer / image type (ZCL OTA, Upgrade End Response)."""

CURRENT_FILE_VERSION = Ota.AttributeDefs.current_file_version.id
CURRENT_FILE_VERSION_TYPE = foundation.DataTypeId.uint32
"""ZCL: current_file_version is a uint32 (0x23); any other type in a reply is not a version."""

QUERY_FAULTS: dict[FaultKind, Status | None] = {
    FaultKind.QUERY_NO_IMAGE: Status.NO_IMAGE_AVAILABLE,
    FaultKind.QUERY_NOT_AUTHORIZED: Status.NOT_AUTHORIZED,
    FaultKind.QUERY_SILENT: None,
}
"""The QueryNextImage faults and the status each answers with (None: no answer)."""
END_FAULTS = (FaultKind.END_LATER, FaultKind.END_WAIT, FaultKind.END_SILENT)

ImageKey = tuple[int, int, int]
"""(manufacturer code, image type, file version): how OTA frames name an image."""


def image_key(image: ServedImage) -> ImageKey:
    return (image.manufacturer_code, image.image_type, image.file_version)


class _Malformed(Exception):
    """The request cannot be parsed; answered with MALFORMED_COMMAND."""


class _Refused(Exception):
    """The request is answered with these frames instead of what it asked for, because of `reason`."""

    def __init__(self, frames: list[OutgoingFrame], reason: str) -> None:
        super().__init__()
        self.frames = frames
        self.reason = reason


@dataclass(frozen=True)
class _Link:
    """How to reach a device: learnt from its last frame, defaults until then."""

    profile: int
    client_ep: int
    server_ep: int
    aps_encrypt: bool


@dataclass
class _NotifyPlan:
    sent: int
    next_at: float


@dataclass(frozen=True)
class _EndedTransfer:
    """A SUCCESS UpgradeEnd already answered: a repeat gets the same reply and records nothing."""

    key: ImageKey
    upgrade_time: int


@dataclass
class _VersionRead:
    """Confirming a PPMID's running version after it was told to activate."""

    expected_version: int
    due_at: float
    attempts: int = 0
    last_reported: int | None = None
    awaiting_tunnel: bool = False
    """The read is done but the device has a GBCS tunnel: its own 0x8F8B is awaited until `due_at`."""


@dataclass(frozen=True)
class _Request:
    frame: IncomingFrame
    header: Header

    @property
    def source(self) -> t.EUI64:
        return self.frame.source

    def reply(self, zcl: bytes, not_before: float | None = None) -> OutgoingFrame:
        """Answer in kind: same profile, endpoints swapped, APS-encrypted if the request was."""
        return OutgoingFrame(
            destination=self.frame.source,
            profile=self.frame.profile,
            src_ep=self.frame.dst_ep,
            dst_ep=self.frame.src_ep,
            cluster=OTA_CLUSTER,
            zcl=zcl,
            aps_encrypt=self.frame.aps_encrypted,
            not_before=not_before,
        )

    def default_response(self, status: Status) -> list[OutgoingFrame]:
        zcl = default_response_to(self.header, status)
        return [] if zcl is None else [self.reply(zcl)]


class OtaServer:
    """One hub's OTA server; `handle`, `notify`, `tick` and `activate` return the frames to send."""

    def __init__(
        self,
        store: ServerStore,
        clock: Clock,
        config: OtaServerConfig | None = None,
        rng: random.Random | None = None,
        *,
        tunnel_open: Callable[[t.EUI64], bool] = lambda eui64: False,
        faults: FaultBook | None = None,
    ) -> None:
        self._store = store
        self._faults = faults
        self._tunnel_open = tunnel_open
        self._clock = clock
        self._config = config or OtaServerConfig()
        self._rng = rng or random.Random()
        self._block_limit = {
            encrypted: max_block_data_size(self._config.aps_max_payload, encrypted) for encrypted in (False, True)
        }
        self._tsn = self._rng.randrange(256)
        self._links: dict[t.EUI64, _Link] = {}
        self._notify_plans: dict[t.EUI64, _NotifyPlan] = {}
        self._downloads: dict[t.EUI64, float] = {}
        self._ended: dict[t.EUI64, _EndedTransfer] = {}
        self._version_reads: dict[t.EUI64, _VersionRead] = {}
        self.exchanges = ExchangeLog()
        """Each device's last request and answer, and why it was not image data (hubfw.server.exchanges)."""
        self._handlers: dict[int, Callable[[_Request, bytes], list[OutgoingFrame]]] = {
            OtaCommand.query_next_image.id: self._on_query_next_image,
            OtaCommand.image_block.id: self._on_image_block,
            OtaCommand.image_page.id: self._on_image_page,
            OtaCommand.upgrade_end.id: self._on_upgrade_end,
        }

    # ----------------------------------------------------------------- inputs

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to one received OTA-cluster frame. Never raises for what the device sent."""
        if frame.cluster != OTA_CLUSTER:
            return []
        try:
            header, payload = parse_header(frame.zcl)
        except ValueError:
            return []  # not even a ZCL header: no TSN to answer with
        self._links[frame.source] = _Link(frame.profile, frame.src_ep, frame.dst_ep, frame.aps_encrypted)
        request = _Request(frame, header)
        if not header.client_to_server:
            return []
        if header.is_general:
            if header.command_id == foundation.GeneralCommand.Read_Attributes_rsp:
                self._on_read_attributes_response(request, payload)
            return []
        if header.is_manufacturer_specific:
            return request.default_response(Status.UNSUP_MANUF_CLUSTER_COMMAND)
        handler = self._handlers.get(header.command_id)
        if handler is None:
            return request.default_response(Status.UNSUP_CLUSTER_COMMAND)
        try:
            return handler(request, payload)
        except _Malformed:
            frames = request.default_response(Status.MALFORMED_COMMAND)
            self.exchanges.asked(request.source, OtaRequestSeen(self._clock.now(), _COMMAND_NAMES[header.command_id]))
            self.exchanges.answered(request.source, frames, "the request is malformed (too short, or its field "
                                                            "control announces fields it lacks)")
            return frames
        except _Refused as refusal:
            self.exchanges.answered(request.source, refusal.frames, refusal.reason)
            return refusal.frames

    def notify(self, eui64s: Iterable[t.EUI64]) -> list[OutgoingFrame]:
        """Unicast ImageNotify to each target that has an image on offer; `tick` re-sends until it starts."""
        frames = []
        now = self._clock.now()
        for eui64 in eui64s:
            image = self._store.offer(eui64)
            if image is None:
                continue
            self._notify_plans[eui64] = _NotifyPlan(sent=1, next_at=now + self._notify_gap(0))
            frames.append(self._image_notify(eui64, image))
        return frames

    def tick(self) -> list[OutgoingFrame]:
        """Timer work due now: ImageNotify re-sends and version reads after a PPMID activation."""
        return self._due_notifies() + self._due_version_reads()

    def next_deadline(self) -> float | None:
        """When `tick` next has work, so the hub can sleep until then."""
        times = [p.next_at for p in self._notify_plans.values()]
        times += [r.due_at for r in self._version_reads.values()]
        return min(times, default=None)

    def activation_reported(self, eui64: t.EUI64) -> None:
        """The device sent its own 0x8F8B (through its GBCS tunnel): no version read need stand in for it."""
        self._version_reads.pop(eui64, None)

    def activate(self, eui64: t.EUI64, manufacturer_image_sha256: bytes) -> list[OutgoingFrame]:
        """GBCS CS06: tell a deferred-activation device to activate now, if the hash matches its image.

        Raises the store's ActivationRejected (a HubfwError) when it does not.
        """
        completed = self._store.check_activation(eui64, manufacturer_image_sha256)
        ended = self._ended.get(eui64)
        if ended is not None and ended.key[2] == completed.file_version:
            key = ended.key
            self._ended[eui64] = replace(ended, upgrade_time=UPGRADE_NOW)
        else:  # the transfer ended before a hub restart: ZCL lets manufacturer and image type be wildcards
            key = (WILDCARD_MANUFACTURER, WILDCARD_IMAGE_TYPE, completed.file_version)
        return [self._unsolicited(eui64, _upgrade_end_response(self._next_tsn(), key, UPGRADE_NOW))]

    # ------------------------------------------------------------- commands

    def _on_query_next_image(self, request: _Request, payload: bytes) -> list[OutgoingFrame]:
        query = _parse(OtaCommand.query_next_image, payload)
        self.exchanges.asked(request.source, OtaRequestSeen(
            self._clock.now(), QUERY, query.manufacturer_code, query.image_type, query.current_file_version,
            query.hardware_version,
        ))
        self._notify_plans.pop(request.source, None)  # it heard us (or asks anyway): stop nagging
        fault = self._take(request.source, QUERY_FAULTS, version=f"0x{query.current_file_version:08X}")
        if fault is not None:
            status = QUERY_FAULTS[fault.kind]
            raise _Refused([] if status is None else [self._query_refusal(request, status)],
                           f"fault injected: {fault.kind.value}")
        image = self._store.offer(request.source)
        if image is None:
            raise _Refused([self._query_refusal(request, Status.NO_IMAGE_AVAILABLE)],
                           "no image is waiting for this device")
        refusal = self._offer_refusal(image, query)
        if refusal is None and not self._store.note_query(request.source, image.image_id, query.hardware_version):
            low, high = getattr(image, "min_hw_version", None), getattr(image, "max_hw_version", None)
            refusal = f"hardware version {query.hardware_version} is outside {low}..{high}"
        if refusal is not None:
            raise _Refused([self._query_refusal(request, Status.NO_IMAGE_AVAILABLE)], refusal)
        zcl = cluster_command(
            request.header.tsn,
            OtaReply.query_next_image_response,
            TO_CLIENT,
            status=Status.SUCCESS,
            manufacturer_code=image.manufacturer_code,
            image_type=image.image_type,
            file_version=image.file_version,
            image_size=image.total_size,
        )
        frames = [request.reply(zcl)]
        self.exchanges.answered(request.source, frames, None)
        return frames

    def _query_refusal(self, request: _Request, status: Status) -> OutgoingFrame:
        zcl = cluster_command(request.header.tsn, OtaReply.query_next_image_response, TO_CLIENT, status=status)
        return request.reply(zcl)

    def _on_image_block(self, request: _Request, payload: bytes) -> list[OutgoingFrame]:
        try:
            block = parse_block_request(payload)
        except ValueError as exc:
            raise _Malformed from exc
        self.exchanges.asked(request.source, OtaRequestSeen(
            self._clock.now(), IMAGE_BLOCK, block.manufacturer_code, block.image_type, block.file_version,
            offset=block.file_offset,
        ))
        image = self._image_for_transfer(request, block, block.maximum_data_size)
        self._block_fault(request, block.file_offset)
        wait = self._admission_wait(request.source)
        reason = self._admission_reason
        if wait is None:
            wait = self._rate_limit_wait(request.source)
            reason = f"asked again before the MinimumBlockPeriod of {self._config.minimum_block_period_ms} ms"
        if wait is not None:
            raise _Refused([request.reply(self._wait_for_data(request.header.tsn, wait))], reason)
        size = self._short(request, min(block.maximum_data_size, self._block_limit[request.frame.aps_encrypted]))
        data = self._store.read(image.image_id, block.file_offset, min(size, image.total_size - block.file_offset))
        now = self._clock.now()
        self._note_served(request.source, image, block.file_offset + len(data), now)
        self.exchanges.served(request.source, now, block.file_offset, len(data))
        data = self._corrupt(request.source, block.file_offset, data)
        zcl = _block_response(request.header.tsn, image, block.file_offset, data)
        return [request.reply(zcl, not_before=self._delay(request))]

    def _on_image_page(self, request: _Request, payload: bytes) -> list[OutgoingFrame]:
        page = _parse(OtaCommand.image_page, payload)
        self.exchanges.asked(request.source, OtaRequestSeen(
            self._clock.now(), IMAGE_PAGE, page.manufacturer_code, page.image_type, page.file_version,
            offset=page.file_offset,
        ))
        image = self._image_for_transfer(request, page, min(page.maximum_data_size, page.page_size))
        self._block_fault(request, page.file_offset)
        wait = self._admission_wait(request.source)
        if wait is not None:
            raise _Refused([request.reply(self._wait_for_data(request.header.tsn, wait))], self._admission_reason)
        size = self._short(request, min(page.maximum_data_size, self._block_limit[request.frame.aps_encrypted]))
        end = min(page.file_offset + page.page_size, image.total_size)
        spacing = page.response_spacing / 1000.0
        now = self._clock.now()
        start = now if (late := self._delay(request)) is None else late
        frames = []
        for index, offset in enumerate(range(page.file_offset, end, size)):
            data = self._store.read(image.image_id, offset, min(size, end - offset))
            data = self._corrupt(request.source, offset, data)
            zcl = _block_response(request.header.tsn, image, offset, data)
            frames.append(request.reply(zcl, not_before=start + index * spacing))
            self.exchanges.served(request.source, start + index * spacing, offset, len(data))
        self._note_served(request.source, image, end, start + (len(frames) - 1) * spacing)
        return frames

    def _on_upgrade_end(self, request: _Request, payload: bytes) -> list[OutgoingFrame]:
        status, key = _parse_upgrade_end(payload)
        eui64 = request.source
        manufacturer_code, image_type, file_version = (None, None, None) if key is None else key
        self.exchanges.asked(eui64, OtaRequestSeen(self._clock.now(), f"{UPGRADE_END} {_status_name(status)}",
                                                   manufacturer_code, image_type, file_version))
        ended = self._ended.get(eui64)
        if status == Status.SUCCESS and ended is not None and ended.key == key:
            return self._end_answer(request, ended)
        image = self._store.offer(eui64)
        if image is None and status == Status.SUCCESS and key is not None:
            ended = self._recorded_before_restart(eui64, key)
            if ended is not None:
                return self._end_answer(request, ended)
        if image is None or (key is not None and key != image_key(image)):
            raise _Refused(request.default_response(Status.ABORT if status == Status.SUCCESS else Status.SUCCESS),
                           "no image is waiting for this device" if image is None else
                           f"the device ended image {_name(key)}; the one on offer is {_name(image_key(image))}")
        self._store.note_end(eui64, image.image_id, int(status))
        self._downloads.pop(eui64, None)
        self._notify_plans.pop(eui64, None)
        if status != Status.SUCCESS:
            raise _Refused(request.default_response(Status.SUCCESS),
                           f"the device reported the download failed ({_status_name(status)})")
        ended = self._answer_success(eui64, image_key(image), image.device_type)
        return self._end_answer(request, ended)

    def _end_answer(self, request: _Request, ended: _EndedTransfer) -> list[OutgoingFrame]:
        """The UpgradeEndResponse owed for a success, unless an END_* fault changes or withholds it."""
        upgrade_time = ended.upgrade_time
        fault = self._take(request.source, END_FAULTS, file_version=f"0x{ended.key[2]:08X}")
        if fault is not None:
            if fault.kind is FaultKind.END_SILENT:
                raise _Refused([], f"fault injected: {fault.kind.value}")
            assert fault.kind is FaultKind.END_WAIT or fault.seconds is not None
            upgrade_time = UPGRADE_ON_COMMAND if fault.kind is FaultKind.END_WAIT else math.ceil(fault.seconds or 0)
        frames = [request.reply(_upgrade_end_response(request.header.tsn, ended.key, upgrade_time))]
        self.exchanges.answered(request.source, frames,
                                None if fault is None else f"fault injected: {fault.kind.value}")
        return frames

    def _answer_success(self, eui64: t.EUI64, key: ImageKey, device_type: DeviceType) -> _EndedTransfer:
        """Remember the UpgradeEndResponse owed for a recorded success; a PPMID's version is read back later."""
        immediate = device_type.activates_immediately
        ended = _EndedTransfer(key, UPGRADE_NOW if immediate else UPGRADE_ON_COMMAND)
        self._ended[eui64] = ended
        if immediate:
            due = self._clock.now() + self._config.version_read_delay
            self._version_reads[eui64] = _VersionRead(expected_version=key[2], due_at=due)
        return ended

    def _recorded_before_restart(self, eui64: t.EUI64, key: ImageKey) -> _EndedTransfer | None:
        """A repeated UpgradeEnd SUCCESS whose success the store recorded before a hub restart: the device
        never heard the answer, so it gets the same answer again, never an ABORT that would make it discard
        an image the hub has already reported as transferred (0x8F8A)."""
        done = self._store.completed_transfer(eui64)
        if done is None or done.file_version != key[2]:
            return None
        return self._answer_success(eui64, key, done.device_type)

    def _on_read_attributes_response(self, request: _Request, payload: bytes) -> None:
        """A PPMID's answer to our current_file_version read: record 0x8F8B once it runs the new image."""
        pending = self._version_reads.get(request.source)
        if pending is None:
            return
        try:
            response = decode(foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp], payload)
        except ValueError:
            return
        versions = [
            int(record.value.value)
            for record in response.status_records
            if record.attrid == CURRENT_FILE_VERSION and record.status == Status.SUCCESS and record.value is not None
            and record.value.type == CURRENT_FILE_VERSION_TYPE
        ]
        if not versions:
            return
        if pending.awaiting_tunnel:
            return
        pending.last_reported = versions[0]
        if pending.last_reported == pending.expected_version or pending.attempts >= self._config.version_read_attempts:
            self._conclude_version_read(request.source, pending)

    def _conclude_version_read(self, eui64: t.EUI64, pending: _VersionRead) -> None:
        """Record the 0x8F8B for the version the device last reported, if any. A device with an open GBCS
        tunnel sends its own 0x8F8B through it, so the hub's stand-in waits `tunnel_alert_grace` first."""
        if pending.last_reported is not None and not pending.awaiting_tunnel and self._tunnel_open(eui64):
            pending.awaiting_tunnel = True
            pending.due_at = self._clock.now() + self._config.tunnel_alert_grace
            return
        del self._version_reads[eui64]
        if pending.last_reported is not None:
            self._store.note_activation(eui64, pending.last_reported)

    # ---------------------------------------------------------------- helpers

    def _offer_refusal(self, image: ServedImage, query: QueryNextImageCommand) -> str | None:
        """Why the one image stored for this device is not offered to this query (None: it is), by the ZCL
        default policy: upgrades, plus what config allows."""
        mismatches = []
        if query.manufacturer_code != image.manufacturer_code:
            mismatches.append(f"device asked for manufacturer 0x{query.manufacturer_code:04X}; "
                              f"the image is 0x{image.manufacturer_code:04X}")
        if query.image_type != image.image_type:
            mismatches.append(f"device asked for image type 0x{query.image_type:04X}; "
                              f"the image is 0x{image.image_type:04X}")
        if mismatches:
            return "; ".join(mismatches)
        if image.file_version > query.current_file_version:
            return None
        if image.file_version == query.current_file_version:
            return None if self._config.allow_reinstall else f"device already runs 0x{image.file_version:08X}"
        return None if self._config.allow_downgrade else (
            f"device runs 0x{query.current_file_version:08X}, newer than the image's 0x{image.file_version:08X} "
            "(downgrades are not allowed)"
        )

    def _image_for_transfer(
        self, request: _Request, command: BlockRequest | ImagePageCommand, data_limit: int
    ) -> ServedImage:
        """The image a block/page request may read; refuses requests for anything else."""
        image = self._store.offer(request.source)
        requested = (command.manufacturer_code, command.image_type, command.file_version)
        if image is None:
            raise _Refused([request.reply(_abort(request.header.tsn))], "no image is waiting for this device")
        if requested != image_key(image):
            raise _Refused([request.reply(_abort(request.header.tsn))],
                           f"device asked for image {_name(requested)}; the one on offer is {_name(image_key(image))}")
        if command.file_offset >= image.total_size:
            raise _Refused(request.default_response(Status.INVALID_FIELD),
                           f"offset {command.file_offset} is at or past the image's end ({image.total_size} bytes)")
        if data_limit == 0:
            raise _Refused(request.default_response(Status.INVALID_FIELD), "maximum data size or page size 0")
        return image

    @property
    def _admission_reason(self) -> str:
        limit = self._config.max_concurrent_downloads
        return f"{limit} device(s) already downloading, the most at once (max_concurrent_downloads); waits its turn"

    def _admission_wait(self, eui64: t.EUI64) -> int | None:
        """Seconds to wait when the concurrency limit is full and this device holds no slot.

        Idle slots are swept only when the limit is reached, so serving a block costs the same however
        many devices are downloading."""
        now = self._clock.now()
        idle = self._config.download_idle_seconds
        last = self._downloads.get(eui64)
        if last is not None and now - last < idle:
            return None
        limit = self._config.max_concurrent_downloads
        if len(self._downloads) >= limit:
            self._downloads = {eui: at for eui, at in self._downloads.items() if now - at < idle}
        if len(self._downloads) < limit:
            return None
        return self._config.busy_retry_seconds

    def _rate_limit_wait(self, eui64: t.EUI64) -> int | None:
        """Seconds to wait when a device asks again before MinimumBlockPeriod has passed."""
        period = self._config.minimum_block_period_ms / 1000.0
        last = self._downloads.get(eui64)
        if period <= 0 or last is None:
            return None
        remaining = last + period - self._clock.now()
        return math.ceil(remaining) if remaining > 0 else None

    def _wait_for_data(self, tsn: int, wait_seconds: int, minimum_block_period: int | None = None) -> bytes:
        return cluster_command(
            tsn,
            OtaReply.image_block_response,
            TO_CLIENT,
            status=Status.WAIT_FOR_DATA,
            current_time=0,
            request_time=wait_seconds,
            minimum_block_period=(
                self._config.minimum_block_period_ms if minimum_block_period is None else minimum_block_period
            ),
        )

    # ----------------------------------------------------------------- faults

    def _take(self, eui64: t.EUI64, kinds: Iterable[FaultKind], **detail: object):
        if not self._faulted(eui64):
            return None
        assert self._faults is not None
        return self._faults.take(eui64, kinds, self._clock.now(), **detail)

    def _faulted(self, eui64: t.EUI64) -> bool:
        """Any fault armed for `eui64`: without one, every block skips the fault checks (they cost more than the
        block itself)."""
        return self._faults is not None and self._faults.armed_for(eui64)

    def _block_fault(self, request: _Request, offset: int) -> None:
        """Refuses a valid ImageBlock/ImagePage request (`_Refused`) when a fault acts: with nothing (BLOCK_DROP,
        every Nth), ABORT (BLOCK_ABORT at or after its offset) or WAIT_FOR_DATA (BLOCK_WAIT, for the rest of its
        window)."""
        faults = self._faults
        if faults is None or not self._faulted(request.source):
            return
        eui64, now = request.source, self._clock.now()
        if faults.take(eui64, [FaultKind.BLOCK_DROP], now, offset=offset) is not None:
            raise _Refused([], f"fault injected: {FaultKind.BLOCK_DROP.value}")
        abort = faults.peek(eui64, [FaultKind.BLOCK_ABORT])
        if abort is not None and abort.offset is not None and offset >= abort.offset:
            faults.take(eui64, [FaultKind.BLOCK_ABORT], now, offset=offset)
            raise _Refused([request.reply(_abort(request.header.tsn))],
                           f"fault injected: {FaultKind.BLOCK_ABORT.value}")
        end = faults.window_end(eui64, FaultKind.BLOCK_WAIT)
        if end is not None:
            wait = max(1, math.ceil(end - now))
            fault = faults.take(eui64, [FaultKind.BLOCK_WAIT], now, offset=offset, request_time=wait)
            if fault is not None:
                zcl = self._wait_for_data(request.header.tsn, wait, fault.minimum_block_period)
                raise _Refused([request.reply(zcl)], f"fault injected: {FaultKind.BLOCK_WAIT.value}")

    def _short(self, request: _Request, size: int) -> int:
        """BLOCK_SHORT: at most its `size` bytes per block, whatever the device asked."""
        fault = self._faults.peek(request.source, [FaultKind.BLOCK_SHORT]) if self._faulted(request.source) else None
        if fault is None or fault.size is None or fault.size >= size:
            return size
        self._take(request.source, [FaultKind.BLOCK_SHORT], asked=size, served=fault.size)
        return fault.size

    def _corrupt(self, eui64: t.EUI64, offset: int, data: bytes) -> bytes:
        """BLOCK_CORRUPT: the byte at its offset flipped when this block carries it (the store is not touched)."""
        fault = self._faults.peek(eui64, [FaultKind.BLOCK_CORRUPT]) if self._faulted(eui64) else None
        if fault is None or fault.offset is None or not offset <= fault.offset < offset + len(data):
            return data
        self._take(eui64, [FaultKind.BLOCK_CORRUPT], offset=fault.offset)
        corrupted = bytearray(data)
        corrupted[fault.offset - offset] ^= 0xFF
        return bytes(corrupted)

    def _delay(self, request: _Request) -> float | None:
        """BLOCK_DELAY: when the answer may go out (None: now)."""
        fault = self._take(request.source, [FaultKind.BLOCK_DELAY])
        return None if fault is None or fault.seconds is None else self._clock.now() + fault.seconds

    def _note_served(self, eui64: t.EUI64, image: ServedImage, end_offset: int, at: float) -> None:
        self._store.note_progress(eui64, image.image_id, end_offset)
        self._downloads[eui64] = at
        self._notify_plans.pop(eui64, None)

    def _image_notify(self, eui64: t.EUI64, image: ServedImage) -> OutgoingFrame:
        zcl = cluster_command(
            self._next_tsn(),
            OtaReply.image_notify,
            TO_CLIENT,
            payload_type=ImageNotifyCommand.PayloadType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion,
            query_jitter=self._config.query_jitter,
            manufacturer_code=image.manufacturer_code,
            image_type=image.image_type,
            new_file_version=image.file_version,
        )
        return self._unsolicited(eui64, zcl)

    def _notify_gap(self, resend_index: int) -> float:
        intervals = self._config.notify_intervals
        jitter = self._config.notify_jitter
        return intervals[min(resend_index, len(intervals) - 1)] * (1 + self._rng.uniform(-jitter, jitter))

    def _due_notifies(self) -> list[OutgoingFrame]:
        now = self._clock.now()
        frames = []
        for eui64, plan in list(self._notify_plans.items()):
            if plan.next_at > now:
                continue
            image = self._store.offer(eui64)
            if image is None:
                del self._notify_plans[eui64]
                continue
            frames.append(self._image_notify(eui64, image))
            plan.next_at = now + self._notify_gap(plan.sent)
            plan.sent += 1
        return frames

    def _due_version_reads(self) -> list[OutgoingFrame]:
        now = self._clock.now()
        frames = []
        for eui64, pending in list(self._version_reads.items()):
            if pending.due_at > now:
                continue
            if pending.awaiting_tunnel or pending.attempts >= self._config.version_read_attempts:
                self._conclude_version_read(eui64, pending)  # no tunnel alert came, or out of attempts
                continue
            pending.attempts += 1
            pending.due_at = now + self._config.version_read_interval
            frames.append(self._unsolicited(eui64, read_attributes(self._next_tsn(), [CURRENT_FILE_VERSION])))
        return frames

    def _unsolicited(self, eui64: t.EUI64, zcl: bytes) -> OutgoingFrame:
        link = self._links.get(eui64) or _Link(
            profile=self._config.default_profile,
            client_ep=self._config.default_client_endpoint,
            server_ep=self._config.server_endpoint,
            aps_encrypt=self._config.default_profile == SMART_ENERGY_PROFILE,
        )
        return OutgoingFrame(eui64, link.profile, link.server_ep, link.client_ep, OTA_CLUSTER, zcl, link.aps_encrypt)

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn


_COMMAND_NAMES = {
    OtaCommand.query_next_image.id: QUERY,
    OtaCommand.image_block.id: IMAGE_BLOCK,
    OtaCommand.image_page.id: IMAGE_PAGE,
    OtaCommand.upgrade_end.id: UPGRADE_END,
}


def _name(key: ImageKey) -> str:
    """An image as OTA frames name it: manufacturer/image type/file version."""
    manufacturer_code, image_type, file_version = key
    return f"0x{manufacturer_code:04X}/0x{image_type:04X}/0x{file_version:08X}"


def _status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:02X}"


def _parse(command: foundation.ZCLCommandDef, payload: bytes):
    try:
        return decode(command, payload)
    except ValueError as exc:
        raise _Malformed from exc


def _parse_upgrade_end(payload: bytes) -> tuple[Status, ImageKey | None]:
    """(status, image named) — a failure report may stop after its status byte, as some clients send it."""
    try:
        end = decode(OtaCommand.upgrade_end, payload)
    except ValueError:
        if len(payload) == 1 and payload[0] != Status.SUCCESS:
            return Status.deserialize(payload)[0], None
        raise _Malformed from None
    return end.status, (end.manufacturer_code, end.image_type, end.file_version)


def _abort(tsn: int) -> bytes:
    """ImageBlockResponse ABORT: the client must stop this download and query again."""
    return cluster_command(tsn, OtaReply.image_block_response, TO_CLIENT, status=Status.ABORT)


def _block_response(tsn: int, image: ServedImage, offset: int, data: bytes) -> bytes:
    return image_block_response(tsn, image.manufacturer_code, image.image_type, image.file_version, offset, data)


def _upgrade_end_response(tsn: int, key: ImageKey, upgrade_time: int) -> bytes:
    manufacturer_code, image_type, file_version = key
    return cluster_command(
        tsn,
        OtaReply.upgrade_end_response,
        TO_CLIENT,
        manufacturer_code=manufacturer_code,
        image_type=image_type,
        file_version=file_version,
        current_time=0,
        upgrade_time=upgrade_time,
    )
