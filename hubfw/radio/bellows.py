"""The hub on a real Silicon Labs EZSP coordinator: bellows with the OTA interception on top."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import bellows.zigbee.application
import serial
from zigpy.exceptions import TransientConnectionError

from hubfw.errors import HubfwError
from hubfw.radio.config import hub_zigpy_config
from hubfw.radio.intercept import OtaInterceptMixin
from hubfw.server.blocksize import DEFAULT_APS_MAX_PAYLOAD

LOGGER = logging.getLogger(__name__)

FlowControl = Literal["software", "hardware"] | None


class RadioError(HubfwError):
    """The coordinator cannot be opened or started."""


@dataclass(frozen=True)
class SerialSettings:
    """Where the coordinator is and how to talk to it."""

    port: str
    """A device path (/dev/ttyUSB0) or a pyserial URL (socket://host:port)."""
    baudrate: int = 115200
    flow_control: FlowControl = "software"
    """EZSP over UART: 'software' (XON/XOFF, the EmberZNet default), 'hardware' (RTS/CTS) or None."""
    channel: int | None = None
    """Channel for a network formed on first start (None lets zigpy choose)."""

    def device_config(self) -> dict[str, object]:
        return {"path": self.port, "baudrate": self.baudrate, "flow_control": self.flow_control}


class HubControllerApplication(OtaInterceptMixin, bellows.zigbee.application.ControllerApplication):
    """bellows' coordinator, with OTA cluster 0x0019 answered by the hub on profiles 0x0104 and 0x0109."""

    max_aps_payload = DEFAULT_APS_MAX_PAYLOAD
    """Replaced by the NCP's own figure (EZSP maximumPayloadLength) once started."""

    async def start_network(self) -> None:
        await super().start_network()
        try:
            (length,) = await self._ezsp.maximumPayloadLength()
        except Exception as exc:  # older or unusual firmware: keep the EmberZNet default
            LOGGER.info("NCP did not report its maximum APS payload (%s); assuming %d", exc, self.max_aps_payload)
        else:
            self.max_aps_payload = int(length)


def check_port(port: str) -> None:
    """A one-line error for a device path that is missing or not ours to open (URLs are left to pyserial)."""
    if "://" in port:
        return
    if not os.path.exists(port):
        raise RadioError(f"cannot open {port}: no such serial port")
    if not os.access(port, os.R_OK | os.W_OK):
        raise RadioError(f"cannot open {port}: permission denied (is your user in the dialout group?)")


async def open_bellows_radio(settings: SerialSettings, state_dir: Path) -> HubControllerApplication:
    """Start the coordinator, forming a network on first use; serial failures become one-line RadioErrors."""
    check_port(settings.port)
    config = hub_zigpy_config(state_dir, device=settings.device_config(), channel=settings.channel)
    try:
        return await HubControllerApplication.new(config, auto_form=True, start_radio=True)
    except (OSError, serial.SerialException, ConnectionError, TimeoutError, TransientConnectionError) as exc:
        raise RadioError(f"cannot open {settings.port}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The innermost cause's message on one line (zigpy wraps serial errors in its own)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, TimeoutError):
        return "no EZSP coordinator answered (timed out)"
    errno = getattr(exc, "errno", None)
    text = os.strerror(errno) if isinstance(errno, int) else getattr(exc, "strerror", None)
    if not text and len(exc.args) == 2 and isinstance(exc.args[1], str):
        text = exc.args[1]  # pyserial: (errno, message)
    text = (text or str(exc) or type(exc).__name__).splitlines()[0]
    if "busy" in text.lower() or "lock" in text.lower():
        return f"device busy ({text})"
    return text
