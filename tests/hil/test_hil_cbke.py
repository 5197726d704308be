"""The GB HAN presence on the bench: the device under test completes CBKE with the hub, the hub opens its GBCS
tunnel (GBCS 10.2.2.1: the hub sends RequestTunnel to an ESME, HCALCS or PPMID) and it receives an image under its
link key; a PPMID's 0x8F8B comes through that tunnel. On the simulated bench (the hub is its own test CA) or on a
real one whose hub credentials HUBFW_HIL_CBKE names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.devices import DeviceType
from hubfw.ota.image import OtaImage
from hubfw.sim.hil import HilBench
from hubfw.sim.hil.settings import ENV_CBKE

KEY_ESTABLISHMENT_TIMEOUT = 600.0
"""Seconds (virtual on the simulator) from joining to a link key and an open tunnel: CBKE's generate times
are tens of seconds at most, and a device retries a refused step after a minute."""
TRANSFER_TIMEOUT = 4 * 3600.0
ACTIVATION_TIMEOUT = 3600.0


@pytest.mark.hil
async def test_the_dut_completes_cbke_the_hub_opens_its_tunnel_and_it_receives_an_image(
    hil_bench: HilBench, test_image: bytes, wait_for_alert: Callable[..., Awaitable[TransferAlert]]
) -> None:
    if not hil_bench.cbke:
        pytest.skip(f"the bench's hub has no CBKE credentials: set {ENV_CBKE}")
    if hil_bench.device_type is not DeviceType.PPMID:
        pytest.skip("the GBCS tunnel and its 0x8F8B are a PPMID's")
    dut = hil_bench.device_under_test
    version = OtaImage.parse(test_image).header.file_version
    await hil_bench.admit(dut, hil_bench.dut_install_code)

    await hil_bench.wait_until(lambda: hil_bench.han_view(dut)["tunnel"] == "open", KEY_ESTABLISHMENT_TIMEOUT)
    view = hil_bench.han_view(dut)
    assert view["key_establishment"] in ("suite1", "suite2")
    assert view["tunnel_opened_by"] == "hub"  # not a tunnel the PPMID had to request itself

    hil_bench.distribute(test_image, [dut], hil_bench.device_type)
    success = await wait_for_alert(dut, AlertCode.TRANSFER_SUCCESS, TRANSFER_TIMEOUT)
    assert success.firmware_version == version
    activation = await wait_for_alert(dut, AlertCode.ACTIVATION, ACTIVATION_TIMEOUT)
    assert (activation.firmware_version, activation.source) == (version, "tunnel")
