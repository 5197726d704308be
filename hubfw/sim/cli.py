"""`hubfw demo`: the simulated coordinator and devices, run as the main job (hubfw/sim/demo.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from hubfw.cli.options import json_option, state_option


@click.command()
@json_option("Print one JSON object at the end instead of the story.")
@state_option("Keep the hub's and the simulated NCP's state here (default: a temporary directory).", default=None)
@click.option("--ezsp-version", type=int, default=13, show_default=True, help="EZSP version the simulated NCP speaks.")
@click.option("--capture", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="write every APS frame the hub sends and receives to FILE (pcap; open with Wireshark or tshark -r)")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="draw the wear map of the hub's flash (wear.png) and the download timelines of both acts "
                   "(timeline.png, timeline-act1.png, timeline-act2.png) into DIR")
def demo(as_json: bool, state_dir: Path | None, ezsp_version: int, capture: Path | None, plots: Path | None) -> None:
    """The main job on the embedded default: a hub on the simulated coordinator flashing simulated devices."""
    from hubfw.sim.demo import run_demo

    result = asyncio.run(run_demo(state_dir, as_json, ezsp_version, capture, plots))
    sys.exit(0 if result["ok"] else 1)
