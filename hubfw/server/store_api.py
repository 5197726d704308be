"""What the OTA server needs from the image store (hubfw.store implements it).

Declared here as Protocols so the server states its dependency precisely and tests can use a fake.
"""

from __future__ import annotations

from typing import Protocol

import zigpy.types as t

from hubfw.alerts import TransferAlert
from hubfw.devices import DeviceType
from hubfw.gbcs.alert_content import ActivationOutcome


class ServedImage(Protocol):
    """The fields of hubfw.store's StoredImage the server reads."""

    image_id: int
    device_type: DeviceType
    manufacturer_code: int
    image_type: int
    file_version: int
    total_size: int
    manufacturer_image_sha256: bytes


class CompletedImage(Protocol):
    """What the store remembers of a finished transfer (hubfw.store's CompletedTransfer)."""

    device_type: DeviceType
    file_version: int


class ServerStore(Protocol):
    """The slice of hubfw.store.store.ImageStore the OTA server calls."""

    def offer(self, eui64: t.EUI64) -> ServedImage | None:
        """The image this device is a non-terminal target of, if any."""

    def read(self, image_id: int, offset: int, length: int) -> bytes: ...

    def note_query(self, eui64: t.EUI64, image_id: int, hardware_version: int | None) -> bool:
        """False when the hardware version is outside the image's range (terminal alert recorded)."""

    def note_progress(self, eui64: t.EUI64, image_id: int, offset: int) -> None:
        """A block or page was served; `offset` is where it ended (what the device now holds)."""

    def note_end(self, eui64: t.EUI64, image_id: int, status: int) -> None:
        """Records 0x8F8A for status 0, else 0x8F89 fileTransferFailure."""

    def note_activation(
        self, eui64: t.EUI64, firmware_version: int, *, source: str = "hub",
        outcome: ActivationOutcome = ActivationOutcome.SUCCESS, message: bytes | None = None,
        time: float | None = None,
    ) -> TransferAlert:
        """Records the 0x8F8B alert a PPMID owes for the version it now runs (or failed to activate:
        `outcome`), with the next originator counter; `source` "tunnel" when the PPMID sent it through its
        GBCS tunnel (then `message` is its signed GBCS message, kept byte for byte, at most 512 bytes),
        "hub" when the hub read the version back. A repeat while it is owed returns the same alert."""

    def completed_transfer(self, eui64: t.EUI64) -> CompletedImage | None:
        """The device's latest successful transfer, which the store keeps across hub restarts."""

    def check_activation(self, eui64: t.EUI64, manufacturer_image_sha256: bytes) -> CompletedImage:
        """The transfer to activate on this device; raises hubfw.store's ActivationRejected otherwise."""
