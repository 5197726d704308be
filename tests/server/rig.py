"""Test double and client side for the OTA server tests.

FakeStore is a faithful in-memory stand-in for hubfw.store's server-facing API; Bench talks ZCL to the
server the way an OTA client would, building and parsing frames with zigpy's own schemas.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse, activation_alert, transfer_alert
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.store.errors import ActivationRejected
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER, SMART_ENERGY_PROFILE

MANUFACTURER = 0x1234
IMAGE_TYPE = 0x0201
NEW_VERSION = 0x00000020
OLD_VERSION = 0x00000010
PPMID = parse_eui64("00:0d:6f:00:00:00:00:01")
ESME = parse_eui64("00:0d:6f:00:00:00:00:02")
CLIENT_EP, HUB_EP = 2, 1


@dataclass(frozen=True)
class FakeImage:
    image_id: int
    device_type: DeviceType
    manufacturer_code: int
    image_type: int
    file_version: int
    total_size: int
    min_hw_version: int | None
    max_hw_version: int | None
    manufacturer_image_sha256: bytes
    data: bytes


@dataclass(frozen=True)
class FakeCompleted:
    image_id: int
    device_type: DeviceType
    file_version: int
    manufacturer_image_sha256: bytes


@dataclass
class FakeStore:
    """The store API the server codes against: targets, terminal outcomes and the alert journal."""

    clock: VirtualClock
    images: dict[int, FakeImage] = field(default_factory=dict)
    targets: dict[t.EUI64, int] = field(default_factory=dict)  # non-terminal: eui -> image id
    alerts: list[TransferAlert] = field(default_factory=list)
    progress: list[tuple[t.EUI64, int, int]] = field(default_factory=list)
    queries: list[tuple[t.EUI64, int, int | None]] = field(default_factory=list)
    completed: dict[t.EUI64, FakeCompleted] = field(default_factory=dict)

    def add_image(self, device_type: DeviceType, targets: list[t.EUI64], size: int = 1000, **fields) -> FakeImage:
        image_id = len(self.images) + 1
        data = random.Random(image_id).randbytes(size)
        image = FakeImage(
            image_id=image_id,
            device_type=device_type,
            manufacturer_code=fields.get("manufacturer_code", MANUFACTURER),
            image_type=fields.get("image_type", IMAGE_TYPE),
            file_version=fields.get("file_version", NEW_VERSION),
            total_size=size,
            min_hw_version=fields.get("min_hw_version"),
            max_hw_version=fields.get("max_hw_version"),
            manufacturer_image_sha256=hashlib.sha256(data).digest(),
            data=data,
        )
        self.images[image_id] = image
        self.targets.update({eui64: image_id for eui64 in targets})
        return image

    def discard(self, eui64: t.EUI64) -> None:
        self._terminal(eui64, self.targets[eui64], TransferResponse.IMAGE_DISCARDED)

    # --- the API
    def offer(self, eui64):
        image_id = self.targets.get(eui64)
        return None if image_id is None else self.images[image_id]

    def read(self, image_id, offset, length):
        assert length > 0 and offset + length <= self.images[image_id].total_size, (offset, length)
        return self.images[image_id].data[offset : offset + length]

    def note_query(self, eui64, image_id, hardware_version):
        self.queries.append((eui64, image_id, hardware_version))
        image = self.images[image_id]
        if hardware_version is None or image.min_hw_version is None or image.max_hw_version is None:
            return True
        if image.min_hw_version <= hardware_version <= image.max_hw_version:
            return True
        self._terminal(eui64, image_id, TransferResponse.HARDWARE_VERSION_MISMATCH)
        return False

    def note_progress(self, eui64, image_id, offset):
        assert self.targets.get(eui64) == image_id
        self.progress.append((eui64, image_id, offset))

    def note_end(self, eui64, image_id, status):
        response = TransferResponse.SUCCESS if status == 0 else TransferResponse.FILE_TRANSFER_FAILURE
        self._terminal(eui64, image_id, response)
        if response is TransferResponse.SUCCESS:
            image = self.images[image_id]
            self.completed[eui64] = FakeCompleted(
                image_id, image.device_type, image.file_version, image.manufacturer_image_sha256
            )

    def note_activation(self, eui64, firmware_version, *, source="hub", outcome=ActivationOutcome.SUCCESS,
                        message=None, time=None):
        for alert in self.alerts:  # a repeat of an owed activation is the same alert (the first message kept)
            if alert.code is AlertCode.ACTIVATION and (alert.entity, alert.firmware_version) == (eui64, firmware_version):
                return alert
        when = self.clock.now() if time is None else time
        alert = replace(activation_alert(len(self.alerts) + 1, eui64, firmware_version, when, outcome),
                        source=source, counter=len(self.alerts) + 1, message=message)
        self.alerts.append(alert)
        return alert

    def completed_transfer(self, eui64):
        return self.completed.get(eui64)

    def check_activation(self, eui64, manufacturer_image_sha256):
        completed = self.completed.get(eui64)
        if completed is None or completed.manufacturer_image_sha256 != manufacturer_image_sha256:
            raise ActivationRejected(f"{eui64}: no completed transfer of that Manufacturer Image")
        return completed

    def _terminal(self, eui64, image_id, response):
        assert self.targets.pop(eui64) == image_id, "a target reaches exactly one terminal state"
        image = self.images[image_id]
        alert = transfer_alert(len(self.alerts) + 1, eui64, image.file_version, response, self.clock.now())
        self.alerts.append(replace(alert, counter=len(self.alerts) + 1))


def decode(frame: OutgoingFrame) -> tuple[foundation.ZCLHeader, object]:
    """Parse a server frame as a client would: cluster commands by id, or a Default Response."""
    assert frame.cluster == OTA_CLUSTER
    header, payload = foundation.ZCLHeader.deserialize(frame.zcl)
    assert header.direction == foundation.Direction.Server_to_Client
    if header.frame_control.is_general:
        schema = foundation.GENERAL_COMMANDS[header.command_id].schema
    else:
        schema = Ota.client_commands[header.command_id].schema
    command, rest = schema.deserialize(payload)
    assert rest == b""
    return header, command


@dataclass
class Bench:
    clock: VirtualClock
    store: FakeStore
    server: OtaServer
    tsn: int = 0

    def request(self, name: str, source: t.EUI64 = PPMID, encrypted: bool = True, **fields) -> list[OutgoingFrame]:
        """Send a client-to-server OTA command built by zigpy's schema."""
        command = getattr(Ota.ServerCommandDefs, name)
        return self.raw(command.id, command.schema(**fields).serialize(), source, encrypted)

    def raw(self, command_id: int, payload: bytes, source: t.EUI64 = PPMID, encrypted: bool = True,
            manufacturer: int | None = None) -> list[OutgoingFrame]:
        self.tsn = (self.tsn + 1) % 256
        header = foundation.ZCLHeader.cluster(self.tsn, command_id, manufacturer=manufacturer)
        return self.server.handle(self.frame(header.serialize() + payload, source, encrypted))

    def frame(self, zcl: bytes, source: t.EUI64 = PPMID, encrypted: bool = True) -> IncomingFrame:
        return IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, CLIENT_EP, HUB_EP, OTA_CLUSTER, zcl, encrypted)

    def one(self, frames: list[OutgoingFrame]):
        assert len(frames) == 1, frames
        header, command = decode(frames[0])
        return header, command

    def query(self, source: t.EUI64 = PPMID, version: int = OLD_VERSION, hardware: int | None = None, **kw):
        control = Ota.QueryNextImageCommand.FieldControl(0 if hardware is None else 1)
        return self.request(
            "query_next_image", source, field_control=control,
            manufacturer_code=kw.get("manufacturer_code", MANUFACTURER), image_type=kw.get("image_type", IMAGE_TYPE),
            current_file_version=version, hardware_version=hardware,
        )

    def block(self, offset: int, source: t.EUI64 = PPMID, max_size: int = 0xFF, version: int = NEW_VERSION, **kw):
        return self.request(
            "image_block", source, kw.pop("encrypted", True), field_control=kw.pop("field_control", 0),
            manufacturer_code=kw.pop("manufacturer_code", MANUFACTURER), image_type=kw.pop("image_type", IMAGE_TYPE),
            file_version=version, file_offset=offset, maximum_data_size=max_size, **kw,
        )

    def end(self, status: foundation.Status = foundation.Status.SUCCESS, source: t.EUI64 = PPMID,
            version: int = NEW_VERSION):
        return self.request(
            "upgrade_end", source, status=status, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
            file_version=version,
        )


def make_bench(tunnels: frozenset[t.EUI64] = frozenset(), **config) -> Bench:
    """A server on a fake store; `tunnels` are the devices with an open GBCS tunnel."""
    clock = VirtualClock()
    store = FakeStore(clock)
    server = OtaServer(store, clock, OtaServerConfig(**config), random.Random(7), tunnel_open=tunnels.__contains__)
    return Bench(clock, store, server)
