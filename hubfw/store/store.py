"""ImageStore: the crash-safe image-block store the OTA server and the hub call (see DESIGN.md).

Every state change is one metadata record written *before* anything acts on it; the in-memory
model is only ever advanced by applying that same record, so after a power cut `open` rebuilds
exactly the state of the last record that landed and finishes (or undoes) the physical work that
record implies: erasing a retired image's block, dropping an image whose commit never landed.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import zigpy.types as t

from hubfw.alerts import SOURCES, ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.clock import Clock
from hubfw.devices import DeviceType
from hubfw.errors import HubfwError
from hubfw.flash.device import EraseFailed, NorFlash, ProgramFailed
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, OtaImage, parse_ignoring_total_size
from hubfw.store import policy
from hubfw.store.errors import ActivationRejected, StoreError, StoreFormatError, StoreRejected
from hubfw.store.layout import Layout, alert_slots
from hubfw.store.metalog import LogScan, MetadataLog
from hubfw.store.model import StoreModel, activation_alert_id, transfer_alert_id
from hubfw.store.records import (
    MAX_DEVICE_MESSAGE,
    AckRecord,
    ActivationRecord,
    CommitRecord,
    DeviceActivationRecord,
    ImageRecord,
    ProgressRecord,
    Record,
    TerminalRecord,
)
from hubfw.store.state import Block, CompletedTransfer, ImageState, StoredImage, TargetProgress
from hubfw.store.status import StoreStatus

DEFAULT_CHECKPOINT_BYTES = 64 * 1024
DEFAULT_CHECKPOINT_SECONDS = 600.0

Target = tuple[t.EUI64, DeviceType]


class ImageGone(StoreError):
    """The image asked for is no longer in flash (finished, replaced or discarded)."""


@dataclass
class _Loaded:
    """The result of reading a store without writing: what `open` recovers and `inspect` reports."""

    layout: Layout
    scan: LogScan
    model: StoreModel
    intact: dict[int, bool]
    rolled_back: list[Block]


class ImageStore:
    """Two image blocks, their block rules, progress checkpoints and the alert journal, on a NorFlash."""

    def __init__(
        self, flash: NorFlash, clock: Clock, loaded: _Loaded, *, max_image_size: int, checkpoint_bytes: int,
        checkpoint_seconds: float,
    ) -> None:
        self._flash = flash
        self._clock = clock
        self._layout = loaded.layout
        self._log = MetadataLog(flash, loaded.layout, loaded.scan)
        self._model = loaded.model
        self._max_image_size = max_image_size
        self._checkpoint_bytes = checkpoint_bytes
        self._checkpoint_seconds = checkpoint_seconds
        self._limits = loaded.layout.limits
        # No time rule can fall due before this; -inf = unknown (sweep on the next call). Every record may
        # bring a deadline forward (an arrival, a download start), so each one resets it; live progress
        # between checkpoints only moves deadlines later. Saves a sweep of every target per block served.
        self._rules_quiet_until = -math.inf

    # ----- opening

    @classmethod
    def open(
        cls,
        flash: NorFlash,
        clock: Clock,
        *,
        max_image_size: int = DEFAULT_MAX_IMAGE_SIZE,
        checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    ) -> ImageStore:
        """Format an erased flash, or recover the store on it: roll back an uncommitted image, check
        every committed image's SHA-256 (discarding a corrupt one with its alerts), finish erasing
        freed blocks and repair a torn metadata log."""
        layout = Layout.read_superblock(flash) or _format(flash, max_image_size)
        if max_image_size > layout.block_sectors * layout.sector_size:
            raise StoreError(
                f"this store was formatted for images of at most {layout.max_image_size} bytes, "
                f"not {max_image_size}"
            )
        loaded = _load(flash, layout, clock.now(), checkpoint_seconds)
        store = cls(flash, clock, loaded, max_image_size=max_image_size, checkpoint_bytes=checkpoint_bytes,
                    checkpoint_seconds=checkpoint_seconds)
        store._recover(loaded)
        return store

    @classmethod
    def inspect(cls, flash: NorFlash, clock: Clock) -> StoreStatus:
        """The store's state as the next open would find it, without writing anything."""
        layout = Layout.read_superblock(flash)
        if layout is None:
            _check_blank(flash)
            return StoreStatus(formatted=False)
        loaded = _load(flash, layout, clock.now(), DEFAULT_CHECKPOINT_SECONDS)
        scan = loaded.scan
        used = 0 if scan.region is None else scan.end - layout.region_address(scan.region)
        needs_recovery = not scan.clean or bool(loaded.rolled_back) or not all(loaded.intact.values())
        return StoreStatus.of(layout, loaded.model, loaded.intact, scan.region, scan.sequence, used, needs_recovery)

    def _recover(self, loaded: _Loaded) -> None:
        if not loaded.scan.clean or self._log.region is None:
            self._log.compact(self._model.snapshot_records())
        corrupt = [image for image in self._model.live_images() if not loaded.intact[image.image.image_id]]
        if corrupt:
            self._terminate(
                [(image, index, TransferResponse.IMAGE_DISCARDED) for image in corrupt
                 for index, target in enumerate(image.targets) if not target.terminal]
            )
        for block in Block:
            # Finish erasing a retired image. A rolled-back one is left for the next distribute to erase:
            # the same erases, without making every recovery pay for them.
            if self._model.live(block) is None and block not in loaded.rolled_back:
                self._try_free_block(block)

    # ----- distribution

    def distribute(self, ota_file: bytes, targets: Sequence[Target], *, allow_broken: bool = False) -> StoredImage:
        """Admit an OTA file for `targets` (all of one device type) into its block, durably.

        Raises StoreRejected when the file or the request is not acceptable or a block rule refuses
        it; nothing is written then, except the time rules that were due anyway. A resident image it
        replaces is discarded first, with imageDiscarded alerts for its unfinished targets.
        """
        data = bytes(ota_file)
        if len(data) > self._max_image_size:
            raise StoreRejected(f"image of {len(data)} bytes is larger than the {self._max_image_size}-byte limit")
        try:
            ota = parse_ignoring_total_size(data) if allow_broken else OtaImage.parse(data)  # --allow-broken
            manufacturer_hash = ota.manufacturer_image_sha256
        except HubfwError as exc:
            raise StoreRejected(f"not an acceptable OTA image: {exc}") from None
        device_type = policy.request_device_type(targets, self._limits.targets_per_image)
        block = policy.block_for(device_type)
        now = self._clock.now()
        self._apply_time_rules(now)
        self._check_targets_free(block, [entity for entity, _ in targets])
        admission = policy.admit(device_type, self._model.live(block), now)
        if self._owed_or_reserved() + len(targets) > self._limits.owed_alerts:
            raise StoreRejected(
                f"the alert journal holds {len(self._model.alerts)} unacknowledged alerts; acknowledge delivered "
                "alerts before distributing more images"
            )
        if admission.discard is not None:
            self._terminate(
                [(admission.discard, index, TransferResponse.IMAGE_DISCARDED)
                 for index, target in enumerate(admission.discard.targets) if not target.terminal]
            )
        header = ota.header
        image = StoredImage(
            image_id=self._model.next_image_id, block=block, device_type=device_type,
            manufacturer_code=header.manufacturer_code, image_type=header.image_type,
            file_version=header.file_version, total_size=len(data), min_hw_version=header.min_hw_version,
            max_hw_version=header.max_hw_version, file_sha256=hashlib.sha256(data).digest(),
            manufacturer_image_sha256=manufacturer_hash, arrived_at=now,
        )
        self._commit(ImageRecord(image, tuple(TargetProgress(entity) for entity, _ in targets), committed=False))
        self._write_image(block, data)
        self._commit(CommitRecord(image.image_id))
        return image

    def _check_targets_free(self, block: Block, entities: list[t.EUI64]) -> None:
        other = self._model.live(Block.GSME if block is Block.ESME else Block.ESME)
        if other is None:
            return
        for entity in entities:
            index = other.target_index(entity)
            if index is not None and not other.targets[index].terminal:
                raise StoreRejected(
                    f"device {entity} is still a target of image {other.image.image_id} "
                    f"in the {other.image.block.value} block"
                )

    def _write_image(self, block: Block, data: bytes) -> None:
        """Program the image into its (erased) block and read it back: only then may it be committed."""
        self._free_block(block)
        address = self._layout.block_address(block)
        padded = data + b"\xff" * (-len(data) % self._layout.program_unit)
        try:
            self._flash.program_range(address, padded)
        except ProgramFailed as exc:
            raise StoreError(f"the {block.value} image block is worn out ({exc}); the image was not stored") from None
        if self._flash.read(address, len(data)) != data:
            raise StoreError(f"the {block.value} image block did not verify after programming (worn flash); "
                             "the image was not stored")

    # ----- what the OTA server asks

    def offer(self, eui64: t.EUI64) -> StoredImage | None:
        """The image this device is an unfinished target of (None if none, or if its time is up)."""
        now = self._clock.now()
        for image in self._model.live_images():
            index = image.target_index(eui64)
            if index is not None:
                target = image.targets[index]
                if not target.terminal and policy.due_outcome(image, target, now) is None:
                    return image.image
        return None

    def read(self, image_id: int, offset: int, length: int) -> bytes:
        """Up to `length` bytes of a committed image from `offset`, read from flash."""
        image = self._model.by_id(image_id)
        if image is None:
            raise ImageGone(f"image {image_id} is no longer in flash")
        size = image.image.total_size
        if offset < 0 or length < 0 or offset > size:
            raise StoreError(f"offset {offset} is outside image {image_id} of {size} bytes")
        length = min(length, size - offset)
        return self._flash.read(self._layout.block_address(image.image.block) + offset, length)

    def note_query(self, eui64: t.EUI64, image_id: int, hardware_version: int | None) -> bool:
        """A QueryNextImageRequest: False when the hardware version is outside the image's range
        (the target's hardwareVersionMismatch is then recorded, once)."""
        now = self._clock.now()
        self._apply_time_rules(now)
        found = self._open_target(eui64, image_id)
        image = self._model.by_id(image_id)
        if image is None or not policy.hardware_mismatch(image, hardware_version):
            return True
        if found is not None:
            self._terminate([(found[0], found[1], TransferResponse.HARDWARE_VERSION_MISMATCH)])
        return False

    def note_progress(self, eui64: t.EUI64, image_id: int, offset: int) -> None:
        """An ImageBlock/ImagePage served at `offset`: the first one starts the download (durably);
        later ones are checkpointed every checkpoint_bytes or checkpoint_seconds."""
        now = self._clock.now()
        self._apply_time_rules(now)
        found = self._open_target(eui64, image_id)
        if found is None:
            return
        image, index = found
        target = image.targets[index]
        if (
            not target.started
            or target.checkpoint_time is None
            or abs(offset - target.checkpoint_offset) >= self._checkpoint_bytes
            or now - target.checkpoint_time >= self._checkpoint_seconds
        ):
            self._commit(ProgressRecord(image_id, index, offset, now))
        else:
            target.offset, target.last_activity = offset, now

    def note_end(self, eui64: t.EUI64, image_id: int, status: int) -> None:
        """An UpgradeEndRequest: status 0 is success (0x8F8A), anything else fileTransferFailure."""
        self._apply_time_rules(self._clock.now())
        found = self._open_target(eui64, image_id)
        if found is not None:
            self._terminate([(found[0], found[1], policy.end_response(status))])

    def note_activation(
        self, eui64: t.EUI64, firmware_version: int, *, source: str = "hub",
        outcome: ActivationOutcome = ActivationOutcome.SUCCESS, message: bytes | None = None,
        time: float | None = None,
    ) -> TransferAlert:
        """A PPMID now runs `firmware_version` (or failed to: `outcome`): its 0x8F8B alert is owed, with the
        next originator counter (the same alert if re-reported before it was acknowledged, whatever the source
        of the repeat: the first report's message and counter are kept).

        `source` is "hub" when the hub saw the new version itself, "tunnel" when the PPMID's own 0x8F8B
        came through the GBCS tunnel; then `message` is the PPMID's signed GBCS message, kept byte for byte
        (at most MAX_DEVICE_MESSAGE bytes) so the hub relays it verbatim, even after a restart, and `time` the
        executionDateTime it carries (the alert's time must be the one the DCC side reads in the message; the
        message may arrive seconds later). Without `time`, the alert is dated now.
        """
        if not 0 <= firmware_version <= 0xFFFFFFFF:
            raise StoreError(f"firmware version {firmware_version} is not a 32-bit OTA file version")
        if source not in SOURCES:
            raise StoreError(f"activation alert source must be one of {', '.join(SOURCES)}, not {source!r}")
        try:
            outcome = ActivationOutcome(outcome)
        except ValueError:
            raise StoreError(f"activation outcome must be 0 (success) or 1 (failure), not {outcome!r}") from None
        if message is not None:
            message = bytes(message)
            if not 0 < len(message) <= MAX_DEVICE_MESSAGE:
                raise StoreError(
                    f"the device's GBCS message is {len(message)} bytes; the store keeps 1 to {MAX_DEVICE_MESSAGE}"
                )
        for alert in self._model.alerts.values():
            same = alert.entity == eui64 and alert.firmware_version == firmware_version
            if alert.code is AlertCode.ACTIVATION and same:
                return alert
        alert_id = activation_alert_id(self._model.next_activation)
        now = self._clock.now() if time is None else time
        if message is None and outcome is ActivationOutcome.SUCCESS:
            record: Record = ActivationRecord(alert_id, eui64, firmware_version, now, source)
        else:
            record = DeviceActivationRecord(alert_id, eui64, firmware_version, now, source, outcome, message)
        slots = alert_slots(
            TransferAlert(alert_id, AlertCode.ACTIVATION, eui64, firmware_version, None, now, source, outcome,
                          message=message),
            self._layout.page_size, self._layout.program_unit,
        )
        if self._owed_or_reserved() + slots > self._limits.owed_alerts:
            raise StoreError(f"the alert journal is full ({len(self._model.alerts)} unacknowledged alerts)")
        self._commit(record)
        return self._model.alerts[alert_id]

    def completed_transfer(self, eui64: t.EUI64) -> CompletedTransfer | None:
        """The device's latest successful transfer, remembered after its image left flash (and across restarts)."""
        return self._model.completed.get(eui64)

    def check_activation(self, eui64: t.EUI64, manufacturer_image_sha256: bytes) -> StoredImage | CompletedTransfer:
        """CS06: the device must have completed a transfer of the image with this Manufacturer Image hash."""
        done = self._model.completed.get(eui64)
        if done is None or done.manufacturer_image_sha256 != manufacturer_image_sha256:
            raise ActivationRejected(
                f"device {eui64} has not completed a transfer of the image with Manufacturer Image hash "
                f"{manufacturer_image_sha256.hex()[:16]}…"
            )
        live = self._model.by_id(done.image_id)
        return done if live is None else live.image

    # ----- time, alerts, status

    def tick(self) -> list[TransferAlert]:
        """Apply the time rules (24 h stall, 14 days without a start) due now; the alerts they owed."""
        return self._apply_time_rules(self._clock.now())

    def next_deadline(self) -> float | None:
        deadlines = [
            when for image in self._model.live_images() for target in image.targets
            if (when := policy.deadline(image, target)) is not None
        ]
        return min(deadlines, default=None)

    def pending_alerts(self) -> list[TransferAlert]:
        return list(self._model.alerts.values())

    def acknowledge(self, alert_ids: Iterable[int]) -> None:
        """The consumer has these alerts; they are no longer redelivered (unknown ids are ignored)."""
        owed = list(dict.fromkeys(alert_id for alert_id in alert_ids if alert_id in self._model.alerts))
        for start in range(0, len(owed), AckRecord.MAX_IDS):
            self._commit(AckRecord(tuple(owed[start : start + AckRecord.MAX_IDS])))

    def status(self) -> StoreStatus:
        return StoreStatus.of(
            self._layout, self._model, {}, self._log.region, self._log.sequence, self._log.used, needs_recovery=False
        )

    @property
    def layout(self) -> Layout:
        return self._layout

    def durable_summary(self) -> tuple:
        """What must survive a power cut, as a comparable value (used by the torture harness)."""
        return self._model.durable_summary()

    # ----- internals

    def _commit(self, record: Record) -> None:
        """Make one record durable, then apply it; a full or failing region is compacted instead."""
        self._rules_quiet_until = -math.inf
        if self._log.append(record):
            self._model.apply(record)
            return
        after = self._model.copy()
        after.apply(record)
        self._log.compact(after.snapshot_records())
        self._model = after

    def _terminate(self, entries: list[tuple[ImageState, int, TransferResponse]]) -> None:
        """Record terminal states (and their owed alerts) in one write, then free retired blocks."""
        if not entries:
            return
        self._commit(TerminalRecord(
            self._clock.now(), tuple((image.image.image_id, index, response) for image, index, response in entries)
        ))
        for block in {image.image.block for image, _, _ in entries}:
            resident = self._model.images.get(block)
            if resident is not None and resident.committed and resident.retired:
                self._try_free_block(block)

    def _try_free_block(self, block: Block) -> None:
        """Erase a block nothing is served from. If it is worn out, the decision that freed it still
        stands; the block stays dirty and the next image for it is refused with the wear error."""
        try:
            self._free_block(block)
        except StoreError:
            pass

    def _free_block(self, block: Block) -> None:
        """Erase whatever sectors of a block are not blank (a retired image, or a rolled-back one)."""
        resident = self._model.images.get(block)
        if resident is not None and resident.committed and not resident.retired:
            raise AssertionError(f"refusing to erase the {block.value} block under a live image")
        size = self._layout.sector_size
        if not _blank(self._flash, self._layout.block_address(block), self._layout.block_sectors * size):
            for sector in self._layout.block_sector_range(block):
                if _blank(self._flash, sector * size, size):
                    continue
                try:
                    self._flash.erase_sector(sector)
                except EraseFailed as exc:
                    raise StoreError(f"the {block.value} image block is worn out ({exc})") from None
                if not _blank(self._flash, sector * size, size):
                    raise StoreError(f"the {block.value} image block is worn out: sector {sector} no longer erases")
        if resident is not None and resident.committed:
            del self._model.images[block]

    def _apply_time_rules(self, now: float) -> list[TransferAlert]:
        if now < self._rules_quiet_until:
            return []
        entries = [
            (image, index, outcome)
            for image in self._model.live_images()
            for index, target in enumerate(image.targets)
            if (outcome := policy.due_outcome(image, target, now)) is not None
        ]
        self._terminate(entries)
        alerts = [self._model.alerts[transfer_alert_id(image.image.image_id, index)] for image, index, _ in entries]
        upcoming = self.next_deadline()
        self._rules_quiet_until = math.inf if upcoming is None else upcoming
        return alerts

    def _open_target(self, eui64: t.EUI64, image_id: int) -> tuple[ImageState, int] | None:
        image = self._model.by_id(image_id)
        if image is None:
            return None
        index = image.target_index(eui64)
        if index is None or image.targets[index].terminal:
            return None
        return image, index

    def _owed_or_reserved(self) -> int:
        """Journal slots of the alerts owed now (a device message takes several: `alert_slots`) plus one for
        every unfinished target (each will owe exactly one)."""
        layout = self._layout
        owed = sum(alert_slots(alert, layout.page_size, layout.program_unit) for alert in self._model.alerts.values())
        return owed + sum(_open_targets(image) for image in self._model.live_images())


def _open_targets(image: ImageState) -> int:
    return sum(not target.terminal for target in image.targets)


@functools.lru_cache(maxsize=8)
def _erased(length: int) -> bytes:
    return b"\xff" * length


def _blank(flash: NorFlash, address: int, length: int) -> bool:
    """Whether a range reads all 0xFF (a compare against a blank buffer: much faster than counting)."""
    return flash.read(address, length) == _erased(length)


def _format(flash: NorFlash, max_image_size: int) -> Layout:
    """Write the superblock on a blank flash (or over a format that was cut short)."""
    _check_blank(flash)
    layout = Layout.plan(flash.profile, max_image_size)
    if not flash.is_erased(0, flash.sector_size):
        flash.erase_sector(0)
    superblock = layout.superblock()
    flash.program_range(0, superblock + b"\xff" * (-len(superblock) % layout.program_unit))
    if Layout.read_superblock(flash) != layout:
        raise StoreError("the superblock did not verify after programming (worn flash)")
    return layout


def _check_blank(flash: NorFlash) -> None:
    """A flash without a superblock must be blank past sector 0, or it is not ours to format."""
    rest = flash.size - flash.sector_size
    if not flash.is_erased(flash.sector_size, rest):
        raise StoreFormatError(
            "the flash holds data but no hubfw store superblock; refusing to format it (start from a fresh flash file)"
        )


def _load(flash: NorFlash, layout: Layout, now: float, checkpoint_seconds: float) -> _Loaded:
    """Replay the metadata log and check committed images, writing nothing."""
    scan = MetadataLog.scan(flash, layout)
    model = StoreModel(max_completed=layout.limits.completed_transfers)
    for record in scan.records:
        model.apply(record)
    rolled_back = model.drop_uncommitted()
    intact = {}
    for image in model.live_images():
        stored = image.image
        fits = stored.total_size <= layout.block_sectors * layout.sector_size
        data = flash.read(layout.block_address(stored.block), stored.total_size) if fits else b""
        intact[stored.image_id] = fits and hashlib.sha256(data).digest() == stored.file_sha256
        for target in image.targets:
            if target.checkpoint_time is not None:
                # Any activity after the last checkpoint happened within checkpoint_seconds of it (else it
                # would have checkpointed) and before now: the later bound never declares a stall early.
                latest = min(target.checkpoint_time + checkpoint_seconds, now)
                target.last_activity = max(target.checkpoint_time, latest)
    return _Loaded(layout, scan, model, intact, rolled_back)
