"""Coordinator profiles: the EZSP dongles a bench may use, read from the packaged coordinators.toml.

The TOML ships inside the package (so an installed hubfw finds it) and is the one place that
knows VID/PIDs, baud rates and flow control; port matching and the udev rules derive from it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, get_args

from hubfw.errors import HubfwError

FlowControl = Literal["software", "hardware", "none"]
FLOW_CONTROLS: tuple[str, ...] = get_args(FlowControl)

PROFILES_RESOURCE = "coordinators.toml"


class ProfileError(HubfwError):
    """The profiles file is malformed, or a profile name is unknown."""


@dataclass(frozen=True)
class UsbMatch:
    """One way a coordinator shows up on USB. `product` is a glob (udev semantics: case-sensitive)."""

    vid: int
    pid: int
    product: str | None = None

    def matches(self, vid: int | None, pid: int | None, product: str | None) -> bool:
        if (vid, pid) != (self.vid, self.pid):
            return False
        if self.product is None:
            return True
        return product is not None and fnmatch.fnmatchcase(product, self.product)


@dataclass(frozen=True)
class CoordinatorProfile:
    """A coordinator model and the serial settings its stock EZSP firmware expects."""

    name: str
    title: str
    chip: str
    flow_control: FlowControl
    port_hint: str
    notes: str
    baudrate: int | None = None
    """None for a network coordinator: the TCP bridge owns the UART."""
    usb_bridge: str | None = None
    aliases: tuple[str, ...] = ()
    usb: tuple[UsbMatch, ...] = ()

    @property
    def udev_symlink(self) -> str | None:
        """The stable /dev name the udev rules give it (None if it is not a USB device)."""
        return f"hubfw-{self.name}" if self.usb else None

    def matches_usb(self, vid: int | None, pid: int | None, product: str | None) -> bool:
        return any(match.matches(vid, pid, product) for match in self.usb)

    def describe_serial(self) -> str:
        if self.baudrate is None:
            return "network (no baud rate)"
        return f"{self.baudrate} baud, {self.flow_control} flow control"


def parse_profiles(text: str, source: str = PROFILES_RESOURCE) -> tuple[CoordinatorProfile, ...]:
    """Parse and check a profiles document; any defect is one ProfileError naming the entry."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML ({exc})") from None
    entries = document.get("coordinator")
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"{source}: no [[coordinator]] entries")
    profiles = tuple(_profile(entry, f"{source}: coordinator {index + 1}") for index, entry in enumerate(entries))
    names = [name for profile in profiles for name in (profile.name, *profile.aliases)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ProfileError(f"{source}: profile name used twice: {', '.join(duplicates)}")
    return profiles


@functools.cache
def load_profiles() -> tuple[CoordinatorProfile, ...]:
    """The profiles shipped with hubfw."""
    text = resources.files(__package__).joinpath(PROFILES_RESOURCE).read_text(encoding="utf-8")
    return parse_profiles(text)


def get_profile(name: str, profiles: tuple[CoordinatorProfile, ...] | None = None) -> CoordinatorProfile:
    """A profile by name or alias."""
    profiles = load_profiles() if profiles is None else profiles
    for profile in profiles:
        if name == profile.name or name in profile.aliases:
            return profile
    known = ", ".join(profile.name for profile in profiles)
    raise ProfileError(f"no coordinator profile {name!r} (known: {known})")


def _profile(entry: Any, where: str) -> CoordinatorProfile:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: not a table")
    unknown = sorted(set(entry) - _PROFILE_FIELDS)
    if unknown:
        raise ProfileError(f"{where}: unknown field {unknown[0]!r}")
    name = _text(entry, "name", where)
    if not _NAME.fullmatch(name):
        raise ProfileError(f"{where}: name {name!r} must be lower-case letters, digits and dashes")
    where = f"{where} ({name})"
    flow_control = _text(entry, "flow_control", where)
    if flow_control not in FLOW_CONTROLS:
        raise ProfileError(f"{where}: flow_control must be one of {', '.join(FLOW_CONTROLS)}, not {flow_control!r}")
    baudrate = entry.get("baudrate")
    if baudrate is not None and (not isinstance(baudrate, int) or baudrate <= 0):
        raise ProfileError(f"{where}: baudrate must be a positive integer")
    usb = tuple(_usb_match(item, f"{where} usb {index + 1}") for index, item in enumerate(entry.get("usb", [])))
    if usb and baudrate is None:
        raise ProfileError(f"{where}: a USB coordinator needs a baudrate")
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) and alias for alias in aliases):
        raise ProfileError(f"{where}: aliases must be a list of names")
    return CoordinatorProfile(
        name=name, title=_text(entry, "title", where), chip=_text(entry, "chip", where),
        flow_control=flow_control, port_hint=_text(entry, "port_hint", where), notes=_text(entry, "notes", where),
        baudrate=baudrate, usb_bridge=entry.get("usb_bridge"), aliases=tuple(aliases), usb=usb)


_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
"""Names become udev symlinks and command-line values: keep them plain."""
_PROFILE_FIELDS = {"name", "title", "chip", "usb_bridge", "baudrate", "flow_control", "port_hint", "notes",
                   "aliases", "usb"}


def _usb_match(item: Any, where: str) -> UsbMatch:
    if not isinstance(item, dict):
        raise ProfileError(f"{where}: not a table")
    ids = [item.get(key) for key in ("vid", "pid")]
    if not all(isinstance(value, int) and 0 <= value <= 0xFFFF for value in ids):
        raise ProfileError(f"{where}: vid and pid must be 16-bit integers (e.g. 0x10c4)")
    product = item.get("product")
    if product is not None and (not isinstance(product, str) or not product):
        raise ProfileError(f"{where}: product must be a non-empty glob")
    return UsbMatch(vid=ids[0], pid=ids[1], product=product)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}: missing {key!r}")
    return value
