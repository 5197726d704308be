"""The benchmark's OTA client: one lean ZCL OTA Upgrade client, the same for every server measured.

It is deliberately cheap (frames packed and unpacked with `struct`, no logging, no timers but the
WAIT_FOR_DATA back-off) so that a download's cost is the server's and the radio's, not the client's.
It sits on the HAN side of a radio: `BenchAir` is the `Air` the hub's radio delivers to, and a client
answers through the radio's `receive`, as `hubfw.sim.devices` does. Each answer is sent on the next
event-loop iteration, as a device answers only after the radio's send returned. The SHA-256 of what
arrived is checked at the end, so a server cannot look fast by serving the wrong bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass, field

import zigpy.types as t

from hubfw.sim.devices.medium import AirUplink
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import OTA_CLUSTER

COORDINATOR_NWK = t.NWK(0x0000)
BROADCAST_IEEE = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
BROADCAST_NWK_FLOOR = 0xFFF8
MAX_DATA_SIZE = 0xFF
"""What the client asks for in every ImageBlockRequest; the server decides what fits."""

_CLIENT_TO_SERVER = 0x01  # cluster-specific command, client to server
_SERVER_TO_CLIENT = 0x08
_MANUFACTURER_SPECIFIC = 0x04
_CLUSTER_SPECIFIC = 0x01
_IMAGE_NOTIFY, _QUERY_NEXT_IMAGE, _QUERY_RESPONSE = 0x00, 0x01, 0x02
_IMAGE_BLOCK, _IMAGE_BLOCK_RESPONSE, _UPGRADE_END, _UPGRADE_END_RESPONSE = 0x03, 0x05, 0x06, 0x07
_SUCCESS, _WAIT_FOR_DATA = 0x00, 0x97

_QUERY = struct.Struct("<BBBBHHI")  # fc, tsn, cmd, field control, manufacturer, image type, version
_BLOCK_REQUEST = struct.Struct("<BBBBHHIIB")  # ... field control, mfr, type, version, offset, max size
_END_REQUEST = struct.Struct("<BBBBHHI")  # fc, tsn, cmd, status, mfr, type, version
_OFFER = struct.Struct("<HHII")  # mfr, type, version, image size
_BLOCK_HEAD = struct.Struct("<HHIIB")  # mfr, type, version, offset, data size
_WAIT = struct.Struct("<IIH")  # current time, request time, minimum block period


class DownloadError(RuntimeError):
    """The server answered the benchmark client with something a download cannot continue from."""


@dataclass
class BenchOtaClient:
    """Downloads whatever it is offered, then reports UpgradeEnd SUCCESS; `finished` resolves then."""

    ieee: t.EUI64
    nwk: t.NWK
    profile: int
    aps_encrypted: bool
    manufacturer_code: int
    image_type: int
    current_version: int
    endpoint: int = 1
    uplink: AirUplink | None = None
    blocks: int = 0
    block_sizes: set[int] = field(default_factory=set)
    received: int = 0
    finished: asyncio.Future[None] | None = None
    """Resolves at the UpgradeEndResponse; fails if the image received is not the image offered in full."""
    expected_sha256: bytes | None = None
    _received_hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _server: tuple[t.EUI64, int] = (BROADCAST_IEEE, 1)
    _tsn: int = 0
    _offer: tuple[int, int, int, int] | None = None

    def start(self, expected_sha256: bytes) -> asyncio.Future[None]:
        """Arm for one download of the file with this SHA-256: counters cleared, `finished` fresh."""
        self.expected_sha256 = expected_sha256
        self._received_hash = hashlib.sha256()
        self.blocks = self.received = 0
        self.block_sizes = set()
        self._offer = None
        self.finished = asyncio.get_running_loop().create_future()
        return self.finished

    def join(self) -> bool:
        assert self.uplink is not None
        return bool(self.uplink.join(self.ieee, self.nwk, None))

    def query(self) -> None:
        """Ask for an image without waiting for an ImageNotify."""
        self._send(_QUERY.pack(_CLIENT_TO_SERVER, self._next_tsn(), _QUERY_NEXT_IMAGE, 0, self.manufacturer_code,
                               self.image_type, self.current_version))

    # ----- the HAN side: what the radio hands this device

    def hear(self, frame: ApsFrame) -> None:
        """A frame the radio addressed to this device; it is acted on at the next loop iteration."""
        if frame.cluster == OTA_CLUSTER:
            self._server = (frame.src_ieee, frame.src_ep)
            asyncio.get_running_loop().call_soon(self._on_zcl, frame.payload)

    def _on_zcl(self, zcl: bytes) -> None:
        control, command = zcl[0], zcl[2]
        if control & _CLUSTER_SPECIFIC != _CLUSTER_SPECIFIC or not control & _SERVER_TO_CLIENT:
            return  # Default Responses and attribute reads are not part of a download
        body = zcl[5:] if control & _MANUFACTURER_SPECIFIC else zcl[3:]
        if command == _IMAGE_NOTIFY:
            self.query()
        elif command == _QUERY_RESPONSE:
            self._on_offer(body)
        elif command == _IMAGE_BLOCK_RESPONSE:
            self._on_block(body)
        elif command == _UPGRADE_END_RESPONSE and self.finished is not None and not self.finished.done():
            self._on_end()

    def _on_offer(self, body: bytes) -> None:
        if body[0] != _SUCCESS:
            self._fail(f"QueryNextImageResponse status 0x{body[0]:02X}")
            return
        self._offer = _OFFER.unpack_from(body, 1)
        self._request_block(0)

    def _on_block(self, body: bytes) -> None:
        if self._offer is None:
            return
        status = body[0]
        if status == _WAIT_FOR_DATA:
            current, request, _ = _WAIT.unpack_from(body, 1)
            delay = request - current if current else request
            asyncio.get_running_loop().call_later(max(0, delay), self._request_block, self.received)
            return
        if status != _SUCCESS:
            self._fail(f"ImageBlockResponse status 0x{status:02X} at offset {self.received}")
            return
        _, _, _, offset, size = _BLOCK_HEAD.unpack_from(body, 1)
        if offset != self.received:
            return  # a late duplicate
        self.received += size
        self._received_hash.update(body[1 + _BLOCK_HEAD.size: 1 + _BLOCK_HEAD.size + size])
        self.blocks += 1
        self.block_sizes.add(size)
        if self.received < self._offer[3]:
            self._request_block(self.received)
        else:
            manufacturer, image_type, version, _ = self._offer
            self._send(_END_REQUEST.pack(_CLIENT_TO_SERVER, self._next_tsn(), _UPGRADE_END, _SUCCESS, manufacturer,
                                         image_type, version))

    def _on_end(self) -> None:
        assert self.finished is not None
        if self._received_hash.digest() != self.expected_sha256:
            self._fail(f"the {self.received} bytes received are not the image")
            return
        if self._offer is not None:
            self.current_version = self._offer[2]
        self.finished.set_result(None)

    def _request_block(self, offset: int) -> None:
        assert self._offer is not None
        manufacturer, image_type, version, _ = self._offer
        self._send(_BLOCK_REQUEST.pack(_CLIENT_TO_SERVER, self._next_tsn(), _IMAGE_BLOCK, 0, manufacturer, image_type,
                                       version, offset, MAX_DATA_SIZE))

    def _send(self, zcl: bytes) -> None:
        assert self.uplink is not None
        self.uplink.receive(ApsFrame(
            src_ieee=self.ieee, src_nwk=self.nwk, dst_ieee=self._server[0], dst_nwk=COORDINATOR_NWK,
            profile=self.profile, cluster=OTA_CLUSTER, src_ep=self.endpoint, dst_ep=self._server[1], payload=zcl, aps_encrypted=self.aps_encrypted, aps_counter=self._tsn,
        ))

    def _fail(self, why: str) -> None:
        if self.finished is not None and not self.finished.done():
            self.finished.set_exception(DownloadError(f"{self.ieee}: {why}"))

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn


class BenchAir:
    """The benchmark clients on the air: implements `hubfw.radio.air.Air` for the hub's radio."""

    def __init__(self, clients: list[BenchOtaClient]) -> None:
        self.clients = {client.ieee: client for client in clients}

    def attach(self, uplink: AirUplink) -> None:
        for client in self.clients.values():
            client.uplink = uplink

    def deliver(self, frame: ApsFrame) -> bool:
        """Unicasts reach their client (False, i.e. no APS ACK, for nobody); broadcasts are not used here."""
        client = self.clients.get(frame.dst_ieee)
        if client is None:
            return frame.dst_nwk >= BROADCAST_NWK_FLOOR
        client.hear(frame)
        return True
