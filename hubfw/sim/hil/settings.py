"""The HUBFW_HIL_* environment: which bench a HIL run drives, and the image for a real device under test.

Bad values are one-line `HilConfigError`s naming the variable, so a mistyped EUI-64 or hex number never
turns into a confusing failure half-way through a bench run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zigpy.types as t

from hubfw.coordinator.profiles import get_profile
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.ota.admission import read_image_file
from hubfw.ota.image import build_image
from hubfw.radio import SerialSettings

ENV_PORT = "HUBFW_HIL_PORT"
ENV_DUT = "HUBFW_HIL_DUT"
ENV_INSTALL_CODE = "HUBFW_HIL_INSTALL_CODE"
ENV_DEVICE_TYPE = "HUBFW_HIL_DEVICE_TYPE"
ENV_COORDINATOR = "HUBFW_HIL_COORDINATOR"
ENV_CHANNEL = "HUBFW_HIL_CHANNEL"
ENV_IMAGE = "HUBFW_HIL_IMAGE"
ENV_MANUFACTURER = "HUBFW_HIL_MANUFACTURER"
ENV_IMAGE_TYPE = "HUBFW_HIL_IMAGE_TYPE"
ENV_FILE_VERSION = "HUBFW_HIL_FILE_VERSION"
ENV_CBKE = "HUBFW_HIL_CBKE"
"""Comma-separated hub credentials files (`hubfw cbke issue --eui64 <coordinator>`), one per crypto suite."""
ENV_GBCS_KEYS = "HUBFW_HIL_GBCS_KEYS"
"""The bench GBCS key set directory the hub builds CS06 / CS08 with (`hubfw serve --gbcs-keys`)."""
ENV_ACTIVATION = "HUBFW_HIL_ACTIVATION"
"""How the DUT is activated: `gbcs` (CS06 through its tunnel) or `zcl` (a plain Zigbee device); default: gbcs when the
DUT has a tunnel (`hubfw activate` without --method)."""
ACTIVATION_METHODS = ("gbcs", "zcl")

TEST_PAYLOAD_BYTES = 8_000
"""Payload of a test image built from the header values: 125 blocks of 64 bytes, a minute or so on a real HAN."""


class HilConfigError(HubfwError):
    """The HIL environment variables are missing, malformed or inconsistent."""


@dataclass(frozen=True)
class HilSettings:
    """What the environment says about the bench; `port` None means the simulator."""

    port: str | None = None
    dut: t.EUI64 | None = None
    install_code: bytes | None = None
    device_type: DeviceType = DeviceType.PPMID
    coordinator: str | None = None
    channel: int | None = None
    """Channel for a network the coordinator forms on first start (None: zigpy's energy scan picks one)."""
    image_path: Path | None = None
    manufacturer_code: int | None = None
    image_type: int | None = None
    file_version: int | None = None
    cbke_files: tuple[Path, ...] = ()
    """The bench hub's CBKE credentials; empty: the hub runs no key establishment."""
    gbcs_keys: Path | None = None
    activation: str | None = None
    """`gbcs`, `zcl` or None (the hub's default for the DUT)."""

    @property
    def real(self) -> bool:
        return self.port is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HilSettings:
        """Read the HUBFW_HIL_* variables; a real bench needs both the port and the DUT."""
        port, dut = env.get(ENV_PORT) or None, env.get(ENV_DUT) or None
        if (port is None) != (dut is None):
            raise HilConfigError(f"a real bench needs both {ENV_PORT} and {ENV_DUT}; only one is set")
        kind = env.get(ENV_DEVICE_TYPE, DeviceType.PPMID.value)
        try:
            device_type = DeviceType(kind.lower())
        except ValueError:
            raise HilConfigError(f"{ENV_DEVICE_TYPE}={kind!r} is not one of esme, gsme, ppmid, hcalcs") from None
        image = env.get(ENV_IMAGE) or None
        activation = (env.get(ENV_ACTIVATION) or "").lower() or None
        if activation not in (None, *ACTIVATION_METHODS):
            raise HilConfigError(f"{ENV_ACTIVATION}={activation!r} is not one of {', '.join(ACTIVATION_METHODS)}")
        gbcs_keys = env.get(ENV_GBCS_KEYS) or None
        if gbcs_keys is not None and not Path(gbcs_keys).is_dir():
            raise HilConfigError(f"{ENV_GBCS_KEYS}={gbcs_keys!r} is not a directory")
        return cls(
            port=port, dut=None if dut is None else _eui64(dut),
            install_code=_hex_bytes(env, ENV_INSTALL_CODE), device_type=device_type,
            coordinator=env.get(ENV_COORDINATOR) or None, channel=_channel(env), image_path=None if image is None else Path(image),
            manufacturer_code=_number(env, ENV_MANUFACTURER, 16), image_type=_number(env, ENV_IMAGE_TYPE, 16),
            file_version=_number(env, ENV_FILE_VERSION, 32), cbke_files=_paths(env, ENV_CBKE),
            gbcs_keys=None if gbcs_keys is None else Path(gbcs_keys), activation=activation,
        )

    def serial_settings(self) -> SerialSettings:
        """The port with the baud rate and flow control of the named coordinator profile (default: EmberZNet's)."""
        assert self.port is not None
        if self.coordinator is None:
            return SerialSettings(self.port, channel=self.channel)
        profile = get_profile(self.coordinator)
        flow = None if profile.flow_control == "none" else profile.flow_control
        return SerialSettings(self.port, profile.baudrate or SerialSettings.baudrate, flow, self.channel)

    def test_image(self) -> bytes:
        """The real DUT's image: the file in HUBFW_HIL_IMAGE, or an unsigned one built from the header values."""
        if self.image_path is not None:
            return read_image_file(self.image_path)
        values = {ENV_MANUFACTURER: self.manufacturer_code, ENV_IMAGE_TYPE: self.image_type,
                  ENV_FILE_VERSION: self.file_version}
        missing = [name for name, value in values.items() if value is None]
        if missing:
            raise HilConfigError(f"set {ENV_IMAGE} (a ready OTA file) or all of {', '.join(values)}; "
                                 f"missing {', '.join(missing)}")
        assert self.manufacturer_code is not None and self.image_type is not None and self.file_version is not None
        payload = bytes((index * 31 + 7) & 0xFF for index in range(TEST_PAYLOAD_BYTES))
        return build_image(manufacturer_code=self.manufacturer_code, image_type=self.image_type,
                           file_version=self.file_version, payload=payload,
                           header_string=f"hubfw HIL 0x{self.file_version:08X}").to_bytes()


def _eui64(text: str) -> t.EUI64:
    try:
        return parse_eui64(text)
    except HubfwError as exc:
        raise HilConfigError(f"{ENV_DUT}: {exc}") from None


def _hex_bytes(env: Mapping[str, str], name: str) -> bytes | None:
    text = env.get(name, "").replace(":", "").replace("-", "").replace(" ", "")
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise HilConfigError(f"{name} must be hex digits, not {env[name]!r}") from None


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    paths = tuple(Path(part.strip()) for part in env.get(name, "").split(",") if part.strip())
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise HilConfigError(f"{name}: no such credentials file: {', '.join(missing)}")
    return paths


def _channel(env: Mapping[str, str]) -> int | None:
    channel = _number(env, ENV_CHANNEL, 8)
    if channel is not None and not 11 <= channel <= 26:
        raise HilConfigError(f"{ENV_CHANNEL}={channel} is not a 2.4 GHz Zigbee channel (11..26)")
    return channel


def _number(env: Mapping[str, str], name: str, bits: int) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text, 0)
    except ValueError:
        raise HilConfigError(f"{name} must be a number (e.g. 0x1234), not {text!r}") from None
    if not 0 <= value < 1 << bits:
        raise HilConfigError(f"{name}={text} does not fit {bits} bits")
    return value
