"""Faults on demand through the HIL bench: the hub corrupts one byte of what it serves the device under test, whose
own integrity check must refuse the image. Runs on the simulated NCP, or on a real bench."""

from __future__ import annotations

import pytest

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.hub.faults import Fault, FaultKind
from hubfw.sim.hil import HilBench, SimulatedBench

HOUR = 3600.0


@pytest.mark.hil
async def test_a_corrupted_byte_makes_the_device_under_test_refuse_the_image(hil_bench: HilBench,
                                                                            test_image: bytes) -> None:
    dut = hil_bench.device_under_test
    await hil_bench.admit(dut, hil_bench.dut_install_code)
    offset = len(test_image) // 2
    armed = hil_bench.set_fault(dut, Fault(FaultKind.BLOCK_CORRUPT, offset=offset))
    assert armed == {"eui64": str(dut), "kind": "block-corrupt", "times": 1, "offset": offset}
    assert hil_bench.hub.faults() == {str(dut): [{"kind": "block-corrupt", "times": 1, "offset": offset}]}

    hil_bench.distribute(test_image, [dut], hil_bench.device_type)
    failure = await hil_bench.wait_for_alert(dut, AlertCode.TRANSFER_FAILURE, 4 * HOUR)
    assert failure.transfer_response is not TransferResponse.SUCCESS
    assert AlertCode.TRANSFER_SUCCESS not in [alert.code for alert in hil_bench.alerts(dut)]
    acted = [entry for entry in hil_bench.fault_history(dut) if entry["event"] == "acted"]
    assert [(entry["kind"], entry["offset"]) for entry in acted] == [("block-corrupt", offset)]
    if isinstance(hil_bench, SimulatedBench):
        assert hil_bench.dut.completed_image is None or hil_bench.dut.completed_image != test_image
    assert hil_bench.clear_faults() == {"eui64": None, "cleared": 0}  # one-shot: already spent
