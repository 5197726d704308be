"""The conformance report: `report.json`, a readable `report.txt`, JUnit XML `report.xml` and a self-contained page
`report.html` (hubfw.conformance.report_html: verdicts, each scenario's timeline with its faults, the client profile)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

VERDICTS = ("pass", "fail", "not-run")


@dataclass
class ScenarioResult:
    name: str
    verdict: str
    evidence: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    """On the bench's clock (virtual seconds on the simulator)."""
    wall_s: float = 0.0
    started_at: float | None = None
    """When the scenario began, on the bench's clock."""
    description: str = ""
    """What the scenario checks, in one line (the run's scenario table)."""
    frames: list[Any] = field(default_factory=list, repr=False, compare=False)
    """The DUT's OTA frames the hub heard and sent during the scenario (observe.Seen; not in report.json): what
    report.html draws the scenario's timeline from."""

    def summary(self) -> str:
        """Why, then the evidence that fits one line (at most 150 characters)."""
        shown = {key: value for key, value in self.evidence.items() if key not in ("alerts", "why")}
        text = ", ".join(f"{key}={value}" for key, value in shown.items() if not isinstance(value, (list, dict)))
        if self.why:
            text = f"{self.why}" + (f" ({text})" if text else "")
        return text if len(text) <= 150 else text[:147] + "..."

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict is one of {VERDICTS}, not {self.verdict!r}")

    @property
    def why(self) -> str:
        return str(self.evidence.get("why", ""))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "evidence": self.evidence, "faults": self.faults,
                "duration_s": round(self.duration_s, 3), "wall_s": round(self.wall_s, 3)}


@dataclass
class ConformanceReport:
    dut: str
    device_type: str
    bench: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    client_profile: dict[str, Any] = field(default_factory=dict)
    image: dict[str, Any] = field(default_factory=dict)
    clock: str = "wall"
    """The bench's clock: ``virtual`` (the simulator) or ``wall``; the x axis of report.html's timelines."""

    @property
    def passed(self) -> bool:
        """No scenario failed (not-run ones do not fail the run)."""
        return not any(result.verdict == "fail" for result in self.scenarios)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def verdicts(self) -> dict[str, str]:
        return {result.name: result.verdict for result in self.scenarios}

    def to_json(self) -> dict[str, Any]:
        counts = {verdict: sum(result.verdict == verdict for result in self.scenarios) for verdict in VERDICTS}
        return {"dut": self.dut, "device_type": self.device_type, "bench": self.bench, "image": self.image,
                "passed": self.passed, "summary": counts,
                "scenarios": [result.to_json() for result in self.scenarios], "client_profile": self.client_profile}

    def table(self) -> str:
        """The readable report: one line per scenario, then the client profile."""
        lines = [f"Conformance run: {self.device_type} {self.dut} on {self.bench}", ""]
        width = max([len(result.name) for result in self.scenarios] + [8])
        lines.append(f"{'scenario':<{width}}  verdict  faults  evidence")
        for result in self.scenarios:
            lines.append(f"{result.name:<{width}}  {result.verdict:<7}  {len(result.faults):>6}  {result.summary()}")
        counts = self.to_json()["summary"]
        lines += ["", f"{counts['pass']} passed, {counts['fail']} failed, {counts['not-run']} not run", "",
                  "OTA client profile (as the hub heard it):"]
        for key, value in self.client_profile.items():
            lines.append(f"  {key}: {json.dumps(value)}")
        return "\n".join(lines) + "\n"

    def junit(self) -> str:
        failures = sum(result.verdict == "fail" for result in self.scenarios)
        skipped = sum(result.verdict == "not-run" for result in self.scenarios)
        suite = ElementTree.Element("testsuite", name=f"hubfw conformance {self.device_type} {self.dut}",
                                    tests=str(len(self.scenarios)), failures=str(failures), skipped=str(skipped),
                                    errors="0", time=f"{sum(r.duration_s for r in self.scenarios):.3f}")
        for result in self.scenarios:
            case = ElementTree.SubElement(suite, "testcase", classname=f"conformance.{self.device_type}",
                                          name=result.name, time=f"{result.duration_s:.3f}")
            detail = json.dumps({"evidence": result.evidence, "faults": result.faults}, indent=1, default=str)
            if result.verdict == "fail":
                ElementTree.SubElement(case, "failure", message=result.why or "failed").text = detail
            elif result.verdict == "not-run":
                ElementTree.SubElement(case, "skipped", message=result.why or "not run")
            else:
                ElementTree.SubElement(case, "system-out").text = detail
        ElementTree.indent(suite)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suite, encoding="unicode") + "\n"

    def html(self) -> str:
        """The page (report_html.render_html; draws each scenario's timeline, importing matplotlib)."""
        from hubfw.conformance.report_html import render_html

        return render_html(self)

    def write(self, directory: Path) -> list[Path]:
        """report.json, report.txt, report.xml and report.html in `directory` (made if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / "report.json", directory / "report.txt", directory / "report.xml",
                 directory / "report.html"]
        paths[0].write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        paths[1].write_text(self.table())
        paths[2].write_text(self.junit())
        paths[3].write_text(self.html(), encoding="utf-8")
        return paths


