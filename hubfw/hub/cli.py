"""`hubfw serve` and the commands that talk to a serving hub over its control socket.

Every client command takes `--state DIR` (default ./state) to find the hub's socket; `alerts`
without `--follow` reads the alert log directly, so it works after the hub has stopped too. A command that
names a device takes `--eui64` beside its first spelling (`activate EUI64`, `tunnel --device`, `distribute --to`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import json
import logging
import operator
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import zigpy.types as t

from hubfw.capture.zep import parse_address
from hubfw.cli.options import EUI64, EUI64_LIST, RADIO_HELP, json_option, radio_option, state_option
from hubfw.clock import SystemClock, iso_utc
from hubfw.devices import DeviceType
from hubfw.flash.profiles import DEFAULT_PROFILE, PROFILES
from hubfw.gbcs.bench_keys import bench_key_set, bench_keys_dir
from hubfw.gbcs.device_keys import DeviceKeyDirectory
from hubfw.hub.alert_log import alert_log_path, read_alert_log
from hubfw.hub.control import (
    DEFAULT_COMMAND_TIMEOUT,
    MAX_COMMAND_TIMEOUT,
    ControlClient,
    ControlError,
    ControlServer,
)
from hubfw.hub.core import GBCS, ZCL
from hubfw.hub.credentials import load_hub_credentials
from hubfw.hub.faults import Fault, FaultError, parse_kind
from hubfw.hub.service import Hub, HubConfig
from hubfw.hub.sniffer_keys import KeyExportError, wireshark_text, write_private_file
from hubfw.ota.admission import read_image_file
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.keys import load_private_key, load_public_keys
from hubfw.radio import VIRTUAL_RADIOS, SerialSettings, open_radio
from hubfw.radio.bellows import check_port
from hubfw.sim.serving import SIMULATED_RADIO, SimulatedRadio

BAR_WIDTH = 30
STATE_HELP = "the hub's state directory (holds hub.sock)"


class ZepAddress(click.ParamType):
    """HOST:PORT (or HOST, port 17754) for ZEP."""

    name = "host:port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_address(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


ZEP_ADDRESS = ZepAddress()


@click.command("serve")
@radio_option(f"{RADIO_HELP}; `sim` for the simulated EZSP NCP on a pty with two PPMIDs and an HCALCS (state in "
              "DIR/ncp); `virtual` for the in-process virtual radio")
@state_option(STATE_HELP)
@click.option("--baudrate", type=click.IntRange(min=1), default=115200, show_default=True)
@click.option("--flow-control", type=click.Choice(["software", "hardware", "none"]), default="software",
              show_default=True, help="serial flow control (EmberZNet NCP firmware defaults to software)")
@click.option("--channel", type=click.IntRange(11, 26), help="channel for a network formed on first start")
@click.option("--flash-profile", type=click.Choice(sorted(PROFILES)), default=DEFAULT_PROFILE, show_default=True,
              help="emulated flash part, used when the flash file is created")
@click.option("--trust", "trust_keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PEM public key of a trusted image signer (repeatable)")
@click.option("--require-signature", is_flag=True, help="refuse images without a verified manufacturer signature")
@click.option("--cpl", "cpl_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Central Products List the images must be on")
@click.option("--cbke", "cbke_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="the hub's CBKE credentials for one suite, from `hubfw cbke issue --eui64 "
                                   "<coordinator EUI-64>` (repeatable: one per suite); runs the HAN server "
                                   "(on `--radio sim` the hub is its own test CA when none is given)")
@click.option("--cbke-on-ncp", is_flag=True,
              help="key establishment by the NCP's own CBKE library with the certificates programmed into it (Smart "
                   "Energy NCP builds only; consumer dongle firmware lacks the library: use --cbke FILE)")
@click.option("--allow-without-cbke", is_flag=True,
              help="serve Smart Energy traffic to devices without a CBKE link key too (bench devices)")
@click.option("--ds-key", "ds_key_path", type=click.Path(dir_okay=False, path_type=Path), metavar="KEY.pem",
              help="the CH's GBCS Digital Signing key (PEM P-256 private key); default: a test key the hub makes in "
                   "DIR/gbcs on first start")
@click.option("--ch-id", type=EUI64, metavar="EUI64",
              help="the CH's GBCS entity id, the originator of its alerts (default: the coordinator's EUI-64)")
@click.option("--acb-id", type=EUI64, default="90-B3-D5-1F-30-00-00-02", show_default=True, metavar="EUI64",
              help="the access control broker the alerts are addressed to (default: the RTDS broker)")
@click.option("--device-certs", "device_certs", type=click.Path(file_okay=False, exists=True, path_type=Path),
              metavar="DIR", help="devices' Digital Signing certificates or public keys (PEM, named by EUI-64, RTDS "
                                  "style <eui>-ds.pem too): the hub checks each PPMID's 0x8F8B signature with them "
                                  "(default on --radio sim: the bench key set in DIR/gbcs-keys)")
@click.option("--gbcs-keys", "gbcs_keys", type=click.Path(file_okay=False, exists=True, path_type=Path),
              metavar="DIR", help="the bench GBCS key set (`hubfw gbcs keys new --out DIR`, or a directory laid out "
                                  "like the DCC's RTDS keystore, <eui>-<ds|ka>.<key|pem>): the supplier's and the ACB's "
                                  "keys `hubfw activate` and `hubfw read-version` build CS06 and CS08 with, and the "
                                  "devices' keys their answers are checked with (default on --radio sim: DIR/gbcs-keys, "
                                  "made on first start)")
@click.option("--capture", "capture_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="write every APS frame the hub sends and receives to FILE (pcap, IEEE 802.15.4, decrypted)")
@click.option("--zep", type=ZEP_ADDRESS, metavar="HOST:PORT",
              help="send every APS frame as ZEP v2 over UDP for a live Wireshark view (its port: 17754)")
@click.option("-v", "--verbose", count=True, help="more logging (-v info, -vv debug)")
def serve(radio: str, state_dir: Path, baudrate: int, flow_control: str, channel: int | None, flash_profile: str,
          trust_keys: tuple[Path, ...], require_signature: bool, cpl_path: Path | None, cbke_files: tuple[Path, ...],
          cbke_on_ncp: bool, allow_without_cbke: bool, ds_key_path: Path | None, ch_id: t.EUI64 | None,
          acb_id: t.EUI64, device_certs: Path | None, gbcs_keys: Path | None, capture_file: Path | None, zep: tuple[str, int] | None,
          verbose: int) -> None:
    """Run the hub: the OTA server on RADIO, its flash, zigpy database and alert log in --state.

    Stops cleanly on SIGINT or SIGTERM.
    """
    logging.basicConfig(level=max(logging.DEBUG, logging.WARNING - 10 * verbose),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = HubConfig(
        flash_profile=flash_profile, trust=load_public_keys(trust_keys), require_signature=require_signature,
        cpl=None if cpl_path is None else CentralProductsList.load(cpl_path),
        cbke_credentials=load_hub_credentials(cbke_files), cbke_sim_ca=radio == SIMULATED_RADIO,
        cbke_on_ncp=cbke_on_ncp, allow_without_cbke=allow_without_cbke,
        ds_key=None if ds_key_path is None else load_private_key(ds_key_path), ch_id=ch_id, acb_id=acb_id,
        device_keys=_device_keys(device_certs, state_dir if radio == SIMULATED_RADIO else None),
        gbcs_keys=_gbcs_keys(gbcs_keys, state_dir if radio == SIMULATED_RADIO else None),
    )
    clock = SystemClock()
    if radio == SIMULATED_RADIO:
        simulated = SimulatedRadio(state_dir, clock, channel=channel, cbke_library=cbke_on_ncp)
        asyncio.run(_serve(Hub(state_dir, simulated.open, clock, config), radio, simulated,
                           capture=(capture_file, zep)))
        return
    spec: str | SerialSettings = radio
    if radio not in VIRTUAL_RADIOS:
        check_port(radio)  # before the hub creates anything in --state
        spec = SerialSettings(radio, baudrate, None if flow_control == "none" else flow_control, channel)  # type: ignore[arg-type]
    asyncio.run(_serve(Hub(state_dir, functools.partial(open_radio, spec), clock, config), radio,
                       capture=(capture_file, zep)))


def _device_keys(device_certs: Path | None, simulated_state: Path | None) -> DeviceKeyDirectory | None:
    """--device-certs DIR; on the simulated radio by default the bench key set its devices' keys are made in."""
    if device_certs is None and simulated_state is not None:
        device_certs = bench_key_set(bench_keys_dir(simulated_state)).directory
    return None if device_certs is None else DeviceKeyDirectory(device_certs)


def _gbcs_keys(gbcs_keys: Path | None, simulated_state: Path | None) -> Path | None:
    """--gbcs-keys DIR; on the simulated radio by default the bench key set (made on first start)."""
    if gbcs_keys is None and simulated_state is not None:
        gbcs_keys = bench_key_set(bench_keys_dir(simulated_state)).directory
    return gbcs_keys


async def _serve(hub: Hub, radio: str, simulated: SimulatedRadio | None = None,
                 capture: tuple[Path | None, tuple[str, int] | None] = (None, None)) -> None:
    """Serve until SIGINT/SIGTERM; on the way out the control socket, then the hub, then a simulated NCP stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as running:
        if simulated is not None:
            running.push_async_callback(simulated.close)
        await hub.start()
        running.push_async_callback(hub.stop)
        _start_captures(hub, *capture)
        if simulated is not None:
            await simulated.join_devices(hub)
            radio = simulated.description
        control = ControlServer(hub)
        running.push_async_callback(control.stop)
        await control.start()
        click.echo(f"hubfw: serving on {radio}; state {hub.state_dir}; control socket {control.path}", err=True)
        await stop.wait()
    click.echo("hubfw: stopped; flash closed cleanly", err=True)


def _start_captures(hub: Hub, capture_file: Path | None, zep: tuple[str, int] | None) -> None:
    """`serve --capture FILE` / `--zep HOST:PORT`: from the moment the radio is up (hubfw.capture)."""
    if capture_file is not None:
        click.echo(f"hubfw: capturing to {hub.start_capture(capture_file)['capture']}", err=True)
    if zep is not None:
        click.echo(f"hubfw: ZEP v2 to {hub.start_zep(zep)['zep']}", err=True)


@click.command("distribute")
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "--eui64", "targets", required=True, multiple=True, type=EUI64_LIST, metavar="EUI64[,EUI64...]",
              help="target devices (repeatable)")
@click.option("--device-type", required=True, type=click.Choice([kind.value for kind in DeviceType]))
@click.option("--allow-broken", is_flag=True,
              help="let an image that fails the admission checks through (a deliberately broken test image, "
                   "`hubfw image build --break`); the failed checks are still listed and the hub logs a warning")
@state_option(STATE_HELP)
@json_option()
def distribute(image: Path, targets: tuple[list[t.EUI64], ...], device_type: str, allow_broken: bool,
               state_dir: Path, as_json: bool) -> None:
    """Send IMAGE to the target devices (GBCS CS05b/CS05c): admission checks, store, then ImageNotify."""
    data = read_image_file(image)
    eui64s = [str(eui64) for listed in targets for eui64 in listed]
    result = ControlClient(state_dir).call(
        "distribute", image=base64.b64encode(data).decode("ascii"), targets=eui64s, device_type=device_type,
        **({"allow_broken": True} if allow_broken else {}),
    )
    if allow_broken:
        for line in result.get("checks", []):
            if line.startswith("FAIL"):
                click.echo(f"warning: admitted although broken: {line}", err=True)
    for warning in result.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"image {result['image_id']} ({result['device_type']}, version {result['file_version']}, "
        f"{result['total_size']} bytes) stored in the {result['block']} block; "
        f"ImageNotify sent to {', '.join(result['targets'])}"
    )


@click.command("status")
@state_option(STATE_HELP)
@json_option()
def status(state_dir: Path, as_json: bool) -> None:
    """Image blocks, their images, each target's state and progress, and the deadlines."""
    found = ControlClient(state_dir).call("status")
    click.echo(json.dumps(found, indent=2) if as_json else "\n".join(describe_status(found)))


@click.command("transfers")
@state_option(STATE_HELP)
@click.option("--once", is_flag=True, help="print one snapshot and exit")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="seconds between redraws")
@click.option("--plot", "plot_path", metavar="FILE",
              help="instead, draw the download timeline (1600×900 px PNG, or SVG by suffix) from the state "
                   "directory's ota-timeline.jsonl: works on a running hub and on a finished run's state")
def transfers(state_dir: Path, once: bool, interval: float, plot_path: str | None) -> None:
    """Live progress bars of the targets' downloads (Ctrl-C to quit); `--plot FILE` draws their timeline."""
    if plot_path is not None:
        _plot_timeline(state_dir, plot_path)
        return
    client = ControlClient(state_dir)
    drawn = 0
    try:
        while True:
            lines = [line for entry in client.call("transfers") for line in render_transfer(entry).splitlines()]
            lines = lines or ["no transfers in progress"]
            if drawn and sys.stdout.isatty():
                click.echo(f"\x1b[{drawn}F\x1b[J", nl=False)  # back to the first line we drew, clear below
            click.echo("\n".join(lines))
            drawn = len(lines)
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _plot_timeline(state_dir: Path, plot_path: str) -> None:
    """Draw STATE/ota-timeline.jsonl; a hub serving STATE first writes the points it holds back."""
    from hubfw.hub.ota_timeline import read_timeline, timeline_path
    from hubfw.plots.common import format_of

    format_of(plot_path)  # refuse a bad name before anything else
    running = True
    try:
        ControlClient(state_dir).call("timeline_flush")
    except ControlError:
        running = False  # a finished run's state: the file is complete
    path = timeline_path(state_dir)
    events = read_timeline(path)
    if not events:
        raise click.ClickException(f"no OTA timeline in {state_dir} ({path.name} is missing or empty)")
    from hubfw.plots.timeline import render_timeline, timeline_data  # loads matplotlib: only when drawing

    data = timeline_data(events, source=f"{state_dir}{' (running)' if running else ''}")
    render_timeline(data, [plot_path])
    click.echo(f"wrote {plot_path}: {len(data.series)} targets, {len(data.spans)} waits/stalls, "
               f"{len(data.marks)} marks, {len(data.restarts)} hub restarts")


@click.command("alerts")
@state_option(STATE_HELP)
@click.option("--follow", is_flag=True, help="keep printing new alerts as the hub raises them")
@json_option("one JSON object per line")
@click.option("--gbcs", "as_gbcs", is_flag=True,
              help="only each alert's GBCS message, as hex, one per line (for the DCC's tools)")
def alerts(state_dir: Path, follow: bool, as_json: bool, as_gbcs: bool) -> None:
    """Every Firmware Transfer Alert: code, entity, firmware version, transferResponseCode, time, DER hex, and the
    GBCS message a CH sends for it (CCS08 signed by the CH; a PPMID's 0x8F8B as the PPMID signed it).

    A device's own alert from its GBCS tunnel shows "source": "tunnel"; one hubfw could not decode is
    listed with its raw bytes."""
    if as_json and as_gbcs:
        raise click.UsageError("give --json or --gbcs, not both")
    show = (lambda alert: json.dumps(alert)) if as_json else render_alert
    if as_gbcs:
        show = operator.itemgetter("gbcs")
    if follow:
        try:
            for alert in ControlClient(state_dir).follow_alerts():
                if alert.get("gbcs") is not None or not as_gbcs:
                    click.echo(show(alert))
        except KeyboardInterrupt:
            return
        return
    for logged in read_alert_log(alert_log_path(state_dir)):
        alert = logged.to_json()
        if alert.get("gbcs") is not None or not as_gbcs:
            click.echo(show(alert))


def command_timeout_option() -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option("--timeout", type=click.FloatRange(min=0, min_open=True, max=MAX_COMMAND_TIMEOUT),
                        default=DEFAULT_COMMAND_TIMEOUT, show_default=True, metavar="SECONDS",
                        help="how long to wait for the device's answer through its tunnel")


@click.command("activate")
@click.argument("device", metavar="EUI64", required=False, type=EUI64)
@click.option("--eui64", type=EUI64, help="the device, instead of the EUI64 argument")
@click.option("--hash", "sha256", required=True, metavar="SHA256", help="the Manufacturer Image hash (64 hex digits)")
@click.option("--method", type=click.Choice([GBCS, ZCL]),
              help="gbcs: CS06 through the device's tunnel, signed by the supplier and MAC'd by the ACB of the hub's "
                   "--gbcs-keys, then wait for its answer; zcl: an unsolicited UpgradeEndResponse (plain Zigbee "
                   "devices). Default: gbcs for a device with a GBCS tunnel, else zcl")
@command_timeout_option()
@state_option(STATE_HELP)
@json_option()
def activate(device: t.EUI64 | None, eui64: t.EUI64 | None, sha256: str, method: str | None, timeout: float,
             state_dir: Path, as_json: bool) -> None:
    """Tell a device that completed a transfer of this Manufacturer Image to activate it now (GBCS CS06).

    With CS06 the device checks the hash, the supplier's signature and the ACB's MAC; its signed answer is checked
    and its response code and firmware version printed. Exits 1 when the device refused or its answer fails a check.
    """
    if (device is None) == (eui64 is None):
        raise click.UsageError("name the device once: as the EUI64 argument or with --eui64")
    result = ControlClient(state_dir).call("activate", eui64=str(device if eui64 is None else eui64), sha256=sha256,
                                           method=method, timeout=timeout)
    if "command" not in result:  # the ZCL way: nothing comes back
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"activation sent to {result['entity']} (unsolicited UpgradeEndResponse)")
        return
    _command_answered(result, as_json)


@click.command("read-version")
@click.argument("device", metavar="EUI64", required=False, type=EUI64)
@click.option("--eui64", type=EUI64, help="the device, instead of the EUI64 argument")
@command_timeout_option()
@state_option(STATE_HELP)
@json_option()
def read_version(device: t.EUI64 | None, eui64: t.EUI64 | None, timeout: float, state_dir: Path,
                 as_json: bool) -> None:
    """GBCS CS08: read a PPMID's or HCALCS's firmware version through its tunnel (MAC'd both ways by the ACB's keys
    of the hub's --gbcs-keys). Exits 1 when the device could not read it or its answer fails the MAC check."""
    if (device is None) == (eui64 is None):
        raise click.UsageError("name the device once: as the EUI64 argument or with --eui64")
    _command_answered(ControlClient(state_dir).call("read_version", eui64=str(device if eui64 is None else eui64),
                                                    timeout=timeout), as_json)


def _command_answered(result: dict[str, Any], as_json: bool) -> None:
    """Print a GBCS command's checked answer; exit 1 unless it is authentic and its response code 0."""
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        checks = ", ".join(f"{name} {result[name]}" for name in ("signature", "mac") if result[name] is not None)
        click.echo(f"{result['command']} to {result['entity']}: {result['response_code_name']} (response code "
                   f"{result['response_code']}), firmware version {result['firmware_version']}; {checks}")
    if not result["authentic"] or result["response_code"] != 0:
        raise SystemExit(1)


@click.command("devices")
@state_option(STATE_HELP)
@json_option()
def devices(state_dir: Path, as_json: bool) -> None:
    """The devices on the hub's network, with any transfer they are part of, their CBKE link key (or why
    key establishment last failed) and their GBCS tunnel."""
    found = ControlClient(state_dir).call("devices")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no devices have joined")
    for device in found:
        transfer = device["transfer"]
        ota = "" if transfer is None else (
            f"  image {transfer['image_id']} {transfer['state']} {transfer['progress']:.0%}"
        )
        click.echo(
            f"{device['eui64']}  {device['nwk']}  {device['manufacturer'] or '-'} {device['model'] or '-'}"
            f"  last seen {device['last_seen'] or 'never'}{ota}{describe_han(device)}"
        )
        for line in describe_exchange(device.get("ota")):
            click.echo(f"    {line}")


@click.command("permit")
@click.option("--time", "time_s", type=click.IntRange(0, 254), default=60, show_default=True,
              help="seconds joins stay open")
@click.option("--install-code", metavar="CODE", help="install code (hex, with its CRC) of the one device allowed in")
@click.option("--eui64", type=EUI64, help="the device the install code belongs to")
@state_option(STATE_HELP)
def permit(time_s: int, install_code: str | None, eui64: t.EUI64 | None, state_dir: Path) -> None:
    """Open the network for joining; with --install-code only that device, under its derived link key."""
    result = ControlClient(state_dir).call(
        "permit", time_s=time_s, install_code=install_code, eui64=None if eui64 is None else str(eui64)
    )
    who = f" for {result['eui64']} (link key {result['link_key']})" if "eui64" in result else ""
    click.echo(f"joins permitted for {result['permit_s']} s{who}")


@click.group("tunnel")
def tunnel() -> None:
    """GBCS messages through the devices' Smart Energy tunnels (needs the hub's HAN server)."""


@tunnel.command("send")
@click.option("--device", "--eui64", "eui64", required=True, type=EUI64, help="the device whose tunnel carries it")
@click.argument("message", metavar="HEX")
@state_option(STATE_HELP)
def tunnel_send(eui64: t.EUI64, message: str, state_dir: Path) -> None:
    """Queue one whole GBCS message (HEX) for a device; it goes out when its tunnel can take it."""
    result = ControlClient(state_dir).call(
        "tunnel_send", eui64=str(eui64), message=message.replace(":", "").replace(" ", "")
    )
    when = "sent" if result["sent"] else "queued for the device's next tunnel exchange"
    click.echo(f"{result['length']}-byte GBCS message for {result['eui64']} {when}")


@tunnel.command("messages")
@click.option("--device", "--eui64", "eui64", type=EUI64, help="only this device's messages")
@state_option(STATE_HELP)
@json_option()
def tunnel_messages(eui64: t.EUI64 | None, state_dir: Path, as_json: bool) -> None:
    """The GBCS messages devices sent through their tunnels since the hub started."""
    found = ControlClient(state_dir).call("tunnel_messages", eui64=None if eui64 is None else str(eui64))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no GBCS messages received")
    for message in found:
        click.echo(f"{message['time']}  {message['eui64']}  {message['length']} bytes  {message['message']}")
        click.echo(f"    {describe_gbcs(message['decoded'])}")


@click.group("fault")
def fault() -> None:
    """Faults on demand: the hub misbehaving on purpose towards one device (see "Faults on demand")."""


@fault.command("set")
@click.argument("words", metavar="EUI64 KIND", nargs=-1)
@click.option("--eui64", type=EUI64, help="the device, instead of the EUI64 argument (then KIND is the only argument)")
@click.option("--times", type=click.IntRange(min=1), metavar="N", help="how often it acts before it is spent (default: once)")
@click.option("--lasting", is_flag=True, help="it acts until `hubfw fault clear`")
@click.option("--seconds", type=click.FloatRange(min=0), metavar="T",
              help="silence, block-wait: how long from now; block-delay, cbke-delay: how late; end-later: upgrade time")
@click.option("--offset", type=click.IntRange(min=0), metavar="X", help="block-abort, block-corrupt: the byte offset")
@click.option("--every", type=click.IntRange(min=1), metavar="N", help="block-drop: no answer to every Nth request")
@click.option("--size", type=click.IntRange(min=1), metavar="N", help="block-short: at most N bytes per block")
@click.option("--minimum-block-period", type=click.IntRange(0, 0xFFFF), metavar="MS",
              help="block-wait: the MinimumBlockPeriod its WAIT_FOR_DATA carries (default: the hub's own)")
@click.option("--variant", type=click.Choice(["byte", "subject", "issuer"]),
              help="cbke-mangled-cert: what is changed in the hub's certificate")
@click.option("--status", "status_name", metavar="NAME", help="cbke-terminate: the Terminate status")
@state_option(STATE_HELP)
@json_option()
@click.pass_context
def fault_set(ctx: click.Context, words: tuple[str, ...], eui64: t.EUI64 | None, times: int | None, lasting: bool,
              seconds: float | None, offset: int | None, every: int | None, size: int | None,
              minimum_block_period: int | None, variant: str | None, status_name: str | None, state_dir: Path,
              as_json: bool) -> None:
    """Arm fault KIND for device EUI64: query-no-image, query-not-authorized, query-silent, block-wait, block-abort,
    block-drop, block-delay, block-short, block-corrupt, silence, end-later, end-wait, end-silent (and the CBKE and
    tunnel kinds).

    One-shot unless --times N or --lasting; silence and block-wait last --seconds from now instead."""
    wanted = 1 if eui64 is not None else 2
    if len(words) != wanted:
        raise click.UsageError("give the device (EUI64, or --eui64) and then the fault KIND, each once")
    target = eui64 if eui64 is not None else EUI64.convert(words[0], ctx.command.params[0], ctx)
    kind = words[-1]
    if lasting and times is not None:
        raise FaultError("give --times N or --lasting, not both")
    built = Fault(parse_kind(kind), times=None if lasting else (1 if times is None else times), seconds=seconds,
                  offset=offset, every=every, size=size, minimum_block_period=minimum_block_period, variant=variant,
                  status=status_name)
    result = ControlClient(state_dir).call("fault_set", eui64=str(target), fault=built.to_json())
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"fault set for {result['eui64']}: {describe_fault(result)}")


@fault.command("list")
@click.option("--history", is_flag=True, help="each device's history too: every fault set, acting, cleared, expired")
@state_option(STATE_HELP)
@json_option()
def fault_list(history: bool, state_dir: Path, as_json: bool) -> None:
    """The faults armed now, per device."""
    found = ControlClient(state_dir).call("fault_list", history=history)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found["faults"]:
        click.echo("no faults armed")
    for eui64, armed in found["faults"].items():
        for entry in armed:
            click.echo(f"{eui64}  {describe_fault(entry)}")
    for eui64, events in found.get("history", {}).items():
        click.echo(f"history of {eui64}:")
        for event in events:
            extra = {key: value for key, value in event.items()
                     if key not in ("time", "event", "kind", "times") and key not in Fault.__dataclass_fields__}
            detail = "".join(f" {key}={value}" for key, value in extra.items())
            click.echo(f"  {iso_utc(event['time'])}  {event['event']:<8} {event['kind']}{detail}")


@fault.command("clear")
@click.argument("device", metavar="[EUI64]", required=False, type=EUI64)
@click.option("--eui64", type=EUI64, help="the device, instead of the EUI64 argument")
@state_option(STATE_HELP)
def fault_clear(device: t.EUI64 | None, eui64: t.EUI64 | None, state_dir: Path) -> None:
    """Disarm the faults of device EUI64, or of every device."""
    if device is not None and eui64 is not None:
        raise click.UsageError("name the device once: as the EUI64 argument or with --eui64")
    target = eui64 if eui64 is not None else device
    result = ControlClient(state_dir).call("fault_clear", eui64=None if target is None else str(target))
    click.echo(f"{result['cleared']} fault(s) cleared" + ("" if target is None else f" for {target}"))


@click.command("export")
@click.option("--wireshark", "wireshark_file", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="write Wireshark's ZigBee \"Pre-configured Keys\" table (zigbee_pc_keys) here, mode 0600; an "
                   "existing file is never overwritten")
@state_option(STATE_HELP)
def keys_export(wireshark_file: Path, state_dir: Path) -> None:
    """The network key and every link key the coordinator holds (install-code derived join keys while they last,
    CBKE keys, the trust-centre link key), read from the NCP of the serving hub now, for a sniffer.

    Copy FILE to Wireshark's personal configuration directory as `zigbee_pc_keys` (Help > About > Folders), or
    pass its lines to tshark with `-o "uat:zigbee_pc_keys:LINE"`."""
    if wireshark_file.exists() or wireshark_file.is_symlink():
        raise KeyExportError(f"{wireshark_file} exists already: refusing to overwrite it (remove it or name another)")
    found = ControlClient(state_dir).call("keys_export")
    write_private_file(wireshark_file, wireshark_text(found["keys"]))
    kinds = collections.Counter(key["kind"] for key in found["keys"])
    summary = ", ".join(f"{count} {kind.replace('_', '-')}" for kind, count in kinds.items())
    click.echo(f"{len(found['keys'])} keys of coordinator {found['coordinator']} ({summary}) written to "
               f"{wireshark_file} (mode 0600)")


HUB_COMMANDS = [serve, distribute, status, transfers, alerts, activate, read_version, devices, permit, tunnel, fault]


# ----- rendering


def render_transfer(entry: dict[str, Any]) -> str:
    filled = round(entry["progress"] * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    head = (
        f"{entry['entity']}  {entry['device_type']:<6} {entry['file_version']}  [{bar}] {entry['progress']:6.1%}"
        f"  {entry['offset']}/{entry['total_size']} B  {entry['state']}"
    )
    return "\n".join([head, *(f"    {line}" for line in describe_exchange(entry.get("ota")))])


def describe_exchange(ota: dict[str, Any] | None) -> list[str]:
    """Under a transfer bar or a device: its last OTA request and the hub's answer, why that was not image data,
    and its pace while it downloads."""
    if ota is None:
        return []
    lines = []
    request = ota["last_request"]
    if request is not None:
        fields = [f"{name} {request[key]}" for key, name in (
            ("manufacturer_code", "manufacturer"), ("image_type", "image type"), ("file_version", "version"),
            ("hardware_version", "hardware"), ("offset", "offset")) if request[key] is not None]
        lines.append(f"last {request['command']} at {request['time']} ({', '.join(fields) or 'unreadable'})"
                     f" -> {ota['last_answer']}")
    if ota["reason"] is not None:
        lines.append(f"why: {ota['reason']}")
    if ota["blocks_per_second"] is not None:
        eta = "" if ota["eta_seconds"] is None else f", ETA {ota['eta_seconds']:.0f} s"
        lines.append(f"{ota['blocks_per_second']:.1f} blocks/s{eta}")
    return lines


def render_alert(alert: dict[str, Any]) -> str:
    if alert.get("kind") == "raw":
        return f"{alert['time']}  undecoded alert from {alert['entity']}  source {alert['source']}  raw {alert['raw']}"
    response = alert["transfer_response_code"]
    outcome = "" if response is None else f"  transferResponseCode {response} ({alert['transfer_response']})"
    source = "" if alert.get("source", "hub") == "hub" else f"  source {alert['source']}"
    signature = "" if alert.get("signature") is None else f"  device signature {alert['signature']}"
    counter = "" if alert.get("originator_counter") is None else f"  counter {alert['originator_counter']}"
    return (
        f"{alert['time']}  #{alert['alert_id']}  {alert['code']}  {alert['entity']}"
        f"  firmware {alert['firmware_version']}{outcome}{source}{signature}{counter}  DER {alert['der']}"
    )


def describe_fault(entry: dict[str, Any]) -> str:
    """A fault as one line: its kind, its options, and how often it acts."""
    times = entry.get("times")
    options = "".join(f" --{key.replace('_', '-')} {value}" for key, value in entry.items()
                      if key not in ("kind", "times", "eui64"))
    how = "until cleared" if times is None else "once" if times == 1 else f"{times} times"
    return f"{entry['kind']}{options} ({how})"


def describe_gbcs(decoded: dict[str, Any]) -> str:
    """One line of a decoded GBCS message (`hubfw.gbcs.remote_party.describe`)."""
    if "error" in decoded:
        return f"not a GBCS message hubfw can read: {decoded['error']}"
    name = decoded["message"] or f"message code {decoded['message_code']}"
    content = ", ".join(f"{key} {value}" for key, value in (decoded["content"] or {}).items())
    checks = ", ".join(f"{check} {decoded[check]}" for check in ("signature", "mac") if decoded[check] is not None)
    return (f"{name} {decoded['cra']} {decoded['originator_counter']} from {decoded['originator']} to "
            f"{decoded['target']}" + (f": {content}" if content else "") + (f" ({checks})" if checks else ""))


def describe_han(device: dict[str, Any]) -> str:
    """A device's key establishment and tunnel, or nothing when the hub runs no HAN server for it."""
    parts = []
    if device["key_establishment"] is not None:
        parts.append(f"CBKE {device['key_establishment']}")
    elif device["key_establishment_failure"] is not None:
        failure = device["key_establishment_failure"]
        parts.append(f"CBKE failed ({failure['status'] or 'timeout'}: {failure['reason']})")
    if device["tunnel"] is not None:
        opened_by = device.get("tunnel_opened_by")
        parts.append(f"tunnel {device['tunnel']}" + ("" if opened_by is None else f" (opened by the {opened_by})"))
    return "".join(f"  {part}" for part in parts)


def describe_status(found: dict[str, Any]) -> list[str]:
    lines = [f"now {found['now']}; next deadline {found['next_deadline'] or 'none'}"]
    images = {image["block"]: image for image in found["images"]}
    for block in found["blocks"]:
        image = images.get(block["block"])
        if image is None:
            lines.append(f"{block['block']} block: empty")
            continue
        lines.append(
            f"{block['block']} block: image {image['image_id']} {image['device_type']} "
            f"version {image['file_version']}, {image['total_size']} bytes, arrived {image['arrived_at']}, "
            f"retained until {image['retention_until']}"
            + (f", protected until {image['protected_until']}" if image["protected_until"] else "")
        )
        for target in image["targets"]:
            lines.append(
                f"  {target['entity']}  {target['state']:<17} {target['progress']:6.1%}  offset {target['offset']}"
                + (f"  deadline {target['deadline']}" if target["deadline"] else "")
            )
            lines.extend(f"      {line}" for line in describe_exchange(target.get("ota")))
    lines.append(f"alerts owed (not yet in the log): {found['pending_alerts']}; log {found['alert_log']}")
    han = found.get("han")
    if han is not None:
        rule = "required" if han["cbke_required"] else "not required (--allow-without-cbke)"
        where = " (the NCP's CBKE library)" if han.get("cbke_on_ncp") else ""
        lines.append(f"HAN on SE endpoint {han['se_endpoint']}: CBKE{where} {rule}; "
                     f"{han['link_keys']} device link keys; "
                     f"{len(han['tunnels'])} tunnels open")
    for eui64, armed in found.get("faults", {}).items():
        lines.append(f"faults armed for {eui64}: " + "; ".join(describe_fault(entry) for entry in armed))
    return lines
