"""What the hub heard from the device under test and sent to it, frame by frame (the OTA cluster only).

A conformance run judges any OTA client, hubfw's simulated ones or a device made elsewhere, so it looks only at
what crosses the hub's radio: `Hub.frame_observers` hands every OTA frame to a `FrameLog`, which keeps the DUT's
ones parsed into plain fields with the hub's clock time (virtual seconds on the simulator)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER
from hubfw.zigbee.zcl import parse_block_request, parse_frame, parse_header

Status = foundation.Status

REQUESTS = ("query_next_image", "image_block", "image_page", "upgrade_end")
"""The client's OTA requests a run follows."""


@dataclass(frozen=True)
class Seen:
    """One OTA frame between the hub and the DUT: `rx` heard by the hub, `tx` sent by it."""

    at: float
    direction: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "direction": self.direction, "name": self.name, **self.fields}


def _status(value: Any) -> str:
    try:
        return Status(int(value)).name
    except ValueError:
        return f"0x{int(value):02X}"


def describe(direction: str, zcl: bytes) -> tuple[str, dict[str, Any]] | None:
    """The command name and the fields a run judges by, or None for what it does not follow."""
    try:
        header, payload = parse_header(zcl)
    except ValueError:
        return None
    if direction == "rx":
        if not header.client_to_server or header.is_general:
            return None
        if header.command_id == Ota.ServerCommandDefs.image_block.id:
            try:
                block = parse_block_request(payload)
            except ValueError:
                return "image_block", {"malformed": True, "field_control": payload[0] if payload else None}
            fields = {"field_control": payload[0], "offset": block.file_offset, "max_data_size": block.maximum_data_size,
                      "file_version": block.file_version}
            at = 14 + (8 if payload[0] & 0x01 else 0)
            if payload[0] & 0x02 and len(payload) >= at + 2:
                fields["minimum_block_period"] = int.from_bytes(payload[at:at + 2], "little")
            return "image_block", fields
        try:
            _, definition, command = parse_frame(zcl, Ota.server_commands)
        except ValueError:
            return f"command 0x{header.command_id:02X}", {"malformed": True}
        if definition.name == "query_next_image":
            hardware = command.hardware_version
            return "query_next_image", {"field_control": int(command.field_control),
                                        "current_file_version": int(command.current_file_version),
                                        "hardware_version": None if hardware is None else int(hardware)}
        if definition.name == "image_page":
            return "image_page", {"field_control": int(command.field_control), "offset": int(command.file_offset),
                                  "max_data_size": int(command.maximum_data_size),
                                  "page_size": int(command.page_size), "file_version": int(command.file_version)}
        if definition.name == "upgrade_end":
            return "upgrade_end", {"status": _status(command.status), "file_version": int(command.file_version)}
        return definition.name, {}
    if header.client_to_server:
        return None
    try:
        _, definition, command = parse_frame(zcl, Ota.client_commands)
    except ValueError:
        return None
    if definition.name == "Default_Response":
        return "default_response", {"command_id": int(command.command_id), "status": _status(command.status)}
    if definition.name == "image_block_response":
        status = _status(command.status)
        if status == "SUCCESS":
            return "image_block_response", {"status": status, "offset": int(command.file_offset),
                                            "size": len(command.image_data), "file_version": int(command.file_version)}
        if status == "WAIT_FOR_DATA":
            return "image_block_response", {"status": status, "wait": int(command.request_time) - int(
                command.current_time), "minimum_block_period": command.minimum_block_period}
        return "image_block_response", {"status": status}
    if definition.name == "query_next_image_response":
        status = _status(command.status)
        extra = {"file_version": int(command.file_version), "image_size": int(command.image_size)} \
            if status == "SUCCESS" else {}
        return "query_next_image_response", {"status": status, **extra}
    if definition.name == "upgrade_end_response":
        return "upgrade_end_response", {"file_version": int(command.file_version),
                                        "upgrade_time": int(command.upgrade_time)}
    if definition.name == "image_notify":
        return "image_notify", {"file_version": getattr(command, "new_file_version", None)}
    return definition.name, {}


class FrameLog:
    """The DUT's OTA frames as the hub saw them. `attach` it to a hub (again after a hub restart: the bench then has
    a new `Hub`)."""

    def __init__(self, dut: t.EUI64, clock: Callable[[], float]) -> None:
        self.dut = dut
        self.clock = clock
        self.seen: list[Seen] = []
        self._hubs: list[Any] = []

    def attach(self, hub: Any) -> None:
        if any(known is hub for known in self._hubs):
            return
        observers = getattr(hub, "frame_observers", None)
        if observers is None:
            return
        observers.append(self._observe)
        self._hubs.append(hub)

    def detach(self) -> None:
        for hub in self._hubs:
            if self._observe in hub.frame_observers:
                hub.frame_observers.remove(self._observe)
        self._hubs = []

    @property
    def watching(self) -> bool:
        return bool(self._hubs)

    def _observe(self, direction: str, frame: IncomingFrame | OutgoingFrame) -> None:
        eui64 = frame.source if isinstance(frame, IncomingFrame) else frame.destination
        if eui64 != self.dut or frame.cluster != OTA_CLUSTER:
            return
        described = describe(direction, frame.zcl)
        if described is not None:
            self.seen.append(Seen(self.clock(), direction, *described))

    def mark(self) -> int:
        """An index to look from (`since`)."""
        return len(self.seen)

    def since(self, mark: int = 0, *names: str, direction: str | None = None) -> list[Seen]:
        return [seen for seen in self.seen[mark:] if (not names or seen.name in names)
                and (direction is None or seen.direction == direction)]

    def requests(self, mark: int = 0) -> list[Seen]:
        """The DUT's requests (queries, block and page requests, UpgradeEnds) since `mark`."""
        return self.since(mark, *REQUESTS, direction="rx")

    def transfer_requests(self, mark: int = 0, file_version: int | None = None) -> list[Seen]:
        return [seen for seen in self.since(mark, "image_block", "image_page", direction="rx")
                if file_version is None or seen.fields.get("file_version") == file_version]


def first(items: Iterable[Seen]) -> Seen | None:
    return next(iter(items), None)
