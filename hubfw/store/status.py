"""What `store status` shows: blocks, their images, each target's state, and the deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubfw.alerts import TransferResponse
from hubfw.store import policy
from hubfw.store.layout import JournalLimits, Layout
from hubfw.store.model import StoreModel, transfer_alert_id
from hubfw.store.state import Block, CompletedTransfer, ImageState, StoredImage, TargetProgress

_TERMINAL_NAMES = {
    TransferResponse.SUCCESS: "success",
    TransferResponse.IMAGE_DISCARDED: "discarded",
    TransferResponse.HARDWARE_VERSION_MISMATCH: "hardware-mismatch",
    TransferResponse.FILE_TRANSFER_FAILURE: "failed",
}


@dataclass(frozen=True)
class TargetStatus:
    entity: str
    state: str  # waiting | downloading | success | discarded | hardware-mismatch | failed
    offset: int
    started_at: float | None
    last_activity: float | None
    finished_at: float | None
    deadline: float | None  # when the 24 h / 14 day rule would end it
    alert_id: int | None  # its terminal alert, once owed

    @classmethod
    def of(cls, image: ImageState, index: int, target: TargetProgress) -> TargetStatus:
        if target.response is not None:
            state = _TERMINAL_NAMES[target.response]
        else:
            state = "downloading" if target.started else "waiting"
        return cls(
            str(target.entity), state, target.offset, target.started_at, target.last_activity, target.finished_at,
            policy.deadline(image, target),
            transfer_alert_id(image.image.image_id, index) if target.terminal else None,
        )


@dataclass(frozen=True)
class ImageStatus:
    image: StoredImage
    targets: tuple[TargetStatus, ...]
    retention_until: float  # 14 days from arrival: until then not-started targets keep the image
    protected_until: float | None  # GSME only: PPMID/HCALCS images may not replace it before this
    intact: bool  # its SHA-256 matched on load

    @classmethod
    def of(cls, image: ImageState, intact: bool) -> ImageStatus:
        return cls(
            image.image,
            tuple(TargetStatus.of(image, index, target) for index, target in enumerate(image.targets)),
            image.image.arrived_at + policy.NO_START_DISCARD_S,
            policy.protected_until(image),
            intact,
        )


@dataclass(frozen=True)
class BlockStatus:
    block: Block
    first_sector: int
    sectors: int
    image: ImageStatus | None


@dataclass(frozen=True)
class StoreStatus:
    formatted: bool
    blocks: tuple[BlockStatus, ...] = ()
    pending_alerts: int = 0
    completed: tuple[CompletedTransfer, ...] = ()
    metadata_region: int | None = None
    metadata_sequence: int = 0
    metadata_used: int = 0
    needs_recovery: bool = False  # a torn record, or a rolled-back image: the next open will write
    limits: JournalLimits | None = None  # what the formatted layout can journal

    @classmethod
    def of(
        cls, layout: Layout, model: StoreModel, intact: dict[int, bool], region: int | None, sequence: int, used: int,
        needs_recovery: bool,
    ) -> StoreStatus:
        blocks = []
        for block in Block:
            image = model.live(block)
            blocks.append(BlockStatus(
                block, layout.block_first_sector(block), layout.block_sectors,
                None if image is None else ImageStatus.of(image, intact.get(image.image.image_id, True)),
            ))
        return cls(True, tuple(blocks), len(model.alerts), tuple(model.completed.values()), region, sequence, used,
                   needs_recovery, layout.limits)

    def to_json(self) -> dict[str, Any]:
        return {
            "formatted": self.formatted,
            "blocks": [_block_json(block) for block in self.blocks],
            "pending_alerts": self.pending_alerts,
            "completed_transfers": [
                {"entity": str(c.entity), "image_id": c.image_id, "device_type": c.device_type.value,
                 "file_version": f"0x{c.file_version:08X}",
                 "manufacturer_image_sha256": c.manufacturer_image_sha256.hex(),
                 "completed_at": _iso(c.completed_at)}
                for c in self.completed
            ],
            "metadata": {"region": self.metadata_region, "sequence": self.metadata_sequence,
                         "used_bytes": self.metadata_used, "needs_recovery": self.needs_recovery},
            "limits": None if self.limits is None else {
                "targets_per_image": self.limits.targets_per_image, "esme_targets_per_image": policy.MAX_ESME_TARGETS,
                "owed_alerts": self.limits.owed_alerts, "completed_transfers": self.limits.completed_transfers,
            },
        }

    def describe(self) -> list[str]:
        """Human-readable lines for the terminal."""
        if not self.formatted:
            return ["flash is erased: no store has been formatted on it yet"]
        lines = []
        for block in self.blocks:
            if block.image is None:
                lines.append(f"{block.block.value} block: empty")
                continue
            status = block.image
            i = status.image
            lines.append(
                f"{block.block.value} block: image {i.image_id} {i.device_type.value} version 0x{i.file_version:08X} "
                f"{i.total_size} bytes, arrived {_iso(i.arrived_at)}, retained until {_iso(status.retention_until)}"
                + (f", protected until {_iso(status.protected_until)}" if status.protected_until is not None else "")
                + ("" if status.intact else ", CORRUPT (will be discarded on open)")
            )
            for target in status.targets:
                lines.append(f"  {target.entity}  {target.state:<17} offset {target.offset}"
                             + (f"  deadline {_iso(target.deadline)}" if target.deadline is not None else ""))
        lines.append(f"alerts owed (unacknowledged): {self.pending_alerts}")
        if self.limits is not None:
            lines.append(
                f"limits (flash layout): {self.limits.targets_per_image} targets per image "
                f"({policy.MAX_ESME_TARGETS} for ESME), {self.limits.owed_alerts} owed alerts, "
                f"{self.limits.completed_transfers} completed transfers remembered"
            )
        if self.needs_recovery:
            lines.append("the store needs recovery: the next open will repair the metadata log")
        return lines


def _block_json(block: BlockStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"block": block.block.value, "first_sector": block.first_sector, "sectors": block.sectors,
                           "image": None}
    if block.image is not None:
        status, i = block.image, block.image.image
        out["image"] = {
            "image_id": i.image_id, "device_type": i.device_type.value,
            "manufacturer_code": f"0x{i.manufacturer_code:04X}", "image_type": f"0x{i.image_type:04X}",
            "file_version": f"0x{i.file_version:08X}", "total_size": i.total_size,
            "min_hw_version": i.min_hw_version, "max_hw_version": i.max_hw_version,
            "file_sha256": i.file_sha256.hex(), "manufacturer_image_sha256": i.manufacturer_image_sha256.hex(),
            "arrived_at": _iso(i.arrived_at), "retention_until": _iso(status.retention_until),
            "protected_until": _iso(status.protected_until), "intact": status.intact,
            "targets": [
                {"entity": t.entity, "state": t.state, "offset": t.offset, "started_at": _iso(t.started_at),
                 "last_activity": _iso(t.last_activity), "finished_at": _iso(t.finished_at),
                 "deadline": _iso(t.deadline), "alert_id": t.alert_id}
                for t in status.targets
            ],
        }
    return out


def _iso(when: float | None) -> str | None:
    return None if when is None else policy.iso_utc(when)
