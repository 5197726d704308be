"""The fixture machinery itself: the HUBFW_HIL_* environment, and the real-bench back-end driven against the
simulated NCP under the system clock (the NCP stands in for a dongle, a simulated HCALCS for the DUT)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import pytest

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.clock import SystemClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.ota.image import OtaImage
from hubfw.sim import SimulatedNcp
from hubfw.sim.devices import SimulatedAir, hcalcs
from hubfw.sim.hil import HilConfigError, HilSettings, HilTimeout, RealBench, simulator_only

DUT = "00:0d:6f:00:00:0b:20:01"
INSTALL_CODE = "83FED3407A939723A5C639B26916D505C3B5"
WALL_TIMEOUT = 60.0  # real seconds; the transfer takes about one when all works


def test_no_port_means_the_simulator_with_a_ppmid() -> None:
    settings = HilSettings.from_env({})
    assert not settings.real and settings.device_type is DeviceType.PPMID


def test_a_real_bench_is_read_from_the_environment() -> None:
    settings = HilSettings.from_env({
        "HUBFW_HIL_PORT": "/dev/ttyUSB0", "HUBFW_HIL_DUT": DUT, "HUBFW_HIL_INSTALL_CODE": INSTALL_CODE,
        "HUBFW_HIL_DEVICE_TYPE": "HCALCS", "HUBFW_HIL_COORDINATOR": "zbt-1", "HUBFW_HIL_MANUFACTURER": "0x1234",
        "HUBFW_HIL_IMAGE_TYPE": "0x0102", "HUBFW_HIL_FILE_VERSION": "0x00000300",
    })
    assert settings.real and settings.dut == parse_eui64(DUT)
    assert settings.install_code == bytes.fromhex(INSTALL_CODE) and settings.device_type is DeviceType.HCALCS
    serial = settings.serial_settings()
    assert (serial.port, serial.baudrate, serial.flow_control) == ("/dev/ttyUSB0", 115200, "hardware")
    header = OtaImage.parse(settings.test_image()).header
    assert (header.manufacturer_code, header.image_type, header.file_version) == (0x1234, 0x0102, 0x300)


def test_the_bench_hub_credentials_are_a_comma_separated_list(tmp_path: Path) -> None:
    files = [tmp_path / "hub-suite2.json", tmp_path / "hub-suite1.json"]
    for file in files:
        file.write_text("{}")
    settings = HilSettings.from_env({"HUBFW_HIL_CBKE": f"{files[0]}, {files[1]}"})
    assert settings.cbke_files == tuple(files)
    assert HilSettings.from_env({}).cbke_files == ()


def test_a_ready_image_file_is_used_as_it_is(tmp_path: Path) -> None:
    image = HilSettings(manufacturer_code=1, image_type=2, file_version=3).test_image()
    (tmp_path / "dut.ota").write_bytes(image)
    assert HilSettings(image_path=tmp_path / "dut.ota").test_image() == image


@pytest.mark.parametrize(("env", "message"), [
    ({"HUBFW_HIL_PORT": "/dev/ttyUSB0"}, "needs both HUBFW_HIL_PORT and HUBFW_HIL_DUT"),
    ({"HUBFW_HIL_PORT": "/dev/ttyUSB0", "HUBFW_HIL_DUT": "00:0d:6f"}, "HUBFW_HIL_DUT: not an EUI-64: '00:0d:6f'"),
    ({"HUBFW_HIL_DEVICE_TYPE": "ihd"}, "HUBFW_HIL_DEVICE_TYPE='ihd' is not one of"),
    ({"HUBFW_HIL_INSTALL_CODE": "83FE-XYZ"}, "HUBFW_HIL_INSTALL_CODE must be hex digits"),
    ({"HUBFW_HIL_FILE_VERSION": "new"}, "HUBFW_HIL_FILE_VERSION must be a number"),
    ({"HUBFW_HIL_MANUFACTURER": "0x10000"}, "HUBFW_HIL_MANUFACTURER=0x10000 does not fit 16 bits"),
    ({"HUBFW_HIL_CHANNEL": "27"}, "HUBFW_HIL_CHANNEL=27 is not a 2.4 GHz Zigbee channel"),
    ({"HUBFW_HIL_CBKE": "hub-suite2.json,"}, "HUBFW_HIL_CBKE: no such credentials file: hub-suite2.json"),
])
def test_a_bad_environment_is_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(HilConfigError, match=message.replace("(", r"\(")) as caught:
        HilSettings.from_env(env)
    assert "\n" not in str(caught.value)


def test_a_real_bench_without_an_image_says_which_variables_to_set() -> None:
    with pytest.raises(HilConfigError, match="set HUBFW_HIL_IMAGE .* missing HUBFW_HIL_IMAGE_TYPE, HUBFW_HIL_FILE_VERSION"):
        HilSettings(manufacturer_code=0x1234).test_image()


@pytest.mark.hil
@simulator_only
async def test_the_real_bench_back_end_admits_flashes_and_times_out_on_the_wall_clock(tmp_path: Path) -> None:
    settings = HilSettings.from_env({
        "HUBFW_HIL_DUT": DUT, "HUBFW_HIL_INSTALL_CODE": INSTALL_CODE, "HUBFW_HIL_DEVICE_TYPE": "hcalcs",
        "HUBFW_HIL_MANUFACTURER": "0x1234", "HUBFW_HIL_IMAGE_TYPE": "0x0102", "HUBFW_HIL_FILE_VERSION": "0x200",
        "HUBFW_HIL_PORT": "pending", "HUBFW_HIL_CHANNEL": "15",
    })
    # no HUBFW_HIL_CBKE: the hub runs no key establishment, so it can send the DUT nothing APS-encrypted (no
    # real NCP holds a key the device shares before CBKE); a DUT without CBKE takes network security alone
    device = hcalcs(DUT, 0xB201, manufacturer_code=0x1234, image_type=0x0102, file_version=0x100,
                    install_code=settings.install_code, query_interval=None, notify_delay=0.1, block_delay=0.0,
                    max_data_size=128, aps_encrypted=False)
    han = SimulatedAir(SystemClock(), [device], join_retry=0.1)
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    port = await ncp.start()
    bench = RealBench(tmp_path / "hub", dataclasses.replace(settings, port=port))
    driver = asyncio.create_task(han.run(ncp))
    try:
        await bench.start()
        await bench.admit(bench.device_under_test, bench.dut_install_code)
        bench.distribute(bench.dut_image(), [device.ieee], DeviceType.HCALCS)
        alert = await bench.wait_for_alert(device.ieee, AlertCode.TRANSFER_SUCCESS, WALL_TIMEOUT)
        assert (alert.firmware_version, alert.transfer_response) == (0x200, TransferResponse.SUCCESS)
        with pytest.raises(HilTimeout, match=f"no alert 0x8F8B for {DUT} within 0 s .its alerts: 0x8F8A."):
            await bench.wait_for_alert(device.ieee, AlertCode.ACTIVATION, 0.0)
    finally:
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver
        await bench.stop()
        await ncp.stop()
