"""The Central Products List check the DCC and suppliers run before distribution.

[SECMP0007 Annex A 4.1.1 / 4.1.3, Appendix AB 2.2(d)] An image passes when (a) its Manufacturer
Image hash is on the CPL, (b) the OTA header's manufacturer code, model (image type) and
firmware version match one of the entries carrying that hash, and (c) that entry's hardware
version lies within the header's min..max hardware version, inclusive.

The CPL file is TOML, one `[[entry]]` table per CPL row:

    [[entry]]
    manufacturer_code = 0x1234
    image_type = 0x0001            # the CPL "model identifier"
    firmware_version = 0x00000020
    hardware_version = 0x0001      # 16 bits as in the OTA header: version << 8 | revision
    hash = "<64 hex digits: SHA-256 of the Manufacturer Image; ':' and spaces allowed>"
    description = "optional free text"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from hubfw.errors import HubfwError
from hubfw.ota.image import OtaHeader

_INTEGER_KEYS = {"manufacturer_code": 16, "image_type": 16, "firmware_version": 32, "hardware_version": 16}
_ALLOWED_KEYS = {*_INTEGER_KEYS, "hash", "description"}
_HASH_SIZE = 32


class CplError(HubfwError):
    """The CPL file is unreadable or not in the documented TOML shape."""


@dataclass(frozen=True)
class CplEntry:
    manufacturer_code: int
    image_type: int
    firmware_version: int
    hardware_version: int
    manufacturer_image_sha256: bytes

    def describe(self) -> str:
        return (
            f"manufacturer 0x{self.manufacturer_code:04X}, image type 0x{self.image_type:04X}, "
            f"firmware 0x{self.firmware_version:08X}, hardware 0x{self.hardware_version:04X}"
        )


@dataclass(frozen=True)
class CplVerdict:
    passed: bool
    detail: str


@dataclass(frozen=True)
class CentralProductsList:
    entries: tuple[CplEntry, ...]
    source: str = "CPL"

    @classmethod
    def load(cls, path: Path) -> CentralProductsList:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CplError(f"cannot read CPL file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str = "CPL") -> CentralProductsList:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CplError(f"CPL file {source} is not valid TOML: {exc}") from None
        unknown = set(document) - {"entry"}
        if unknown:
            raise CplError(f"CPL file {source}: unknown top-level key(s) {', '.join(sorted(unknown))} (want [[entry]])")
        rows = document.get("entry", [])
        if not isinstance(rows, list):
            raise CplError(f"CPL file {source}: 'entry' must be an array of tables ([[entry]])")
        return cls(tuple(_entry(row, number, source) for number, row in enumerate(rows, start=1)), source)

    def check(self, header: OtaHeader, manufacturer_image_sha256: bytes) -> CplVerdict:
        listed = [entry for entry in self.entries if entry.manufacturer_image_sha256 == manufacturer_image_sha256]
        if not listed:
            return CplVerdict(
                False, f"Manufacturer Image hash {manufacturer_image_sha256.hex()} is not on the CPL ({self.source})"
            )
        wanted = (header.manufacturer_code, header.image_type, header.file_version)
        matching = [e for e in listed if (e.manufacturer_code, e.image_type, e.firmware_version) == wanted]
        if not matching:
            return CplVerdict(
                False,
                f"no CPL entry with this hash has manufacturer 0x{wanted[0]:04X}, image type 0x{wanted[1]:04X}, "
                f"firmware 0x{wanted[2]:08X} (the hash is listed for: {'; '.join(e.describe() for e in listed)})",
            )
        if header.min_hw_version is None or header.max_hw_version is None:
            return CplVerdict(False, "the OTA header has no min/max hardware versions to check the CPL entry against")
        low, high = header.min_hw_version, header.max_hw_version
        fitting = [entry for entry in matching if low <= entry.hardware_version <= high]
        if not fitting:
            versions = ", ".join(f"0x{entry.hardware_version:04X}" for entry in matching)
            return CplVerdict(
                False, f"CPL hardware version {versions} lies outside the header's 0x{low:04X}..0x{high:04X}"
            )
        return CplVerdict(True, f"on the CPL: {fitting[0].describe()}")


def _entry(row: object, number: int, source: str) -> CplEntry:
    where = f"CPL file {source}, entry {number}"
    if not isinstance(row, dict):
        raise CplError(f"{where}: not a table")
    unknown = set(row) - _ALLOWED_KEYS
    if unknown:
        raise CplError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = (set(_INTEGER_KEYS) | {"hash"}) - set(row)
    if missing:
        raise CplError(f"{where}: missing {', '.join(sorted(missing))}")
    for key, bits in _INTEGER_KEYS.items():
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise CplError(f"{where}: {key} must be an integer of {bits} bits, got {value!r}")
    return CplEntry(
        manufacturer_code=row["manufacturer_code"],
        image_type=row["image_type"],
        firmware_version=row["firmware_version"],
        hardware_version=row["hardware_version"],
        manufacturer_image_sha256=_hash(row["hash"], where),
    )


def _hash(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise CplError(f"{where}: hash must be a hex string")
    try:
        digest = bytes.fromhex(value.replace(":", "").replace(" ", ""))
    except ValueError:
        raise CplError(f"{where}: hash is not hex") from None
    if len(digest) != _HASH_SIZE:
        raise CplError(f"{where}: hash is {len(digest)} bytes; a SHA-256 Manufacturer Image hash is {_HASH_SIZE}")
    return digest
