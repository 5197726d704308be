"""Soak the hub: 50 simulated devices of all four types over 30 simulated days on a virtual clock.

Usage (from the repository root, with the project's virtualenv):

    .venv/bin/python tools/soak.py --devices 50 --days 30 --seed 1 [--json]     # 3-5 minutes

A harsher hub life (more restarts) with --cut-every-h / --kill-every-h, e.g. `--kill-every-h 2`.

Random hub power cuts (in the middle of flash operations) and process kills, devices switching off
and on, PPMID/HCALCS images replaced mid-transfer, GSME protection and meter transfers refusing new
images. Then a drain until every image has met its end, and the checks: every target has exactly one
terminal alert per image (each one explained by what happened), no device ever received a byte that
differs from the stored image, no image outlived its rules, the flash wear report matches the
operations counted independently, and no device is told to discard an image the hub reported as
transferred. Exit status 0 only with zero failures.
"""

from __future__ import annotations

import argparse
import json
import sys

from soaklib import SoakConfig, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50, help="simulated devices, the four types in turn (default 50)")
    parser.add_argument("--days", type=float, default=30.0, help="simulated days of events before the drain (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="names the whole random history (default 1)")
    parser.add_argument("--max-image-kib", type=int, default=48, help="largest image payload in KiB (default 48)")
    parser.add_argument("--cut-every-h", type=float, default=SoakConfig.hub_cut_mean_h,
                        help="mean hours between hub power cuts (default %(default)s)")
    parser.add_argument("--kill-every-h", type=float, default=SoakConfig.hub_kill_mean_h,
                        help="mean hours between hub process kills (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.devices < 4 or args.days <= 0 or not 4 <= args.max_image_kib <= 700:
        parser.error("need at least 4 devices (one of each type), a positive number of days, "
                     "and --max-image-kib in 4..700")
    if args.cut_every_h <= 0 or args.kill_every_h <= 0:
        parser.error("--cut-every-h and --kill-every-h must be positive hours")
    config = SoakConfig(
        devices=args.devices, days=args.days, seed=args.seed, max_image_size=args.max_image_kib * 1024,
        hub_cut_mean_h=args.cut_every_h, hub_kill_mean_h=args.kill_every_h,
    )
    report = run_soak(config)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
