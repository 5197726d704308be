"""The GB HAN device types a Communications Hub distributes firmware to, and EUI-64 handling."""

from __future__ import annotations

import enum

import zigpy.types as t

from hubfw.errors import HubfwError


class DeviceType(enum.Enum):
    ESME = "esme"
    GSME = "gsme"
    PPMID = "ppmid"
    HCALCS = "hcalcs"

    @property
    def activates_immediately(self) -> bool:
        """Only a PPMID is told to activate at once (UpgradeEndResponse upgrade time 0)."""
        return self is DeviceType.PPMID


def parse_eui64(text: str) -> t.EUI64:
    """Accept `00:0d:6f:...`, `000D6F...` or `00-0d-...`; the written order is the display order."""
    clean = text.strip().replace(":", "").replace("-", "")
    if len(clean) != 16:
        raise HubfwError(f"not an EUI-64: {text!r} (want 16 hex digits, e.g. 00:0d:6f:00:0a:bc:de:f0)")
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise HubfwError(f"not an EUI-64: {text!r} (want 16 hex digits)") from None
    return t.EUI64(raw[::-1])
