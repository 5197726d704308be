"""A PPMID with an open GBCS tunnel sends its own 0x8F8B: the version read waits for it, then stands in."""

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.alerts import AlertCode
from hubfw.devices import DeviceType
from tests.server.rig import NEW_VERSION, PPMID, make_bench

Status = foundation.Status
CURRENT_FILE_VERSION = 0x0002
GRACE = 300.0


def _confirm_version(bench) -> None:
    """Run the version read after activation and answer it with the new version."""
    bench.clock.set(bench.server.next_deadline())
    [read] = bench.server.tick()
    tsn = read.zcl[1]
    record = foundation.ReadAttributeRecord(
        CURRENT_FILE_VERSION, Status.SUCCESS, foundation.TypeValue(foundation.DataTypeId.uint32, t.uint32_t(NEW_VERSION))
    )
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
    header = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes_rsp)
    bench.server.handle(bench.frame(header.serialize() + schema(status_records=[record]).serialize()))


def _activations(bench) -> list:
    return [alert for alert in bench.store.alerts if alert.code is AlertCode.ACTIVATION]


def test_with_a_tunnel_the_version_read_waits_for_the_grace_period_then_records_the_alert() -> None:
    bench = make_bench(frozenset({PPMID}), tunnel_alert_grace=GRACE)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    _confirm_version(bench)
    confirmed_at = bench.clock.now()

    assert _activations(bench) == []
    assert bench.server.next_deadline() == confirmed_at + GRACE
    bench.clock.set(confirmed_at + GRACE - 1)
    assert bench.server.tick() == [] and _activations(bench) == []
    bench.clock.set(confirmed_at + GRACE)
    assert bench.server.tick() == []
    [alert] = _activations(bench)
    assert (alert.entity, alert.firmware_version, alert.source) == (PPMID, NEW_VERSION, "hub")
    assert bench.server.next_deadline() is None


def test_a_tunnel_alert_in_the_grace_period_ends_the_wait_without_a_second_alert() -> None:
    bench = make_bench(frozenset({PPMID}), tunnel_alert_grace=GRACE)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    _confirm_version(bench)

    bench.server.activation_reported(PPMID)

    assert bench.server.next_deadline() is None
    bench.clock.advance(2 * GRACE)
    assert bench.server.tick() == [] and _activations(bench) == []


def test_a_tunnel_alert_before_the_read_cancels_the_read() -> None:
    bench = make_bench(frozenset({PPMID}))
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    bench.server.activation_reported(PPMID)
    assert bench.server.next_deadline() is None


def test_without_a_tunnel_the_version_read_records_the_alert_at_once() -> None:
    bench = make_bench(tunnel_alert_grace=GRACE)
    bench.store.add_image(DeviceType.PPMID, [PPMID])
    bench.end()
    _confirm_version(bench)
    [alert] = _activations(bench)
    assert alert.firmware_version == NEW_VERSION
