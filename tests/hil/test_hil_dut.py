"""The bench job on the device under test: admit it, distribute its image, watch the transfer, check the
alerts and the version it runs. Runs on the simulated NCP, or on a real bench (HUBFW_HIL_PORT, HUBFW_HIL_DUT)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.ota.image import OtaImage
from hubfw.sim.hil import HilBench, SimulatedBench, watch_transfer

HOUR = 3600.0
TRANSFER_TIMEOUT = 4 * HOUR
"""Seconds (virtual on the simulator): a real 750 KB transfer to a mains-powered device takes well under this."""
SLEEPY_TRANSFER_TIMEOUT = 48 * HOUR
"""A battery gas meter paces its own block requests and may take most of a day."""
ACTIVATION_TIMEOUT = 3600.0
"""The hub reads a PPMID's version a minute after telling it to activate, and retries for ten minutes."""


@pytest.mark.hil
async def test_the_device_under_test_is_flashed_and_runs_the_new_version(
    hil_bench: HilBench, test_image: bytes, wait_for_alert: Callable[..., Awaitable[TransferAlert]]
) -> None:
    dut = hil_bench.device_under_test
    version = OtaImage.parse(test_image).header.file_version
    await hil_bench.admit(dut, hil_bench.dut_install_code)
    assert dut in hil_bench.hub.app.devices

    timeout = SLEEPY_TRANSFER_TIMEOUT if hil_bench.device_type is DeviceType.GSME else TRANSFER_TIMEOUT
    stored = hil_bench.distribute(test_image, [dut], hil_bench.device_type)
    offsets = await watch_transfer(hil_bench, dut, timeout)
    assert offsets == sorted(offsets), "the hub's record of the transfer went backwards"
    assert any(0 < offset < len(test_image) for offset in offsets), "no progress was seen mid-transfer"

    success = await wait_for_alert(dut, AlertCode.TRANSFER_SUCCESS, timeout)
    assert (success.firmware_version, success.transfer_response) == (version, TransferResponse.SUCCESS)
    if hil_bench.device_type.activates_immediately:
        activation = await wait_for_alert(dut, AlertCode.ACTIVATION, ACTIVATION_TIMEOUT)
        assert activation.firmware_version == version
        assert [alert.code for alert in hil_bench.alerts(dut)] == [AlertCode.TRANSFER_SUCCESS, AlertCode.ACTIVATION]
        return
    assert [alert.code for alert in hil_bench.alerts(dut)] == [AlertCode.TRANSFER_SUCCESS]
    answer = await hil_bench.activate(dut, bytes.fromhex(stored["manufacturer_image_sha256"]), ACTIVATION_TIMEOUT)
    if "command" in answer:  # CS06 through the DUT's tunnel; a plain Zigbee DUT (HUBFW_HIL_ACTIVATION=zcl) has no answer
        assert (answer["response_code_name"], answer["firmware_version"], answer["authentic"]) == (
            "SUCCESS", f"0x{version:08X}", True)
    if isinstance(hil_bench, SimulatedBench):  # a meter or HCALCS reports no activation alert: look at the device
        await hil_bench.wait_until(lambda: hil_bench.dut.current_file_version == version, ACTIVATION_TIMEOUT)
