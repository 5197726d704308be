"""Unmodified bellows over the pseudo-terminal against the NCP's GB HAN features: link keys,
APS encryption end to end, APS fragments both ways and the CBKE commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import bellows.types as t
import pytest
import zigpy.exceptions
import zigpy.types as zt

from hubfw.cbke import CertificateAuthority, CryptoSuite, DeviceCredentials, KeyAgreement, Role
from hubfw.sim import SimulatedNcp
from hubfw.zigbee.ids import LibraryId
from tests.sim.ncp.bellows_harness import (
    INSTALL_CODE_KEY,
    METER,
    METER_NWK,
    SE_PROFILE,
    TUNNELING,
    WAIT,
    BenchAir,
    Events,
    capture_packets,
    from_meter,
    hashed_trust_centre_key,
    joined_meter,
)

CBKE_KEY = zt.KeyData(bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"))


@pytest.mark.parametrize("version", [13, 14])
async def test_an_imported_link_key_secures_what_the_hub_sends(tmp_path: Path, start: Callable, version: int) -> None:
    han = BenchAir()
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=version, han=han)
    app = await start(ncp)
    device = await joined_meter(ncp, app)
    han.powered.add(METER)
    get_time = b"\x00\x01\x00\x00\x00"

    await app.request(device, SE_PROFILE, 0x000A, 1, 1, 1, get_time, expect_reply=False, aps_encryption=True)
    # not the install-code key it joined with (a transient key), but the trust centre's hashed key for it
    assert han.frames[-1].link_key == await hashed_trust_centre_key(app, METER) != zt.KeyData(INSTALL_CODE_KEY)

    (status,) = await app._ezsp.importLinkKey(index=0, address=METER, key=CBKE_KEY)
    assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
    await app.request(device, SE_PROFILE, 0x000A, 1, 1, 2, get_time, expect_reply=False, aps_encryption=True)
    sent = han.frames[-1]
    assert (sent.aps_encrypted, sent.link_key, sent.payload) == (True, CBKE_KEY, get_time)
    assert await app._ezsp.findKeyTableEntry(address=METER, linkKey=True) == [0]
    tokens = json.loads((tmp_path / "ncp" / "ncp.json").read_text())
    assert tokens["key_table"][0] | {"tx_counter": 0, "rx_counter": 0} == {
        "ieee": str(METER), "key": bytes(CBKE_KEY).hex(), "tx_counter": 0, "rx_counter": 0}


async def test_a_device_frame_under_the_wrong_key_never_reaches_the_host(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=14, han=BenchAir())
    app = await start(ncp)
    await joined_meter(ncp, app)
    await app._ezsp.importLinkKey(index=0, address=METER, key=CBKE_KEY)
    packets = capture_packets(app)
    events = Events()
    app.add_listener(events)

    assert not ncp.receive(from_meter(ncp, b"\x01\x05\x00forged", link_key=zt.KeyData(INSTALL_CODE_KEY)))
    message = events.next("handle_message")
    assert ncp.receive(from_meter(ncp, b"\x01\x06\x00genuine", link_key=CBKE_KEY))
    await asyncio.wait_for(message, WAIT)

    assert [packet.data.serialize() for packet in packets] == [b"\x01\x06\x00genuine"]
    assert ncp.stats.dropped_frames == {"link_key_mismatch": 1}


async def test_a_fragmented_device_message_arrives_whole_at_zigpy(tmp_path: Path, start: Callable) -> None:
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=13, han=BenchAir())
    app = await start(ncp)
    await joined_meter(ncp, app)
    packets = capture_packets(app)
    events = Events()
    app.add_listener(events)
    message = bytes([0x01, 0x07, 0x01]) + bytes(range(256)) + b"GBCS" * 10 + b"!"  # 300 bytes of TransferData
    pieces = [message[offset:offset + 71] for offset in range(0, len(message), 71)]
    assert len(message) == 300 and len(pieces) == 5

    whole = events.next("handle_message")
    for index, piece in enumerate(pieces):
        assert ncp.receive(from_meter(ncp, piece, link_key=zt.KeyData(INSTALL_CODE_KEY), fragment=(index, 5)))
    await asyncio.wait_for(whole, WAIT)

    (packet,) = packets
    assert packet.data.serialize() == message
    assert (packet.src.address, packet.cluster_id) == (METER_NWK, TUNNELING)
    # bellows queues its fragment ACKs (sendReply) before zigpy sees the message; a command of
    # lower priority than theirs is sent only after them
    await app._ezsp.setExtendedTimeout(remoteEui64=METER, extendedTimeout=False)
    assert ncp.stats.commands["sendReply"] == 5
    assert ncp.stats.unknown_commands == {}


async def test_fragments_the_host_sends_reach_the_han_in_order(tmp_path: Path, start: Callable) -> None:
    han = BenchAir()
    ncp = SimulatedNcp(tmp_path / "ncp", ezsp_version=14, han=han)
    app = await start(ncp)
    await joined_meter(ncp, app)
    han.powered.add(METER)
    pieces = [b"A" * 71, b"B" * 71, b"C" * 12]

    sequence = 0
    for index, piece in enumerate(pieces):
        aps = t.EmberApsFrame(profileId=SE_PROFILE, clusterId=TUNNELING, sourceEndpoint=1, destinationEndpoint=1,
                              options=t.EmberApsOption.APS_OPTION_ENCRYPTION | t.EmberApsOption.APS_OPTION_FRAGMENT,
                              groupId=(len(pieces) << 8) | index, sequence=sequence)
        status, sequence = await app._ezsp.send_unicast(METER_NWK, aps, 0x30 + index, piece)
        assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK

    fragments = [frame for frame in han.frames if frame.cluster == TUNNELING]
    assert [(frame.fragment, frame.payload) for frame in fragments] == [((i, 3), piece) for i, piece in
                                                                        enumerate(pieces)]
    key = await hashed_trust_centre_key(app, METER)
    assert all((frame.aps_counter, frame.link_key) == (sequence, key) for frame in fragments)


async def test_an_encrypted_payload_too_long_for_one_frame_fails_delivery(tmp_path: Path, start: Callable) -> None:
    han = BenchAir()
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    app = await start(ncp)
    device = await joined_meter(ncp, app)
    han.powered.add(METER)
    with pytest.raises(zigpy.exceptions.DeliveryError):
        await app.request(device, SE_PROFILE, TUNNELING, 1, 1, 3, b"\x01\x03\x00" + bytes(71),
                          expect_reply=False, aps_encryption=True)  # 74 bytes: one too many under encryption
    assert [frame for frame in han.frames if frame.cluster == TUNNELING] == []


@pytest.mark.parametrize("version", [13, 14])
async def test_a_stock_ncp_has_no_cbke_library(tmp_path: Path, start: Callable, version: int) -> None:
    app = await start(SimulatedNcp(tmp_path / "ncp", ezsp_version=version))
    (status,) = await app._ezsp.getLibraryStatus(libraryId=LibraryId.CBKE_CORE)
    assert status == 0x00
    (status,) = await app._ezsp.generateCbkeKeys()
    assert status == (t.EmberStatus.LIBRARY_NOT_PRESENT if version == 13 else t.sl_Status.NOT_AVAILABLE)


async def test_a_cbke_ncp_agrees_a_link_key_with_a_device(tmp_path: Path, start: Callable) -> None:
    """Key establishment with the NCP's library as the trust centre's side, through bellows."""
    ca = CertificateAuthority.generate(CryptoSuite.SUITE_1, zt.EUI64.convert("54:45:53:54:53:45:43:41"))
    ncp_ieee = zt.EUI64.convert("00:0d:6f:ff:fe:00:00:01")
    hub_credentials = DeviceCredentials(*ca.issue_key_pair(ncp_ieee), ca.public_key)
    meter_credentials = DeviceCredentials(*ca.issue_key_pair(METER), ca.public_key)
    ncp = SimulatedNcp(tmp_path / "ncp", han=BenchAir(), ieee=ncp_ieee, cbke_library=True,
                       cbke_credentials=[hub_credentials])
    app = await start(ncp)
    await joined_meter(ncp, app)
    loop = asyncio.get_running_loop()
    results: dict[str, asyncio.Future] = {name: loop.create_future()
                                          for name in ("generateCbkeKeysHandler", "calculateSmacsHandler")}
    app._ezsp.add_callback(lambda name, args: results[name].set_result(args) if name in results else None)

    (status,) = await app._ezsp.getLibraryStatus(libraryId=LibraryId.CBKE_CORE)
    assert status == 0x80
    status, certificate = await app._ezsp.getCertificate()
    assert bytes(certificate) == hub_credentials.certificate.encoded
    await app._ezsp.generateCbkeKeys()
    status, ncp_ephemeral = await asyncio.wait_for(results["generateCbkeKeysHandler"], WAIT)
    meter = KeyAgreement(meter_credentials, Role.INITIATOR)
    expected = meter.complete(bytes(certificate), bytes(ncp_ephemeral))
    await app._ezsp.calculateSmacs(amInitiator=False, partnerCertificate=meter_credentials.certificate.encoded,
                                   partnerEphemeralPublicKey=meter.ephemeral_public_key)
    status, initiator_smac, responder_smac = await asyncio.wait_for(results["calculateSmacsHandler"], WAIT)
    await app._ezsp.clearTemporaryDataMaybeStoreLinkKey(storeLinkKey=True)

    assert status == t.EmberStatus.SUCCESS
    assert (bytes(initiator_smac), bytes(responder_smac)) == (expected.own_mac, expected.expected_peer_mac)
    keys = [key async for key in app._ezsp.read_link_keys()]
    assert [(key.partner_ieee, bytes(key.key)) for key in keys] == [(METER, expected.link_key)]
