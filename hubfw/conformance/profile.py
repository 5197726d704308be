"""The DUT's OTA client profile, as observed from the hub's side over a whole run (`FrameLog`)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from hubfw.conformance.observe import FrameLog, Seen

NOTIFIED_QUERY_S = 600.0
"""A query this soon after an ImageNotify answers it: not counted towards the unprompted query interval."""
TRANSFER_GAP_S = 3600.0
"""Block requests further apart than this belong to different downloads (for the request rate)."""


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def client_profile(log: FrameLog) -> dict[str, Any]:
    """Maximum data size, blocks or pages, field control, hardware version, query interval and jitter, block request
    rate, UpgradeEnd statuses, time to download; None where the run did not see enough to say."""
    seen = log.seen
    rx = [entry for entry in seen if entry.direction == "rx"]
    queries = [entry for entry in rx if entry.name == "query_next_image"]
    blocks = [entry for entry in rx if entry.name == "image_block" and "offset" in entry.fields]
    pages = [entry for entry in rx if entry.name == "image_page"]
    ends = [entry for entry in rx if entry.name == "upgrade_end"]
    transfer = blocks + pages
    sizes = sorted({entry.fields["max_data_size"] for entry in transfer})
    hardware = {entry.fields["hardware_version"] for entry in queries}
    return {
        "requests_seen": len(rx),
        "max_data_size": max(sizes, default=None),
        "max_data_sizes_asked": sizes,
        "transfer_by": ("blocks and pages" if blocks and pages else "pages" if pages else "blocks" if blocks
                        else None),
        "page_sizes": sorted({entry.fields["page_size"] for entry in pages}),
        "field_control": {
            name: sorted({entry.fields["field_control"] for entry in group if entry.fields.get("field_control")
                          is not None})
            for name, group in (("query_next_image", queries), ("image_block", blocks), ("image_page", pages))
        },
        "block_request_minimum_block_period_field": any("minimum_block_period" in entry.fields for entry in blocks),
        "sends_hardware_version": (None if not queries else None not in hardware),
        "hardware_versions": sorted(version for version in hardware if version is not None),
        **_query_timing(seen, queries),
        **_request_rate(transfer),
        "upgrade_end_statuses": dict(Counter(entry.fields["status"] for entry in ends)),
        "time_to_download_s": _download_times(rx),
        "requests_past_end": _past_end(seen),
    }


def _query_timing(seen: list[Seen], queries: list[Seen]) -> dict[str, Any]:
    notifies = [entry.at for entry in seen if entry.direction == "tx" and entry.name == "image_notify"]
    answered = []
    for at in notifies:
        later = next((query.at for query in queries if query.at >= at), None)
        if later is not None and later - at <= NOTIFIED_QUERY_S:
            answered.append(later - at)
    unprompted = [query.at for query in queries
                  if not any(0 <= query.at - at <= NOTIFIED_QUERY_S for at in notifies)]
    gaps = [later - earlier for earlier, later in zip(unprompted, unprompted[1:])]
    return {
        "notify_to_query_s": _round(statistics.median(answered)) if answered else None,
        "query_interval_s": _round(statistics.median(gaps)) if gaps else None,
        "query_jitter_s": _round(max(gaps) - min(gaps)) if len(gaps) > 1 else None,
        "unprompted_queries": len(unprompted),
    }


def _request_rate(transfer: list[Seen]) -> dict[str, Any]:
    gaps = [later.at - earlier.at for earlier, later in zip(transfer, transfer[1:])
            if 0 <= later.at - earlier.at < TRANSFER_GAP_S]
    if not gaps:
        return {"block_request_interval_s": None, "block_requests_per_s": None}
    median = statistics.median(gaps)
    return {"block_request_interval_s": _round(median), "block_requests_per_s": _round(1 / median if median else None)}


def _download_times(rx: list[Seen]) -> list[dict[str, Any]]:
    """Per download that ended: from its first block/page request at offset 0 to its UpgradeEnd."""
    times, started = [], {}
    for entry in rx:
        version = entry.fields.get("file_version")
        if entry.name in ("image_block", "image_page") and entry.fields.get("offset") == 0:
            started.setdefault(version, entry.at)
        elif entry.name == "upgrade_end" and version in started:
            times.append({"file_version": f"0x{version:08X}", "seconds": _round(entry.at - started.pop(version), 1),
                          "status": entry.fields["status"]})
    return times


def _past_end(seen: list[Seen]) -> int:
    """Block or page requests at or past the end of the image the hub offered."""
    sizes: dict[int, int] = {}
    count = 0
    for entry in seen:
        if entry.name == "query_next_image_response" and "image_size" in entry.fields:
            sizes[entry.fields["file_version"]] = entry.fields["image_size"]
        elif entry.direction == "rx" and entry.name in ("image_block", "image_page"):
            size = sizes.get(entry.fields.get("file_version"))
            if size is not None and entry.fields.get("offset", 0) >= size:
                count += 1
    return count
