"""`hubfw demo --json`: the contract other tools read, checked on a real run through bellows + the simulated NCP."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pyasn1.codec.der import decoder
from pyasn1.type import univ

from hubfw.devices import parse_eui64
from hubfw.gbcs.alert_content import FirmwareTransferAlert
from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.ciphering import MacedMessage, check_mac
from hubfw.gbcs.ds_key import read_ch_ds_public_key
from hubfw.gbcs.firmware_content import ActivateFirmwareCommand, ActivateFirmwareResponse, ReadFirmwareVersionResponse
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode
from hubfw.gbcs.signing import verify
from hubfw.sim.demo import run_demo


@pytest.fixture
def demo_state(shared_demo: tuple[Path, dict]) -> Path:
    """`hubfw demo --state DIR` (with --capture and --plots), run once per test run (tests/conftest.py)."""
    return shared_demo[0]


@pytest.fixture
def demo_output(shared_demo: tuple[Path, dict]) -> dict:
    """What that run printed with --json."""
    return shared_demo[1]


def test_every_alert_is_the_gbcs_message_the_rtds_form_gives_checked_with_the_signers_keys(
        demo_output: dict, demo_state: Path) -> None:
    """Decoded here from the bytes (not from the hub's own verdict): CCS08 from the CH, signed by the key
    `hubfw gbcs ch-key` prints; each 0x8F8B the PPMID's own 0x012B, signed by the key the demo lists for it."""
    ch_key = load_pem_public_key(read_ch_ds_public_key(demo_state / "hub"))
    device_keys = {device["eui64"]: load_pem_public_key(device["ds_public_key_pem"].encode())
                   for device in demo_output["devices"]}
    ch_counters = []
    for alert in demo_output["alerts"]:
        message = GeneralSigning.parse(bytes.fromhex(alert["gbcs"]))
        assert (message.cra, message.content.hex(), message.date_time) == (CraFlag.ALERT, alert["der"], None)
        assert message.target == bytes.fromhex("90B3D51F30000002")
        assert message.originator_counter == alert["originator_counter"]
        if alert["code"] == "0x8F8B":
            assert message.message_code == MessageCode.FIRMWARE_ACTIVATION_ALERT
            assert message.originator == bytes(parse_eui64(alert["entity"]))[::-1]
            assert alert["signature"] == "valid" and verify(message, device_keys[alert["entity"]])
            assert not verify(message, ch_key)
        else:
            assert message.message_code == MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT
            transfer = FirmwareTransferAlert.from_der(message.content)
            assert (transfer.entity_id.hex(), transfer.transfer_response_code) == (
                alert["entity"].replace(":", ""), alert["transfer_response_code"])
            assert verify(message, ch_key) and alert["signature"] is None
            ch_counters.append(message.originator_counter)
    assert ch_counters == sorted(set(ch_counters)) and len(ch_counters) >= 8


def test_the_demo_succeeds_on_the_ezsp_path(demo_output: dict) -> None:
    assert demo_output["ok"] is True
    assert demo_output["radio"].startswith("bellows EZSP v13 on /dev/pts/")
    assert demo_output["radio"].endswith("(simulated NCP)")


def test_ppmids_activate_at_once_and_the_hcalcs_only_when_told(demo_output: dict) -> None:
    devices = {d["name"]: d for d in demo_output["devices"]}
    for name in ("ppmid-1", "ppmid-2", "hcalcs-1"):
        assert {"eui64", "type", "from_version", "to_version", "activated"} <= devices[name].keys()
    assert devices["ppmid-1"]["to_version"] == "0x00000300" and devices["ppmid-1"]["activated"]
    assert devices["ppmid-2"]["to_version"] == "0x00000200" and devices["ppmid-2"]["activated"]
    assert devices["hcalcs-1"]["to_version"] == "0x00000200"
    assert devices["hcalcs-1"]["waited_for_activation"] and devices["hcalcs-1"]["activation"] == "on command (CS06)"
    assert devices["gsme-1"]["waited_for_activation"] and devices["gsme-1"]["to_version"] == "0x00000500"
    assert not any(device["awaiting_activation"] for device in devices.values())
    assert not devices["ppmid-3"]["activated"] and devices["gsme-1"]["activated"]


def test_cs06_and_cs08_crossed_the_tunnels_as_the_rtds_builds_them_checked_here_with_the_bench_keys(
        demo_output: dict, demo_state: Path) -> None:
    """Each exchange decoded from its hex and checked with the key set the demo left in DIR/gbcs-keys (not taken
    from the hub's verdict): CS06 supplier-signed and ACB-MAC'd, its answer device-signed; CS08 MAC'd both ways."""
    keys = GbcsKeys.load(demo_state / "gbcs-keys")
    devices = {d["name"]: d for d in demo_output["devices"]}
    assert {name for name, d in devices.items() if d["cs06"]} == {"hcalcs-1", "gsme-1"}
    assert {name for name, d in devices.items() if d["cs08"]} == {"hcalcs-1", "ppmid-1"}
    for name, device in devices.items():
        entity = bytes(parse_eui64(device["eui64"]))[::-1]
        if device["cs06"]:
            command = MacedMessage.parse(bytes.fromhex(device["cs06"]["command"]))
            assert check_mac(command, keys.acb_ka, keys.public(entity, "ka"))
            assert verify(command.general_signing, keys.public(keys.supplier_id, "ds"))
            assert (command.signed.originator, command.signed.target) == (keys.supplier_id, entity)
            content = ActivateFirmwareCommand.from_der(command.signed.content)
            assert content.originator_counter == command.signed.originator_counter
            response = GeneralSigning.parse(bytes.fromhex(device["cs06"]["response"]))
            assert verify(response, keys.public(entity, "ds")) and response.date_time is not None
            assert ActivateFirmwareResponse.from_der(response.content) == ActivateFirmwareResponse(
                0, int(device["to_version"], 16).to_bytes(4, "big"))
            flipped = bytearray(bytes.fromhex(device["cs06"]["command"]))
            flipped[-1] ^= 1  # negative control: one bit of the MAC
            assert not check_mac(bytes(flipped), keys.acb_ka, keys.public(entity, "ka"))
        if device["cs08"]:
            command = bytes.fromhex(device["cs08"]["command"])
            response = bytes.fromhex(device["cs08"]["response"])
            assert check_mac(command, keys.acb_ka, keys.public(entity, "ka"))
            assert check_mac(response, keys.private(entity, "ka"), keys.public(keys.acb_id, "ka"))
            read = ReadFirmwareVersionResponse.from_der(MacedMessage.parse(response).signed.content)
            assert read.response_code == 0 and read.firmware_version.hex() == device["cs08"]["firmware_version"][2:]
    counters = [MacedMessage.parse(bytes.fromhex(devices[name]["cs06"]["command"])).signed.originator_counter
                for name in ("hcalcs-1", "gsme-1")]
    assert counters == sorted(set(counters))  # the supplier's counter only goes up


def test_the_dccs_parser_finds_the_demos_cs06_and_cs08_macs_and_signatures_valid(
        demo_output: dict, demo_state: Path) -> None:
    """The outside decoder (tests/gbcs/test_dcc_parser_mac.py; skipped without node and the DCC's parser) given the
    bench's keys: every command and answer the demo sent through a tunnel checks out, and a flipped bit does not."""
    from tests.gbcs.test_dcc_parser import _install
    from tests.gbcs.test_dcc_parser_mac import flip_last_bit, keystore_of, parser_verdicts

    modules = _install()
    keys = GbcsKeys.load(demo_state / "gbcs-keys")
    exchanges = [device[kind] for device in demo_output["devices"] for kind in ("cs06", "cs08") if device[kind]]
    messages = [bytes.fromhex(exchange[part]) for exchange in exchanges for part in ("command", "response")]
    verdicts = parser_verdicts(modules, [*messages, *map(flip_last_bit, messages)], keystore_of(keys), keys.acb_id)
    expected = []
    for message in messages:
        maced = message[0] == 0xDD
        signed = (MacedMessage.parse(message).signed if maced else GeneralSigning.parse(message)).signature is not None
        expected.append({"mac": "valid" if maced else None, "signature": "true" if signed else None})
    assert verdicts[:len(messages)] == expected
    for message, verdict in zip(messages, verdicts[len(messages):], strict=True):  # the last bit: MAC or signature
        assert (verdict["mac"] != "valid") if message[0] == 0xDD else (verdict["signature"] == "false")


def test_every_target_gets_exactly_one_terminal_alert_per_image(demo_output: dict) -> None:
    terminal = [(a["entity"], a["firmware_version"]) for a in demo_output["alerts"] if a["code"] in ("0x8F89", "0x8F8A")]
    assert len(terminal) == len(set(terminal)) == 8
    by_device = {(a["device"], a["code"], a["transfer_response_code"]) for a in demo_output["alerts"]}
    assert ("ppmid-3", "0x8F89", 1) in by_device  # never started: discarded after 14 days
    assert ("ppmid-4", "0x8F89", 2) in by_device  # hardware version outside the image's range
    assert ("ppmid-2", "0x8F89", 1) in by_device  # a GSME image took the block mid-transfer
    assert ("ppmid-1", "0x8F8B", None) in by_device
    assert len(demo_output["rejections"]) == 1 and "protected" in demo_output["rejections"][0]


def test_each_transfer_alert_der_decodes_with_an_independent_decoder(demo_output: dict) -> None:
    for alert in demo_output["alerts"]:
        if alert["code"] == "0x8F8B":
            continue
        sequence, rest = decoder.decode(bytes.fromhex(alert["der"]), asn1Spec=univ.Sequence())
        assert rest == b""
        code, when, entity, version, response = (sequence[i] for i in range(5))
        assert int(code) == int(alert["code"], 16)
        assert bytes(entity).hex(":") == alert["entity"]
        assert int.from_bytes(bytes(version), "big") == int(alert["firmware_version"], 16)
        assert int(response) == alert["transfer_response_code"]
        assert str(when).endswith("Z")


def test_every_device_holds_a_cbke_key_and_every_ppmid_activation_came_through_the_tunnel_the_hub_opened(
        demo_output: dict) -> None:
    devices = {d["name"]: d for d in demo_output["devices"]}
    assert {d["key_establishment"] for d in devices.values()} == {"suite2"}
    opened_by = {name: (d["tunnel"], d["tunnel_opened_by"]) for name, d in devices.items()}
    assert {name: by for name, (_, by) in opened_by.items()} == {
        "ppmid-1": "hub", "ppmid-2": "hub", "hcalcs-1": "hub", "ppmid-3": "hub", "ppmid-4": "hub", "gsme-1": "device"}
    assert opened_by["ppmid-1"] == opened_by["hcalcs-1"] == ("open", "hub")
    activated_ppmids = {name for name, d in devices.items() if d["type"] == "ppmid" and d["activated"]}
    assert activated_ppmids == {"ppmid-1", "ppmid-2"}
    activations = [a for a in demo_output["alerts"] if a["code"] == "0x8F8B"]
    assert {a["device"] for a in activations} == activated_ppmids
    assert {a["source"] for a in activations} == {"tunnel"}
    assert {a["source"] for a in demo_output["alerts"] if a["code"] != "0x8F8B"} == {"hub"}
    assert demo_output["raw_tunnel_alerts"] == []



def test_the_demo_succeeds_on_ezsp_v18_too(tmp_path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        result = asyncio.run(run_demo(tmp_path, True, 18))
    devices = {d["name"]: d for d in result["devices"]}
    assert result["radio"].startswith("bellows EZSP v18 on /dev/pts/")
    assert {devices[name]["tunnel_opened_by"] for name in ("ppmid-1", "ppmid-2", "hcalcs-1")} == {"hub"}
    assert result["ok"] is True


def test_demo_plots_are_the_wear_map_and_timelines_naming_every_device_that_downloaded(
        demo_output: dict, demo_state: Path) -> None:
    from hubfw.hub.ota_timeline import read_timeline, timeline_path
    from hubfw.plots.common import PIXELS, png_size
    from hubfw.plots.timeline import timeline_data

    plots = demo_state / "plots"
    for name in ("wear.png", "timeline.png", "timeline-act1.png", "timeline-act2.png"):
        assert png_size((plots / name).read_bytes()) == PIXELS
    events = read_timeline(timeline_path(demo_state / "hub"))
    downloaded = {event["eui64"] for event in events if event["event"] == "data"}
    devices = {device["eui64"]: device for device in demo_output["devices"]}
    assert downloaded == {devices[e]["eui64"] for e in devices
                          if devices[e]["name"] in ("ppmid-1", "ppmid-2", "hcalcs-1", "gsme-1")}
    drawn = demo_output["plots"]["timelines"]["timeline.png"]
    for eui64 in downloaded:
        device = devices[eui64]
        label = f"{eui64} {device['type'].upper()} {device['name']}"
        assert drawn[label] > 0  # named, typed, with its points
    names = {eui64: device["name"] for eui64, device in devices.items()}
    data = timeline_data(events, names=names)
    for series in data.series:  # the drawn points are the recorded progress
        recorded = [(event["t"], event["offset"] + event["size"]) for event in sorted(events, key=lambda e: e["t"])
                    if event["event"] == "data" and event["eui64"] == series.eui64]
        assert series.points == recorded
        assert drawn[series.label] == len(recorded)
    act1 = demo_output["plots"]["timelines"]["timeline-act1.png"]
    assert {label.split()[-1] for label in act1} == {"ppmid-1", "ppmid-2", "hcalcs-1"}
