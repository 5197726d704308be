"""A radio-free GB hub for the simulated devices' Smart Energy session: the real OTA server, store and
`HanServer` (Key Establishment with credentials from a test CA), and in place of the NCP the parts a GB
device depends on — a Match_Desc answer from an SE endpoint that is not 3, a link key per device
(its join key, replaced by the CBKE key), APS security checked both ways, and APS fragments both ways."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.util import convert_install_code

from hubfw.cbke import CertificateAuthority, CryptoSuite, DeviceCredentials
from hubfw.cbke.cli import issue_credentials
from hubfw.clock import VirtualClock
from hubfw.flash.device import NorFlash
from hubfw.han import KeyEstablishmentServer, LinkKeyEstablished
from hubfw.han.events import HanEvent
from hubfw.han.server import HanServer
from hubfw.server import OtaServer, OtaServerConfig
from hubfw.sim.devices import OtaClientDevice, SimulatedAir
from hubfw.sim.devices.client import WELL_KNOWN_KEY
from hubfw.sim.devices.fragments import Reassembly, fragment
from hubfw.store.store import ImageStore
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame
from tests.sim.devices.rig import BENCH_FLASH, HUB_IEEE, MAX_IMAGE, DirectRadio, Hub

TRUSTED_ISSUER = t.EUI64.convert("48:55:42:46:53:49:4d:31")  # "HUBFSIM1"
FOREIGN_ISSUER = t.EUI64.convert("46:4f:52:45:49:47:4e:31")  # "FOREIGN1"
SE_ENDPOINT = 9
"""Deliberately not the hub's usual 3: the devices must discover it."""
KEY_ESTABLISHMENT = 0x0800
"""Smart Energy sends this cluster under network security only, even to a device that holds a CBKE key."""


class GbRadio(DirectRadio):
    """DirectRadio plus what an EZSP NCP does for GB devices (see the module docstring)."""

    def __init__(self, clock: VirtualClock, server: OtaServer, store: ImageStore, han: SimulatedAir,
                 han_server: HanServer) -> None:
        self.han_server = han_server
        self.keys: dict[t.EUI64, t.KeyData] = {}
        self.keyed: set[t.EUI64] = set()
        """Devices holding a CBKE key: every unicast to them (but Key Establishment) is APS-secured."""
        self.dropped: list[ApsFrame] = []
        self.events: list[HanEvent] = []
        self._reassembly = Reassembly()
        super().__init__(clock, server, store, han)

    def join(self, ieee: t.EUI64, nwk: t.NWK, install_code: bytes | None) -> bool:
        self.keys[ieee] = WELL_KNOWN_KEY if install_code is None else convert_install_code(install_code)
        return super().join(ieee, nwk, install_code)

    def receive(self, frame: ApsFrame) -> bool:
        self.uplinked.append(frame)
        if frame.aps_encrypted and frame.link_key != self.keys.get(frame.src_ieee):
            self.dropped.append(frame)
            return False
        whole = self._reassembly.add(frame)
        if whole is None:
            return True
        if whole.profile == 0 and whole.cluster == zdo_t.ZDOCmd.Match_Desc_req:
            self._answer_match_descriptor(whole)
            return True
        incoming = IncomingFrame(whole.src_ieee, whole.src_nwk, whole.profile, whole.src_ep, whole.dst_ep,
                                 whole.cluster, whole.payload, whole.aps_encrypted)
        if self.han_server.handles(incoming):
            self.send(self.han_server.handle(incoming))
            self._take_events()
        else:
            self.send(self.server.handle(incoming))
        return True

    def on_air(self, out: OutgoingFrame) -> list[ApsFrame]:
        secured = out.aps_encrypt or (out.destination in self.keyed and out.cluster != KEY_ESTABLISHMENT)
        [frame] = super().on_air(out)
        frame = dataclasses.replace(frame, aps_encrypted=secured,
                                    link_key=self.keys.get(out.destination) if secured else None)
        return fragment(frame)

    def step(self) -> None:
        super().step()
        self.send(self.han_server.tick())
        self._take_events()

    def next_deadline(self) -> float | None:
        times = [super().next_deadline(), self.han_server.next_deadline()]
        return min((time for time in times if time is not None), default=None)

    def _take_events(self) -> None:
        for event in self.han_server.take_events():
            self.events.append(event)
            if isinstance(event, LinkKeyEstablished):
                self.keys[event.eui64] = t.KeyData(event.key)
                self.keyed.add(event.eui64)

    def _answer_match_descriptor(self, request: ApsFrame) -> None:
        answer = bytes([request.payload[0], zdo_t.Status.SUCCESS, 0, 0, 1, SE_ENDPOINT])
        self.han.deliver(ApsFrame(HUB_IEEE, t.NWK(0), request.src_ieee, request.src_nwk, 0,
                                  zdo_t.ZDOCmd.Match_Desc_rsp, 0, 0, answer))


class TestCa:
    """One CA per suite, and the credentials it issues (valid from the epoch, never expiring)."""

    __test__ = False

    def __init__(self, issuer: t.EUI64 = TRUSTED_ISSUER) -> None:
        self.authorities = {suite: CertificateAuthority.generate(suite, issuer) for suite in CryptoSuite}

    def issue(self, subject: t.EUI64, suite: CryptoSuite = CryptoSuite.SUITE_2) -> DeviceCredentials:
        return issue_credentials(self.authorities[suite], subject, None, VirtualClock(0))


@dataclasses.dataclass
class GbHub(Hub):
    han_server: HanServer


def make_gb_hub(ca: TestCa, devices: Sequence[OtaClientDevice] = (), **server_config: Any) -> GbHub:
    clock = VirtualClock()
    store = ImageStore.open(NorFlash(BENCH_FLASH), clock, max_image_size=MAX_IMAGE)
    hub_credentials = {suite: ca.issue(HUB_IEEE, suite) for suite in CryptoSuite}
    key_establishment = KeyEstablishmentServer(hub_credentials, clock)
    han_server = HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=key_establishment,
                           image_waiting=lambda eui64: store.offer(eui64) is not None)
    server = OtaServer(store, clock, OtaServerConfig(server_endpoint=SE_ENDPOINT, **server_config),
                       tunnel_open=lambda eui64: han_server.tunnel_id(eui64) is not None)
    han = SimulatedAir(clock, devices)
    radio = GbRadio(clock, server, store, han, han_server)
    hub = GbHub(clock, store, server, han, radio, han_server)
    radio.step()  # devices join
    return hub
