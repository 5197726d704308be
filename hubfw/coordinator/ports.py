"""Serial ports on this machine and which coordinator profile each one is (pyserial's list_ports)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports

from hubfw.coordinator.profiles import CoordinatorProfile


@dataclass(frozen=True)
class SerialPort:
    """What the OS tells us about one serial port (USB fields are None for on-board UARTs)."""

    device: str
    vid: int | None = None
    pid: int | None = None
    manufacturer: str | None = None
    product: str | None = None
    serial_number: str | None = None
    description: str | None = None

    @classmethod
    def from_list_ports(cls, info: Any) -> SerialPort:
        """From a pyserial `ListPortInfo`."""
        return cls(device=info.device, vid=info.vid, pid=info.pid, manufacturer=info.manufacturer,
                   product=info.product, serial_number=info.serial_number, description=info.description)

    @property
    def usb_id(self) -> str | None:
        return None if self.vid is None or self.pid is None else f"{self.vid:04x}:{self.pid:04x}"

    def profile(self, profiles: tuple[CoordinatorProfile, ...]) -> CoordinatorProfile | None:
        """The first profile whose USB match fits this port, if any."""
        return next((p for p in profiles if p.matches_usb(self.vid, self.pid, self.product)), None)


def list_serial_ports() -> list[SerialPort]:
    """Every serial port pyserial can see, sorted by device path."""
    return sorted((SerialPort.from_list_ports(info) for info in list_ports.comports()), key=lambda p: p.device)


def port_for_device(path: str, ports: list[SerialPort]) -> SerialPort | None:
    """The listed port behind `path`, following symlinks (/dev/hubfw-zbt-1, /dev/serial/by-id/...)."""
    if "://" in path:
        return None
    real = os.path.realpath(path)
    return next((port for port in ports if os.path.realpath(port.device) == real), None)


def describe_port(port: SerialPort, profile: CoordinatorProfile | None) -> str:
    """One line for `hubfw ports`."""
    usb = port.usb_id or "-"
    names = " ".join(part for part in (port.manufacturer, port.product) if part) or port.description or ""
    serial = f" serial {port.serial_number}" if port.serial_number else ""
    found = f"  -> {profile.name} ({profile.describe_serial()})" if profile else ""
    return f"{port.device}  {usb}  {names}{serial}{found}".rstrip()


def port_to_json(port: SerialPort, profile: CoordinatorProfile | None) -> dict[str, object]:
    return {"device": port.device, "vid": port.vid, "pid": port.pid, "manufacturer": port.manufacturer,
            "product": port.product, "serial_number": port.serial_number, "description": port.description,
            "profile": profile.name if profile else None}
