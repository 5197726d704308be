"""`hubfw doctor` and `hubfw ports`: find the coordinator on a bench and check it before serving."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from hubfw.cli.options import json_option, radio_option
from hubfw.coordinator.doctor import DEFAULT_TIMEOUT_S, choose_settings, probe_ncp
from hubfw.coordinator.ports import describe_port, list_serial_ports, port_for_device, port_to_json
from hubfw.coordinator.profiles import FLOW_CONTROLS, CoordinatorProfile, FlowControl, get_profile, load_profiles
from hubfw.coordinator.udev import render_udev_rules


@click.command("doctor")
@radio_option()
@click.option("--baudrate", type=click.IntRange(min=1), help="UART speed [default: from the profile, else 115200]")
@click.option("--flow-control", type=click.Choice(FLOW_CONTROLS),
              help="[default: from the profile, else software; none for socket://]")
@click.option("--profile", "profile_name", metavar="NAME",
              help="coordinator profile (see `hubfw ports --profiles`) [default: recognised by USB VID/PID]")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="seconds the NCP gets to answer each phase")
@json_option()
@click.option("-v", "--verbose", count=True, help="show bellows' log (-v info, -vv debug: every EZSP frame)")
def doctor(radio: str, baudrate: int | None, flow_control: FlowControl | None, profile_name: str | None,
           timeout: float, as_json: bool, verbose: int) -> None:
    """Open the coordinator and report its EZSP version, EmberZNet stack, board tokens, network and
    whether its firmware carries the Smart Energy CBKE libraries."""
    # Quiet by default: bellows' warnings about a port that is not EZSP would bury the one-line verdict
    logging.basicConfig(level={0: logging.ERROR, 1: logging.INFO}.get(verbose, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profile = get_profile(profile_name) if profile_name else _recognised_profile(radio)
    settings = choose_settings(radio, profile, baudrate=baudrate, flow_control=flow_control, timeout=timeout)
    report = asyncio.run(probe_ncp(settings))
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else "\n".join(report.describe()))


@click.command("ports")
@click.option("--profiles", "show_profiles", is_flag=True, help="list the known coordinator profiles instead")
@click.option("--udev-rules", is_flag=True, help="print udev rules for the profiles (hardware/99-hubfw-coordinators.rules)")
@json_option()
def ports(show_profiles: bool, udev_rules: bool, as_json: bool) -> None:
    """List serial ports with their USB VID:PID and the coordinator profile each one matches."""
    profiles = load_profiles()
    if udev_rules:
        click.echo(render_udev_rules(profiles), nl=False)
    elif show_profiles:
        click.echo(json.dumps([_profile_to_json(p) for p in profiles], indent=2) if as_json
                   else "\n\n".join(_describe_profile(p) for p in profiles))
    else:
        found = [(port, port.profile(profiles)) for port in list_serial_ports()]
        if as_json:
            click.echo(json.dumps([port_to_json(port, profile) for port, profile in found], indent=2))
        else:
            click.echo("\n".join(describe_port(port, profile) for port, profile in found) or "no serial ports found")


def _recognised_profile(port: str) -> CoordinatorProfile | None:
    listed = port_for_device(port, list_serial_ports())
    return listed.profile(load_profiles()) if listed else None


def _describe_profile(profile: CoordinatorProfile) -> str:
    usb = ", ".join(f"{m.vid:04x}:{m.pid:04x}" + (f" {m.product!r}" if m.product else "") for m in profile.usb)
    lines = [f"{profile.name}: {profile.title}",
             f"  chip {profile.chip}" + (f" via {profile.usb_bridge}" if profile.usb_bridge else ""),
             f"  {profile.describe_serial()}; --radio {profile.port_hint}"]
    if usb:
        lines.append(f"  USB {usb}")
    lines.append(f"  {profile.notes}")
    return "\n".join(lines)


def _profile_to_json(profile: CoordinatorProfile) -> dict[str, object]:
    return {"name": profile.name, "aliases": list(profile.aliases), "title": profile.title, "chip": profile.chip,
            "usb_bridge": profile.usb_bridge, "baudrate": profile.baudrate, "flow_control": profile.flow_control,
            "port_hint": profile.port_hint, "udev_symlink": profile.udev_symlink, "notes": profile.notes,
            "usb": [{"vid": m.vid, "pid": m.pid, "product": m.product} for m in profile.usb]}


BENCH_COMMANDS: list[click.Command] = [doctor, ports]
"""Registered on the `hubfw` group by hubfw/cli/main.py."""
