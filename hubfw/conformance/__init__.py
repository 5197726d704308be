"""The conformance run (issue 14): named scenarios against a device under test on any `HilBench`, each a verdict
with evidence, the DUT's OTA client profile as the hub heard it, and a report (JSON, table, JUnit XML)."""

from hubfw.conformance.report import ConformanceReport, ScenarioResult
from hubfw.conformance.run import SCENARIOS, Timeouts, run_conformance, run_conformance_sync

__all__ = ["SCENARIOS", "ConformanceReport", "ScenarioResult", "Timeouts", "run_conformance",
           "run_conformance_sync"]
