"""What the store knows, as plain values: images, their targets' progress and completed transfers.

These are shared by the record codec (what goes to flash), the replay model and the block policy,
so none of those needs to know the others.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.alerts import TransferResponse
from hubfw.devices import DeviceType


class Block(str, enum.Enum):
    """The two image blocks of a Communications Hub [REQUIREMENTS §4]."""

    ESME = "esme"
    GSME = "gsme"


@dataclass(frozen=True)
class StoredImage:
    """A committed image as the OTA server needs it to answer a device."""

    image_id: int
    block: Block
    device_type: DeviceType
    manufacturer_code: int
    image_type: int
    file_version: int
    total_size: int
    min_hw_version: int | None
    max_hw_version: int | None
    file_sha256: bytes
    manufacturer_image_sha256: bytes
    arrived_at: float


@dataclass(frozen=True)
class CompletedTransfer:
    """A target's successful transfer, kept after the image left flash so CS06 can still be checked."""

    entity: t.EUI64
    image_id: int
    device_type: DeviceType
    file_version: int
    manufacturer_image_sha256: bytes
    completed_at: float


@dataclass
class TargetProgress:
    """One target of one image.

    ``checkpoint_*`` and ``started_at`` are durable (on flash); ``offset`` and ``last_activity`` are
    the live values between checkpoints, which a restart rebuilds conservatively (DESIGN.md §5).
    """

    entity: t.EUI64
    response: TransferResponse | None = None
    finished_at: float | None = None
    started_at: float | None = None
    checkpoint_offset: int = 0
    checkpoint_time: float | None = None
    offset: int = 0
    last_activity: float | None = None

    @property
    def terminal(self) -> bool:
        return self.response is not None

    @property
    def started(self) -> bool:
        return self.started_at is not None


@dataclass
class ImageState:
    """An image in a block: committed (visible) or only begun (its data may be half written)."""

    image: StoredImage
    targets: list[TargetProgress] = field(default_factory=list)
    committed: bool = False
    # A target's index by its EUI-64's bytes: the server asks for every block it serves, and an image may
    # name dozens of targets (zigpy's EUI64 hashes through its string form, so its bytes are the key).
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {}
        for index, target in enumerate(self.targets):
            self._index.setdefault(bytes(target.entity), index)

    @property
    def retired(self) -> bool:
        """Every target is terminal: the image is no longer served and its block may be erased."""
        return all(target.terminal for target in self.targets)

    def target_index(self, entity: t.EUI64) -> int | None:
        return self._index.get(bytes(entity))
