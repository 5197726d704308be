"""Store test helpers: small OTA files, named devices, and stores on a clocked emulated flash."""

from __future__ import annotations

import random
from dataclasses import dataclass

import zigpy.types as t

from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import FlashProfile
from hubfw.ota.image import build_image
from hubfw.store.store import ImageStore

# A scaled-down NOR part: 4 KiB images, 1 KiB sectors, 64 B pages, 8 KiB metadata regions.
SMALL_NOR = FlashProfile(
    name="small-nor", size=64 * 1024, sector_size=1024, page_size=64, block_size=None, endurance=100_000,
    program_unit=1, max_writes_per_unit=None, page_program_s=(0.0004, 0.003), sector_erase_s=(0.045, 0.4),
    block_erase_s=None,
)
SMALL_IMAGE = 4096


def eui(n: int) -> t.EUI64:
    return t.EUI64.convert(f"00:0d:6f:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}")


def ota_file(version: int = 0x100, size: int = 2000, *, image_type: int = 1, seed: int | None = None,
             **hw: int) -> bytes:
    """A valid OTA file of exactly `size` bytes (payload random but reproducible)."""
    empty = build_image(manufacturer_code=0x1234, image_type=image_type, file_version=version, payload=b"", **hw)
    payload = random.Random(seed if seed is not None else version).randbytes(size - empty.header.total_size)
    return build_image(
        manufacturer_code=0x1234, image_type=image_type, file_version=version, payload=payload, **hw
    ).to_bytes()


@dataclass
class Hub:
    """A store on a flash with a virtual clock, and a way to 'reboot' it (re-open from the flash)."""

    flash: NorFlash
    clock: VirtualClock
    store: ImageStore
    max_image_size: int

    def reboot(self) -> ImageStore:
        self.flash.reboot()
        self.store = ImageStore.open(self.flash, self.clock, max_image_size=self.max_image_size)
        return self.store


def targets(device_type: DeviceType, *numbers: int) -> list[tuple[t.EUI64, DeviceType]]:
    return [(eui(n), device_type) for n in numbers]
