"""The stack behind EZSP, driven directly: trust-centre decisions, addressing, own ZDO and scans."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import bellows.types as t
import pytest
import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from hubfw.sim.ncp import RadioSurroundings
from hubfw.sim.ncp.stack import JoinError
from hubfw.zigbee.aps import ApsFrame
from tests.sim.ncp.stack_harness import INSTALL_CODE, INSTALL_CODE_KEY, METER, NCP_IEEE, Harness, RecordingAir


async def test_well_known_key_join_when_the_policy_allows_it(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    assert not hub.stack.join(METER, zt.NWK(0x4D2A), None), "network is closed"
    hub.open_network()
    assert hub.stack.join(METER, zt.NWK(0x4D2A), None)
    name, fields = hub.callbacks[-1]
    assert name == "trustCenterJoinHandler"
    assert (fields["newNodeId"], fields["newNodeEui64"]) == (0x4D2A, METER)
    assert hub.store.load(None).devices == {METER: 0x4D2A}  # persisted at once


async def test_install_code_only_policy_needs_the_registered_key(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    hub.open_network(t.EzspDecisionBitmask.ALLOW_JOINS | t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
    assert not hub.stack.join(METER, zt.NWK(0x4D2A), None)
    assert not hub.stack.join(METER, zt.NWK(0x4D2A), INSTALL_CODE)  # hub never registered it
    hub.call("importTransientKey", eui64=METER, plaintext_key=INSTALL_CODE_KEY, flags=0)
    assert hub.stack.join(METER, zt.NWK(0x4D2A), INSTALL_CODE)


async def test_closing_the_network_and_bad_join_requests(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    hub.open_network()
    hub.call("permitJoining", duration=0)
    assert not hub.stack.join(METER, zt.NWK(0x4D2A), None)
    hub.open_network()
    with pytest.raises(JoinError, match="CRC"):
        hub.stack.join(METER, zt.NWK(0x4D2A), INSTALL_CODE[:-1] + b"\x00")
    assert hub.stack.join(METER, zt.NWK(0x4D2A), None)
    with pytest.raises(JoinError, match="0x4D2A"):
        hub.stack.join(zt.EUI64.convert("00:0d:6f:00:00:00:00:02"), zt.NWK(0x4D2A), None)


@pytest.mark.parametrize("version", [13, 14])
async def test_unicast_to_an_unknown_address_reports_delivery_failure(tmp_path: Path, version: int) -> None:
    hub = Harness(tmp_path, version, RecordingAir())
    aps = t.EmberApsFrame(profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
                          options=t.EmberApsOption.APS_OPTION_RETRY, groupId=0, sequence=1)
    names = ("message_type", "nwk", "aps_frame", "message_tag", "message") if version >= 14 else (
        "type", "indexOrDestination", "apsFrame", "messageTag", "messageContents")
    hub.call("sendUnicast", **dict(zip(names, (0, 0x7777, aps, 9, b"\x01\x02\x03"), strict=True)))
    name, fields = hub.callbacks[-1]
    status = fields["status"]
    assert name == "messageSentHandler" and status == t.sl_Status.ZIGBEE_DELIVERY_FAILED
    assert hub.stack.tokens.network_key_frame_counter == 1


async def test_a_crashing_device_simulator_counts_as_no_ack(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 14, RecordingAir(fails=True))
    hub.open_network()
    hub.stack.join(METER, zt.NWK(0x4D2A), None)
    aps = t.EmberApsFrame(profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
                          options=0, groupId=0, sequence=1)
    hub.call("sendUnicast", message_type=0, nwk=0x4D2A, aps_frame=aps, message_tag=3, message=b"\x01")
    assert hub.callbacks[-1][1]["status"] == t.sl_Status.ZIGBEE_DELIVERY_FAILED


async def test_the_coordinator_answers_its_own_node_descriptor_request(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 14)
    aps = t.EmberApsFrame(profileId=0, clusterId=zdo_t.ZDOCmd.Node_Desc_req, sourceEndpoint=0,
                          destinationEndpoint=0, options=0, groupId=0, sequence=1)
    hub.callbacks.clear()
    hub.call("sendUnicast", message_type=0, nwk=0x0000, aps_frame=aps, message_tag=1, message=b"\x2a\x00\x00")
    assert [name for name, _ in hub.callbacks] == ["messageSentHandler", "incomingMessageHandler"]
    incoming = hub.callbacks[-1][1]
    assert incoming["aps_frame"].clusterId == zdo_t.ZDOCmd.Node_Desc_rsp
    tsn, body = incoming["message"][0], incoming["message"][1:]
    status, rest = zdo_t.Status.deserialize(body)
    nwk, rest = zt.NWK.deserialize(rest)
    descriptor, rest = zdo_t.NodeDescriptor.deserialize(rest)
    assert (tsn, status, nwk, rest) == (0x2A, zdo_t.Status.SUCCESS, 0x0000, b"")
    assert descriptor.logical_type == zdo_t.LogicalType.Coordinator


async def test_leaving_wipes_the_network_but_not_the_identity(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    hub.call("leaveNetwork")
    assert hub.callbacks[-1] == ("stackStatusHandler", {"status": t.sl_Status.NETWORK_DOWN})
    stored = hub.store.load(NCP_IEEE)
    assert not stored.formed and stored.ieee == NCP_IEEE
    assert hub.call("networkInit", networkInitBitmask=0) == {"status": t.sl_Status.NOT_JOINED}


async def test_the_coordinator_describes_its_endpoints(tmp_path: Path) -> None:
    hub = Harness(tmp_path, up=False)  # endpoints are registered before the stack comes up
    hub.call("addEndpoint", endpoint=1, profileId=0x0109, deviceId=0x0500, deviceVersion=0,
             inputClusterCount=1, outputClusterCount=1, inputClusterList=[0x0000], outputClusterList=[0x0019])
    hub.call("networkInit", networkInitBitmask=0)

    def ask(cluster: zdo_t.ZDOCmd, request: bytes) -> list[Any]:
        aps = t.EmberApsFrame(profileId=0, clusterId=cluster, sourceEndpoint=0, destinationEndpoint=0,
                              options=0, groupId=0, sequence=1)
        hub.call("sendUnicast", type=0, indexOrDestination=0x0000, apsFrame=aps, messageTag=1,
                 messageContents=b"\x07" + request)
        fields = hub.callbacks[-1][1]  # messageSentHandler, then the answer
        values, rest = [], fields["messageContents"][1:]
        for kind in zdo_t.CLUSTERS[fields["apsFrame"].clusterId][1]:
            value, rest = kind.deserialize(rest)
            values.append(value)
        assert rest == b""
        return values

    assert ask(zdo_t.ZDOCmd.Active_EP_req, b"\x00\x00") == [zdo_t.Status.SUCCESS, 0x0000, [1]]
    status, nwk, simple = ask(zdo_t.ZDOCmd.Simple_Desc_req, b"\x00\x00\x01")
    assert (status, nwk, simple.profile, simple.output_clusters) == (zdo_t.Status.SUCCESS, 0, 0x0109, [0x0019])
    assert ask(zdo_t.ZDOCmd.Simple_Desc_req, b"\x00\x00\x05")[0] == zdo_t.Status.NOT_ACTIVE


async def test_counters_count_traffic_until_cleared(tmp_path: Path) -> None:
    hub = Harness(tmp_path, 14, RecordingAir())
    hub.open_network()
    hub.stack.join(METER, zt.NWK(0x4D2A), None)
    aps = t.EmberApsFrame(profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
                          options=0, groupId=0, sequence=1)
    hub.call("sendUnicast", message_type=0, nwk=0x4D2A, aps_frame=aps, message_tag=3, message=b"\x01")
    counters = dict(zip(t.EmberCounterType, hub.call("readAndClearCounters")["values"], strict=True))
    assert counters[t.EmberCounterType.COUNTER_APS_DATA_TX_UNICAST_SUCCESS] == 1
    assert counters[t.EmberCounterType.COUNTER_JOIN_INDICATION] == 1
    assert set(hub.call("readCounters")["values"]) == {0}


async def test_a_device_answering_at_once_is_heard_after_the_aps_ack(tmp_path: Path) -> None:
    class EchoingHan:
        def deliver(self, frame: ApsFrame) -> bool:
            reply = ApsFrame(frame.dst_ieee, frame.dst_nwk, frame.src_ieee, frame.src_nwk, frame.profile,
                             frame.cluster, frame.dst_ep, frame.src_ep, b"echo:" + frame.payload)
            assert hub.stack.receive(reply)
            return True

    hub = Harness(tmp_path, 13, EchoingHan())
    hub.open_network()
    hub.stack.join(METER, zt.NWK(0x4D2A), None)
    hub.callbacks.clear()
    aps = t.EmberApsFrame(profileId=0x0104, clusterId=6, sourceEndpoint=1, destinationEndpoint=1,
                          options=0, groupId=0, sequence=1)
    hub.call("sendUnicast", type=0, indexOrDestination=0x4D2A, apsFrame=aps, messageTag=3, messageContents=b"hi")
    assert [name for name, _ in hub.callbacks] == ["messageSentHandler", "incomingMessageHandler"]
    assert hub.callbacks[-1][1]["messageContents"] == b"echo:hi"


async def test_a_known_device_rejoins_secured_even_when_the_network_is_closed(tmp_path: Path) -> None:
    hub = Harness(tmp_path)
    hub.open_network()
    assert hub.stack.join(METER, zt.NWK(0x4D2A), None)
    hub.call("permitJoining", duration=0)
    assert hub.stack.join(METER, zt.NWK(0x5E01), None)
    fields = hub.callbacks[-1][1]
    assert fields["status"] == t.EmberDeviceUpdate.STANDARD_SECURITY_SECURED_REJOIN
    assert hub.stack.tokens.devices == {METER: 0x5E01}


async def settle_loop() -> None:
    """Let every call_soon chain the stack started run out (one channel per loop turn)."""
    for _ in range(40):
        await asyncio.sleep(0)


async def test_an_energy_scan_reports_each_channel_after_the_response_then_completes(tmp_path: Path) -> None:
    hub = Harness(tmp_path, up=False)  # an NCP scans before it has a network too
    hub.stack.surroundings = RadioSurroundings(energy_dbm={15: -90, 20: -42})
    mask = zt.Channels.from_channel_list([20, 15, 11])
    assert hub.call("startScan", scanType=t.EzspNetworkScanType.ENERGY_SCAN, channelMask=mask, duration=4) == {}
    assert hub.callbacks == []  # nothing before the response has gone out
    await settle_loop()
    assert hub.callbacks == [("energyScanResultHandler", {"channel": 11, "maxRssiValue": -90}),
                             ("energyScanResultHandler", {"channel": 15, "maxRssiValue": -90}),
                             ("energyScanResultHandler", {"channel": 20, "maxRssiValue": -42}),
                             ("scanCompleteHandler", {"status": t.sl_Status.OK})]


async def test_a_scan_is_refused_while_another_runs_and_stop_scan_ends_it(tmp_path: Path) -> None:
    hub = Harness(tmp_path, up=False)
    every_channel = zt.Channels.ALL_CHANNELS
    assert hub.call("startScan", scanType=t.EzspNetworkScanType.ACTIVE_SCAN, channelMask=every_channel,
                    duration=3) == {}
    again = hub.call("startScan", scanType=t.EzspNetworkScanType.ENERGY_SCAN, channelMask=every_channel, duration=3)
    assert again == {"status": t.sl_Status.MAC_SCANNING}
    assert hub.call("stopScan") == {}
    await settle_loop()
    assert hub.callbacks == [("scanCompleteHandler", {"status": t.sl_Status.OK})]  # no networks, no more channels
    assert hub.call("stopScan") == {}  # nothing left to stop
    assert hub.call("startScan", scanType=t.EzspNetworkScanType.ENERGY_SCAN, channelMask=every_channel,
                    duration=3) == {}


@pytest.mark.parametrize(("mask", "duration", "status"), [
    (zt.Channels.NO_CHANNELS, 3, t.sl_Status.INVALID_CHANNEL_MASK),
    (zt.Channels.ALL_CHANNELS, 15, t.sl_Status.BAD_SCAN_DURATION),
])
async def test_a_scan_the_radio_cannot_do_is_refused(tmp_path: Path, mask: zt.Channels, duration: int,
                                                     status: t.sl_Status) -> None:
    hub = Harness(tmp_path, up=False)
    reply = hub.call("startScan", scanType=t.EzspNetworkScanType.ENERGY_SCAN, channelMask=mask, duration=duration)
    assert reply == {"status": status}
    await settle_loop()
    assert hub.callbacks == []
