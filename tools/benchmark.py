"""hubfw benchmarks: one JSON document (`bench-results.json`) and a readable table.

Run with `make bench` (or `python tools/benchmark.py --out bench-results.json [--rounds N] [--quick]
[--only SECTION ...]`).
Every figure is measured in this run on this machine; the `machine` section says which machine.
Timings are medians over several rounds of `time.perf_counter()` (CPU figures: `time.process_time()`);
simulated flash busy time comes from the flash profile's datasheet timings, not from the wall clock.

Sections: `image` (parse/sign/admit), `flash` (store, checkpoint, power-cut recovery, a full replace
cycle), `server` (hubfw's OTA server against zigpy's OTAManager on one radio-less zigpy app),
`economy` (block sizes and counts), `serial` (bellows + pty + simulated NCP at 115200 baud against the
line's limit, EZSP v13), `serial_v18` (the same on EZSP v18, EmberZNet 8.x), `scale` (concurrent downloads)
and `machine`. The headline figures are repeated at the top level: `server_ratio`, `serial_ratio`,
`serial_ratio_v18`, `block_bytes_se`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from benchmarklib.images import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, ota_file
from benchmarklib.scale import bench_scale
from benchmarklib.serial import bench_serial
from benchmarklib.server_cost import bench_server, block_economy

from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import CutMode, NorFlash, PowerCut
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES, FlashProfile
from hubfw.ota.admission import admit
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, OtaImage, build_image
from hubfw.ota.keys import new_private_key
from hubfw.server import max_block_data_size
from hubfw.store.state import StoredImage
from hubfw.store.store import DEFAULT_CHECKPOINT_BYTES, ImageStore
from hubfw.zigbee.aps import MAX_APS_PAYLOAD

PACKAGES = ("hubfw", "zigpy", "bellows", "cryptography", "construct", "pyserial", "hypothesis")
PPMID = parse_eui64("00:0d:6f:00:00:00:00:01")
SERIAL_IMAGE_BYTES = 32 * 1024
"""At 115200 baud a 750 KB image takes minutes; the per-block rate settles long before 32 KiB."""
SCALE_IMAGE_BYTES = 64 * 1024
"""50 devices × 750 KB would take most of the time budget; per-block cost does not depend on image size."""
SCALE_DEVICES = (1, 6, 50)
SECTIONS = ("image", "flash", "server", "serial", "scale")
"""What --only can pick; `economy` and the headline figures come with the sections they are made from."""
SCALE_ROUNDS = 3
SERIAL_VERSIONS = {"serial": 13, "serial_v18": 18}
"""The serial path on the EZSP version most benches run (EmberZNet 7.x) and on one of EmberZNet 8.x's;
`--only serial` runs both."""
PROSE_IN_TABLE = 100
"""Longer explanations (the serial line model) are left to the JSON."""


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def full_size_image(sign: bool = True) -> bytes:
    """An OTA file of exactly the 750 KB limit (the worst case the hub must handle)."""
    return ota_file(DEFAULT_MAX_IMAGE_SIZE, new_private_key() if sign else None)


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
            lambda: build_image(manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=NEW_VERSION,
                                payload=payload, sign_key=key),
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
    checkpoint_s, checkpoint_ops = durable_checkpoint(store, flash, stored, rounds)
    cut = flash_cut_mid_store(profile, data)
    recover_s = median_seconds(lambda: ImageStore.open(cut.fork(), VirtualClock()), rounds)
    return {
        "profile": profile.name,
        "store_750k_ms": 1000 * statistics.median(store_s),
        "store_750k_operations": statistics.median(ops),
        "store_750k_simulated_busy_s": statistics.median(busy),
        "checkpoint_ms": 1000 * checkpoint_s,
        "checkpoint_operations": checkpoint_ops,
        "recover_after_cut_ms": 1000 * recover_s,
        **replace_cycle(profile, data),
    }


def durable_checkpoint(store: ImageStore, flash: NorFlash, image: StoredImage, rounds: int) -> tuple[float, float]:
    """Median time and flash operations of a progress checkpoint that is written: each call is one
    checkpoint interval further into the image, as the server reports it mid-download."""
    samples, operations = [], []
    for interval in range(1, min(rounds, image.total_size // DEFAULT_CHECKPOINT_BYTES) + 1):
        before = flash.operations
        started = time.perf_counter()
        store.note_progress(PPMID, image.image_id, interval * DEFAULT_CHECKPOINT_BYTES)
        samples.append(time.perf_counter() - started)
        operations.append(flash.operations - before)
    return statistics.median(samples), statistics.median(operations)


def flash_cut_mid_store(profile: FlashProfile, data: bytes) -> NorFlash:
    """A rebooted flash whose power went halfway through storing a 750 KB image over an older one."""
    flash = NorFlash(profile)
    store = ImageStore.open(flash, VirtualClock())
    store.distribute(data, [(PPMID, DeviceType.PPMID)])
    dry_run = flash.fork()
    dry_store = ImageStore.open(dry_run, VirtualClock())
    before = dry_run.operations
    dry_store.distribute(data, [(PPMID, DeviceType.PPMID)])
    flash.schedule_cut(flash.operations + (dry_run.operations - before) // 2, CutMode.DURING)
    try:
        store.distribute(data, [(PPMID, DeviceType.PPMID)])
    except PowerCut:
        flash.reboot()
        return flash
    raise RuntimeError("the scheduled power cut did not happen")


def replace_cycle(profile: FlashProfile, data: bytes) -> dict[str, object]:
    """One full cycle in steady state: a new image replaces the finished one in its block, the target
    downloads it (a checkpoint offered for every Smart Energy block, as the server does), ends, and its
    alert is acknowledged. Counted on the emulated flash; busy time from the datasheet timings."""
    clock = VirtualClock()
    flash = NorFlash(profile)
    store = ImageStore.open(flash, clock)
    run_replace_cycle(store, clock, data)  # the block now holds a finished image: steady state
    before, busy = flash.stats.copy(), flash.stats.busy_s
    run_replace_cycle(store, clock, data)
    after = flash.stats
    return {
        "replace_cycle_program_ops": after.program_calls - before.program_calls,
        "replace_cycle_program_bytes": after.program_bytes - before.program_bytes,
        "replace_cycle_sector_erases": after.erase_calls - before.erase_calls,
        "replace_cycle_block_erases": after.block_erase_calls - before.block_erase_calls,
        "replace_cycle_simulated_busy_s": after.busy_s - busy,
    }


def run_replace_cycle(store: ImageStore, clock: VirtualClock, data: bytes) -> None:
    block_bytes = max_block_data_size(MAX_APS_PAYLOAD, aps_encrypted=True)
    stored = store.distribute(data, [(PPMID, DeviceType.PPMID)])
    for offset in range(block_bytes, len(data) + block_bytes, block_bytes):
        clock.advance(0.05)
        store.note_progress(PPMID, stored.image_id, min(offset, len(data)))
    store.note_end(PPMID, stored.image_id, 0)
    store.acknowledge(alert.alert_id for alert in store.pending_alerts())


def machine() -> dict[str, object]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(facts: dict[str, object]) -> str:
    packages = facts["packages"]
    assert isinstance(packages, dict)
    versions = ", ".join(f"{name} {packages[name]}" for name in ("zigpy", "bellows"))
    return (f"machine: {facts['cpu']} x{facts['cpu_count']}, Python {facts['python']}, {versions}, "
            f"load average {facts['load_average_1m']:.1f} at start")


def table(results: dict[str, object]) -> str:
    lines = []
    for section, figures in results.items():
        if section == "machine":
            continue
        if isinstance(figures, dict):
            lines.append(f"[{section}]")
            lines += rows(figures, "  ")
        else:
            lines.append(f"{section:<38} {shown(figures)}")
    return "\n".join(lines)


def rows(figures: dict[str, object], indent: str) -> list[str]:
    lines = []
    for name, value in figures.items():
        if isinstance(value, dict) and any(isinstance(item, dict) for item in value.values()):
            for key, item in value.items():
                described = ", ".join(f"{k}={shown(v)}" for k, v in item.items()) if isinstance(item, dict) else item
                lines.append(f"{indent}{name}.{key}: {described}")
        elif isinstance(value, dict):
            lines.append(f"{indent}{name:<36} " + ", ".join(f"{k}={shown(v)}" for k, v in value.items()))
        elif isinstance(value, str) and len(value) > PROSE_IN_TABLE:
            lines.append(f"{indent}{name:<36} (in the JSON)")
        else:
            lines.append(f"{indent}{name:<36} {shown(value)}")
    return lines


def shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


async def bench_radio_paths(rounds: int, quick: bool, wanted: set[str]) -> dict[str, dict[str, object]]:
    """The wanted sections that run on an event loop: both servers, the serial line, and scale."""
    radio: dict[str, dict[str, object]] = {}
    if "server" in wanted:
        radio["server"] = await bench_server(rounds, SCALE_IMAGE_BYTES if quick else DEFAULT_MAX_IMAGE_SIZE)
    if "serial" in wanted:
        for section, version in SERIAL_VERSIONS.items():
            radio[section] = await bench_serial(SERIAL_IMAGE_BYTES // 4 if quick else SERIAL_IMAGE_BYTES, version)
    if "scale" in wanted:
        radio["scale"] = await bench_scale(SCALE_DEVICES[:2] if quick else SCALE_DEVICES, SCALE_IMAGE_BYTES,
                                           min(rounds, SCALE_ROUNDS))
    return radio


def headline(radio: dict[str, dict[str, object]]) -> dict[str, object]:
    """The top-level figures (and the block economy) from whichever radio sections ran."""
    figures: dict[str, object] = {}
    if "server" in radio:
        figures["server_ratio"] = radio["server"]["ratio_wall"]
    if "serial" in radio:
        figures["serial_ratio"] = radio["serial"]["ratio"]
    if "serial_v18" in radio:
        figures["serial_ratio_v18"] = radio["serial_v18"]["ratio"]
    if "scale" in radio:
        points = radio["scale"]["points"]
        assert isinstance(points, dict)
        figures["block_bytes_se"] = next(point for point in points.values() if isinstance(point, dict))["block_bytes"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small images, few rounds: a smoke run, not figures")
    parser.add_argument("--only", choices=SECTIONS, action="append", metavar="SECTION",
                        help=f"run only this section (repeatable; one of {', '.join(SECTIONS)}); the JSON then "
                             "holds only what was run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # zigpy and bellows chatter would bury the table
    rounds = 1 if args.quick else args.rounds
    wanted = set(args.only or SECTIONS)
    started = time.perf_counter()
    facts = machine()  # before the run: the load average says what else was running
    sections: dict[str, object] = {}
    if "image" in wanted:
        sections["image"] = bench_image(rounds)
    if "flash" in wanted:
        sections["flash"] = bench_flash(rounds)
    radio = asyncio.run(bench_radio_paths(rounds, args.quick, wanted))
    figures = headline(radio)
    sections |= radio
    if "server" in radio and "scale" in radio:
        server = radio["server"]
        sections["economy"] = block_economy(
            DEFAULT_MAX_IMAGE_SIZE, figures["block_bytes_se"], server["hubfw_block_bytes"], server["zigpy_block_bytes"]
        )
    results: dict[str, object] = {
        **figures,
        **sections,
        "quick": args.quick,
        "bench_s": time.perf_counter() - started,
        "machine": facts,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(machine_line(facts))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
