"""The short soak `make test` runs: 12 devices over 5 simulated days, and the negative controls that
show its checker catches a corrupted byte and a lost alert."""

from __future__ import annotations

import pytest
import soak
from soaklib import Faults, SoakConfig, SoakReport, run_soak

SHORT = SoakConfig(devices=12, days=5, seed=7, max_image_size=16 * 1024)


@pytest.fixture(scope="module")
def short_report() -> SoakReport:
    return run_soak(SHORT)


def test_short_soak_has_no_failures(short_report: SoakReport) -> None:
    assert short_report.failures == []
    assert short_report.passed


def test_short_soak_exercised_what_it_claims(short_report: SoakReport) -> None:
    """A soak that never cut power or replaced an image would pass vacuously."""
    report = short_report
    assert report.power_cuts > 0 and report.process_kills > 0 and report.hub_restarts >= report.power_cuts
    assert report.device_off_events > 0
    assert report.transfers_completed > 0
    assert report.discarded_mid_transfer > 0
    assert report.distributions["stored"] > 0
    assert report.air["image blocks received"] > 0
    assert report.flash["erases"] > 0 and report.flash["programs"] > 0
    assert report.simulated_days >= SHORT.days


def test_a_corrupted_byte_on_the_air_is_reported() -> None:
    report = run_soak(SoakConfig(devices=8, days=1, seed=3, max_image_size=8 * 1024, faults=Faults(corrupt_block=40)))
    assert not report.passed
    assert any("differs from the stored image" in failure for failure in report.failures)


def test_a_lost_terminal_alert_is_reported() -> None:
    report = run_soak(SoakConfig(devices=8, days=1, seed=3, max_image_size=8 * 1024,
                                 faults=Faults(drop_terminal_alert=2)))
    assert not report.passed
    assert any("never got a terminal alert" in failure for failure in report.failures)


def test_the_cli_rejects_a_fleet_without_every_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        soak.main(["--devices", "3"])
    assert exit_info.value.code == 2
    assert "at least 4 devices" in capsys.readouterr().err


def test_the_cli_prints_the_summary_and_exits_0_without_failures(capsys: pytest.CaptureFixture[str]) -> None:
    assert soak.main(["--devices", "4", "--days", "1", "--seed", "5", "--max-image-kib", "8"]) == 0
    out = capsys.readouterr().out
    assert "soak: 4 devices" in out and "failures: 0" in out
