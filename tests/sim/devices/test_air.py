"""`SimulatedAir`: routing coordinator frames, joining, and the drivers for virtual and real time."""

import asyncio

import pytest
from zigpy.zcl.clusters.general import Ota

from hubfw.clock import VirtualClock
from hubfw.sim.devices import AirError, SimulatedAir, esme, gsme
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.zcl import read_attributes
from tests.sim.devices.rig import HUB_IEEE, IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui

IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}
READ_VERSION = read_attributes(5, [Ota.AttributeDefs.current_file_version.id])


class RecordingUplink:
    """Stands in for the NCP: remembers what devices sent, admits joins unless told not to."""

    def __init__(self, admit: bool = True) -> None:
        self.admit = admit
        self.received: list[ApsFrame] = []
        self.joins: list[tuple] = []

    def receive(self, frame: ApsFrame) -> bool:
        self.received.append(frame)
        return True

    def join(self, ieee, nwk, install_code) -> bool:
        self.joins.append((ieee, nwk, install_code))
        return self.admit


def to(device, nwk: int | None = None, ieee=None) -> ApsFrame:
    return ApsFrame(HUB_IEEE, 0x0000, ieee or device.ieee, device.identity.nwk if nwk is None else nwk,
                    0x0109, Ota.cluster_id, 1, 1, READ_VERSION, aps_encrypted=True)


def han_with(*devices, admit: bool = True):
    clock = VirtualClock()
    han = SimulatedAir(clock, devices)
    uplink = RecordingUplink(admit)
    han.attach(uplink)
    han.step()
    return clock, han, uplink


def test_devices_answer_after_deliver_returns_in_the_next_step():
    meter = esme(eui(1), 0x2001, install_code=bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5"), **IDENTITY)
    _, han, uplink = han_with(meter)
    assert han.devices == [meter] and han.device(meter.ieee) is meter
    assert uplink.joins == [(meter.ieee, meter.identity.nwk, meter.identity.install_code)]
    assert han.deliver(to(meter)) is True
    assert uplink.received == []
    assert han.step() == 1
    assert uplink.received[0].src_ieee == meter.ieee and uplink.received[0].dst_nwk == 0x0000


def test_delivery_fails_for_absent_unjoined_or_unpowered_devices():
    meter, other = esme(eui(1), 0x2001, **IDENTITY), esme(eui(2), 0x2002, **IDENTITY)
    clock, han, uplink = han_with(meter, admit=False)
    assert han.deliver(to(meter)) is False  # joining refused so far
    assert han.deliver(to(other)) is False  # not on this HAN
    uplink.admit = True
    clock.advance(30)
    han.step()
    assert han.deliver(to(meter, ieee=other.ieee)) is True  # routed by NWK when the EUI-64 is unknown
    meter.power_off(clock.now())
    assert han.deliver(to(meter)) is False
    assert len(uplink.joins) == 2


def test_broadcasts_reach_sleepy_devices_only_when_addressed_to_everyone():
    meter, gas = esme(eui(1), 0x2001, **IDENTITY), gsme(eui(2), 0x2002, **IDENTITY)
    clock, han, uplink = han_with(meter, gas)
    han.deliver(to(meter, nwk=0xFFFD))
    han.step()
    assert [frame.src_ieee for frame in uplink.received] == [meter.ieee]

    han.deliver(to(meter, nwk=0xFFFF))
    han.step()
    assert len(uplink.received) == 2  # the gas meter holds its copy until it polls
    clock.set(han.next_deadline())
    han.step()
    assert [frame.src_ieee for frame in uplink.received[2:]] == [gas.ieee]


def test_setup_errors_are_clear():
    meter = esme(eui(1), 0x2001, **IDENTITY)
    han = SimulatedAir(VirtualClock(), [meter])
    with pytest.raises(AirError, match="no uplink"):
        han.step()
    with pytest.raises(AirError, match="already on the HAN"):
        han.add(esme(eui(3), 0x2001, **IDENTITY))


async def test_run_drives_devices_and_wakes_on_delivery():
    clock = VirtualClock()
    meter = esme(eui(1), 0x2001, **IDENTITY)
    han = SimulatedAir(clock, [meter])
    uplink = RecordingUplink()
    task = asyncio.create_task(han.run(uplink))
    try:
        for _ in range(3):
            await asyncio.sleep(0)
        assert meter.joined
        han.deliver(to(meter))
        for _ in range(3):
            await asyncio.sleep(0)
        assert [frame.payload[1] for frame in uplink.received] == [5]  # the read's TSN, answered
        clock.set(meter.next_deadline())  # a scenario jumps virtual time and wakes the driver
        han.wake()
        for _ in range(3):
            await asyncio.sleep(0)
        assert meter.sent("query_next_image")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_stops_when_cancelled_as_a_wake_up_arrives():
    """A cancel in the same loop turn as a wake-up must end `run` (3.11's wait_for swallowed it)."""
    clock = VirtualClock()
    han = SimulatedAir(clock, [esme(eui(1), 0x2001, **IDENTITY)])
    task = asyncio.create_task(han.run(RecordingUplink(admit=False)))  # a refused join leaves a retry deadline
    for _ in range(3):
        await asyncio.sleep(0)
    assert han.next_deadline() is not None and not task.done()
    han.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)  # a guard against hanging, not a timing assertion
    assert task in done and task.cancelled()
