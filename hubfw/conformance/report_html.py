"""`report.html`: the conformance report as one self-contained page a device maker can attach to a bug report.

The verdict table (scenario, verdict, evidence, faults), then each scenario's timeline — the DUT's bytes received
against the bench's clock during that scenario, with the faults the hub injected marked on it — and the device's
OTA client profile. Pictures are PNGs inlined as ``data:`` URIs, so the file needs nothing beside it; every piece
of text is HTML-escaped.

The timelines are hubfw.plots.timeline's: ``scenario_events`` turns the frames a scenario recorded (observe.Seen,
what the hub heard and sent) and its fault history entries into the OTA timeline's event form, ``scenario_timeline``
hands them to ``timeline_data`` (pure: tests assert on it), and only ``render_html`` draws (matplotlib, on use).
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from hubfw.plots.timeline import STALL_S, TimelineData, timeline_data

Report = Any
"""A `hubfw.conformance.report.ConformanceReport` (not imported: that module imports this one to write the page)."""
Result = Any
"""One of its `ScenarioResult`s."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1700px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.pass { background: #dff5df; } td.fail { background: #fbdcdc; } td.not-run { background: #eee; }
pre { margin: 0.3em 0; white-space: pre-wrap; font-size: 0.85em; }
img { width: 100%; max-width: 1600px; height: auto; border: 1px solid #ddd; }
section { margin-bottom: 2.5em; }
"""


def _get(frame: Any, name: str) -> Any:
    """A frame's attribute, as an observe.Seen or its ``to_json`` dict."""
    if isinstance(frame, Mapping):
        return frame.get("fields", frame) if name == "fields" else frame.get(name)
    return getattr(frame, name)


def frame_events(frames: Sequence[Any], dut: str, device_type: str) -> list[dict[str, Any]]:
    """The OTA timeline's events (hubfw.hub.ota_timeline) from a DUT's recorded frames: a query answered with an
    image of a new version starts a download (``distribute``), image data sent is ``data``, WAIT_FOR_DATA answers
    are ``wait`` periods (merged when they follow one another), ImageNotify, UpgradeEnd and its response marks."""
    events: list[dict[str, Any]] = []
    version: int | None = None
    waiting: dict[str, Any] | None = None
    for frame in frames:
        at, direction, name, fields = (_get(frame, "at"), _get(frame, "direction"), _get(frame, "name"),
                                       _get(frame, "fields") or {})
        base = {"t": at, "eui64": dut}
        if direction == "tx" and name == "image_notify":
            events.append({**base, "event": "notify"})
        elif direction == "tx" and name == "query_next_image_response" and fields.get("status") == "SUCCESS":
            if fields.get("file_version") != version:
                version = fields.get("file_version")
                events.append({**base, "event": "distribute", "device_type": device_type,
                               "file_version": None if version is None else f"0x{version:08X}",
                               "total_size": int(fields.get("image_size") or 0)})
        elif direction == "tx" and name == "image_block_response" and fields.get("status") == "SUCCESS":
            events.append({**base, "event": "data", "offset": int(fields["offset"]), "size": int(fields["size"])})
        elif direction == "tx" and name == "image_block_response" and fields.get("status") == "WAIT_FOR_DATA":
            until = at + max(0, int(fields.get("wait") or 0))
            if waiting is not None and at <= waiting["until"] + STALL_S:
                waiting["until"] = max(waiting["until"], until)
                waiting["answers"] += 1
            else:
                waiting = {**base, "event": "wait", "until": until, "answers": 1}
                events.append(waiting)
        elif direction == "rx" and name == "upgrade_end":
            events.append({**base, "event": "end", "status": fields.get("status")})
        elif direction == "tx" and name == "upgrade_end_response":
            events.append({**base, "event": "end_response"})
    return events


def fault_events(faults: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``fault`` events from a scenario's fault history entries (hubfw.hub.faults: ``time``, ``event``, ``kind`` and
    the fault's options): each set, cleared or expired entry is a mark (a window fault set with ``seconds`` spans its
    window); a run of ``acted`` entries of one kind is one mark spanning the run, labelled with how many."""
    events: list[dict[str, Any]] = []
    acted: dict[str, Any] | None = None
    for entry in faults:
        at, what, kind = entry.get("time"), str(entry.get("event", "")), str(entry.get("kind", "fault"))
        if at is None:
            continue
        if what == "acted":
            if acted is not None and acted["kind"] == kind:
                acted["count"] += 1
                acted["until"] = at
                acted["label"] = f"{kind} acted ×{acted['count']}"
                continue
            acted = {"t": at, "event": "fault", "kind": kind, "label": f"{kind} acted", "count": 1, "until": None}
            events.append(acted)
            continue
        acted = None
        options = {key: value for key, value in entry.items() if key not in ("time", "event", "kind", "times")
                   and value is not None and not isinstance(value, (dict, list))}
        detail = ", ".join(f"{key}={value}" for key, value in options.items()) if what == "set" else ""
        until = at + float(options["seconds"]) if what == "set" and isinstance(options.get("seconds"), (int, float)) \
            else None
        events.append({"t": at, "event": "fault", "kind": kind, "label": f"{kind} {what}" + (f" ({detail})" if detail
                                                                                            else ""),
                       "until": until})
    for event in events:
        event.pop("count", None)
    return events


def scenario_events(report: Report, result: Result) -> list[dict[str, Any]]:
    """Everything the scenario's timeline is drawn from, in the OTA timeline's event form: the scenario's start
    (with the bench's clock) and end, its frames and its faults."""
    events = frame_events(result.frames, report.dut, report.device_type) + fault_events(result.faults)
    times = [event["t"] for event in events]
    start = result.started_at if result.started_at is not None else min(times, default=0.0)
    end = start + result.duration_s if result.started_at is not None else max(times, default=start)
    return [{"t": start, "event": "start", "clock": report.clock}, *events, {"t": max(end, start), "event": "stop"}]


def scenario_timeline(report: Report, result: Result) -> TimelineData:
    """What the scenario's picture shows (hubfw.plots.timeline.timeline_data of ``scenario_events``)."""
    return timeline_data(scenario_events(report, result), names={report.dut: "(device under test)"},
                         source=f"{result.name}: {result.verdict}")


def timeline_png(data: TimelineData) -> bytes:
    """The timeline drawn (1600 × 900 px) as PNG bytes."""
    from hubfw.plots import common
    from hubfw.plots.timeline import draw_timeline

    return common.to_bytes(draw_timeline(data), "png")


def render_html(report: Report) -> str:
    """The page, as one string of HTML."""
    from hubfw.plots.common import PlotError

    counts = report.to_json()["summary"]
    title = f"Conformance run: {report.device_type} {report.dut}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(title)}</h1>",
           f"<p>Bench: {escape(report.bench)}. Result: <strong>{'passed' if report.passed else 'FAILED'}</strong> — "
           f"{counts['pass']} passed, {counts['fail']} failed, {counts['not-run']} not run.</p>"]
    if report.image:
        out.append("<p>Image: " + escape(", ".join(f"{key} {value}" for key, value in report.image.items())) + "</p>")
    out += ["<h2>Verdicts</h2>", "<table>",
            "<tr><th>scenario</th><th>verdict</th><th>evidence</th><th>faults</th></tr>"]
    for result in report.scenarios:
        evidence = json.dumps(result.evidence, indent=1, default=str)
        faults = "".join(f"<li>{escape(_fault_line(entry))}</li>" for entry in result.faults)
        out.append(f'<tr id="verdict-{escape(result.name, quote=True)}">'
                   f'<td><a href="#scenario-{escape(result.name, quote=True)}">{escape(result.name)}</a></td>'
                   f'<td class="{escape(result.verdict, quote=True)}">{escape(result.verdict)}</td>'
                   f"<td>{escape(result.summary())}<details><summary>all evidence</summary>"
                   f"<pre>{escape(evidence)}</pre></details></td>"
                   f"<td>{len(result.faults)}{f'<ul>{faults}</ul>' if faults else ''}</td></tr>")
    out += ["</table>", "<h2>Timelines</h2>",
            "<p>Bytes the device under test received against the bench's clock during each scenario; red dash-dot "
            "lines (and shaded windows) are the faults the hub injected, as its fault history recorded them.</p>"]
    for result in report.scenarios:
        what = result.description
        out.append(f'<section id="scenario-{escape(result.name, quote=True)}">')
        out.append(f"<h3>{escape(result.name)} — {escape(result.verdict)}</h3>")
        if what:
            out.append(f"<p>Checks: {escape(what)}.</p>")
        if result.why:
            out.append(f"<p>Why: {escape(result.why)}</p>")
        out.append(f"<p>{len(result.frames)} OTA frames, {len(result.faults)} fault history entries, "
                   f"{escape(f'{result.duration_s:.1f}')} s on the bench's clock.</p>")
        data = scenario_timeline(report, result)
        try:
            picture = base64.b64encode(timeline_png(data)).decode("ascii")
        except PlotError as exc:
            out.append(f"<p>(no picture: {escape(str(exc))})</p>")
        else:
            out.append(f'<img alt="{escape(data.title, quote=True)}" src="data:image/png;base64,{picture}">')
        out.append("</section>")
    out += ["<h2>OTA client profile (as the hub heard it)</h2>", "<table>", "<tr><th>field</th><th>value</th></tr>"]
    for key, value in report.client_profile.items():
        out.append(f"<tr><td>{escape(str(key))}</td><td>{escape(json.dumps(value, default=str))}</td></tr>")
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out += ["</table>", f"<p><small>Written by hubfw check-device at {escape(generated)}.</small></p>",
            "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _fault_line(entry: Mapping[str, Any]) -> str:
    rest = {key: value for key, value in entry.items() if key not in ("time", "event", "kind")}
    at = entry.get("time")
    when = f"{at:.1f}" if isinstance(at, (int, float)) else str(at)
    return f"{when}: {entry.get('kind', 'fault')} {entry.get('event', '')} {json.dumps(rest, default=str)}"
