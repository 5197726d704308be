"""`hubfw capture start|stop`: a running hub's capture, through its control socket (hubfw.capture)."""

from __future__ import annotations

from pathlib import Path

import click

from hubfw.cli.options import state_option
from hubfw.hub.cli import STATE_HELP, ZEP_ADDRESS
from hubfw.hub.control import ControlClient


@click.group("capture")
def capture() -> None:
    """Capture every APS frame a running hub sends and receives, decrypted (pcap for Wireshark, or live ZEP)."""


@capture.command("start")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--zep", type=ZEP_ADDRESS, metavar="HOST:PORT", help="send the frames as ZEP v2 over UDP (port 17754)")
@state_option(STATE_HELP)
def capture_start(file: Path | None, zep: tuple[str, int] | None, state_dir: Path) -> None:
    """Write every APS frame from now on to FILE (pcap, IEEE 802.15.4 with FCS; open it with Wireshark or
    `tshark -r FILE`), and/or stream them with --zep."""
    if file is None and zep is None:
        raise click.UsageError("give a FILE, --zep HOST:PORT, or both")
    arguments: dict[str, str] = {}
    if file is not None:
        arguments["file"] = str(file.resolve())  # the hub resolves paths in its own working directory
    if zep is not None:
        arguments["zep"] = f"{zep[0]}:{zep[1]}"
    result = ControlClient(state_dir).call("capture_start", **arguments)
    for kind in ("capture", "zep"):
        if kind in result:
            click.echo(f"capturing to {result[kind]}" if kind == "capture" else f"ZEP v2 to {result[kind]}")


@capture.command("stop")
@state_option(STATE_HELP)
def capture_stop(state_dir: Path) -> None:
    """Stop every capture of the running hub; the pcap file is complete."""
    result = ControlClient(state_dir).call("capture_stop")
    if not result["stopped"]:
        click.echo("no capture was running")
    for stopped in result["stopped"]:
        click.echo(f"stopped {stopped['capture']}: {stopped['frames']} frames")
