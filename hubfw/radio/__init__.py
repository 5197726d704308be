"""Radio adapters (layer 4): zigpy applications that hand OTA and HAN cluster frames to the hub.

`open_radio` turns the `--radio` argument into a started application: a serial port or URL for
a real EZSP coordinator through bellows, or `virtual` for the in-process virtual radio (`sim`, the
simulated NCP behind bellows, lives in hubfw.sim because it is a simulator).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import zigpy.state
import zigpy.types as t

from hubfw.clock import Clock
from hubfw.radio.air import Air
from hubfw.radio.bellows import (
    HubControllerApplication,
    RadioError,
    SerialSettings,
    open_bellows_radio,
)
from hubfw.radio.config import hub_zigpy_config
from hubfw.radio.intercept import CaptureHook, HanFrameFilter, OtaFrameHandler, OtaInterceptMixin
from hubfw.radio.ncp_keys import NcpKey
from hubfw.radio.virtual import SilentAir, VirtualControllerApplication
from hubfw.zigbee.aps import OutgoingFrame

VIRTUAL_RADIOS = ("virtual",)


class OtaRadio(Protocol):
    """What the hub uses of a started radio application."""

    max_aps_payload: int
    devices: dict[t.EUI64, Any]
    state: zigpy.state.State

    def set_ota_handler(self, handler: OtaFrameHandler | None, clock: Clock | None = None) -> None: ...

    def set_han_handler(self, handler: OtaFrameHandler | None, accepts: HanFrameFilter | None = None) -> None: ...

    def send_ota_frames(self, frames: Sequence[OutgoingFrame]) -> None: ...

    def set_capture(self, hook: CaptureHook | None) -> None:
        """Hand every APS frame the radio sends and receives to `hook` (hubfw.capture)."""

    async def install_link_key(self, eui64: t.EUI64, key: t.KeyData) -> None:
        """Give the coordinator a device's CBKE link key; every unicast to it is APS-encrypted afterwards."""

    def encrypt_unicasts_to(self, eui64s: Iterable[t.EUI64]) -> None:
        """Devices whose link key the coordinator already holds (from before a restart)."""

    async def permit(self, time_s: int = 60, node: t.EUI64 | str | None = None) -> None: ...

    async def export_keys(self) -> list[NcpKey]:
        """Every key the coordinator holds, read from it now (`hubfw keys export`)."""

    async def permit_with_link_key(self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60) -> None: ...

    async def shutdown(self, *, db: bool = True) -> None: ...


async def open_virtual_radio(state_dir: Path, han: Air | None = None) -> VirtualControllerApplication:
    """The in-process radio with its zigpy database in `state_dir`, talking to `han` (none: an empty HAN)."""
    config = hub_zigpy_config(state_dir, device={"path": "virtual"})
    config["watchdog_enabled"] = False  # nothing to watch: there is no NCP
    app = await VirtualControllerApplication.new(config, auto_form=True, start_radio=True)
    if han is not None:
        app.han = han
    return app


async def open_radio(spec: str | SerialSettings, state_dir: Path) -> OtaRadio:
    """`virtual` → the virtual radio; anything else is a serial port or URL for bellows."""
    if isinstance(spec, SerialSettings):
        return await open_bellows_radio(spec, state_dir)
    if spec in VIRTUAL_RADIOS:
        return await open_virtual_radio(state_dir)
    return await open_bellows_radio(SerialSettings(spec), state_dir)


__all__ = [
    "VIRTUAL_RADIOS",
    "HanFrameFilter",
    "HubControllerApplication",
    "OtaFrameHandler",
    "OtaInterceptMixin",
    "OtaRadio",
    "RadioError",
    "SerialSettings",
    "SilentAir",
    "VirtualControllerApplication",
    "open_radio",
    "open_virtual_radio",
]
