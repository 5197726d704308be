"""What a simulated device tells the coordinator interviewing it: ZDO descriptors and its Basic cluster,
decoded with zigpy's own schemas."""

import pytest
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota
from zigpy.zcl.clusters.smartenergy import KeyEstablishment, Metering

from hubfw.sim.devices import esme, gsme, hcalcs, ppmid, zdo
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE
from tests.sim.devices.rig import HUB_IEEE, IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui

IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}
TSN = 0x42


def zdo_request(device, command: zdo_t.ZDOCmd, *fields) -> ApsFrame:
    """A coordinator's ZDO request, as zigpy encodes it (TSN, then the command's fields)."""
    body = t.serialize(fields, zdo_t.CLUSTERS[command][1])
    return ApsFrame(HUB_IEEE, t.NWK(0x0000), device.ieee, device.identity.nwk, 0, command, 0, 0,
                    bytes([TSN]) + body)


def ask(device, command: zdo_t.ZDOCmd, *fields, now: float = 0.0) -> tuple[ApsFrame, list]:
    """The device's one answer, and its fields decoded with zigpy's schema for the response."""
    (answer,) = device.on_frame(zdo_request(device, command, *fields), now)
    assert answer.payload[0] == TSN
    decoded, rest = t.deserialize(answer.payload[1:], zdo_t.CLUSTERS[answer.cluster][1])
    assert rest == b""
    return answer, decoded


def joined(device, now: float = 0.0):
    device.on_join(now)
    return device


def test_a_mains_meter_describes_itself_as_a_smart_energy_router_with_an_ota_client():
    meter = joined(esme(eui(1), 0x2001, endpoint=3, **IDENTITY))
    nwk = meter.identity.nwk

    answer, (status, about, node) = ask(meter, zdo_t.ZDOCmd.Node_Desc_req, nwk)
    assert answer.cluster == zdo_t.ZDOCmd.Node_Desc_rsp
    assert (answer.profile, answer.src_ep, answer.dst_ep, answer.dst_nwk) == (0, 0, 0, 0x0000)
    assert (answer.src_ieee, answer.dst_ieee, answer.aps_encrypted) == (meter.ieee, HUB_IEEE, False)
    assert (status, about) == (zdo_t.Status.SUCCESS, nwk)
    assert node.is_router and node.is_mains_powered and node.is_receiver_on_when_idle
    assert node.manufacturer_code == MANUFACTURER

    _, (status, _, endpoints) = ask(meter, zdo_t.ZDOCmd.Active_EP_req, nwk)
    assert (status, endpoints) == (zdo_t.Status.SUCCESS, [3])

    answer, (status, _, simple) = ask(meter, zdo_t.ZDOCmd.Simple_Desc_req, nwk, 3)
    assert (answer.cluster, status) == (zdo_t.ZDOCmd.Simple_Desc_rsp, zdo_t.Status.SUCCESS)
    assert (simple.endpoint, simple.profile, simple.device_type) == (3, SMART_ENERGY_PROFILE, 0x0501)
    assert {Basic.cluster_id, KeyEstablishment.cluster_id, Metering.cluster_id} <= set(simple.input_clusters)
    assert Ota.cluster_id in simple.output_clusters
    assert [entry.what for entry in meter.log[-2:]] == ["Simple_Desc_req", "Simple_Desc_rsp"]


@pytest.mark.parametrize(("make", "device_id"), [(ppmid, 0x0506), (hcalcs, 0x0504), (gsme, 0x0501)])
def test_each_kind_has_its_smart_energy_device_id_and_an_ota_client(make, device_id):
    device = joined(make(eui(2), 0x2002, **IDENTITY))
    simple = device.descriptors.endpoints[1]
    assert (simple.device_type, simple.profile) == (device_id, SMART_ENERGY_PROFILE)
    assert Basic.cluster_id in simple.input_clusters and Ota.cluster_id in simple.output_clusters


def test_a_sleepy_gas_meter_is_an_end_device_that_answers_at_its_next_fast_poll_after_joining():
    meter = joined(gsme(eui(3), 0x2003, query_interval=None, **IDENTITY), now=100.0)
    assert meter.on_frame(zdo_request(meter, zdo_t.ZDOCmd.Node_Desc_req, meter.identity.nwk), 101.0) == []
    fast_poll = meter.behaviour.sleepy.fast_poll
    assert meter.next_deadline() == 100.0 + fast_poll  # fast polls while the hub interviews it
    (answer,) = meter.tick(100.0 + fast_poll)
    (status, _, node), _ = t.deserialize(answer.payload[1:], zdo_t.CLUSTERS[answer.cluster][1])
    assert status == zdo_t.Status.SUCCESS
    assert node.is_end_device and not node.is_receiver_on_when_idle and not node.is_mains_powered


def test_a_sleepy_gas_meter_long_polls_once_the_interview_window_has_passed():
    meter = joined(gsme(eui(3), 0x2003, query_interval=None, **IDENTITY), now=0.0)  # no query timer either
    late = meter.behaviour.sleepy.fast_after_join + 1.0
    meter.on_frame(zdo_request(meter, zdo_t.ZDOCmd.Active_EP_req, meter.identity.nwk), late)
    assert meter.next_deadline() == meter.behaviour.sleepy.long_poll


def test_requests_for_another_endpoint_or_node_are_refused_as_zigbee_says():
    meter = joined(esme(eui(4), 0x2004, **IDENTITY))
    _, (status, nwk, simple) = ask(meter, zdo_t.ZDOCmd.Simple_Desc_req, meter.identity.nwk, 9)
    assert (status, nwk, simple) == (zdo_t.Status.NOT_ACTIVE, meter.identity.nwk, None)
    _, (status, nwk, _) = ask(meter, zdo_t.ZDOCmd.Node_Desc_req, t.NWK(0x7777))
    assert (status, nwk) == (zdo_t.Status.DEVICE_NOT_FOUND, 0x7777)
    gas = joined(gsme(eui(5), 0x2005, **IDENTITY))
    assert gas.descriptors.node.is_end_device
    _, payload = zdo.answer(zdo_t.ZDOCmd.Node_Desc_req, t.NWK(0x7777).serialize(), gas.descriptors)
    assert payload[0] == zdo_t.Status.INV_REQUESTTYPE


def test_zdo_requests_it_does_not_serve_are_ignored_and_noted():
    meter = joined(esme(eui(6), 0x2006, **IDENTITY))
    assert meter.on_frame(zdo_request(meter, zdo_t.ZDOCmd.Mgmt_Lqi_req, 0), 0.0) == []
    assert meter.notes()[-1] == "ignored ZDO request Mgmt_Lqi_req"


def test_the_basic_cluster_names_the_manufacturer_and_model_in_kind():
    meter = joined(esme(eui(7), 0x2007, **IDENTITY))
    basic = Basic.AttributeDefs
    read = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes]
    header = foundation.ZCLHeader.general(7, read.id, direction=foundation.Direction.Client_to_Server)
    request = header.serialize() + read.schema(attribute_ids=[
        basic.manufacturer.id, basic.model.id, basic.power_source.id, basic.location_desc.id]).serialize()
    frame = ApsFrame(HUB_IEEE, t.NWK(0), meter.ieee, meter.identity.nwk, SMART_ENERGY_PROFILE, Basic.cluster_id,
                     1, 1, request)
    (answer,) = meter.on_frame(frame, 0.0)
    header, body = foundation.ZCLHeader.deserialize(answer.payload)
    assert (answer.cluster, answer.profile, header.tsn) == (Basic.cluster_id, SMART_ENERGY_PROFILE, 7)
    assert header.direction == foundation.Direction.Server_to_Client
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
    records = {record.attrid: record for record in schema.deserialize(body)[0].status_records}
    assert records[basic.manufacturer.id].value.value == "hubfw simulator"
    assert records[basic.model.id].value.value == "simulated ESME"
    assert records[basic.power_source.id].value.value == Basic.PowerSource.Mains_single_phase
    assert records[basic.location_desc.id].status == foundation.Status.UNSUPPORTED_ATTRIBUTE


def test_match_descriptor_requests_find_the_endpoint_serving_a_cluster() -> None:
    meter = joined(esme(eui(9), 0x2209, endpoint=4, **IDENTITY))
    _, (status, nwk, endpoints) = ask(meter, zdo_t.ZDOCmd.Match_Desc_req, t.NWK(0x2209), SMART_ENERGY_PROFILE,
                                      [Metering.cluster_id], [])
    assert (status, nwk, endpoints) == (zdo_t.Status.SUCCESS, 0x2209, [4])
    _, (_, _, endpoints) = ask(meter, zdo_t.ZDOCmd.Match_Desc_req, t.NWK(0x2209), SMART_ENERGY_PROFILE,
                               [], [Ota.cluster_id])
    assert endpoints == [4]  # the OTA client is an output cluster
    _, (_, _, endpoints) = ask(meter, zdo_t.ZDOCmd.Match_Desc_req, t.NWK(0x2209), 0x0104, [Metering.cluster_id], [])
    assert endpoints == []  # another profile: a unicast still gets its (empty) answer
    unmatched = zdo_request(meter, zdo_t.ZDOCmd.Match_Desc_req, t.NWK(0xFFFD), 0x0104, [Metering.cluster_id], [])
    assert meter.on_frame(unmatched, 0.0) == []  # a broadcast nothing matches goes unanswered
