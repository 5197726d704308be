"""The soak's world: a fleet of simulated GB HAN devices of all four types and the images made for them.

Everything is drawn from one seeded `random.Random`, so a seed names a whole 30-day history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.devices import DeviceType, parse_eui64
from hubfw.ota.image import OtaImage, build_image
from hubfw.sim.devices import SILABS_PAGE_SIZE, OtaClientDevice, make_device
from hubfw.store.policy import MAX_ESME_TARGETS
from hubfw.store.state import Block

MANUFACTURER = 0x1234
IMAGE_TYPES = {DeviceType.ESME: 0x0101, DeviceType.GSME: 0x0201, DeviceType.PPMID: 0x0301, DeviceType.HCALCS: 0x0401}
FIRST_VERSION = 0x0000_0100
HARDWARE_VERSIONS = (1, 2, 3)
RESTRICTED_RANGE = (1, 2)
"""Some images only fit hardware 1..2, so hardware-3 devices earn hardwareVersionMismatch."""

# How often each type gets a new image: PPMID/HCALCS images come and replace each other; GSME images
# are rarer because each one blocks the GSME block for 14 days.
DISTRIBUTION_WEIGHTS = {DeviceType.ESME: 0.25, DeviceType.GSME: 0.15, DeviceType.PPMID: 0.3, DeviceType.HCALCS: 0.3}


def block_of(device_type: DeviceType) -> Block:
    return Block.ESME if device_type is DeviceType.ESME else Block.GSME


@dataclass(frozen=True)
class SoakImage:
    """One OTA file the soak distributes, with what the checker needs to judge every byte and alert."""

    device_type: DeviceType
    file_version: int
    data: bytes
    manufacturer_image_sha256: bytes
    hw_range: tuple[int, int] | None
    targets: tuple[t.EUI64, ...]

    @property
    def block(self) -> Block:
        return block_of(self.device_type)

    def fits(self, hardware_version: int | None) -> bool:
        """Whether a device of this hardware version is inside the image's min..max range."""
        if self.hw_range is None or hardware_version is None:
            return True
        low, high = self.hw_range
        return low <= hardware_version <= high


@dataclass
class Fleet:
    """The devices by type, the next file version of each type's image, and how many targets one
    image may name (ESME: MAX_ESME_TARGETS; others: what the hub's flash layout journals)."""

    devices: dict[t.EUI64, OtaClientDevice]
    by_type: dict[DeviceType, list[OtaClientDevice]]
    target_limit: int
    next_version: dict[DeviceType, int] = field(
        default_factory=lambda: {device_type: FIRST_VERSION + 1 for device_type in DeviceType}
    )

    @classmethod
    def build(cls, count: int, rng: random.Random, target_limit: int) -> Fleet:
        """`count` devices, the four types in turn; hardware versions, page-request clients and
        image-rejecting clients mixed in. `target_limit` is the store layout's targets per image."""
        types = list(DeviceType)
        devices: dict[t.EUI64, OtaClientDevice] = {}
        by_type: dict[DeviceType, list[OtaClientDevice]] = {device_type: [] for device_type in types}
        for index in range(count):
            device_type = types[index % len(types)]
            quirks: dict[str, object] = {}
            if device_type in (DeviceType.PPMID, DeviceType.HCALCS) and rng.random() < 0.25:
                quirks["page_size"] = SILABS_PAGE_SIZE
            if rng.random() < 0.08:
                quirks["rejects_image"] = True
            device = make_device(
                device_type, parse_eui64(f"00:0d:6f:00:00:5a:{index >> 8:02x}:{index & 0xFF:02x}"), 0x1000 + index,
                manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPES[device_type], file_version=FIRST_VERSION,
                hardware_version=rng.choice(HARDWARE_VERSIONS), seed=rng.getrandbits(32), **quirks,
            )
            devices[device.ieee] = device
            by_type[device_type].append(device)
        return cls(devices, by_type, target_limit)

    def new_image(self, rng: random.Random, min_size: int, max_size: int,
                  device_type: DeviceType | None = None) -> SoakImage:
        """The next image for `device_type` (by default a random one), for a random subset of its devices."""
        if device_type is None:
            types = [candidate for candidate in DeviceType if self.by_type[candidate]]
            device_type = rng.choices(types, [DISTRIBUTION_WEIGHTS[candidate] for candidate in types])[0]
        fleet = self.by_type[device_type]
        limit = MAX_ESME_TARGETS if device_type is DeviceType.ESME else self.target_limit
        chosen = rng.sample(fleet, rng.randint(1, min(limit, len(fleet))))
        version = self.next_version[device_type]
        self.next_version[device_type] = version + 1
        hw_range = RESTRICTED_RANGE if rng.random() < 0.3 else None
        payload = rng.randbytes(rng.randint(min_size, max_size))
        image = build_image(
            manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPES[device_type], file_version=version,
            payload=payload, header_string=f"soak {device_type.value} {version:#010x}",
            min_hw_version=None if hw_range is None else hw_range[0],
            max_hw_version=None if hw_range is None else hw_range[1],
        )
        data = image.to_bytes()
        return SoakImage(
            device_type, version, data, OtaImage.parse(data).manufacturer_image_sha256, hw_range,
            tuple(device.ieee for device in chosen),
        )
