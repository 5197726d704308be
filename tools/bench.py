"""hubfw benchmarks: one JSON document (`bench-results.json`) and a readable table.

Run with `make bench` (or `python tools/bench.py --out bench-results.json [--quick]`).
Every figure is measured in this run on this machine; the `machine` section says which machine.
Timings are medians over several rounds of `time.perf_counter()`; simulated flash busy time
comes from the flash profile's datasheet timings, not from the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES
from hubfw.ota.admission import admit
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, OtaImage, build_image
from hubfw.ota.keys import new_private_key
from hubfw.store.store import ImageStore

PACKAGES = ("hubfw", "zigpy", "bellows", "cryptography", "construct", "pyserial", "hypothesis")
PPMID = parse_eui64("00:0d:6f:00:00:00:00:01")


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def full_size_image(sign: bool = True) -> bytes:
    """A signed OTA file of exactly the 750 KB limit (the worst case the hub must handle)."""
    key = new_private_key() if sign else None
    probe = build_image(manufacturer_code=0x1234, image_type=1, file_version=0x20, payload=b"", sign_key=key)
    payload = bytes(range(256)) * ((DEFAULT_MAX_IMAGE_SIZE - len(probe.to_bytes())) // 256 + 1)
    payload = payload[: DEFAULT_MAX_IMAGE_SIZE - len(probe.to_bytes())]
    return build_image(manufacturer_code=0x1234, image_type=1, file_version=0x20, payload=payload, sign_key=key).to_bytes()


def bench_image(rounds: int) -> dict[str, object]:
    data = full_size_image()
    key = new_private_key()
    image = OtaImage.parse(data)
    payload = image.manufacturer_image
    return {
        "image_bytes": len(data),
        "parse_ms": 1000 * median_seconds(lambda: OtaImage.parse(data), rounds),
        "build_and_sign_ms": 1000
        * median_seconds(
            lambda: build_image(manufacturer_code=0x1234, image_type=1, file_version=0x20, payload=payload, sign_key=key),
            rounds,
        ),
        "admit_ms": 1000 * median_seconds(lambda: admit(data), rounds),
    }


def bench_flash(rounds: int) -> dict[str, object]:
    """Store a 750 KB image, checkpoint progress, recover after a cut: times and flash operations."""
    data = full_size_image(sign=False)
    profile = PROFILES[DEFAULT_PROFILE]
    store_s, ops, busy = [], [], []
    for _ in range(rounds):
        flash = NorFlash(profile)
        store = ImageStore.open(flash, VirtualClock())
        before_ops, before_busy = flash.operations, flash.stats.busy_s
        started = time.perf_counter()
        stored = store.distribute(data, [(PPMID, DeviceType.PPMID)])
        store_s.append(time.perf_counter() - started)
        ops.append(flash.operations - before_ops)
        busy.append(flash.stats.busy_s - before_busy)
    checkpoint_s = median_seconds(lambda: store.note_progress(PPMID, stored.image_id, len(data) // 2), rounds)
    recover_s = median_seconds(lambda: ImageStore.open(flash.fork(), VirtualClock()), rounds)
    return {
        "profile": profile.name,
        "store_750k_ms": 1000 * statistics.median(store_s),
        "store_750k_operations": statistics.median(ops),
        "store_750k_simulated_busy_s": statistics.median(busy),
        "checkpoint_ms": 1000 * checkpoint_s,
        "recover_ms": 1000 * recover_s,
    }


def machine() -> dict[str, object]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


def table(results: dict[str, dict[str, object]]) -> str:
    lines = []
    for section, figures in results.items():
        if section == "machine":
            continue
        lines.append(f"[{section}]")
        for name, value in figures.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            lines.append(f"  {name:<34} {shown}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = {
        "image": bench_image(args.rounds),
        "flash": bench_flash(args.rounds),
        "machine": machine(),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
