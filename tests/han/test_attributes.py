"""Basic, Time and Metering as a GBCS device reads them from the hub, every answer decoded by zigpy."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Time, TimeStatus

from hubfw.alerts import activation_alert
from hubfw.clock import VirtualClock
from hubfw.gbcs.alert_message import activation_message
from hubfw.han import HanConfig, HanConfigError, HanServer, TunnelClient
from hubfw.zigbee.ids import BASIC_CLUSTER, METERING_CLUSTER, TIME_CLUSTER
from tests.han.harness import (
    DEVICE_ENDPOINT,
    HUB,
    JAN_2026,
    JULY_2026,
    OTHER_PPMID,
    PPMID,
    SE_ENDPOINT,
    TunnelAir,
    default_response_status,
    from_device,
    header_of,
    read_attributes,
    read_response,
)

Status = foundation.Status


def make_server(clock: VirtualClock, waiting: set[t.EUI64] | None = None, config: HanConfig | None = None) -> HanServer:
    waiting = set() if waiting is None else waiting
    return HanServer(clock, se_endpoint=SE_ENDPOINT, key_establishment=None, image_waiting=waiting.__contains__,
                     config=config)


def read(server: HanServer, cluster: int, attribute_ids: list[int], *, client_attributes: bool = False,
         source: t.EUI64 = PPMID) -> dict[int, foundation.ReadAttributeRecord]:
    [reply] = server.handle(from_device(cluster, read_attributes(9, attribute_ids,
                                                                 client_attributes=client_attributes), source))
    assert reply.destination == source and reply.cluster == cluster and reply.aps_encrypt
    assert (reply.src_ep, reply.dst_ep) == (SE_ENDPOINT, DEVICE_ENDPOINT)
    header, _ = header_of(reply)
    assert header.tsn == 9
    expected = foundation.Direction.Client_to_Server if client_attributes else foundation.Direction.Server_to_Client
    assert header.direction == expected
    return read_response(reply)


def value(record: foundation.ReadAttributeRecord) -> object:
    assert record.status == Status.SUCCESS
    return record.value.value


def test_basic_answers_physical_environment_gb_and_identity() -> None:
    config = HanConfig(manufacturer_name="Bench Co", model_identifier="CH-1")
    server = make_server(VirtualClock(JAN_2026), config=config)
    records = read(server, BASIC_CLUSTER, [0x0011, 0x0000, 0x0004, 0x0005, 0x0007, 0x4000])
    attributes = Basic.AttributeDefs
    assert value(records[attributes.physical_env.id]) == 0x01
    assert records[attributes.physical_env.id].value.type == foundation.DataTypeId.enum8
    assert value(records[attributes.zcl_version.id]) == config.zcl_version
    assert value(records[attributes.manufacturer.id]) == "Bench Co"
    assert value(records[attributes.model.id]) == "CH-1"
    assert value(records[attributes.power_source.id]) == 0x01
    assert records[0x4000].status == Status.UNSUPPORTED_ATTRIBUTE


def test_time_is_the_clock_in_zigbee_epoch_and_the_hub_is_master_and_superseding() -> None:
    clock = VirtualClock(JAN_2026 + 12.7)
    records = read(make_server(clock), TIME_CLUSTER, [0x0000, 0x0001, 0x0002, 0x0008, 0x0009])
    zigbee_epoch = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
    assert value(records[0x0000]) == int(JAN_2026 - zigbee_epoch) + 12
    assert records[0x0000].value.type == foundation.DataTypeId.UTC
    status = value(records[0x0001])
    assert status == TimeStatus.Master | TimeStatus.Superseding == 0x09
    assert value(records[0x0002]) == 0  # GMT
    assert records[0x0008].status == records[0x0009].status == Status.UNSUPPORTED_ATTRIBUTE


def test_time_zone_attributes_follow_british_summer_time() -> None:
    attributes = Time.AttributeDefs
    ids = [attributes.time.id, attributes.time_zone.id, attributes.dst_start.id, attributes.dst_end.id,
           attributes.dst_shift.id, attributes.standard_time.id, attributes.local_time.id]
    records = read(make_server(VirtualClock(JULY_2026)), TIME_CLUSTER, ids)
    utc = value(records[attributes.time.id])
    to_zigbee = lambda text: int(t.UTCTime.from_datetime(datetime.fromisoformat(text)))  # noqa: E731
    assert value(records[attributes.dst_start.id]) == to_zigbee("2026-03-29T01:00:00+00:00")
    assert value(records[attributes.dst_end.id]) == to_zigbee("2026-10-25T01:00:00+00:00") - 1
    assert value(records[attributes.dst_shift.id]) == 3600
    assert value(records[attributes.time_zone.id]) == 0
    assert value(records[attributes.standard_time.id]) == utc
    assert value(records[attributes.local_time.id]) == utc + 3600


def test_functional_notification_flags_bit_0_while_an_image_waits_for_that_device() -> None:
    waiting = {PPMID}
    server = make_server(VirtualClock(JAN_2026), waiting)
    for client_attributes in (True, False):
        records = read(server, METERING_CLUSTER, [0x0000], client_attributes=client_attributes)
        assert records[0x0000].value.type == foundation.DataTypeId.map32
        assert value(records[0x0000]) == 0x0000_0001
    assert value(read(server, METERING_CLUSTER, [0x0000], source=OTHER_PPMID)[0x0000]) == 0
    waiting.clear()
    assert value(read(server, METERING_CLUSTER, [0x0000], client_attributes=True)[0x0000]) == 0


def test_notification_flags_2_to_5_are_client_attributes() -> None:
    server = make_server(VirtualClock(JAN_2026))
    client = read(server, METERING_CLUSTER, [0x0001, 0x0004, 0x0005], client_attributes=True)
    assert value(client[0x0001]) == value(client[0x0004]) == 0
    assert client[0x0005].status == Status.UNSUPPORTED_ATTRIBUTE
    assert read(server, METERING_CLUSTER, [0x0001])[0x0001].status == Status.UNSUPPORTED_ATTRIBUTE


def test_tunnel_message_pending_flag_while_gbcs_messages_wait() -> None:
    clock = VirtualClock(JAN_2026)
    server = make_server(clock)
    message = activation_message(activation_alert(1, PPMID, 0x10, clock.now()), 1)
    assert server.send_gbcs(PPMID, message) == []  # no tunnel yet: queued
    assert value(read(server, METERING_CLUSTER, [0x0000], client_attributes=True)[0x0000]) == 1 << 21
    air = TunnelAir(server, TunnelClient(HUB, endpoint=DEVICE_ENDPOINT, server_endpoint=SE_ENDPOINT))
    air.open()  # a device that never polled gets its queue PUT when the tunnel opens
    assert air.client.take_messages() == [message]
    assert value(read(server, METERING_CLUSTER, [0x0000], client_attributes=True)[0x0000]) == 0


@pytest.mark.parametrize(
    ("zcl", "status"),
    [
        (bytes([0x01, 0x05, 0x00]), Status.UNSUP_CLUSTER_COMMAND),  # Basic Reset to Factory Defaults
        (bytes([0x00, 0x05, 0x02]) + bytes(4), Status.UNSUP_GENERAL_COMMAND),  # Write Attributes
        (bytes([0x05, 0x34, 0x12, 0x05, 0x00]), Status.UNSUP_MANUF_CLUSTER_COMMAND),
        (bytes([0x04, 0x34, 0x12, 0x05, 0x00, 0x00]), Status.UNSUP_MANUF_GENERAL_COMMAND),
        (bytes([0x00, 0x05, 0x00, 0x11]), Status.MALFORMED_COMMAND),  # Read Attributes cut mid-id
    ],
)
def test_what_the_endpoint_does_not_serve_gets_the_zcl_status(zcl: bytes, status: Status) -> None:
    [reply] = make_server(VirtualClock(JAN_2026)).handle(from_device(BASIC_CLUSTER, zcl))
    assert default_response_status(reply) == status
    assert header_of(reply)[0].tsn == 0x05


@pytest.mark.parametrize(
    "zcl",
    [
        b"",
        b"\x18",
        bytes([0x18, 0x05, 0x0B, 0x00, 0x00]),  # a Default Response to the hub
        bytes([0x08, 0x05, 0x00, 0x00, 0x00]),  # reading Basic's client attributes
        bytes([0x09, 0x05, 0x00]),  # a server-to-client cluster command
    ],
)
def test_answers_and_non_frames_are_dropped(zcl: bytes) -> None:
    assert make_server(VirtualClock(JAN_2026)).handle(from_device(BASIC_CLUSTER, zcl)) == []


def test_only_the_se_endpoint_and_profile_are_handled() -> None:
    server = make_server(VirtualClock(JAN_2026))
    frame = from_device(BASIC_CLUSTER, read_attributes(1, [0x0011]))
    assert server.handles(frame)
    for other in (
        frame.__class__(**{**frame.__dict__, "dst_ep": 1}),
        frame.__class__(**{**frame.__dict__, "profile": 0x0104}),
        frame.__class__(**{**frame.__dict__, "cluster": 0x0019}),
    ):
        assert not server.handles(other)
        assert server.handle(other) == []


def test_bad_config_is_one_clear_error() -> None:
    with pytest.raises(HanConfigError) as error:
        HanConfig(time_zone="Mars/Olympus", close_tunnel_timeout=0)
    message = str(error.value)
    assert "\n" not in message
    assert "close_tunnel_timeout must be 1..65535" in message and "unknown time zone 'Mars/Olympus'" in message
