"""The store's state as the replay of its metadata records.

The same `apply` runs when a record is appended and when the log is replayed after a restart, so
the state in memory is, by construction, what a reboot would rebuild — apart from the live download
offsets between checkpoints, which are marked volatile in `TargetProgress`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import zigpy.types as t

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse, transfer_alert
from hubfw.store.records import (
    AckRecord,
    ActivationRecord,
    AlertCounterRecord,
    AlertRecord,
    CommitRecord,
    CompletedRecord,
    CountersRecord,
    DeviceActivationRecord,
    ImageRecord,
    OwedAlertRecord,
    ProgressRecord,
    Record,
    TerminalRecord,
)
from hubfw.store.state import Block, CompletedTransfer, ImageState

TARGET_ID_BITS = 8  # transfer alert id = image_id << 8 | target index (targets 0..254, see layout.py)
ACTIVATION_SLOT = 0xFF  # activation alert id = sequence << 8 | 0xFF: never a target index


def transfer_alert_id(image_id: int, target: int) -> int:
    """The one id a target's terminal alert for an image can ever have: re-deciding cannot mint another."""
    return image_id << TARGET_ID_BITS | target


def activation_alert_id(sequence: int) -> int:
    return sequence << TARGET_ID_BITS | ACTIVATION_SLOT


@dataclass
class StoreModel:
    """Images per block (committed or only begun), the alert journal and completed transfers."""

    images: dict[Block, ImageState] = field(default_factory=dict)
    alerts: dict[int, TransferAlert] = field(default_factory=dict)  # owed and unacknowledged, journal order
    completed: dict[t.EUI64, CompletedTransfer] = field(default_factory=dict)
    next_image_id: int = 1
    next_activation: int = 1
    next_alert_counter: int = 1  # the originator counter the next newly owed alert gets (DESIGN.md §3)
    max_completed: int = 32  # completed transfers remembered for CS06 (newest kept); the layout sets it

    def copy(self) -> StoreModel:
        return copy.deepcopy(self)

    # ----- queries

    def live(self, block: Block) -> ImageState | None:
        """The committed image of a block that still has a non-terminal target (i.e. is served)."""
        image = self.images.get(block)
        if image is None or not image.committed or image.retired:
            return None
        return image

    def live_images(self) -> list[ImageState]:
        return [image for block in Block if (image := self.live(block)) is not None]

    def by_id(self, image_id: int) -> ImageState | None:
        for image in self.live_images():
            if image.image.image_id == image_id:
                return image
        return None

    # ----- replay

    def apply(self, record: Record) -> None:
        """Bring the state forward by one record (the same code for live appends and replay)."""
        if isinstance(record, ImageRecord):
            image = ImageState(record.image, [copy.copy(target) for target in record.targets], record.committed)
            self.images[record.image.block] = image
            self.next_image_id = max(self.next_image_id, record.image.image_id + 1)
        elif isinstance(record, CommitRecord):
            for image in self.images.values():
                if image.image.image_id == record.image_id:
                    image.committed = True
        elif isinstance(record, ProgressRecord):
            image = self.by_id(record.image_id)
            if image is not None and record.target < len(image.targets):
                target = image.targets[record.target]
                if target.started_at is None:
                    target.started_at = record.time
                target.checkpoint_offset = target.offset = record.offset
                target.checkpoint_time = target.last_activity = record.time
        elif isinstance(record, TerminalRecord):
            self._apply_terminal(record)
        elif isinstance(record, AlertRecord):  # a snapshot of the previous release: counters in journal order
            self._owe(record.alert)
        elif isinstance(record, OwedAlertRecord):
            self.alerts[record.alert.alert_id] = record.alert
            self.next_alert_counter = max(self.next_alert_counter, record.alert.counter + 1)
        elif isinstance(record, AlertCounterRecord):
            self.next_alert_counter = max(self.next_alert_counter, record.next_counter)
        elif isinstance(record, AckRecord):
            for alert_id in record.alert_ids:
                self.alerts.pop(alert_id, None)
        elif isinstance(record, ActivationRecord | DeviceActivationRecord):
            extra = {} if isinstance(record, ActivationRecord) else {"outcome": record.outcome,
                                                                     "message": record.message}
            if record.alert_id not in self.alerts:
                self._owe(TransferAlert(
                    record.alert_id, AlertCode.ACTIVATION, record.entity, record.firmware_version, None, record.time,
                    record.source, **extra,
                ))
            self.next_activation = max(self.next_activation, (record.alert_id >> TARGET_ID_BITS) + 1)
        elif isinstance(record, CompletedRecord):
            self._remember(record.transfer)
        elif isinstance(record, CountersRecord):
            self.next_image_id = max(self.next_image_id, record.next_image_id)
            self.next_activation = max(self.next_activation, record.next_activation)
        else:  # pragma: no cover - the codec knows no other types
            raise TypeError(f"unknown record {record!r}")

    def _apply_terminal(self, record: TerminalRecord) -> None:
        for image_id, index, response in record.entries:
            image = self.by_id(image_id)
            if image is None or index >= len(image.targets) or image.targets[index].terminal:
                continue
            target = image.targets[index]
            target.response, target.finished_at = response, record.time
            alert_id = transfer_alert_id(image_id, index)
            self._owe(transfer_alert(alert_id, target.entity, image.image.file_version, response, record.time))
            if response is TransferResponse.SUCCESS:
                i = image.image
                self._remember(CompletedTransfer(
                    target.entity, i.image_id, i.device_type, i.file_version, i.manufacturer_image_sha256, record.time
                ))

    def _owe(self, alert: TransferAlert) -> None:
        """An alert newly owed: it takes the next originator counter. Replay runs this in the same order as
        the live appends did, so every reboot gives every alert the counter it had (no write per alert)."""
        self.alerts[alert.alert_id] = replace(alert, counter=self.next_alert_counter)
        self.next_alert_counter += 1

    def _remember(self, transfer: CompletedTransfer) -> None:
        self.completed.pop(transfer.entity, None)
        self.completed[transfer.entity] = transfer
        while len(self.completed) > self.max_completed:
            del self.completed[next(iter(self.completed))]

    def drop_uncommitted(self) -> list[Block]:
        """Roll back images whose commit record never landed; returns their blocks (to be erased)."""
        dropped = [block for block, image in self.images.items() if not image.committed]
        for block in dropped:
            del self.images[block]
        return dropped

    # ----- compaction

    def snapshot_records(self) -> list[Record]:
        """The fewest records that replay to this state (what a compaction writes)."""
        records: list[Record] = [CountersRecord(self.next_image_id, self.next_activation),
                                 AlertCounterRecord(self.next_alert_counter)]
        records += [CompletedRecord(transfer) for transfer in self.completed.values()]
        for image in self.images.values():
            if image.committed and image.retired:
                continue
            records.append(ImageRecord(image.image, tuple(image.targets), image.committed))
        records += [OwedAlertRecord(alert) for alert in self.alerts.values()]
        return records

    def durable_summary(self) -> tuple:
        """Everything a reboot must preserve, as a comparable value (live offsets excluded)."""
        images = tuple(
            (
                image.image,
                tuple(
                    (str(p.entity), p.response, p.finished_at, p.started_at, p.checkpoint_offset, p.checkpoint_time)
                    for p in image.targets
                ),
            )
            for image in self.live_images()
        )
        return (images, tuple(self.alerts.items()), tuple(self.completed.values()), self.next_alert_counter)
