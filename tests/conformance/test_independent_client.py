"""The conformance run judges a device that is none of hubfw's simulated devices: `IndependentOtaClient`, an OTA
client written with zigpy's own ZCL schemas, joined to the hub's radio on the simulated air, through the Python API.
Its verdicts follow what that client does: it passes what it handles, fails what it does not (it checks no
image integrity; in one mode it ignores WAIT_FOR_DATA), and what it cannot be asked is reported not run."""

from __future__ import annotations

from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.conformance import SCENARIOS, run_conformance
from hubfw.devices import DeviceType
from hubfw.sim.hil import SIM_NEW_VERSION, SIM_OLD_VERSION, SimulatedBench
from hubfw.sim.hil.bench import SIM_IMAGE_TYPES, SIM_MANUFACTURER
from tests.conformance.independent_client import IndependentOtaClient

CLIENT = t.EUI64.convert("00:0d:6f:00:00:0c:00:01")
NOT_RUN = {"cbke-foreign-ca": "the hub runs no key establishment", "tunnel-8f8b": "only a PPMID raises its own 0x8F8B",
           "cs06-activation": "the hub runs no key establishment, so the DUT has no GBCS tunnel",
           "cs08-read-version": "the hub runs no key establishment, so the DUT has no GBCS tunnel"}
"""It runs no CBKE (so the bench's hub runs none, and it has no GBCS tunnel) and is not a PPMID."""
ALWAYS_FAILS = {"corrupt-image-refused"}
"""It checks no integrity: it ends a corrupted download with SUCCESS and activates it."""


@pytest.mark.parametrize("ignores_wait", [False, True], ids=["behaves", "ignores-wait-for-data"])
async def test_verdicts_match_the_independent_clients_behaviour(ignores_wait: bool, tmp_path: Path) -> None:
    bench = SimulatedBench(tmp_path / "bench", DeviceType.HCALCS, cbke=False)
    await bench.start()
    client = IndependentOtaClient(CLIENT, 0xC001, SIM_MANUFACTURER, SIM_IMAGE_TYPES[DeviceType.HCALCS],
                                  SIM_OLD_VERSION, ignores_wait_for_data=ignores_wait)
    try:
        await bench.add(client)
        image = bench.image(DeviceType.HCALCS, SIM_NEW_VERSION, payload_bytes=1_500)
        report = await run_conformance(bench, CLIENT, image, device_type=DeviceType.HCALCS)
    finally:
        await bench.stop()
    verdicts = report.verdicts()
    expected_fail = ALWAYS_FAILS | ({"wait-for-data"} if ignores_wait else set())
    assert verdicts == {name: "not-run" if name in NOT_RUN else "fail" if name in expected_fail else "pass"
                        for name in SCENARIOS}, report.table()
    why = {result.name: result.evidence.get("why", "") for result in report.scenarios}
    assert all(why[name] == reason for name, reason in NOT_RUN.items())
    assert "INVALID_IMAGE" in why["corrupt-image-refused"]
    if ignores_wait:
        assert why["wait-for-data"].startswith("asked again after 1.0 s of a 300 s wait")
    assert client.file_version > SIM_NEW_VERSION  # it really flashed and activated what the run distributed
    profile = report.client_profile
    assert (profile["max_data_size"], profile["transfer_by"], profile["sends_hardware_version"]) == (48, "blocks", True)
