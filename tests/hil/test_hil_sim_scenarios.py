"""What only the simulator can stage: a hub restart and a device power cut mid-transfer, a fleet of six devices,
and a switched-off target among working ones. Every frame still crosses unmodified bellows on a pty."""

from __future__ import annotations

import logging

import pytest
import zigpy.types as t

from hubfw.alerts import AlertCode
from hubfw.devices import DeviceType
from hubfw.sim.devices import OtaClientDevice, Phase, PowerCut
from hubfw.sim.hil import SIM_NEW_VERSION, SIM_OLD_VERSION, SimulatedBench, simulator_only

pytestmark = [pytest.mark.hil, simulator_only]

DAY = 86_400.0
SUCCESS, FAILURE, ACTIVATION = AlertCode.TRANSFER_SUCCESS, AlertCode.TRANSFER_FAILURE, AlertCode.ACTIVATION


def block_offsets(device: OtaClientDevice, since: int = 0) -> list[int]:
    """The file offsets of the device's ImageBlockRequests, from its `since`-th on."""
    return [int(entry.command.file_offset) for entry in device.sent("image_block")[since:]]


def codes(bench: SimulatedBench, device: OtaClientDevice) -> list[AlertCode]:
    return [alert.code for alert in bench.alerts(device.ieee)]


def eui(last: int) -> t.EUI64:
    return t.EUI64.convert(f"00:0d:6f:00:00:0b:10:{last:02x}")


async def test_a_hub_restart_mid_transfer_resumes_from_the_device_offset(sim_bench: SimulatedBench) -> None:
    dut = sim_bench.dut
    await sim_bench.admit(dut.ieee, sim_bench.dut_install_code)
    image = sim_bench.dut_image()
    stored = sim_bench.distribute(image, [dut.ieee], DeviceType.PPMID)
    await sim_bench.wait_until(lambda: len(dut.download) >= len(image) // 2, DAY)

    await sim_bench.restart_hub()
    known = sim_bench.hub.app.devices[dut.ieee]  # from zigpy's database: the device did not rejoin
    assert known.is_initialized and known.endpoints[dut.identity.endpoint].profile_id == dut.identity.profile
    assert sim_bench.world.ncp.stats.callbacks["trustCenterJoinHandler"] == 0
    held, asked_before = len(dut.download), len(dut.sent("image_block"))
    (resident,) = sim_bench.hub.status()["images"]
    assert (resident["image_id"], resident["total_size"]) == (stored["image_id"], len(image))  # kept on flash
    assert 0 < resident["targets"][0]["offset"] <= held

    await sim_bench.wait_for_alert(dut.ieee, ACTIVATION, DAY)
    resumed = block_offsets(dut, asked_before)
    assert resumed[0] == held and min(resumed) == held, "the device was served from the start again"
    assert dut.completed_image == image and dut.current_file_version == SIM_NEW_VERSION
    assert codes(sim_bench, dut) == [SUCCESS, ACTIVATION]


async def test_a_device_power_cycle_mid_transfer_resumes_from_its_offset(sim_bench: SimulatedBench) -> None:
    image = sim_bench.image(DeviceType.PPMID, SIM_NEW_VERSION)
    cut_at = len(image) // 3
    device = sim_bench.device(DeviceType.PPMID, eui(0x01), 0xB101, power_cuts=(PowerCut(cut_at, 2 * 3600.0),))
    await sim_bench.add(device)
    sim_bench.distribute(image, [device.ieee], DeviceType.PPMID)
    await sim_bench.wait_until(lambda: not device.powered, DAY)
    held, asked_before = len(device.download), len(device.sent("image_block"))
    assert held >= cut_at

    await sim_bench.wait_for_alert(device.ieee, ACTIVATION, DAY)
    assert f"resuming at offset {held}" in device.notes()
    assert block_offsets(device, asked_before)[0] == held
    assert device.completed_image == image and device.current_file_version == SIM_NEW_VERSION
    assert codes(sim_bench, device) == [SUCCESS, ACTIVATION]


async def test_four_esmes_a_ppmid_and_an_hcalcs_are_flashed_together(sim_bench: SimulatedBench) -> None:
    esmes = [sim_bench.device(DeviceType.ESME, eui(0x10 + n), 0xB110 + n) for n in range(4)]
    prepayment = sim_bench.device(DeviceType.PPMID, eui(0x20), 0xB120)
    switch = sim_bench.device(DeviceType.HCALCS, eui(0x21), 0xB121)
    await sim_bench.add(*esmes, prepayment, switch)

    esme_image = sim_bench.image(DeviceType.ESME, SIM_NEW_VERSION)
    esme_stored = sim_bench.distribute(esme_image, [esme.ieee for esme in esmes], DeviceType.ESME)
    ppmid_stored = sim_bench.distribute(sim_bench.image(DeviceType.PPMID, SIM_NEW_VERSION), [prepayment.ieee],
                                        DeviceType.PPMID)
    assert (esme_stored["block"], ppmid_stored["block"]) == ("esme", "gsme")
    most_at_once = 0

    def first_wave_done() -> bool:
        nonlocal most_at_once
        most_at_once = max(most_at_once, sum(d.phase is Phase.DOWNLOADING for d in [*esmes, prepayment]))
        return all(SUCCESS in codes(sim_bench, esme) for esme in esmes) and ACTIVATION in codes(sim_bench, prepayment)

    await sim_bench.wait_until(first_wave_done, DAY)
    assert most_at_once == 5, "the ESME and PPMID downloads did not run in parallel"

    hcalcs_image = sim_bench.image(DeviceType.HCALCS, SIM_NEW_VERSION)
    hcalcs_stored = sim_bench.distribute(hcalcs_image, [switch.ieee], DeviceType.HCALCS)
    assert hcalcs_stored["block"] == "gsme"  # the finished PPMID image made way
    await sim_bench.wait_for_alert(switch.ieee, SUCCESS, DAY)
    assert switch.current_file_version == SIM_OLD_VERSION  # an HCALCS waits for its CS06 activation

    for device, stored in [*((esme, esme_stored) for esme in esmes), (switch, hcalcs_stored)]:
        sim_bench.hub.activate(device.ieee, bytes.fromhex(stored["manufacturer_image_sha256"]))
    flashed = [*esmes, prepayment, switch]
    await sim_bench.wait_until(lambda: all(d.current_file_version == SIM_NEW_VERSION for d in flashed), DAY)
    assert switch.completed_image == hcalcs_image and all(esme.completed_image == esme_image for esme in esmes)
    assert {device.ieee: codes(sim_bench, device) for device in flashed} == {
        **{esme.ieee: [SUCCESS] for esme in esmes}, prepayment.ieee: [SUCCESS, ACTIVATION], switch.ieee: [SUCCESS]}


async def test_a_switched_off_target_does_not_hold_up_the_others(sim_bench: SimulatedBench,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubfw.radio.intercept")
    working = sim_bench.device(DeviceType.PPMID, eui(0x30), 0xB130)
    switched_off = sim_bench.device(DeviceType.PPMID, eui(0x31), 0xB131)
    await sim_bench.add(working, switched_off)
    switched_off.power_off(sim_bench.world.clock.now())
    image = sim_bench.image(DeviceType.PPMID, SIM_NEW_VERSION)
    sim_bench.distribute(image, [working.ieee, switched_off.ieee], DeviceType.PPMID)

    await sim_bench.wait_for_alert(working.ieee, ACTIVATION, DAY)
    assert working.current_file_version == SIM_NEW_VERSION
    assert any(str(switched_off.ieee) in record.getMessage() and "not delivered" in record.getMessage()
               for record in caplog.records), "the NCP never reported a failed delivery"
    assert codes(sim_bench, switched_off) == []
    assert sim_bench.transfer(switched_off.ieee)["state"] == "waiting"

    switched_off.power_on(sim_bench.world.clock.now())  # back on the same day: it still gets its image
    await sim_bench.wait_for_alert(switched_off.ieee, ACTIVATION, DAY)
    assert switched_off.completed_image == image
    assert codes(sim_bench, switched_off) == [SUCCESS, ACTIVATION] and FAILURE not in codes(sim_bench, working)
