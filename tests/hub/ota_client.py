"""A raw ZCL OTA Upgrade client on a test HAN: builds and parses every byte with struct, not zigpy,
so it checks the hub's frames independently of the schemas the hub itself uses."""

from __future__ import annotations

import asyncio
import collections
import struct
from dataclasses import dataclass, field
from typing import Any

import zigpy.types as t

from hubfw.radio.virtual import VIRTUAL_COORDINATOR_IEEE
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import SE_ENDPOINT

OTA_CLUSTER = 0x0019
CLIENT_TO_SERVER = 0x01  # cluster-specific, client to server, default response enabled
SERVER_TO_CLIENT = 0x08

IMAGE_NOTIFY, QUERY_NEXT_IMAGE, QUERY_NEXT_IMAGE_RESPONSE = 0x00, 0x01, 0x02
IMAGE_BLOCK, IMAGE_PAGE, IMAGE_BLOCK_RESPONSE, UPGRADE_END, UPGRADE_END_RESPONSE = 0x03, 0x04, 0x05, 0x06, 0x07
DEFAULT_RESPONSE = 0x0B
SUCCESS, ABORT, NO_IMAGE_AVAILABLE, WAIT_FOR_DATA = 0x00, 0x95, 0x98, 0x97


@dataclass
class Reply:
    """One OTA frame the hub sent this device, with its APS framing."""

    frame: ApsFrame
    frame_control: int
    tsn: int
    command: int
    body: bytes


@dataclass
class RawOtaClient:
    ieee: t.EUI64
    nwk: t.NWK
    profile: int
    manufacturer_code: int
    image_type: int
    current_version: int
    encrypted: bool
    endpoint: int = 1
    hub_endpoint: int = SE_ENDPOINT
    hardware_version: int = 1
    block_size: int = 64
    pause_at: int | None = None
    """Stop requesting once this many bytes are in (a device that loses power mid-download)."""
    answers_notify: bool = True
    page_size: int | None = None
    """Ask with ImagePageRequest for this many bytes at a time instead of one ImageBlockRequest per block."""
    response_spacing_ms: int = 2
    """False: a device that never reacts to ImageNotify (never starts downloading)."""

    uplink: Any = None
    """The hub's radio as devices see it: the virtual radio or a SimulatedNcp (`receive`, `join`)."""
    coordinator: t.EUI64 = VIRTUAL_COORDINATOR_IEEE
    replies: list[Reply] = field(default_factory=list)
    requests: dict[int, int] = field(default_factory=dict)  # tsn -> command sent
    image: bytearray = field(default_factory=bytearray)
    image_size: int | None = None
    offered_version: int | None = None
    finished: asyncio.Future | None = None
    paused: asyncio.Future | None = None
    _tsn: int = 0x40
    _page_end: int = 0

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.finished = loop.create_future()
        self.paused = loop.create_future()

    # ----- requests

    def query(self) -> None:
        body = struct.pack("<BHHIH", 0x01, self.manufacturer_code, self.image_type, self.current_version,
                           self.hardware_version)
        self._send(QUERY_NEXT_IMAGE, body)

    def request_block(self) -> None:
        body = struct.pack("<BHHIIB", 0x00, self.manufacturer_code, self.image_type, self.offered_version,
                           len(self.image), self.block_size)
        if self.page_size is None:
            self._send(IMAGE_BLOCK, body)
        else:
            self._page_end = min(len(self.image) + self.page_size, self.image_size)
            self._send(IMAGE_PAGE, body + struct.pack("<HH", self.page_size, self.response_spacing_ms))

    def resume(self) -> None:
        self.pause_at = None
        self.paused = asyncio.get_running_loop().create_future()
        self.request_block()

    def _send(self, command: int, body: bytes) -> None:
        self._tsn = (self._tsn + 1) % 256
        self.requests[self._tsn] = command
        zcl = bytes([CLIENT_TO_SERVER, self._tsn, command]) + body
        frame = ApsFrame(
            src_ieee=self.ieee, src_nwk=self.nwk, dst_ieee=self.coordinator,
            dst_nwk=t.NWK(0x0000), profile=self.profile, cluster=OTA_CLUSTER, src_ep=self.endpoint,
            dst_ep=self.hub_endpoint, payload=zcl, aps_encrypted=self.encrypted, aps_counter=self._tsn,
        )
        assert self.uplink is not None and self.uplink.receive(frame), "the hub's radio did not take the frame"

    # ----- what the hub sends

    def on_frame(self, frame: ApsFrame) -> None:
        fc, rest = frame.payload[0], frame.payload[1:]
        if fc & 0x04:
            rest = rest[2:]  # manufacturer code
        reply = Reply(frame, fc, rest[0], rest[1], rest[2:])
        self.replies.append(reply)
        if fc & 0x03 == 0x00:  # a global command: a Default Response ends nothing here
            return
        if reply.command == IMAGE_NOTIFY:
            if self.answers_notify:
                self.query()
        elif reply.command == QUERY_NEXT_IMAGE_RESPONSE:
            self._on_query_response(reply.body)
        elif reply.command == IMAGE_BLOCK_RESPONSE:
            self._on_block(reply.body)
        elif reply.command == UPGRADE_END_RESPONSE:
            self.finished.set_result(struct.unpack("<HHIII", reply.body))

    def _on_query_response(self, body: bytes) -> None:
        if body[0] != SUCCESS:
            self.finished.set_result(("no image", body[0]))
            return
        _, manufacturer, image_type, self.offered_version, self.image_size = struct.unpack("<BHHII", body)
        assert (manufacturer, image_type) == (self.manufacturer_code, self.image_type)
        self.request_block()

    def _on_block(self, body: bytes) -> None:
        if body[0] != SUCCESS:
            self.finished.set_result(("block refused", body[0]))
            return
        _, _, _, _, offset, length = struct.unpack("<BHHIIB", body[:14])
        data = body[14 : 14 + length]
        assert offset == len(self.image) and len(data) == length
        self.image += data
        if len(self.image) == self.image_size:
            self._send(UPGRADE_END, struct.pack("<BHHI", SUCCESS, self.manufacturer_code, self.image_type,
                                                self.offered_version))
        elif self.pause_at is not None and len(self.image) >= self.pause_at:
            self.paused.set_result(len(self.image))
        elif self.page_size is None or len(self.image) >= self._page_end:
            self.request_block()

    # ----- checks

    def replies_to(self, command: int) -> list[Reply]:
        """Replies answering requests of `command` (matched by TSN)."""
        return [reply for reply in self.replies if self.requests.get(reply.tsn) == command]


class OtaHan:
    """Test devices that answer only OTA: every other frame goes unacknowledged (no ZDO interview)."""

    def __init__(self) -> None:
        self.clients: dict[t.EUI64, RawOtaClient] = {}
        self.other_frames: list[ApsFrame] = []

    def add(self, client: RawOtaClient) -> RawOtaClient:
        self.clients[client.ieee] = client
        return client

    def deliver(self, frame: ApsFrame) -> bool:
        client = self.clients.get(frame.dst_ieee)
        if client is None or frame.cluster != OTA_CLUSTER:
            self.other_frames.append(frame)
            return False
        client.on_frame(frame)
        return True


def assert_answered_in_kind(client: RawOtaClient) -> None:
    """Each request got exactly one reply, with its TSN, profile, swapped endpoints and its APS security."""
    answered = collections.Counter(reply.tsn for reply in client.replies if reply.command != IMAGE_NOTIFY)
    assert set(answered) == set(client.requests)
    assert set(answered.values()) == {1}
    for reply in client.replies:
        if reply.command == IMAGE_NOTIFY:
            continue
        frame = reply.frame
        assert (frame.profile, frame.src_ep, frame.dst_ep) == (client.profile, client.hub_endpoint, client.endpoint)
        assert frame.aps_encrypted == client.encrypted
        assert reply.frame_control & 0x08, "a reply must travel server to client"
