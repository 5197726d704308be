"""The stack's APS rules, driven directly: the keys EmberZNet holds per device (key table, transient keys
that time out, the trust-centre link key bellows forms the network with), APS encryption both ways,
payload limits and fragments in `groupId`."""

from __future__ import annotations

from pathlib import Path

import bellows.types as t
import pytest
import zigpy.types as zt

from hubfw.cbke.kdf import hmac_mmo
from hubfw.zigbee.aps import ApsFrame
from tests.sim.ncp.stack_harness import (
    INSTALL_CODE,
    INSTALL_CODE_KEY,
    METER,
    NCP_IEEE,
    TC_ROOT_KEY,
    Harness,
    RecordingAir,
)

METER_NWK = zt.NWK(0x4D2A)
CBKE_KEY = zt.KeyData(bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0"))
WRONG_KEY = zt.KeyData(b"not the right k!")
ENCRYPTED = t.EmberApsOption.APS_OPTION_ENCRYPTION
FRAGMENT = t.EmberApsOption.APS_OPTION_FRAGMENT
HASHED_KEY = zt.KeyData(hmac_mmo(bytes(TC_ROOT_KEY), METER.serialize()))
"""The meter's trust-centre link key on a network bellows formed: the root hashed with its EUI-64."""


def join_meter(hub: Harness) -> None:
    hub.open_network()
    hub.call("importTransientKey", eui64=METER, plaintext_key=INSTALL_CODE_KEY, flags=0)
    assert hub.stack.join(METER, METER_NWK, INSTALL_CODE)


def send(hub: Harness, message: bytes, options: t.EmberApsOption = ENCRYPTED, group_id: int = 0,
         sequence: int = 0) -> dict:
    aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                          options=options, groupId=group_id, sequence=sequence)
    direct = t.EmberOutgoingMessageType.OUTGOING_DIRECT
    if hub.stack.version >= 14:
        return hub.call("sendUnicast", message_type=direct, nwk=METER_NWK, aps_frame=aps, message_tag=7,
                        message=message)
    return hub.call("sendUnicast", type=direct, indexOrDestination=METER_NWK, apsFrame=aps, messageTag=7,
                    messageContents=message)


def last_sent_status(hub: Harness) -> t.sl_Status:
    name, fields = next(entry for entry in reversed(hub.callbacks) if entry[0] == "messageSentHandler")
    return fields["status"]


def from_meter(payload: bytes, *, link_key: zt.KeyData | None = None, encrypted: bool = True,
               fragment: tuple[int, int] | None = None) -> ApsFrame:
    return ApsFrame(METER, METER_NWK, NCP_IEEE, zt.NWK(0), 0x0109, 0x0704, 1, 1, payload,
                    aps_encrypted=encrypted, aps_counter=42, link_key=link_key, fragment=fragment)


def incoming(hub: Harness) -> list[t.EmberApsFrame]:
    return [fields["aps_frame" if hub.stack.version >= 14 else "apsFrame"]
            for name, fields in hub.callbacks if name == "incomingMessageHandler"]


async def test_a_joined_device_is_secured_with_the_hashed_trust_centre_key_until_the_host_imports_one(
        tmp_path: Path) -> None:
    """Its install-code key was only a transient key to join with: the stack never secures a host's frame with
    it, and keeps nothing for the device in its key table either (so bellows has nothing to erase)."""
    han = RecordingAir()
    hub = Harness(tmp_path, 13, han)
    join_meter(hub)

    send(hub, b"tunnel")
    assert (han.frames[-1].aps_encrypted, han.frames[-1].link_key) == (True, HASHED_KEY)
    assert HASHED_KEY != INSTALL_CODE_KEY
    assert hub.call("findKeyTableEntry", address=METER, linkKey=True) == {"index": 0xFF}
    assert "join_keys" not in hub.store.path.read_text()

    hub.call("importLinkKey", index=0, address=METER, key=CBKE_KEY)
    send(hub, b"tunnel")
    assert han.frames[-1].link_key == CBKE_KEY
    assert hub.stack.join(METER, METER_NWK, INSTALL_CODE)  # a secured rejoin keeps the CBKE key
    send(hub, b"tunnel")
    assert han.frames[-1].link_key == CBKE_KEY

    (index,) = hub.call("findKeyTableEntry", address=METER, linkKey=True).values()
    hub.call("eraseKeyTableEntry", index=index)
    send(hub, b"tunnel")
    assert han.frames[-1].link_key == HASHED_KEY  # the trust centre's own key for it again


async def test_a_global_trust_centre_key_secures_every_device_without_an_entry(tmp_path: Path) -> None:
    han = RecordingAir()
    hub = Harness(tmp_path, 14, han, security=t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY)
    hub.open_network()
    assert hub.stack.join(METER, METER_NWK, None)
    send(hub, b"x")
    assert han.frames[-1].link_key == TC_ROOT_KEY


@pytest.mark.parametrize("version", [13, 14])
async def test_an_encrypted_send_the_stack_has_no_key_for_is_refused(tmp_path: Path, version: int) -> None:
    """EMBER_APS_ENCRYPTION_ERROR (0xA6; SL_STATUS_ZIGBEE_APS_ENCRYPTION_ERROR on v14+): a trust centre with
    neither a global nor a hashed link key, and no key-table entry, or a destination it knows no EUI-64 of."""
    han = RecordingAir()
    hub = Harness(tmp_path, version, han, security=0)
    hub.stack.tokens.devices[METER] = METER_NWK

    assert send(hub, b"secret") == {"status": t.sl_Status.ZIGBEE_APS_ENCRYPTION_ERROR}
    assert han.frames == [] and not any(name == "messageSentHandler" for name, _ in hub.callbacks)
    assert hub.stack.dropped_frames == {"no_link_key": 1}

    send(hub, b"plain", options=t.EmberApsOption.APS_OPTION_NONE)
    assert last_sent_status(hub) == t.sl_Status.OK
    assert (han.frames[-1].aps_encrypted, han.frames[-1].link_key) == (False, None)

    hub.call("importLinkKey", index=0, address=METER, key=CBKE_KEY)
    send(hub, b"secret")
    assert han.frames[-1].link_key == CBKE_KEY


async def test_a_transient_key_lets_a_device_join_only_until_it_times_out(tmp_path: Path) -> None:
    """sl_zb_sec_man_import_transient_key: gone EMBER_TRANSIENT_KEY_TIMEOUT_S (300 s by default) after it
    was added, on the NCP's own clock."""
    hub = Harness(tmp_path, 14, RecordingAir())
    hub.open_network(t.EzspDecisionBitmask.ALLOW_JOINS | t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
    hub.call("importTransientKey", eui64=METER, plaintext_key=INSTALL_CODE_KEY, flags=0)
    exported = hub.call("exportTransientKeyByEui", eui64=METER)
    assert (exported["plaintext_key"], exported["key_data"].ttl_in_seconds) == (INSTALL_CODE_KEY, 300)

    hub.clock.time += 299
    assert hub.call("exportTransientKeyByEui", eui64=METER)["key_data"].ttl_in_seconds == 1
    hub.clock.time += 1
    assert hub.call("exportTransientKeyByEui", eui64=METER) == {"status": t.sl_Status.NOT_FOUND}
    assert not hub.stack.join(METER, METER_NWK, INSTALL_CODE)

    hub.call("setValue", valueId=t.EzspValueId.VALUE_TRANSIENT_KEY_TIMEOUT_S, value=(30).to_bytes(2, "little"))
    hub.call("importTransientKey", eui64=METER, plaintext_key=INSTALL_CODE_KEY, flags=0)
    hub.clock.time += 29
    assert hub.stack.join(METER, METER_NWK, INSTALL_CODE)


async def test_a_joiner_s_frames_under_its_transient_key_are_taken_only_while_the_key_lasts(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 13, RecordingAir())
    join_meter(hub)
    assert hub.stack.receive(from_meter(b"under the install code key", link_key=INSTALL_CODE_KEY))
    hub.clock.time += 300
    assert not hub.stack.receive(from_meter(b"under the install code key", link_key=INSTALL_CODE_KEY))
    assert hub.stack.receive(from_meter(b"under its trust-centre key", link_key=HASHED_KEY))
    assert hub.stack.dropped_frames == {"link_key_mismatch": 1}

    hub.stack.reboot()  # transient keys live in RAM only
    hub.call("networkInit", networkInitBitmask=0)
    hub.call("importTransientKey", eui64=METER, plaintext_key=INSTALL_CODE_KEY, flags=0)
    hub.stack.reboot()
    assert hub.stack.transient_keys.get(METER) is None


async def test_device_frames_secured_with_another_key_never_reach_the_host(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 13, RecordingAir())
    join_meter(hub)
    hub.call("importLinkKey", index=0, address=METER, key=CBKE_KEY)
    hub.callbacks.clear()

    assert not hub.stack.receive(from_meter(b"forged", link_key=INSTALL_CODE_KEY))  # the superseded key
    assert not hub.stack.receive(from_meter(b"forged", link_key=WRONG_KEY))
    assert incoming(hub) == []
    assert hub.stack.dropped_frames == {"link_key_mismatch": 2}
    assert hub.stack.counters[t.EmberCounterType.COUNTER_APS_DECRYPTION_FAILURE] == 2

    assert hub.stack.receive(from_meter(b"genuine", link_key=CBKE_KEY))
    assert hub.stack.receive(from_meter(b"plain", encrypted=False))
    assert hub.stack.receive(from_meter(b"keyless simulator"))  # names no key: taken as the shared one
    assert [ENCRYPTED in aps.options for aps in incoming(hub)] == [True, False, True]


@pytest.mark.parametrize(("options", "fits", "too_long"), [(ENCRYPTED, 73, 74),
                                                           (t.EmberApsOption.APS_OPTION_NONE, 82, 83)])
async def test_a_payload_longer_than_one_frame_is_refused_both_ways(tmp_path: Path, options: t.EmberApsOption,
                                                                    fits: int, too_long: int) -> None:
    han = RecordingAir()
    hub = Harness(tmp_path, 14, han)
    join_meter(hub)

    assert "status" not in send(hub, bytes(fits), options)
    assert send(hub, bytes(too_long), options) == {"status": t.sl_Status.MESSAGE_TOO_LONG}
    assert [len(frame.payload) for frame in han.frames] == [fits]

    encrypted = ENCRYPTED in options
    assert hub.stack.receive(from_meter(bytes(fits), encrypted=encrypted))
    assert not hub.stack.receive(from_meter(bytes(too_long), encrypted=encrypted))
    assert hub.stack.dropped_frames == {"payload_too_long": 1}


async def test_host_fragments_share_fragment_0s_aps_counter_and_learn_its_count(tmp_path: Path) -> None:
    han = RecordingAir()
    hub = Harness(tmp_path, 13, han)
    join_meter(hub)
    send(hub, b"an earlier frame")

    first = send(hub, b"A" * 71, ENCRYPTED | FRAGMENT, group_id=0x0300)["sequence"]
    # EmberZNet's host repeats the count in every fragment; bellows-style hosts may leave it clear
    assert send(hub, b"B" * 71, ENCRYPTED | FRAGMENT, group_id=0x0301, sequence=first)["sequence"] == first
    assert send(hub, b"C" * 10, ENCRYPTED | FRAGMENT, group_id=0x0002, sequence=first)["sequence"] == first

    fragments = han.frames[1:]
    assert [(frame.fragment, frame.aps_counter, frame.payload[:1]) for frame in fragments] == [
        ((0, 3), first, b"A"), ((1, 3), first, b"B"), ((2, 3), first, b"C")]
    assert all(frame.link_key == HASHED_KEY for frame in fragments)
    assert han.frames[0].fragment is None


@pytest.mark.parametrize(("group_id", "sequence"), [
    (0x0000, 0),  # fragment 0 without a count
    (0x0303, 0),  # fragment 3 of a 3-fragment message
    (0x0001, 9),  # fragment 1 of a message whose fragment 0 never went out
])
async def test_a_fragment_that_fits_no_message_is_refused(tmp_path: Path, group_id: int, sequence: int) -> None:
    han = RecordingAir()
    hub = Harness(tmp_path, 14, han)
    join_meter(hub)
    assert send(hub, b"x", FRAGMENT, group_id=group_id, sequence=sequence) == {
        "status": t.sl_Status.INVALID_PARAMETER}
    assert han.frames == []


async def test_device_fragments_reach_the_host_with_their_place_in_group_id(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 13, RecordingAir())
    join_meter(hub)
    hub.callbacks.clear()

    for index in range(3):
        assert hub.stack.receive(from_meter(bytes([index]) * 71, fragment=(index, 3)))
    assert not hub.stack.receive(from_meter(b"x", fragment=(3, 3)))

    frames = incoming(hub)
    assert [(FRAGMENT in aps.options, aps.groupId, aps.sequence) for aps in frames] == [
        (True, 0x0300, 42), (True, 0x0001, 42), (True, 0x0002, 42)]
    assert hub.stack.dropped_frames == {"bad_fragment": 1}


async def test_fragment_acks_from_the_host_stay_in_the_ncp_and_other_replies_go_out(tmp_path: Path) -> None:
    han = RecordingAir()
    hub = Harness(tmp_path, 14, han)
    join_meter(hub)
    hub.callbacks.clear()

    def reply(options: t.EmberApsOption, group_id: int, message: bytes) -> dict:
        aps = t.EmberApsFrame(profileId=0x0109, clusterId=0x0704, sourceEndpoint=1, destinationEndpoint=1,
                              options=options, groupId=group_id, sequence=42)
        return hub.call("sendReply", sender=METER_NWK, apsFrame=aps, messageContents=message)

    assert reply(ENCRYPTED | FRAGMENT, 0xFF01, b"") == {}
    assert han.frames == []
    assert reply(ENCRYPTED, 0, b"answer") == {}
    assert [(frame.payload, frame.link_key) for frame in han.frames] == [(b"answer", HASHED_KEY)]
    assert hub.callbacks == []  # replies report no messageSentHandler
