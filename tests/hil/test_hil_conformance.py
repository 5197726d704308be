"""The conformance run on the bench's device under test (the simulated PPMID in CI; a real one with
HUBFW_HIL_PORT and HUBFW_HIL_DUT): every scenario passes or is not run, and the report says why."""

from __future__ import annotations

import pytest

from hubfw.conformance import run_conformance
from hubfw.sim.hil import HilBench, real_bench_configured

QUICK = ["happy-path", "tunnel-8f8b", "resume-after-restart", "hardware-mismatch", "takeover-mid-transfer"]
"""In CI: a quick subset (tests/conformance runs every scenario, with the hub's faults, and the defects)."""


@pytest.mark.hil
async def test_the_device_under_test_passes_the_conformance_run(hil_bench: HilBench, test_image: bytes,
                                                                 tmp_path) -> None:
    scenarios = None if real_bench_configured() else QUICK
    report = await run_conformance(hil_bench, hil_bench.device_under_test, test_image, scenarios)
    report.write(tmp_path / "conformance")
    assert report.passed, report.table()
    assert all(result.verdict == "pass" or result.evidence.get("why") for result in report.scenarios)
    assert report.client_profile["requests_seen"] > 0
