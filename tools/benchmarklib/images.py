"""The OTA files the benchmarks serve: one manufacturer and image type, a reproducible payload."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.image import build_image

MANUFACTURER = 0x1234
IMAGE_TYPE = 0x0001
OLD_VERSION = 0x0000_0010
NEW_VERSION = 0x0000_0020


def ota_file(size: int, sign_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """An OTA file of exactly `size` bytes (signed with `sign_key` if given)."""
    probe = build_image(manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=NEW_VERSION, payload=b"",
                        sign_key=sign_key)
    payload_size = size - len(probe.to_bytes())
    payload = (bytes(range(256)) * (payload_size // 256 + 1))[:payload_size]
    return build_image(
        manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=NEW_VERSION, payload=payload,
        sign_key=sign_key,
    ).to_bytes()
