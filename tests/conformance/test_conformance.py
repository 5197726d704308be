"""The conformance run judged against simulated PPMIDs, the hub injecting its own faults (`HilBench.set_fault`):
the well-behaved one passes every scenario, and each known defect fails exactly the scenarios it breaks (and
passes the others)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hubfw.conformance import SCENARIOS, ConformanceReport, ScenarioResult, run_conformance
from hubfw.devices import DeviceType
from hubfw.sim.devices import DEFECTS, DeviceConfigError, ppmid
from hubfw.sim.hil import SIM_NEW_VERSION, SimulatedBench

PAYLOAD = 1_500
"""Small images: 24 blocks each, so the nine runs stay well inside a minute."""

EXPECTED_FAILURES: dict[str | None, set[str]] = {
    None: set(),
    # The MinimumBlockPeriod comes in a WAIT_FOR_DATA: asking again at its own pace inside that wait breaks it too.
    "ignores-wait-for-data": {"wait-for-data", "minimum-block-period"},
    "restarts-from-zero": {"resume-after-silence", "resume-after-restart"},
    "activates-corrupt-image": {"corrupt-image-refused"},
    "ignores-image-notify": {"happy-path"},
    "ignores-minimum-block-period": {"minimum-block-period"},
    "reads-past-end": {"happy-path"},
    "no-8f8b": {"happy-path", "tunnel-8f8b"},
    "gives-up-after-silence": {"resume-after-silence"},
}


COMMAND_SCENARIOS = ["cs06-activation", "cs08-read-version"]
EXPECTED_COMMAND_FAILURES: dict[str | None, set[str]] = {
    None: set(),
    "activates-any-hash": {"cs06-activation"},
    "accepts-replays": {"cs06-activation"},
}
"""GBCS command defects, run on a simulated HCALCS (a PPMID gets no CS06)."""
NOT_RUN_FOR_A_PPMID = {"cs06-activation"}


def test_every_defect_has_an_expectation() -> None:
    assert (set(EXPECTED_FAILURES) | set(EXPECTED_COMMAND_FAILURES)) - {None} == set(DEFECTS)
    assert not (set(EXPECTED_FAILURES) & set(EXPECTED_COMMAND_FAILURES)) - {None}
    assert all(expected <= set(SCENARIOS) for expected in [*EXPECTED_FAILURES.values(),
                                                          *EXPECTED_COMMAND_FAILURES.values()])


@pytest.mark.parametrize("defect", list(EXPECTED_COMMAND_FAILURES), ids=lambda defect: defect or "well-behaved")
async def test_the_cs06_and_cs08_scenarios_fail_exactly_what_the_defect_breaks(defect: str | None,
                                                                                tmp_path: Path) -> None:
    bench = SimulatedBench(tmp_path / "bench", DeviceType.HCALCS,
                           dut_options={"defects": {defect} if defect else set()})
    await bench.start()
    try:
        image = bench.image(DeviceType.HCALCS, SIM_NEW_VERSION, payload_bytes=PAYLOAD)
        report = await run_conformance(bench, bench.device_under_test, image, COMMAND_SCENARIOS)
    finally:
        await bench.stop()
    failed = {name for name, verdict in report.verdicts().items() if verdict == "fail"}
    assert list(report.verdicts()) == COMMAND_SCENARIOS and "not-run" not in report.verdicts().values(), report.table()
    assert failed == EXPECTED_COMMAND_FAILURES[defect], report.table()
    cs06, cs08 = (result.evidence for result in report.scenarios)
    assert cs06["wrong_hash"]["response_code_name"] == ("SUCCESS" if defect == "activates-any-hash" else "HASH_MISMATCH")
    assert cs06["replay_answers"] == (1 if defect == "accepts-replays" else 0)
    if defect is None:
        assert cs06["right_hash"]["response_code_name"] == "SUCCESS" and cs06["right_hash"]["signature"] == "valid"
        assert (cs08["firmware_version"], cs08["mac"]) == (cs06["version"], "valid"), cs08


def test_an_unknown_defect_is_refused() -> None:
    with pytest.raises(DeviceConfigError, match="unknown defect"):
        ppmid("00:0d:6f:00:00:0b:99:01", 0x1234, manufacturer_code=1, image_type=1, file_version=1,
              defects={"eats-images"})


@pytest.mark.parametrize("defect", list(EXPECTED_FAILURES), ids=lambda defect: defect or "well-behaved")
async def test_the_run_fails_exactly_what_the_defect_breaks(defect: str | None, tmp_path: Path) -> None:
    bench = SimulatedBench(tmp_path / "bench", dut_options={"defects": {defect} if defect else set()})
    await bench.start()
    try:
        image = bench.image(DeviceType.PPMID, SIM_NEW_VERSION, payload_bytes=PAYLOAD)
        report = await run_conformance(bench, bench.device_under_test, image)
    finally:
        await bench.stop()
    verdicts = report.verdicts()
    assert list(verdicts) == list(SCENARIOS)
    failed = {name for name, verdict in verdicts.items() if verdict == "fail"}
    assert failed == EXPECTED_FAILURES[defect], report.table()
    assert {name for name, verdict in verdicts.items() if verdict == "not-run"} == NOT_RUN_FOR_A_PPMID, report.table()
    assert report.exit_code == (1 if failed else 0)
    faulted = {result.name: result.faults for result in report.scenarios}
    assert any(entry["event"] == "acted" and entry["kind"] == "block-corrupt"
               for entry in faulted["corrupt-image-refused"])
    profile = report.client_profile
    assert (profile["max_data_size"], profile["transfer_by"], profile["sends_hardware_version"]) == (64, "blocks", True)
    assert profile["upgrade_end_statuses"].get("INVALID_IMAGE" if defect != "activates-corrupt-image" else "SUCCESS")
    assert (profile["requests_past_end"] > 0) == (defect == "reads-past-end")
    if defect is None:
        assert profile["block_request_minimum_block_period_field"] and profile["time_to_download_s"]
        assert profile["notify_to_query_s"] is not None and profile["block_requests_per_s"] > 0


def test_the_report_files(tmp_path: Path) -> None:
    report = ConformanceReport("00:0d:6f:00:00:0b:00:01", "ppmid", "simulated bench", [
        ScenarioResult("happy-path", "pass", {"version": "0x00000200"}),
        ScenarioResult("wait-for-data", "fail", {"why": "asked again after 0.1 s of a 300 s wait"},
                       [{"event": "acted", "kind": "block-wait", "seconds": 300}]),
        ScenarioResult("resume-after-restart", "not-run", {"why": "the bench cannot restart the hub"}),
    ], {"max_data_size": 64})
    json_path, text_path, xml_path, html_path = report.write(tmp_path / "out")
    assert html_path.name == "report.html" and "wait-for-data" in html_path.read_text()
    data = json.loads(json_path.read_text())
    assert [(entry["name"], entry["verdict"]) for entry in data["scenarios"]] == [
        ("happy-path", "pass"), ("wait-for-data", "fail"), ("resume-after-restart", "not-run")]
    assert data["client_profile"] == {"max_data_size": 64} and data["passed"] is False
    assert report.exit_code == 1
    table = text_path.read_text()
    assert "wait-for-data" in table and "asked again after 0.1 s" in table and "1 passed, 1 failed, 1 not run" in table
    suite = ElementTree.parse(xml_path).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert suite.find("testcase[@name='wait-for-data']/failure") is not None
    with pytest.raises(ValueError):
        ScenarioResult("x", "maybe")
