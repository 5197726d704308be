"""A radio-free GB hub for the simulated devices' Smart Energy session: `HubCore` with its HAN servers (Key
Establishment with credentials from a test CA), and in place of the NCP the parts a GB device depends on — a Match_Desc answer from an SE endpoint that is not 3, a link key per device
(its join key, replaced by the CBKE key), APS security checked both ways, and APS fragments both ways."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.util import convert_install_code

from hubfw.cbke import CertificateAuthority, CryptoSuite, DeviceCredentials
from hubfw.cbke.issuing import issue_credentials
from hubfw.clock import VirtualClock
from hubfw.flash.device import NorFlash
from hubfw.han import KeyEstablishmentServer
from hubfw.han.events import HanEvent
from hubfw.han.server import HanServer
from hubfw.hub.core import CoreConfig, HanSetup, HubCore, KeyInstall
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.server import OtaServerConfig
from hubfw.sim.devices import OtaClientDevice, SimulatedAir
from hubfw.sim.devices.client import WELL_KNOWN_KEY
from hubfw.sim.devices.fragments import Reassembly, fragment
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame
from tests.sim.devices.rig import BENCH_FLASH, HUB_IEEE, MAX_IMAGE, DirectRadio, Rig

TRUSTED_ISSUER = t.EUI64.convert("48:55:42:46:53:49:4d:31")  # "HUBFSIM1"
FOREIGN_ISSUER = t.EUI64.convert("46:4f:52:45:49:47:4e:31")  # "FOREIGN1"
SE_ENDPOINT = 9
"""Deliberately not the hub's usual 3: the devices must discover it."""
KEY_ESTABLISHMENT = 0x0800
"""Smart Energy sends this cluster under network security only, even to a device that holds a CBKE key."""


class GbRadio(DirectRadio):
    """DirectRadio plus what an EZSP NCP does for GB devices (see the module docstring)."""

    def __init__(self, clock: VirtualClock, core: HubCore, han: SimulatedAir, events: list[HanEvent]) -> None:
        self.keys: dict[t.EUI64, t.KeyData] = {}
        self.keyed: set[t.EUI64] = set()
        """Devices holding a CBKE key: every unicast to them (but Key Establishment) is APS-secured."""
        self.dropped: list[ApsFrame] = []
        self.downlinked: list[OutgoingFrame] = []
        """Every frame the hub sent, whole, in the order it went on the air."""
        self.events = events
        """Every HAN event the core acted on, in order."""
        self._reassembly = Reassembly()
        super().__init__(clock, core, han)

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
        self.send(self.core.handle(incoming))
        return True

    def on_air(self, out: OutgoingFrame) -> list[ApsFrame]:
        self.downlinked.append(out)
        secured = out.aps_encrypt or (out.destination in self.keyed and out.cluster != KEY_ESTABLISHMENT)
        [frame] = super().on_air(out)
        frame = dataclasses.replace(frame, aps_encrypted=secured,
                                    link_key=self.keys.get(out.destination) if secured else None)
        return fragment(frame)

    def send(self, frames: Sequence[OutgoingFrame]) -> None:
        """Also the NCP's part of a new link key: install it at once, then send the frames that waited for it."""
        super().send(frames)
        for work in self.core.take_ncp_work():
            assert isinstance(work, KeyInstall)  # the host computes the key agreement: no CBKE library work
            for event in work.established:
                self.keys[event.eui64] = t.KeyData(event.key)
                self.keyed.add(event.eui64)
            super().send(self.core.keys_installed(work, {}))

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
class GbRig(Rig):
    radio: GbRadio

    @property
    def han_server(self) -> HanServer:
        return self.core.require_han().server


def make_gb_hub(ca: TestCa, devices: Sequence[OtaClientDevice] = (), **server_config: Any) -> GbRig:
    clock = VirtualClock()
    hub_credentials = {suite: ca.issue(HUB_IEEE, suite) for suite in CryptoSuite}
    han = HanSetup(KeyEstablishmentServer(hub_credentials, clock), LinkKeyRegistry(None))
    config = CoreConfig(OtaServerConfig(server_endpoint=SE_ENDPOINT, **server_config), max_image_size=MAX_IMAGE)
    events: list[HanEvent] = []
    core = HubCore.open(NorFlash(BENCH_FLASH), clock, config, han=han, observe_han=events.append)
    devices_air = SimulatedAir(clock, devices)
    radio = GbRadio(clock, core, devices_air, events)
    rig = GbRig(clock, core, devices_air, radio)
    radio.step()  # devices join
    return rig
