"""Test plumbing for the hub's SE endpoint: frames from a device, zigpy decoding of the answers, an 'air'
between a device's TunnelClient and the HanServer (a tunnel the device opens), and one between the HanServer
and a device's TunnelServer (a tunnel the hub opens)."""

from __future__ import annotations

from dataclasses import dataclass, field

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.devices import parse_eui64
from hubfw.han import HanServer, TunnelClient
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.zcl import parse
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

HUB = parse_eui64("00:0d:6f:00:00:00:00:01")
PPMID = parse_eui64("00:0d:6f:00:00:00:00:02")
OTHER_PPMID = parse_eui64("00:0d:6f:00:00:00:00:03")
SE_ENDPOINT = 0x7B
"""Not 1, as in the public CH emulator: devices must find the endpoint, and so must our replies."""
DEVICE_ENDPOINT = 0x02
JAN_2026 = 1_767_225_600.0
JULY_2026 = 1_783_036_800.0  # 2026-07-01T00:00:00Z

_RSP = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
_DEFAULT_RSP = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema


def received(frame: OutgoingFrame, source: t.EUI64) -> IncomingFrame:
    """What the other end's radio hands up when `source` sends `frame`."""
    return IncomingFrame(source, 0x1234, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster, frame.zcl,
                         frame.aps_encrypt)


def from_device(cluster: int, zcl: bytes, source: t.EUI64 = PPMID, *, encrypted: bool = True) -> IncomingFrame:
    return IncomingFrame(source, 0x1234, SMART_ENERGY_PROFILE, DEVICE_ENDPOINT, SE_ENDPOINT, cluster, zcl, encrypted)


def read_attributes(tsn: int, attribute_ids: list[int], *, client_attributes: bool = False) -> bytes:
    """Read Attributes as zigpy builds it; `client_attributes` reads the peer's client-side attributes."""
    direction = foundation.Direction.Server_to_Client if client_attributes else foundation.Direction.Client_to_Server
    header = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes, direction=direction)
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
    return header.serialize() + schema(attribute_ids=attribute_ids).serialize()


def header_of(frame: OutgoingFrame) -> tuple[foundation.ZCLHeader, bytes]:
    return foundation.ZCLHeader.deserialize(frame.zcl)


def read_response(frame: OutgoingFrame) -> dict[int, foundation.ReadAttributeRecord]:
    """The records of a Read Attributes Response, decoded by zigpy, by attribute id."""
    header, payload = header_of(frame)
    assert header.frame_control.is_general and header.command_id == foundation.GeneralCommand.Read_Attributes_rsp
    body, rest = _RSP.deserialize(payload)
    assert rest == b""
    return {int(record.attrid): record for record in body.status_records}


def default_response_status(frame: OutgoingFrame) -> foundation.Status | None:
    """The status of a Default Response, None for any other frame."""
    header, payload = header_of(frame)
    if not header.frame_control.is_general or header.command_id != foundation.GeneralCommand.Default_Response:
        return None
    body, _ = _DEFAULT_RSP.deserialize(payload)
    return body.status


@dataclass
class TunnelAir:
    """Carries frames between one device's TunnelClient and the hub until both fall quiet."""

    server: HanServer
    client: TunnelClient
    device: t.EUI64 = PPMID
    hub_frames: list[OutgoingFrame] = field(default_factory=list)
    device_frames: list[OutgoingFrame] = field(default_factory=list)

    def send(self, frames: list[OutgoingFrame]) -> None:
        """Deliver device frames to the hub and everything that follows."""
        pending = [(frame, True) for frame in frames]
        while pending:
            frame, to_hub = pending.pop(0)
            if to_hub:
                self.device_frames.append(frame)
                replies = self.server.handle(received(frame, self.device))
                pending.extend((reply, False) for reply in replies)
            else:
                self.hub_frames.append(frame)
                assert frame.destination == self.device
                pending.extend((reply, True) for reply in self.client.handle(received(frame, HUB)))

    def deliver_to_device(self, frames: list[OutgoingFrame]) -> None:
        """Deliver hub frames (from send_gbcs or tick) to the device, and its answers back."""
        for frame in frames:
            self.hub_frames.append(frame)
            self.send(self.client.handle(received(frame, HUB)))

    def open(self) -> None:
        self.send([self.client.request()])
        assert self.client.is_open


@dataclass
class HubTunnelAir:
    """Carries frames between the hub's HanServer, as the Tunneling client of the tunnel it requests, and a
    device's Tunneling server (an ESME, HCALCS or PPMID), until both fall quiet. While `silent` the device
    hears nothing."""

    hub: HanServer
    device_server: TunnelServer
    device: t.EUI64 = PPMID
    silent: bool = False
    to_device: list[OutgoingFrame] = field(default_factory=list)
    to_hub: list[OutgoingFrame] = field(default_factory=list)

    def deliver(self, frames: list[OutgoingFrame]) -> None:
        """Deliver hub frames to the device, and everything that follows both ways."""
        pending = [(frame, True) for frame in frames]
        while pending:
            frame, to_device = pending.pop(0)
            if to_device:
                assert frame.destination == self.device
                self.to_device.append(frame)
                request = None if self.silent else parse(received(frame, HUB))
                if request is not None and request.header.client_to_server and not request.header.is_general:
                    pending.extend((reply, False) for reply in self.device_server.handle(request))
            else:
                self.to_hub.append(frame)
                pending.extend((reply, True) for reply in self.hub.handle(received(frame, self.device)))

    def from_device(self, frames: list[OutgoingFrame]) -> None:
        """Deliver device frames (from its server's send or tick) to the hub, and what follows."""
        for frame in frames:
            self.to_hub.append(frame)
            self.deliver(self.hub.handle(received(frame, self.device)))
