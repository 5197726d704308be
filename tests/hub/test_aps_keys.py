"""The hub asks the NCP to APS-encrypt only what real firmware can secure for the device.

A real EmberZNet NCP formed by bellows secures a host's APS-encrypted frame with the device's key-table entry,
else with the trust-centre link key hashed from bellows' random root, which a Smart Energy device never learns;
the install-code key the device joined with is a transient key the stack never secures a host's frame with,
gone 300 s after it was added (`hubfw.sim.ncp.keys`). So until CBKE puts a key in the key table, an
APS-encrypted frame to a GB device is one it cannot authenticate. The simulated NCP here records every send the
host asks to APS-encrypt, with the key the stack secures it with and the key the device holds at that moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bellows.types as bt
import pytest_asyncio
import zigpy.types as t

from hubfw.cbke import CryptoSuite
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.issuing import issue_credentials
from hubfw.devices import DeviceType
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.hub.service import HubConfig
from hubfw.sim.devices import SessionState, gb_session, install_code_for, ppmid
from hubfw.sim.ncp import SimulatedNcp
from hubfw.sim.ncp.stack import EmberStack
from hubfw.sim.world import SimulatedWorld
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui, ota_file

IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION,
            "query_interval": None}
FOREIGN_ISSUER = t.EUI64.convert("46:4f:52:45:49:47:4e:31")
DAY = 86_400.0


@dataclasses.dataclass(frozen=True)
class EncryptedSend:
    """One sendUnicast or sendReply the host asked to APS-encrypt, as the stack and the device stood."""

    command: str
    nwk: int
    ieee: t.EUI64 | None
    key_table_entry: t.KeyData | None
    secured_with: t.KeyData | None
    """What the stack secures it with (`EmberStack.link_key_for`); None: it cannot encrypt at all."""
    device_key: t.KeyData | None
    """The key the device holds for the hub right then."""

    @property
    def securable(self) -> bool:
        """Real firmware secures it under a key the device holds: its key-table entry."""
        return self.key_table_entry is not None and self.secured_with == self.device_key


class EncryptionAudit:
    """Wraps a simulated NCP's stack: every APS-encrypted send request the host makes is recorded before the
    stack answers it."""

    def __init__(self, ncp: SimulatedNcp, device_key: Any) -> None:
        self.sends: list[EncryptedSend] = []
        self._stack: EmberStack = ncp.stack
        self._device_key = device_key
        answer = self._stack.handle

        def handle(name: str, request: dict[str, Any]) -> dict[str, Any]:
            self._record(name, request)
            return answer(name, request)

        self._stack.handle = handle  # type: ignore[method-assign]

    def _record(self, name: str, request: dict[str, Any]) -> None:
        if name == "sendUnicast":
            nwk = request["nwk" if "nwk" in request else "indexOrDestination"]
            aps = request["aps_frame" if "aps_frame" in request else "apsFrame"]
        elif name == "sendReply":
            nwk, aps = request["sender"], request["apsFrame"]
        else:
            return
        if bt.EmberApsOption.APS_OPTION_ENCRYPTION not in aps.options:
            return
        if bt.EmberApsOption.APS_OPTION_FRAGMENT in aps.options and aps.groupId >> 8 == 0xFF:
            return  # a fragment acknowledgement: the NCP keeps it (its APS ACK went already)
        ieee = self._stack.tokens.ieee_for(nwk)
        self.sends.append(EncryptedSend(
            name, int(nwk), ieee, None if ieee is None else self._stack.tokens.table_key_for(ieee),
            None if ieee is None else self._stack.link_key_for(ieee),
            None if ieee is None else self._device_key(ieee)))

    def unsecurable(self) -> list[EncryptedSend]:
        return [send for send in self.sends if not send.securable]


@pytest_asyncio.fixture
async def audited(tmp_path: Path) -> AsyncIterator[tuple[SimulatedWorld, EncryptionAudit]]:
    """A hub that runs CBKE (as on `--radio sim`), on bellows and an auditing simulated NCP."""
    world = SimulatedWorld(tmp_path, config=HubConfig(max_image_size=64 * 1024), cbke=True)
    audit = EncryptionAudit(world.ncp, lambda ieee: world.han.device(ieee).link_key)
    async with world:
        yield world, audit


async def test_the_hub_never_asks_the_ncp_to_aps_encrypt_what_real_firmware_could_not_secure(audited) -> None:
    world, audit = audited
    keyed = ppmid(eui(1), 0x5001, install_code=install_code_for(eui(1)),
                  gb=world.gb_session(eui(1), DeviceType.PPMID), **IDENTITY)
    foreign_ca = CertificateAuthority.generate(CryptoSuite.SUITE_2, FOREIGN_ISSUER)
    refused = ppmid(eui(2), 0x5002, install_code=install_code_for(eui(2)),
                    gb=gb_session(DeviceType.PPMID, issue_credentials(foreign_ca, eui(2), None, world.clock)),
                    **IDENTITY)
    await world.add(keyed, refused)
    assert keyed.gb.state is SessionState.SECURED and refused.gb.state is SessionState.UNSECURED

    # Smart Energy traffic to both: an image, and a GBCS message through the keyed device's tunnel
    world.hub.distribute(ota_file(3000), [keyed.ieee, refused.ieee], DeviceType.PPMID)
    await world.run_until(lambda: keyed.gb.tunnel_open, DAY)
    message = general_signing(CraFlag.COMMAND, 7, bytes(8), bytes(keyed.ieee)[::-1], 0x0001, bytes(range(200)))
    world.hub.send_gbcs(keyed.ieee, message)
    await world.run_until(lambda: keyed.gb.gbcs_received == [message] and len(keyed.download) > 0, DAY)
    await world.run_for(600)

    assert audit.unsecurable() == []
    assert {send.ieee for send in audit.sends} == {keyed.ieee}  # the keyed device's traffic, all of it
    assert any(send.command == "sendUnicast" for send in audit.sends)
    # the refused device was told of the image under network security only, which a GB device ignores
    assert "dropped a frame without APS encryption" in refused.notes() and refused.download == b""
    assert world.ncp.stats.dropped_frames["no_link_key"] == 0


async def test_the_audit_catches_an_encrypted_send_before_cbke(audited) -> None:
    """The audit itself: a host asking bellows for APS encryption to a device that only joined is caught."""
    world, audit = audited
    device = ppmid(eui(3), 0x5003, install_code=install_code_for(eui(3)), gb=gb_session(DeviceType.PPMID, None),
                   **IDENTITY)  # never does CBKE
    await world.add(device)
    zigpy_device = world.hub.app.get_device(ieee=device.ieee)
    try:
        await world.hub.app._ezsp.send_unicast(  # type: ignore[attr-defined]
            nwk=zigpy_device.nwk, message_tag=0x42, data=b"\x01\x00\x00\x00\x00",
            aps_frame=bt.EmberApsFrame(profileId=0x0109, clusterId=0x000A, sourceEndpoint=3, destinationEndpoint=1,
                                       options=bt.EmberApsOption.APS_OPTION_ENCRYPTION, groupId=0, sequence=0x42))
    finally:
        await world.settle()

    send = audit.unsecurable()[-1]
    assert (send.ieee, send.key_table_entry, send.device_key) == (device.ieee, None, device.join_key)
    assert send.secured_with not in (None, device.join_key)  # the hashed trust-centre key it never learnt
