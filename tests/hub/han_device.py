"""A scripted Smart Energy device for the hub's HAN tests: it runs CBKE with `KeyEstablishmentClient`, a GBCS
tunnel with `TunnelClient` (a tunnel it opens, as a GSME does) or, with `serves_tunnel`, with a `TunnelServer` that
accepts the hub's RequestTunnel (as an ESME, HCALCS or PPMID does), keeps the APS link key it holds (install-code key, then the CBKE key) and
records every other frame the hub sends it. It joins either radio (`SimulatedNcp` or the virtual radio)
through their device side, `receive` and `join`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import zigpy.types as t
import zigpy.util

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.clock import Clock
from hubfw.han import GbcsMessageReceived, HanConfig, KeyEstablishmentClient, LinkKeyEstablished
from hubfw.han.tunneling.client import TunnelClient
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.zcl import parse
from hubfw.sim.devices.fragments import Reassembly, fragment
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import KEY_ESTABLISHMENT_CLUSTER, SE_ENDPOINT, SMART_ENERGY_PROFILE, TUNNELING_CLUSTER

INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
DEVICE_ENDPOINT = 1


@dataclass
class HanDevice:
    ieee: t.EUI64
    nwk: t.NWK
    credentials: DeviceCredentials
    hub: t.EUI64
    clock: Clock
    uplink: Any = None
    """The hub's radio as a device sees it (`receive`, `join`)."""
    link_key: t.KeyData = field(default_factory=lambda: zigpy.util.convert_install_code(INSTALL_CODE))
    received: list[ApsFrame] = field(default_factory=list)
    """Every whole frame from the hub outside Key Establishment and Tunneling, as it arrived."""
    fragments: list[ApsFrame] = field(default_factory=list)
    """Every APS fragment the hub sent."""
    gbcs_messages: list[bytes] = field(default_factory=list)
    """Every whole GBCS message the hub sent through the tunnel."""
    tamper_confirm_mac: bool = False
    """Send a Confirm Key MAC with one bit flipped (the hub must answer BAD_KEY_CONFIRM)."""
    serves_tunnel: bool = False
    """Be the Tunneling server of the tunnel the hub requests (GBCS messages without a tunnel header)."""

    def __post_init__(self) -> None:
        self.ke = KeyEstablishmentClient(
            self.credentials, self.hub, self.clock, endpoint=DEVICE_ENDPOINT, hub_endpoint=SE_ENDPOINT
        )
        self.tunnel = TunnelClient(self.hub, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT)
        self.tunnel_server = TunnelServer(self.clock, HanConfig(), lambda eui64: eui64 == self.hub, headers=False)
        self._reassembly = Reassembly()
        self._counter = 0

    # ----- what the device sends

    def join(self) -> bool:
        return self.uplink.join(self.ieee, self.nwk, INSTALL_CODE)

    def start_key_establishment(self) -> None:
        self.send(self.ke.start())

    def open_tunnel(self) -> None:
        self.send([self.tunnel.request()])

    def send(self, frames: list[OutgoingFrame]) -> None:
        for out in frames:
            if out.cluster == KEY_ESTABLISHMENT_CLUSTER and self.tamper_confirm_mac and out.zcl[2] == 0x02:
                out = replace(out, zcl=out.zcl[:-1] + bytes([out.zcl[-1] ^ 0x01]))
            self._counter = (self._counter + 1) % 256
            whole = ApsFrame(
                src_ieee=self.ieee, src_nwk=self.nwk, dst_ieee=self.hub, dst_nwk=t.NWK(0x0000), profile=out.profile,
                cluster=out.cluster, src_ep=out.src_ep, dst_ep=out.dst_ep, payload=out.zcl,
                aps_encrypted=out.aps_encrypt, aps_counter=self._counter,
                link_key=self.link_key if out.aps_encrypt else None,
            )
            for part in fragment(whole):
                assert self.uplink.receive(part), f"the hub's radio did not take {part}"

    def raw(self, profile: int, cluster: int, zcl: bytes, *, encrypted: bool) -> None:
        """Any ZCL frame to the hub's SE endpoint."""
        self.send([OutgoingFrame(self.hub, profile, DEVICE_ENDPOINT, SE_ENDPOINT, cluster, zcl, encrypted)])

    # ----- what the hub sends

    def deliver(self, frame: ApsFrame) -> bool:
        if frame.dst_ieee != self.ieee:
            return False
        if frame.aps_encrypted and frame.link_key not in (None, self.link_key):
            return False  # secured with a key we do not hold: no APS ACK
        if frame.fragment is not None:
            self.fragments.append(frame)
        whole = self._reassembly.add(frame)
        if whole is None:
            return True
        incoming = IncomingFrame(
            whole.src_ieee, int(whole.src_nwk), whole.profile, whole.src_ep, whole.dst_ep, whole.cluster,
            whole.payload, whole.aps_encrypted,
        )
        if whole.cluster == KEY_ESTABLISHMENT_CLUSTER and whole.profile == SMART_ENERGY_PROFILE:
            replies = self.ke.handle(incoming)
            if isinstance(self.ke.outcome, LinkKeyEstablished):
                self.link_key = t.KeyData(self.ke.outcome.key)
            self.send(replies)
        elif whole.cluster == TUNNELING_CLUSTER and whole.profile == SMART_ENERGY_PROFILE:
            request = parse(incoming)
            if self.serves_tunnel and request is not None and request.header.client_to_server:
                if not request.header.is_general:
                    self.send(self.tunnel_server.handle(request))
                self.gbcs_messages += [event.message for event in self.tunnel_server.take_events()
                                       if isinstance(event, GbcsMessageReceived)]
                return True
            self.send(self.tunnel.handle(incoming))
            self.gbcs_messages += self.tunnel.take_messages()
        else:
            self.received.append(whole)
        return True


class DeviceAir:
    """The HAN behind the radio: the scripted devices, by EUI-64."""

    def __init__(self) -> None:
        self.devices: dict[t.EUI64, HanDevice] = {}

    def add(self, device: HanDevice) -> HanDevice:
        self.devices[device.ieee] = device
        return device

    def deliver(self, frame: ApsFrame) -> bool:
        device = self.devices.get(frame.dst_ieee)
        return device is not None and device.deliver(frame)
