"""`hubfw demo`: a Communications Hub on the simulated coordinator, flashing simulated devices.

Every device is a GB device: it joins, finds the hub's Smart Energy endpoint, runs CBKE with
certificates from the hub's test CA (suite 2) and from then on talks to the hub only under its link key.
The hub then requests a GBCS tunnel to each PPMID and HCALCS (GBCS 10.2.2.1); the GSME requests its own.
Act 1 is the bench job: two PPMIDs and an HCALCS get a signed test image each; the PPMIDs
activate at once and report their new version with their own 0x8F8B through the tunnels the hub opened;
the HCALCS waits until the hub sends it GBCS CS06 Activate Firmware through its tunnel (signed by the
bench's supplier, MAC'd by its ACB, hubfw.gbcs.remote_party), which the HCALCS checks and answers; then
CS08 reads the HCALCS's and a PPMID's firmware version.
Act 2 runs on an accelerated clock: a switched-off PPMID never starts and is discarded after 14
days, a PPMID with the wrong hardware is refused, a GSME image wins the GSME block over a PPMID
image mid-transfer, a PPMID image is refused while the GSME image is protected, and the sleepy GSME,
its download done, is activated by CS06 through the tunnel it opened.
The bench GBCS key set (supplier, ACB, every device's DS and KA keys) is in `DIR/gbcs-keys` in the RTDS
keystore layout, for `--state DIR` to keep.
Every frame crosses unmodified bellows, ASH and EZSP on a pseudo-terminal; only the time between
frames is virtual. The demo checks its own outcome: `ok` is true only if every target got exactly
the alerts the GBCS rules owe it, every device runs the version it should, every device holds a CBKE
link key, every PPMID and HCALCS tunnel was opened by the hub, every PPMID activation alert came
through its tunnel as the PPMID's own signed 0x012B message whose signature the hub found valid with the
device's key, every alert carries its GBCS message (the CH's signed CCS08, or the PPMID's own message), and
the HCALCS and the GSME answered their CS06 with success, every CS06 and CS08 answer passing the hub's checks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import zigpy.types as t

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType, parse_eui64
from hubfw.hub.alert_log import read_alert_log
from hubfw.ota.image import build_image
from hubfw.ota.keys import new_private_key, public_pem
from hubfw.sim.devices import OtaClientDevice, Phase, SessionState, gsme, hcalcs, install_code_for, ppmid
from hubfw.sim.devices.behaviour import PowerCut
from hubfw.sim.world import SimulatedWorld
from hubfw.store.errors import StoreRejected

DAY = 86_400.0
MANUFACTURER = 0x1234
PPMID_IMAGE_TYPE, HCALCS_IMAGE_TYPE, GSME_IMAGE_TYPE = 0x0101, 0x0102, 0x0103
OLD_VERSION = 0x00000100
PAYLOAD_BYTES = 24_000
"""Small enough that the demo runs in well under a minute; big enough for hundreds of blocks."""
ExpectedAlert = tuple[t.EUI64, AlertCode, int, TransferResponse | None]
HUB_OPENED_TUNNELS = {DeviceType.PPMID.value, DeviceType.HCALCS.value}
"""The demo's device types whose tunnel the hub must have opened (GBCS 10.2.2.1)."""


@dataclass
class Narrator:
    """Prints the story (unless --json) and remembers what every check expects."""

    quiet: bool
    seen: set[int] = field(default_factory=set)
    expected: list[ExpectedAlert] = field(default_factory=list)
    names: dict[t.EUI64, str] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        if not self.quiet:
            click.echo(text)

    def new_alerts(self, alerts: list[TransferAlert]) -> None:
        for alert in alerts:
            if alert.alert_id in self.seen:
                continue
            self.seen.add(alert.alert_id)
            response = "" if alert.transfer_response is None else f" {alert.transfer_response.name}"
            self.say(f"  ALERT 0x{int(alert.code):04X} {self.names.get(alert.entity, alert.entity)}"
                     f" version 0x{alert.firmware_version:08X}{response} (source: {alert.source})")


class Demo:
    def __init__(self, world: SimulatedWorld, narrator: Narrator) -> None:
        self.world = world
        self.say = narrator.say
        self.narrator = narrator
        self.key = new_private_key()
        self.devices: dict[str, OtaClientDevice] = {}
        self.from_versions: dict[t.EUI64, int] = {}
        self.started = world.clock.now()
        self.waited_for_activation: set[str] = set()
        self.raw_alerts: list[dict[str, Any]] = []
        self.commands: dict[str, dict[str, dict[str, Any]]] = {}
        """Per device, its last CS06 and CS08 exchange through its tunnel: the command and answer as they crossed
        it (hex) and the hub's checks of the answer."""
        self._alerts: list[TransferAlert] = []
        self._alert_log_size = 0
        self.progress = Progress(self)

    def alerts(self) -> list[TransferAlert]:
        """The hub's alerts, read again only when the log has grown (every step of the story asks); a
        device's tunnel alert the hub could not decode (logged raw) would be a failure."""
        path = self.world.hub.alert_log.path
        size = path.stat().st_size if path.exists() else 0
        if size != self._alert_log_size:
            logged = read_alert_log(path)
            self.raw_alerts = [alert.to_json() for alert in logged if not isinstance(alert, TransferAlert)]
            self._alerts = [alert for alert in logged if isinstance(alert, TransferAlert)]
            self._alert_log_size = size
        return self._alerts

    def image(self, image_type: int, version: int) -> bytes:
        payload = bytes((i * 7 + version) & 0xFF for i in range(PAYLOAD_BYTES))
        return build_image(manufacturer_code=MANUFACTURER, image_type=image_type, file_version=version,
                           payload=payload, header_string=f"hubfw demo 0x{version:08X}",
                           min_hw_version=1, max_hw_version=3, sign_key=self.key).to_bytes()

    def gb(self, ieee: str, device_type: DeviceType) -> dict[str, Any]:
        """A GB device's install code and Smart Energy session, CBKE credentials from the hub's test CA; a
        PPMID polls the hub's notification flags only daily here (the hub's ImageNotify starts the downloads)."""
        eui64 = parse_eui64(ieee)
        options = {"notification_poll": DAY} if device_type is DeviceType.PPMID else {}
        return {"install_code": install_code_for(eui64), "gb": self.world.gb_session(eui64, device_type, **options)}

    async def add(self, name: str, device: OtaClientDevice) -> OtaClientDevice:
        self.devices[name] = device
        self.narrator.names[device.identity.ieee] = name
        self.from_versions[device.identity.ieee] = device.current_file_version
        await self.world.add(device)
        return device

    def distribute(self, ota_file: bytes, names: list[str], device_type: DeviceType) -> dict[str, Any]:
        targets = [self.devices[name].identity.ieee for name in names]
        result = self.world.hub.distribute(ota_file, targets, device_type)
        self.say(f"  distribute {device_type.value} image {result['file_version']} to {', '.join(names)}:"
                 f" stored in the {result['block']} block")
        return result

    def expect(self, name: str, code: AlertCode, version: int, response: TransferResponse | None) -> None:
        self.narrator.expected.append((self.devices[name].identity.ieee, code, version, response))

    async def until(self, goal: Callable[[], bool], virtual_seconds: float) -> None:
        await self.world.run_until(lambda: self.progress.show() or goal(), virtual_seconds)
        self.narrator.new_alerts(self.alerts())

    def has_alert(self, name: str, code: AlertCode) -> bool:
        ieee = self.devices[name].identity.ieee
        return any(alert.entity == ieee and alert.code is code for alert in self.alerts())

    def day(self) -> str:
        return f"day {(self.world.clock.now() - self.started) / DAY:.2f}"

    async def act_one(self) -> None:
        self.say("Act 1 — flash two PPMIDs and an HCALCS")
        trust = (self.key.public_key(),)
        options = dict(manufacturer_code=MANUFACTURER, file_version=OLD_VERSION, hardware_version=2,
                       trust_anchors=trust)
        for name, ieee, nwk in (("ppmid-1", "00:0d:6f:00:00:00:e0:01", 0xE001),
                                ("ppmid-2", "00:0d:6f:00:00:00:e0:02", 0xE002)):
            await self.add(name, ppmid(ieee, nwk, image_type=PPMID_IMAGE_TYPE,
                                       **self.gb(ieee, DeviceType.PPMID), **options))
        ieee = "00:0d:6f:00:00:00:e0:03"
        await self.add("hcalcs-1", hcalcs(ieee, 0xE003, image_type=HCALCS_IMAGE_TYPE,
                                          **self.gb(ieee, DeviceType.HCALCS), **options))
        await self.until(self.sessions_secured, 3600)
        self.say("  joined with install codes: ppmid-1, ppmid-2, hcalcs-1; CBKE suite 2 link keys established;"
                 " the hub opened a GBCS tunnel to each")

        self.distribute(self.image(PPMID_IMAGE_TYPE, 0x200), ["ppmid-1", "ppmid-2"], DeviceType.PPMID)
        for name in ("ppmid-1", "ppmid-2"):
            self.expect(name, AlertCode.TRANSFER_SUCCESS, 0x200, TransferResponse.SUCCESS)
            self.expect(name, AlertCode.ACTIVATION, 0x200, None)
        await self.until(lambda: all(self.has_alert(n, AlertCode.ACTIVATION) for n in ("ppmid-1", "ppmid-2")), DAY)

        stored = self.distribute(self.image(HCALCS_IMAGE_TYPE, 0x200), ["hcalcs-1"], DeviceType.HCALCS)
        self.expect("hcalcs-1", AlertCode.TRANSFER_SUCCESS, 0x200, TransferResponse.SUCCESS)
        await self.until(lambda: self.has_alert("hcalcs-1", AlertCode.TRANSFER_SUCCESS), DAY)
        await self.world.run_for(3600)
        waiting = self.devices["hcalcs-1"].phase is Phase.WAITING_TO_UPGRADE
        if waiting and self.devices["hcalcs-1"].current_file_version == OLD_VERSION:
            self.waited_for_activation.add("hcalcs-1")
        self.say(f"  an hour later hcalcs-1 still runs 0x{OLD_VERSION:08X}, waiting for activation: {waiting}")
        await self.activate("hcalcs-1", bytes.fromhex(stored["manufacturer_image_sha256"]))
        await self.until(lambda: self.devices["hcalcs-1"].current_file_version == 0x200, DAY)
        self.say(f"  hcalcs-1 now runs 0x{self.devices['hcalcs-1'].current_file_version:08X}")
        for name in ("hcalcs-1", "ppmid-1"):
            await self.command(name, self.world.hub.read_version(self.devices[name].identity.ieee))

    async def activate(self, name: str, image_hash: bytes) -> None:
        """CS06 through the device's tunnel (supplier-signed, ACB-MAC'd), and its answer."""
        sent = self.world.hub.activate(self.devices[name].identity.ieee, image_hash)
        await self.command(name, sent)

    async def command(self, name: str, sent: dict[str, Any]) -> None:
        """Wait for the device's answer to a GBCS command the hub sent through its tunnel, and tell it."""
        self.say(f"  {sent['command']} to {name} through its tunnel (originator counter {sent['originator_counter']})")
        await self.until(lambda: self.world.hub.outcome_of(sent) is not None, DAY)
        answer = self.world.hub.outcome_of(sent)
        assert answer is not None
        self.commands.setdefault(name, {})[answer["command"].lower()] = {
            "command": answer["command_message"], "response": answer["response_message"],
            "response_code": answer["response_code"], "response_code_name": answer["response_code_name"],
            "firmware_version": answer["firmware_version"], "signature": answer["signature"], "mac": answer["mac"],
            "authentic": answer["authentic"]}
        checks = ", ".join(f"{check} {answer[check]}" for check in ("signature", "mac") if answer[check] is not None)
        self.say(f"  {name} answered {answer['response_code_name']}, firmware version {answer['firmware_version']}"
                 f" ({checks})")

    async def act_two(self) -> None:
        self.say("")
        self.say("Act 2 — accelerated clock: retention, hardware mismatch, GSME priority")
        options = dict(manufacturer_code=MANUFACTURER, file_version=OLD_VERSION, image_type=PPMID_IMAGE_TYPE)
        off = await self.add("ppmid-3", ppmid("00:0d:6f:00:00:00:e0:04", 0xE004, hardware_version=2,
                                              **self.gb("00:0d:6f:00:00:00:e0:04", DeviceType.PPMID), **options))
        await self.add("ppmid-4", ppmid("00:0d:6f:00:00:00:e0:05", 0xE005, hardware_version=9,
                                        **self.gb("00:0d:6f:00:00:00:e0:05", DeviceType.PPMID), **options))
        await self.until(self.sessions_secured, 3600)
        off.power_off(self.world.clock.now())
        self.say("  ppmid-3 is switched off; ppmid-4 has hardware version 9 (the image allows 1..3)")
        self.distribute(self.image(PPMID_IMAGE_TYPE, 0x300), ["ppmid-1", "ppmid-3", "ppmid-4"], DeviceType.PPMID)
        self.expect("ppmid-1", AlertCode.TRANSFER_SUCCESS, 0x300, TransferResponse.SUCCESS)
        self.expect("ppmid-1", AlertCode.ACTIVATION, 0x300, None)
        self.expect("ppmid-4", AlertCode.TRANSFER_FAILURE, 0x300, TransferResponse.HARDWARE_VERSION_MISMATCH)
        self.expect("ppmid-3", AlertCode.TRANSFER_FAILURE, 0x300, TransferResponse.IMAGE_DISCARDED)
        await self.until(lambda: self.has_alert("ppmid-3", AlertCode.TRANSFER_FAILURE), 15 * DAY)
        self.say(f"  {self.day()}: ppmid-3 never started; its image was discarded after 14 days")

        cut_at = PAYLOAD_BYTES // 3
        interrupted = self.devices["ppmid-2"]
        interrupted.behaviour = dataclasses.replace(interrupted.behaviour, power_cuts=(PowerCut(cut_at, 2 * DAY),))
        self.distribute(self.image(PPMID_IMAGE_TYPE, 0x400), ["ppmid-2"], DeviceType.PPMID)
        self.expect("ppmid-2", AlertCode.TRANSFER_FAILURE, 0x400, TransferResponse.IMAGE_DISCARDED)
        await self.until(lambda: not interrupted.powered, DAY)
        self.say(f"  {self.day()}: ppmid-2 lost power a third of the way through its download")

        meter = await self.add("gsme-1", gsme("00:0d:6f:00:00:00:e0:06", 0xE006, hardware_version=2,
                                              manufacturer_code=MANUFACTURER, file_version=OLD_VERSION,
                                              image_type=GSME_IMAGE_TYPE,
                                              **self.gb("00:0d:6f:00:00:00:e0:06", DeviceType.GSME)))
        await self.until(self.sessions_secured, 3600)
        gsme_image = self.distribute(self.image(GSME_IMAGE_TYPE, 0x500), ["gsme-1"], DeviceType.GSME)
        self.expect("gsme-1", AlertCode.TRANSFER_SUCCESS, 0x500, TransferResponse.SUCCESS)
        self.narrator.new_alerts(self.alerts())
        try:
            self.distribute(self.image(PPMID_IMAGE_TYPE, 0x600), ["ppmid-1"], DeviceType.PPMID)
        except StoreRejected as exc:
            self.narrator.rejections.append(str(exc))
            self.say(f"  a new PPMID image is refused: {exc}")
        await self.until(lambda: self.has_alert("gsme-1", AlertCode.TRANSFER_SUCCESS), 3 * DAY)
        await self.world.run_for(3600)  # a sleepy meter hears the UpgradeEndResponse at its next poll
        if meter.phase is Phase.WAITING_TO_UPGRADE and meter.current_file_version == OLD_VERSION:
            self.waited_for_activation.add("gsme-1")
        self.say(f"  {self.day()}: the sleepy gsme-1 finished its download and waits for activation "
                 f"(still runs 0x{meter.current_file_version:08X})")
        await self.activate("gsme-1", bytes.fromhex(gsme_image["manufacturer_image_sha256"]))
        await self.until(lambda: meter.current_file_version == 0x500, DAY)
        self.say(f"  gsme-1 now runs 0x{meter.current_file_version:08X}")

    def sessions_secured(self) -> bool:
        """Every powered device holds its CBKE link key and has its tunnel open (whoever opens it)."""
        return all(device.gb is None or not device.powered or (
            device.gb.state is SessionState.SECURED and (device.gb.tunnel_open or not device.gb.settings.uses_tunnel))
            for device in self.devices.values())

    def outcome(self) -> dict[str, Any]:
        alerts = self.alerts()
        got = sorted((a.entity, a.code, a.firmware_version, a.transfer_response) for a in alerts)
        wanted = sorted(self.narrator.expected)
        final = {"ppmid-1": 0x300, "ppmid-2": 0x200, "hcalcs-1": 0x200, "ppmid-3": OLD_VERSION,
                 "ppmid-4": OLD_VERSION, "gsme-1": 0x500}
        versions_ok = all(self.devices[name].current_file_version == v for name, v in final.items())
        waiting_ok = self.waited_for_activation == {"hcalcs-1", "gsme-1"}
        commands_ok = all(self.commands.get(name, {}).get("cs06", {}).get("response_code") == 0
                          for name in ("hcalcs-1", "gsme-1")) and all(
            exchange["authentic"] for exchanges in self.commands.values() for exchange in exchanges.values())
        devices = [self.device_json(name) for name in self.devices]
        keys_ok = all(device["key_establishment"] == "suite2" for device in devices)
        activations = [alert for alert in alerts if alert.code is AlertCode.ACTIVATION]
        tunnel_ok = bool(activations) and all(alert.source == "tunnel" for alert in activations) and all(
            device["tunnel_opened_by"] == "hub" for device in devices if device["type"] in HUB_OPENED_TUNNELS)
        signed_ok = all(alert.signature == "valid" for alert in activations) and all(
            alert.message is not None and alert.counter is not None for alert in alerts)
        ok = (got == wanted and versions_ok and waiting_ok and len(self.narrator.rejections) == 1 and keys_ok
              and tunnel_ok and signed_ok and commands_ok and not self.raw_alerts)
        return {
            "ok": ok,
            "radio": self.world.radio_description,
            "devices": devices,
            "alerts": [alert_json(alert, self.narrator.names) for alert in alerts],
            "raw_tunnel_alerts": self.raw_alerts,
            "rejections": self.narrator.rejections,
            "virtual_days": round((self.world.clock.now() - self.started) / DAY, 2),
            "mismatches": [] if got == wanted else [str(x) for x in sorted(set(got) ^ set(wanted))],
        }

    def device_json(self, name: str) -> dict[str, Any]:
        device = self.devices[name]
        ieee = device.identity.ieee
        before = self.from_versions[ieee]
        han = next(entry for entry in self.world.hub.devices() if entry["eui64"] == str(ieee))
        return {"name": name, "eui64": str(ieee), "type": device.identity.device_type.value,
                "from_version": f"0x{before:08X}", "to_version": f"0x{device.current_file_version:08X}",
                "activated": device.current_file_version != before,
                "activation": "immediate" if device.identity.device_type.activates_immediately else "on command (CS06)",
                "waited_for_activation": name in self.waited_for_activation,
                "awaiting_activation": device.phase is Phase.WAITING_TO_UPGRADE,
                "key_establishment": han["key_establishment"], "tunnel": han["tunnel"],
                "tunnel_opened_by": han["tunnel_opened_by"],
                "ds_public_key_pem": public_pem(device.ds_key.public_key()).decode("ascii"),
                "cs06": self.commands.get(name, {}).get("cs06"), "cs08": self.commands.get(name, {}).get("cs08")}


class Progress:
    """Prints each download's progress in quarters as it passes them (once per download: a device's held bytes
    going down means a new download, or one started again)."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.shown: dict[str, int] = {}
        self.held: dict[str, int] = {}

    def show(self) -> bool:
        for name, device in self.demo.devices.items():
            held = len(device.download) if device.download else 0
            if held < self.held.get(name, 0):
                self.shown[name] = 0
            self.held[name] = held
            quarter = min(4, 4 * held // PAYLOAD_BYTES)
            if quarter > self.shown.get(name, 0):
                self.shown[name] = quarter
                self.demo.say(f"  {name}: {'█' * quarter * 5}{'·' * (20 - quarter * 5)} {held} bytes")
        self.demo.narrator.new_alerts(self.demo.alerts())
        return False


def alert_json(alert: TransferAlert, names: dict[t.EUI64, str]) -> dict[str, Any]:
    data = alert.to_json()
    data["device"] = names.get(alert.entity)
    return data


async def run_demo(state_dir: Path | None, as_json: bool, ezsp_version: int,
                   capture: Path | None = None, plots: Path | None = None) -> dict[str, Any]:
    """The demo; with `capture`, every APS frame the hub sends and receives goes to that pcap file
    (hubfw.capture), stamped with the demo's virtual clock; with `plots`, the wear map of the hub's flash and
    the download timelines (whole run, act 1, act 2) are drawn into that directory (`write_plots`)."""
    logging.basicConfig(level=logging.ERROR)
    narrator = Narrator(quiet=as_json)
    with tempfile.TemporaryDirectory(prefix="hubfw-demo-") as scratch:
        directory = state_dir or Path(scratch)
        async with SimulatedWorld(directory, ezsp_version=ezsp_version, cbke=True, capture=capture) as world:
            narrator.say(f"hubfw demo — hub on {world.radio_description}, state in {directory}")
            demo = Demo(world, narrator)
            await demo.act_one()
            act_two = world.clock.now()
            await demo.act_two()
            result = demo.outcome()
            if capture is not None:
                result["capture"] = {"file": str(capture), "frames": sum(
                    stopped["frames"] for stopped in world.hub.stop_capture()["stopped"])}
            hub_state = world.hub.state_dir
            names = {str(eui64): name for eui64, name in narrator.names.items()}
        if plots is not None:  # the hub has stopped (its timeline is complete); the state is still there
            result["plots"] = write_plots(hub_state, plots, names, act_two)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        summary(narrator, result)
    return result


def write_plots(hub_state: Path, directory: Path, names: dict[str, str], act_two: float) -> dict[str, Any]:
    """wear.png (the hub's flash) and timeline.png, timeline-act1.png, timeline-act2.png (its OTA timeline,
    devices named as in the story) in `directory`; what each timeline shows per device, for the JSON."""
    from hubfw.flash.device import NorFlash
    from hubfw.flash.persist import flash_path
    from hubfw.flash.report import WearReport
    from hubfw.hub.ota_timeline import read_timeline, timeline_path
    from hubfw.plots.common import save
    from hubfw.plots.timeline import render_timeline, timeline_data
    from hubfw.plots.wear import draw_wear_map, wear_map_data
    from hubfw.store.errors import StoreFormatError
    from hubfw.store.layout import Layout

    directory.mkdir(parents=True, exist_ok=True)
    with NorFlash.open(flash_path(hub_state), read_only=True) as flash:
        report = WearReport.of(flash)
        try:
            layout = Layout.read_superblock(flash)
        except StoreFormatError:
            layout = None
    save(draw_wear_map(wear_map_data(report, layout, source="hubfw demo flash.bin")), directory / "wear.png")
    events = read_timeline(timeline_path(hub_state))
    drawn: dict[str, Any] = {"wear_map": str(directory / "wear.png"), "timelines": {}}
    for file, title, window in (("timeline.png", "hubfw demo, both acts", {}),
                                ("timeline-act1.png", "hubfw demo, act 1", {"until": act_two}),
                                ("timeline-act2.png", "hubfw demo, act 2", {"since": act_two})):
        data = timeline_data(events, names=names, source=title, **window)
        render_timeline(data, [directory / file])
        drawn["timelines"][file] = {target.label: len(target.points) for target in data.series}
    return drawn


def summary(narrator: Narrator, result: dict[str, Any]) -> None:
    narrator.say("")
    narrator.say("Summary")
    for device in result["devices"]:
        narrator.say(f"  {device['name']:<9} {device['type']:<6} {device['from_version']} → {device['to_version']}"
                     f"  {'activated' if device['activated'] else 'not activated'}")
    narrator.say(f"  {len(result['alerts'])} alerts, {result['virtual_days']} virtual days; "
                 f"{'every target got exactly the alerts it is owed' if result['ok'] else 'MISMATCH: '}"
                 f"{'' if result['ok'] else result['mismatches']}")
