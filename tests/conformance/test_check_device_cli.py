"""`hubfw check-device` on the simulated bench: report files, the exit code, and the known defects."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hubfw.cli.main import main
from hubfw.sim.devices import DEFECTS


def test_list_defects_prints_every_name() -> None:
    result = CliRunner().invoke(main, ["check-device", "--list-defects"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(DEFECTS)


def test_a_sim_run_writes_the_report_and_exits_by_its_verdicts(tmp_path: Path) -> None:
    args = ["check-device", "--sim", "--scenario", "happy-path", "--scenario", "tunnel-8f8b"]
    good = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "good")])
    assert good.exit_code == 0, good.output
    data = json.loads((tmp_path / "good" / "report.json").read_text())
    assert [(entry["name"], entry["verdict"]) for entry in data["scenarios"]] == [
        ("happy-path", "pass"), ("tunnel-8f8b", "pass")]
    assert data["client_profile"]["max_data_size"] == 64
    assert (tmp_path / "good" / "report.xml").read_text().startswith("<?xml")
    assert "happy-path" in (tmp_path / "good" / "report.txt").read_text()
    assert (tmp_path / "good" / "report.html").read_text().startswith("<!DOCTYPE html>")

    bad = CliRunner().invoke(main, [*args, "--sim-defect", "no-8f8b", "--report", str(tmp_path / "bad")])
    assert bad.exit_code == 1
    data = json.loads((tmp_path / "bad" / "report.json").read_text())
    assert {entry["name"]: entry["verdict"] for entry in data["scenarios"]} == {"happy-path": "fail",
                                                                               "tunnel-8f8b": "fail"}


def test_a_run_needs_its_device_and_image() -> None:
    result = CliRunner().invoke(main, ["check-device", "00:0d:6f:00:00:0b:00:01"])
    assert result.exit_code != 0 and "needs EUI64 and --image" in result.output
    result = CliRunner().invoke(main, ["check-device", "--sim-defect", "no-8f8b"])
    assert result.exit_code != 0 and "--sim-defect needs --sim" in result.output
