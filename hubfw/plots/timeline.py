"""Download timelines: bytes received against the hub's clock, one line per device, with the OTA events marked.

Two steps, so tests can check what is drawn without looking at pixels:

* ``timeline_data(events, names=…)`` is pure: from the hub's OTA event timeline (hubfw.hub.ota_timeline, read
  with ``read_timeline``) it computes each device's series of (time, bytes received) — a new download starts
  a new piece of the same line — and the marks: WAIT_FOR_DATA periods, stalls (no data for longer than
  ``STALL_S`` while not told to wait, or a download that stopped short of its image), hub restarts,
  ImageNotify and UpgradeEnd (the device's request and the hub's answer), and faults the hub injected on purpose
  (``fault`` events: ``label``, optionally ``until`` for a window; the conformance report's page draws them).
* ``render_timeline(data, paths)`` only draws that with matplotlib (imported on use; hubfw/plots/common.py)
  and saves one file per path, PNG or SVG by suffix.

The x axis is the hub's clock: days since the first event on a virtual clock (the demo, a simulated hub),
UTC wall time on a bench.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STALL_S = 300.0
"""No image data for longer than this (hub seconds), without a WAIT_FOR_DATA answer covering it, is a stall.
The recorder's GAP_S (hubfw.hub.ota_timeline, a higher layer) is the same, so every such pause is recorded."""
DAY = 86_400.0
MARK_KINDS = {"notify": "ImageNotify sent", "end": "UpgradeEnd received", "end_response": "UpgradeEndResponse sent"}


@dataclass
class Series:
    """One device: its label and its downloads, each a list of (hub time, bytes received)."""

    eui64: str
    label: str
    device_type: str | None
    downloads: list[list[tuple[float, int]]] = field(default_factory=list)

    @property
    def points(self) -> list[tuple[float, int]]:
        return [point for download in self.downloads for point in download]


@dataclass(frozen=True)
class Span:
    """A WAIT_FOR_DATA period or a stall of one device, drawn at its byte count then."""

    eui64: str
    kind: str  # "wait" or "stall"
    start: float
    end: float
    level: int


@dataclass(frozen=True)
class Mark:
    """An ImageNotify, UpgradeEnd or UpgradeEndResponse of one device, at its byte count then."""

    eui64: str
    kind: str
    at: float
    level: int
    detail: str | None = None


@dataclass(frozen=True)
class FaultMark:
    """A fault the hub injected (set, acted, cleared…): a vertical line at ``at``, a span to ``until`` if any."""

    at: float
    label: str
    until: float | None = None


@dataclass
class TimelineData:
    series: list[Series]
    spans: list[Span]
    marks: list[Mark]
    restarts: list[float]
    clock: str  # "virtual" or "wall"
    origin: float
    end: float
    title: str
    faults: list[FaultMark] = field(default_factory=list)

    def x(self, at: float) -> float | datetime.datetime:
        """Where hub time ``at`` sits on the x axis: virtual days since the origin, or a UTC datetime."""
        if self.clock == "virtual":
            return (at - self.origin) / self.unit[1]
        return datetime.datetime.fromtimestamp(at, datetime.UTC)

    @property
    def unit(self) -> tuple[str, float]:
        """The virtual clock's x unit: days, or hours/minutes when the window is shorter than two of the next."""
        span = self.end - self.origin
        return ("days", DAY) if span >= 2 * DAY else ("hours", 3600.0) if span >= 7200 else ("minutes", 60.0)

    @property
    def x_label(self) -> str:
        if self.clock == "virtual":
            start = datetime.datetime.fromtimestamp(self.origin, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
            return f"virtual {self.unit[0]} since {start} UTC (the hub's clock)"
        return "UTC (the hub's clock)"


def timeline_data(events: Sequence[Mapping[str, Any]], *, names: Mapping[str, str] | None = None,
                  source: str = "", since: float | None = None, until: float | None = None) -> TimelineData:
    """Series and marks from the recorded events (in any order: they are sorted by time); ``since`` (inclusive)
    and ``until`` (exclusive), in hub time, keep only the events in that window, e.g. one act of the demo."""
    names = names or {}
    ordered = sorted((event for event in events if (since is None or event["t"] >= since)
                      and (until is None or event["t"] < until)), key=lambda event: event["t"])
    starts = [event for event in ordered if event["event"] == "start"]
    clock = "virtual" if any(event.get("clock") == "virtual" for event in events if event["event"] == "start") \
        else "wall"
    origin = ordered[0]["t"] if ordered else 0.0
    end = ordered[-1]["t"] if ordered else 0.0
    series: dict[str, Series] = {}
    totals: dict[str, int] = {}
    level: dict[str, int] = {}
    fresh: dict[str, bool] = {}
    ended: dict[str, bool] = {}
    spans: list[Span] = []
    marks: list[Mark] = []
    faults: list[FaultMark] = []

    def device(eui64: str) -> Series:
        if eui64 not in series:
            series[eui64] = Series(eui64, eui64, None)
        return series[eui64]

    for event in ordered:
        kind, eui64 = event["event"], event.get("eui64")
        if kind == "fault":
            until = event.get("until")
            faults.append(FaultMark(event["t"], str(event.get("label", "fault")), None if until is None else until))
            continue
        if eui64 is None:
            continue
        target = device(eui64)
        if kind == "distribute":
            target.device_type = event.get("device_type")
            totals[eui64] = int(event["total_size"])
            fresh[eui64], ended[eui64] = True, False
        elif kind == "data":
            received = int(event["offset"]) + int(event["size"])
            current = target.downloads[-1] if target.downloads else None
            if current is None or fresh.get(eui64) or int(event["offset"]) < current[-1][1] - int(event["size"]):
                target.downloads.append([])
                fresh[eui64] = False
            target.downloads[-1].append((event["t"], received))
            level[eui64] = received
        elif kind == "wait":
            spans.append(Span(eui64, "wait", event["t"], event["until"], level.get(eui64, 0)))
        elif kind in MARK_KINDS:
            if kind == "end":
                ended[eui64] = True
            marks.append(Mark(eui64, kind, event["t"], level.get(eui64, 0), event.get("status")))
    for target in series.values():
        target.label = _label(target, names.get(target.eui64))
        spans.extend(_stalls(target, [span for span in spans if span.eui64 == target.eui64],
                             [mark for mark in marks if mark.eui64 == target.eui64], end))
    spans.sort(key=lambda span: (span.start, span.eui64))
    restarts = [event["t"] for event in starts[1:]]
    downloading = [target for target in series.values() if target.downloads]
    title = (f"OTA downloads{f' — {source}' if source else ''}: {len(downloading)} of {len(series)} targets "
             f"received image data; {len(restarts)} hub restart{'s' if len(restarts) != 1 else ''}")
    if faults:
        title += f"; {len(faults)} fault mark{'s' if len(faults) != 1 else ''}"
    return TimelineData(list(series.values()), spans, marks, restarts, clock, origin, end, title, faults)


def draw_timeline(data: TimelineData):
    """The matplotlib Figure (1600 × 900 px) of ``data``; save it with hubfw.plots.common.save."""
    from hubfw.plots import common

    with common.style():
        return _draw(data, common.new_figure())


def render_timeline(data: TimelineData, paths: Sequence[str | Path]) -> list[Path]:
    """Draw ``data`` once and save it to each path, PNG or SVG by suffix."""
    from hubfw.plots import common

    for path in paths:
        common.format_of(path)
    return common.save_all(draw_timeline(data), list(paths))


def _label(target: Series, name: str | None) -> str:
    parts = [target.eui64]
    if target.device_type:
        parts.append(target.device_type.upper())
    if name:
        parts.append(name)
    if not target.downloads:
        parts.append("(no image data)")
    return " ".join(parts)


def _stalls(target: Series, waits: list[Span], marks: list[Mark], end: float) -> list[Span]:
    """Pauses longer than STALL_S inside a download not covered by a wait, and a download that stopped short."""
    def waited(start: float, stop: float) -> bool:
        return any(span.start <= stop and span.end >= start for span in waits)

    stalls = []
    for index, download in enumerate(target.downloads):
        for (before, level), (after, _) in zip(download, download[1:], strict=False):
            if after - before > STALL_S and not waited(before, after):
                stalls.append(Span(target.eui64, "stall", before, after, level))
        last_at, last_level = download[-1]
        finished = any(mark.kind in ("end", "end_response") and mark.at >= last_at for mark in marks)
        following = target.downloads[index + 1][0][0] if index + 1 < len(target.downloads) else end
        if not finished and following - last_at > STALL_S and not waited(last_at, following):
            stalls.append(Span(target.eui64, "stall", last_at, following, last_level))
    return stalls


def _draw(data: TimelineData, figure):
    from matplotlib.lines import Line2D

    axes = figure.add_subplot(1, 1, 1)
    figure.subplots_adjust(left=0.07, right=0.72, top=0.93, bottom=0.08)
    colours = {}
    palette = [f"C{index}" for index in range(10)]
    for index, target in enumerate(data.series):
        colour = colours[target.eui64] = palette[index % len(palette)]
        xs: list[Any] = []
        ys: list[float] = []
        for download in target.downloads:
            if xs:
                xs.append(xs[-1])
                ys.append(float("nan"))  # a gap between downloads
            xs.extend(data.x(at) for at, _ in download)
            ys.extend(level for _, level in download)
        axes.plot(xs, ys, color=colour, linewidth=1.8, label=target.label,
                  linestyle="-" if target.downloads else "none", marker=None if target.downloads else "^")
    for span in data.spans:
        colour = colours[span.eui64]
        if span.kind == "wait":
            axes.hlines(span.level, data.x(span.start), data.x(span.end), colors=colour, linewidth=9, alpha=0.3)
        else:
            axes.hlines(span.level, data.x(span.start), data.x(span.end), colors=colour, linewidth=2.5,
                        linestyles=":")
    shapes = {"notify": "^", "end": "s", "end_response": "D"}
    for mark in data.marks:
        axes.plot([data.x(mark.at)], [mark.level], marker=shapes[mark.kind], color=colours[mark.eui64],
                  markersize=8 if mark.kind != "end_response" else 5, markeredgecolor="black", linestyle="none")
    for at in data.restarts:
        axes.axvline(data.x(at), color="0.3", linestyle="--", linewidth=1.2)
        axes.annotate("hub restart", (data.x(at), 1.0), xycoords=("data", "axes fraction"), rotation=90,
                      va="top", ha="right", fontsize=9, color="0.3")
    for number, fault in enumerate(data.faults):
        if fault.until is not None and fault.until > fault.at:
            axes.axvspan(data.x(fault.at), data.x(fault.until), color="tab:red", alpha=0.12, linewidth=0)
        axes.axvline(data.x(fault.at), color="tab:red", linestyle="-.", linewidth=1.2)
        axes.annotate(fault.label, (data.x(fault.at), 0.98 - 0.32 * (number % 3)), xycoords=("data", "axes fraction"),
                      rotation=90, va="top", ha="left", fontsize=9, color="tab:red")
    axes.set_xlabel(data.x_label)
    axes.set_ylabel("bytes received")
    axes.set_ylim(bottom=0)
    axes.grid(True, color="0.9")
    axes.set_title(data.title)
    if data.series:
        device_legend = axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="device (EUI-64, type)",
                                    fontsize=9, frameon=False)
        axes.add_artist(device_legend)
    keys = [
        Line2D([], [], color="0.4", linewidth=9, alpha=0.3, label="WAIT_FOR_DATA period"),
        Line2D([], [], color="0.4", linewidth=2.5, linestyle=":", label=f"stall (no data > {STALL_S:.0f} s)"),
        Line2D([], [], color="0.3", linestyle="--", label="hub restart"),
        *[Line2D([], [], marker=shapes[kind], color="0.6", markeredgecolor="black", linestyle="none", label=text)
          for kind, text in MARK_KINDS.items()],
    ]
    if data.faults:
        from matplotlib.patches import Patch

        keys += [Line2D([], [], color="tab:red", linestyle="-.", label="fault injected by the hub"),
                 Patch(color="tab:red", alpha=0.12, label="fault window")]
    axes.legend(handles=keys, loc="lower left", bbox_to_anchor=(1.01, 0.0), title="marks", fontsize=9, frameon=False)
    return figure
