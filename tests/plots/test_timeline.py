"""Download timelines: the recorder keeps the progress to within 1 % and every pause, and the picture's series are
exactly the recorded progress."""

from __future__ import annotations

import zigpy.types as t
from click.testing import CliRunner

from hubfw.cli.main import main
from hubfw.clock import VirtualClock
from hubfw.hub.ota_timeline import DATA_STEP, GAP_S, OtaTimeline, read_timeline, timeline_path
from hubfw.plots.common import PIXELS, png_size
from hubfw.plots.timeline import STALL_S, render_timeline, timeline_data
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import image_block_response

DEVICE = t.EUI64.convert("00:0d:6f:00:00:00:a0:01")
TOTAL = 50_000
BLOCK = 50


def _out(zcl: bytes) -> OutgoingFrame:
    return OutgoingFrame(DEVICE, 0x0109, 1, 1, 0x0019, zcl, True)


def _block(offset: int) -> OutgoingFrame:
    return _out(image_block_response(1, 0x1234, 0x0101, 0x200, offset, bytes(min(BLOCK, TOTAL - offset))))


def _wait(seconds: int) -> OutgoingFrame:
    return _out(bytes([0x19, 1, 0x05, 0x97]) + (0).to_bytes(4, "little") + seconds.to_bytes(4, "little"))


def _recorded_run(state_dir) -> tuple[OtaTimeline, list[tuple[float, int]], float]:
    """A download of TOTAL bytes, one block a second, a 1000-second pause at 40 %, then ten WAIT_FOR_DATA
    answers of 60 s at 70 %; returns the recorder, every (time, bytes received) served, and the pause start."""
    clock = VirtualClock(1_700_000_000.0)
    timeline = OtaTimeline(timeline_path(state_dir), clock)
    timeline.started()
    timeline.distributed([DEVICE], "ppmid", "0x00000200", TOTAL)
    offer = bytes([0x19, 1, 0x02, 0x00, 0x34, 0x12, 0x01, 0x01, 0, 2, 0, 0]) + TOTAL.to_bytes(4, "little")
    timeline.observe("tx", _out(offer))  # QueryNextImageResponse SUCCESS: the image size
    served, pause = [], 0.0
    for offset in range(0, TOTAL, BLOCK):
        if offset == TOTAL * 4 // 10:
            pause = clock.now()
            clock.set(clock.now() + 1000)
        if offset == TOTAL * 7 // 10:
            for _ in range(10):
                timeline.observe("tx", _wait(60))
                clock.set(clock.now() + 60)
        timeline.observe("tx", _block(offset))
        served.append((clock.now(), min(offset + BLOCK, TOTAL)))
        clock.set(clock.now() + 1)
    upgrade_end = bytes([0x01, 2, 0x06, 0x00, 0x34, 0x12, 0x01, 0x01, 0, 2, 0, 0])
    timeline.observe("rx", IncomingFrame(DEVICE, 0x1001, 0x0109, 1, 1, 0x0019, upgrade_end, True))
    timeline.stopped()
    return timeline, served, pause


def test_the_recorder_keeps_the_progress_within_one_percent_and_every_pause_small(tmp_path):
    timeline, served, pause = _recorded_run(tmp_path)
    events = read_timeline(timeline.path)
    points = [(event["t"], event["offset"] + event["size"]) for event in events if event["event"] == "data"]
    assert len(served) == TOTAL // BLOCK and len(points) < 120  # 1000 blocks, ~100 points
    assert points[0] == served[0] and points[-1] == served[-1]
    assert set(points) <= set(served)
    for at, received in served:  # between two recorded points the line is never more than 1 % off
        before = max(point for point in points if point[0] <= at)
        assert received - before[1] <= TOTAL * DATA_STEP + BLOCK
    gap = [(a, b) for a, b in zip(points, points[1:], strict=False) if b[0] - a[0] > GAP_S]
    assert len(gap) == 2  # the pause and the WAIT_FOR_DATA period, each with the points on both sides kept
    assert gap[0][0] == max(point for point in served if point[0] < pause) and gap[0][1][0] == pause + 1000
    assert gap[1][0][1] == TOTAL * 7 // 10
    waits = [event for event in events if event["event"] == "wait"]
    assert len(waits) == 1 and waits[0]["answers"] == 10  # merged
    assert [event["event"] for event in events][:2] == ["start", "distribute"]
    assert [event["event"] for event in events][-2:] == ["end", "stop"]


def test_the_plotted_series_are_the_recorded_progress_with_the_marks(tmp_path):
    timeline, served, pause = _recorded_run(tmp_path)
    events = read_timeline(timeline.path)
    data = timeline_data(events, names={str(DEVICE): "meter"})
    (series,) = data.series
    recorded = [(event["t"], event["offset"] + event["size"]) for event in events if event["event"] == "data"]
    assert series.points == recorded and len(series.downloads) == 1
    assert series.label == f"{DEVICE} PPMID meter"
    stalls = [span for span in data.spans if span.kind == "stall"]
    waits = [span for span in data.spans if span.kind == "wait"]
    assert len(stalls) == 1 and stalls[0].end - stalls[0].start > STALL_S and stalls[0].start < pause
    assert stalls[0].level == TOTAL * 4 // 10
    assert len(waits) == 1 and waits[0].end - waits[0].start >= 600 and waits[0].level == TOTAL * 7 // 10
    assert {mark.kind for mark in data.marks} == {"end"}
    assert data.clock == "virtual" and data.restarts == []
    assert data.unit[0] == "minutes"
    png = tmp_path / "timeline.png"
    render_timeline(data, [png])
    assert png_size(png.read_bytes()) == PIXELS


def test_every_pause_the_picture_calls_a_stall_is_one_the_recorder_keeps_exactly():
    assert STALL_S == GAP_S


def test_restarts_come_from_the_hubs_start_events_and_new_downloads_start_new_pieces():
    events = [{"t": 0.0, "event": "start", "clock": "wall"},
              {"t": 1.0, "event": "data", "eui64": "a", "offset": 0, "size": 10},
              {"t": 2.0, "event": "start", "clock": "wall"},
              {"t": 3.0, "event": "data", "eui64": "a", "offset": 10, "size": 10},
              {"t": 4.0, "event": "distribute", "eui64": "a", "device_type": "gsme", "file_version": "0x1",
               "total_size": 20},
              {"t": 5.0, "event": "data", "eui64": "a", "offset": 0, "size": 10}]
    data = timeline_data(events)
    assert data.restarts == [2.0] and data.clock == "wall"
    assert data.series[0].downloads == [[(1.0, 10), (3.0, 20)], [(5.0, 10)]]


def test_transfers_plot_draws_a_finished_runs_state_without_a_hub(tmp_path):
    _recorded_run(tmp_path)
    png = tmp_path / "out.png"
    result = CliRunner().invoke(main, ["transfers", "--plot", str(png), "--state", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert png_size(png.read_bytes()) == PIXELS
    empty = CliRunner().invoke(main, ["transfers", "--plot", str(png), "--state", str(tmp_path / "none")])
    assert empty.exit_code != 0 and "no OTA timeline" in empty.output
