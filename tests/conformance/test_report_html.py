"""report.html: one self-contained page with a verdict row and an inlined PNG timeline per scenario, the injected
faults marked on the timeline (asserted on the data handed to the plotting call), and the client profile."""

from __future__ import annotations

import asyncio
import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hubfw.conformance import ConformanceReport, ScenarioResult, run_conformance
from hubfw.conformance.report_html import fault_events, frame_events, scenario_timeline
from hubfw.devices import DeviceType
from hubfw.plots.common import PIXELS, png_size
from hubfw.sim.hil import SIM_NEW_VERSION, SimulatedBench

SCENARIOS = ["happy-path", "wait-for-data", "corrupt-image-refused"]


class _Page(HTMLParser):
    """The rows of every table (cell texts) and every <img> src."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        elif tag == "details" and self._cell is not None:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "details":
            self._depth = max(0, self._depth - 1)

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._depth:
            self._cell.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ConformanceReport:
    async def run() -> ConformanceReport:
        bench = SimulatedBench(tmp_path_factory.mktemp("bench") / "bench")
        await bench.start()
        try:
            image = bench.image(DeviceType.PPMID, SIM_NEW_VERSION, payload_bytes=1_500)
            return await run_conformance(bench, bench.device_under_test, image, SCENARIOS)
        finally:
            await bench.stop()
    return asyncio.run(run())


def test_the_page_has_a_verdict_row_and_a_png_timeline_per_scenario(report: ConformanceReport,
                                                                      tmp_path: Path) -> None:
    assert report.verdicts() == dict.fromkeys(SCENARIOS, "pass")
    paths = report.write(tmp_path / "out")
    page_path = tmp_path / "out" / "report.html"
    assert page_path in paths
    page = _Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    page.close()
    verdicts = {row[0]: row[1] for row in page.rows if len(row) == 4 and row[0] != "scenario"}
    assert verdicts == dict.fromkeys(SCENARIOS, "pass")
    assert len(page.images) == len(SCENARIOS)
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert png_size(base64.b64decode(src[len(prefix):], validate=True)) == PIXELS
    profile = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert profile["max_data_size"] == "64"


def test_the_injected_faults_are_marked_on_the_scenarios_timeline(report: ConformanceReport) -> None:
    waited = next(result for result in report.scenarios if result.name == "wait-for-data")
    set_entry = next(entry for entry in waited.faults if entry["event"] == "set")
    assert set_entry["kind"] == "block-wait"
    data = scenario_timeline(report, waited)
    marks = {fault.at: fault for fault in data.faults}
    assert set_entry["time"] in marks
    assert marks[set_entry["time"]].until == pytest.approx(set_entry["time"] + set_entry["seconds"])
    assert "block-wait set" in marks[set_entry["time"]].label
    assert [span.kind for span in data.spans] == ["wait"]
    assert data.origin == waited.started_at and data.clock == "virtual"
    # the drawn series is the data the hub sent during the scenario
    sent = [seen for seen in waited.frames if seen.name == "image_block_response"
            and seen.fields.get("status") == "SUCCESS"]
    assert [level for _, level in data.series[0].points] == [seen.fields["offset"] + seen.fields["size"]
                                                             for seen in sent]
    happy = next(result for result in report.scenarios if result.name == "happy-path")
    assert happy.faults == [] and scenario_timeline(report, happy).faults == []


def test_events_from_frames_and_fault_history() -> None:
    frames = [
        {"at": 10.0, "direction": "tx", "name": "image_notify"},
        {"at": 11.0, "direction": "tx", "name": "query_next_image_response", "status": "SUCCESS",
         "file_version": 0x200, "image_size": 100},
        {"at": 12.0, "direction": "tx", "name": "image_block_response", "status": "SUCCESS", "offset": 0, "size": 50},
        {"at": 13.0, "direction": "tx", "name": "image_block_response", "status": "WAIT_FOR_DATA", "wait": 60},
        {"at": 73.0, "direction": "tx", "name": "image_block_response", "status": "WAIT_FOR_DATA", "wait": 60},
        {"at": 140.0, "direction": "tx", "name": "image_block_response", "status": "SUCCESS", "offset": 50,
         "size": 50},
        {"at": 141.0, "direction": "rx", "name": "upgrade_end", "status": "SUCCESS"},
    ]
    events = frame_events(frames, "dut", "ppmid")
    assert [event["event"] for event in events] == ["notify", "distribute", "data", "wait", "data", "end"]
    assert events[3]["until"] == 133.0 and events[3]["answers"] == 2
    faults = fault_events([{"time": 12.5, "event": "set", "kind": "block-wait", "seconds": 60, "times": None},
                           *[{"time": 13.0 + n, "event": "acted", "kind": "block-wait"} for n in range(3)],
                           {"time": 72.5, "event": "expired", "kind": "block-wait"}])
    assert [(event["t"], event["until"], event["label"]) for event in faults] == [
        (12.5, 72.5, "block-wait set (seconds=60)"), (13.0, 15.0, "block-wait acted ×3"),
        (72.5, None, "block-wait expired")]


def test_every_text_is_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    report = ConformanceReport("00:0d:6f:00:00:0b:00:01", "ppmid", f"bench {hostile}", [
        ScenarioResult("happy-path", "fail", {"why": hostile, "note": hostile},
                       [{"time": 5.0, "event": "set", "kind": hostile}], started_at=0.0, duration_s=10.0)],
        {"hostile": hostile})
    text = report.html()
    assert "<script>" not in text and "&lt;script&gt;" in text
    page = _Page()
    page.feed(text)
    assert len(page.images) == 1
