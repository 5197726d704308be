"""Simulated HCALCS, ESME and PPMID answer GBCS CS06 (Activate Firmware) and CS08 (Read PPMID/HCALCS Firmware Version)
sent by the hub through their tunnels, as the RTDS messages are built: the command MAC'd by the ACB (and CS06 signed
by the supplier) with a bench key set (`hubfw.gbcs.bench_keys`); the device checks the MAC, the signature, the
originator counter and the Manufacturer Image hash, activates or refuses with the GBCS response code, and answers
(CS06 device-signed with a date-time, CS08 MAC'd). Radio-free rig, virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.devices import DeviceType
from hubfw.gbcs.bench_keys import DS, GbcsKeys, entity_of, new_key_set
from hubfw.gbcs.ciphering import MacedMessage, check_mac, seal
from hubfw.gbcs.device_commands import ActivationCode, ReadVersionCode
from hubfw.gbcs.device_keys import device_ds_key, device_ka_key
from hubfw.gbcs.firmware_content import (
    ActivateFirmwareCommand,
    ActivateFirmwareResponse,
    ReadFirmwareVersionResponse,
)
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode
from hubfw.gbcs.signing import sign, verify
from hubfw.han.events import GbcsMessageReceived
from hubfw.hub.faults import Fault, FaultKind
from hubfw.ota.image import OtaImage
from hubfw.sim.devices import Phase, esme, gb_session, hcalcs, ppmid
from hubfw.sim.devices.client import OtaClientDevice
from tests.gbcs.rtds import message
from tests.sim.devices.gb_rig import GbRig, TestCa, make_gb_hub
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, ota_file

IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}
HOUR = 3600.0
DAY = 86_400.0
OTA = ota_file()
IMAGE_HASH = OtaImage.parse(OTA).manufacturer_image_sha256
KINDS = {DeviceType.HCALCS: hcalcs, DeviceType.ESME: esme, DeviceType.PPMID: ppmid}


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa()


class Bench:
    """One device behind the hub's tunnel, with the bench key set the test signs and MACs with."""

    def __init__(self, ca: TestCa, keys_dir: Path, kind: DeviceType, n: int, **options: object) -> None:
        new_key_set(keys_dir)
        self.keys = GbcsKeys.load(keys_dir)
        self.ieee: t.EUI64 = eui(n)
        if kind is DeviceType.PPMID:  # a PPMID activates at once when the hub says so: this one waits for CS06
            options.setdefault("activation", "gbcs")
        self.device: OtaClientDevice = KINDS[kind](self.ieee, 0x4000 + n, gb=gb_session(kind, ca.issue(self.ieee)),
                                                   keys_dir=keys_dir, query_interval=None, **IDENTITY, **options)
        self.entity = entity_of(self.ieee)
        self.device_ka = device_ka_key(keys_dir, self.ieee).public_key()
        self.device_ds = device_ds_key(keys_dir, self.ieee).public_key()
        self.hub: GbRig = make_gb_hub(ca, [self.device])
        self.hub.radio.run_until(lambda: self.device.gb.tunnel_open, within=HOUR)

    def download(self) -> None:
        self.hub.distribute(OTA, [self.device])
        self.hub.radio.run_until(lambda: self.device.phase is Phase.WAITING_TO_UPGRADE, within=DAY)

    def cs06(self, counter: int, image_hash: bytes = IMAGE_HASH, *, signer=None) -> bytes:
        content = ActivateFirmwareCommand(image_hash, counter).der()
        message = GeneralSigning(CraFlag.COMMAND, counter, self.keys.supplier_id, self.entity,
                                 MessageCode.CS06_ACTIVATE_FIRMWARE, content)
        return seal(sign(message, signer or self.keys.supplier_ds), self.keys.acb_ka, self.device_ka)

    def cs08(self, counter: int) -> bytes:
        message = GeneralSigning(CraFlag.COMMAND, counter, self.keys.acb_id, self.entity,
                                 MessageCode.CS08_READ_FIRMWARE_VERSION, bytes.fromhex("0500"),
                                 supplementary_party=self.keys.supplier_id, supplementary_counter=counter - 300)
        return seal(message, self.keys.acb_ka, self.device_ka)

    def send(self, command: bytes) -> list[bytes]:
        """Send `command` through the hub's tunnel; what the device sent back through it in the next minute."""
        before = len(self.received())
        self.hub.radio.send(self.hub.han_server.send_gbcs(self.ieee, command))
        self.hub.radio.run_for(60)
        return self.received()[before:]

    def received(self) -> list[bytes]:
        return [e.message for e in self.hub.radio.events if isinstance(e, GbcsMessageReceived) and e.eui64 == self.ieee]


def inner(maced: bytes) -> bytes:
    """The General-Signing message inside a MAC'd one."""
    return MacedMessage.parse(maced).general_signing


def check_cs06_response(bench: Bench, response: bytes, counter: int) -> ActivateFirmwareResponse:
    """The response is built like the RTDS CS06 response: bare General-Signing, signed by the device, dated."""
    parsed = GeneralSigning.parse(response)
    assert (parsed.cra, parsed.originator_counter, parsed.originator, parsed.target, parsed.message_code) == (
        CraFlag.RESPONSE, counter, bench.entity, bench.keys.supplier_id, MessageCode.CS06_ACTIVATE_FIRMWARE)
    assert parsed.date_time is not None and parsed.date_time[-3:] == bytes.fromhex("8000FF")
    assert verify(response, bench.device_ds)
    assert not verify(response, bench.keys.public(bench.keys.supplier_id, DS))  # negative control
    return ActivateFirmwareResponse.from_der(parsed.content)


@pytest.mark.parametrize("kind", list(KINDS))
def test_cs06_activates_the_held_image_and_the_device_signed_response_verifies(ca: TestCa, tmp_path: Path,
                                                                               kind: DeviceType) -> None:
    bench = Bench(ca, tmp_path, kind, 0x60 + list(KINDS).index(kind))
    bench.download()
    assert bench.device.current_file_version == OLD_VERSION
    [response, *rest] = bench.send(bench.cs06(1000))
    assert check_cs06_response(bench, response, 1000) == ActivateFirmwareResponse(
        ActivationCode.SUCCESS, NEW_VERSION.to_bytes(4, "big"))
    assert bench.device.current_file_version == NEW_VERSION and bench.device.held_image is None
    if kind is DeviceType.PPMID:  # then its own 0x8F8B, signed by it
        [alert] = rest
        assert GeneralSigning.parse(alert).message_code == MessageCode.FIRMWARE_ACTIVATION_ALERT
        assert verify(alert, bench.device_ds)
    else:
        assert rest == []


def test_a_wrong_hash_is_refused_with_hash_mismatch_and_no_activation(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.HCALCS, 0x70)
    bench.download()
    [response] = bench.send(bench.cs06(1000, bytes(32)))
    assert check_cs06_response(bench, response, 1000).response_code == ActivationCode.HASH_MISMATCH
    assert check_cs06_response(bench, response, 1000).firmware_version == OLD_VERSION.to_bytes(4, "big")
    assert bench.device.current_file_version == OLD_VERSION
    assert bench.device.phase is Phase.WAITING_TO_UPGRADE and bench.device.held_image == OTA
    [response] = bench.send(bench.cs06(1001))  # the right hash, a later counter: it activates
    assert check_cs06_response(bench, response, 1001).response_code == ActivationCode.SUCCESS
    assert bench.device.current_file_version == NEW_VERSION


def test_without_a_held_image_cs06_says_no_image_held(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.ESME, 0x71)
    [response] = bench.send(bench.cs06(5))
    assert check_cs06_response(bench, response, 5).response_code == ActivationCode.NO_IMAGE_HELD
    assert bench.device.current_file_version == OLD_VERSION


def test_an_image_that_will_not_start_is_answered_activation_failure(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.HCALCS, 0x72, fails_activation=True)
    bench.download()
    [response] = bench.send(bench.cs06(7))
    assert check_cs06_response(bench, response, 7).response_code == ActivationCode.ACTIVATION_FAILURE
    assert bench.device.current_file_version == OLD_VERSION


def test_a_replayed_or_lower_counter_is_refused_without_an_answer(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.HCALCS, 0x73)
    first = bench.cs06(1000, bytes(32))  # hashMismatch: accepted (counter moves on), nothing activated
    assert len(bench.send(first)) == 1
    bench.download()
    assert bench.send(first) == []  # the same message again
    assert bench.send(bench.cs06(999)) == []  # a lower counter, right hash
    assert bench.send(bench.cs06(1000)) == []  # an equal one
    assert bench.device.current_file_version == OLD_VERSION
    assert sum("a replay" in note for note in bench.device.notes()) == 3
    [response] = bench.send(bench.cs06(1001))
    assert check_cs06_response(bench, response, 1001).response_code == ActivationCode.SUCCESS


def test_a_bad_mac_or_signature_is_discarded_without_an_answer(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.HCALCS, 0x74)
    bench.download()
    good = bench.cs06(1000)
    flipped = good[:-1] + bytes([good[-1] ^ 0x01])
    assert bench.send(flipped) == []
    other_acb = seal(GeneralSigning.parse(inner(good)), bench.keys.supplier_ka, bench.device_ka)  # wrong KA key
    assert bench.send(other_acb) == []
    assert bench.send(bench.cs06(1001, signer=bench.keys.acb_ka)) == []  # signed by someone else
    unsigned = GeneralSigning.parse(inner(good)).with_signature(None)
    assert bench.send(seal(unsigned.encode(), bench.keys.acb_ka, bench.device_ka)) == []
    assert bench.device.current_file_version == OLD_VERSION
    notes = bench.device.notes()
    assert sum("the MAC does not check" in note for note in notes) == 2
    assert sum("without the supplier's valid signature" in note for note in notes) == 2
    [response] = bench.send(good)  # the refusals did not move the counter on
    assert check_cs06_response(bench, response, 1000).response_code == ActivationCode.SUCCESS


@pytest.mark.parametrize("kind", [DeviceType.PPMID, DeviceType.HCALCS])
def test_cs08_is_answered_with_the_firmware_version_maced_like_the_rtds_response(ca: TestCa, tmp_path: Path,
                                                                               kind: DeviceType) -> None:
    bench = Bench(ca, tmp_path, kind, 0x78 + (kind is DeviceType.HCALCS))
    [response] = bench.send(bench.cs08(1300))
    assert check_mac(response, bench.keys.acb_ka, bench.device_ka)  # the ACB checks it as the DCC parser would
    assert not check_mac(response, bench.keys.supplier_ka, bench.device_ka)  # negative control
    inner_message = GeneralSigning.parse(inner(response))
    assert (inner_message.cra, inner_message.originator_counter, inner_message.originator, inner_message.target,
            inner_message.message_code) == (
        CraFlag.RESPONSE, 1300, bench.entity, bench.keys.acb_id, MessageCode.CS08_READ_FIRMWARE_VERSION)
    assert (inner_message.supplementary_party, inner_message.supplementary_counter, inner_message.signature,
            inner_message.date_time) == (bench.keys.supplier_id, 1000, None, None)
    assert ReadFirmwareVersionResponse.from_der(inner_message.content) == ReadFirmwareVersionResponse(
        OLD_VERSION.to_bytes(4, "big"), ReadVersionCode.SUCCESS)
    assert bench.send(bench.cs08(1300)) == []  # replayed


def test_an_esme_does_not_answer_cs08(ca: TestCa, tmp_path: Path) -> None:
    bench = Bench(ca, tmp_path, DeviceType.ESME, 0x7A)
    assert bench.send(bench.cs08(1300)) == []
    assert any("only a PPMID or an HCALCS" in note for note in bench.device.notes())


def test_an_hcalcs_refuses_an_unsolicited_upgrade_end_response_unless_set_up_for_zcl(ca: TestCa,
                                                                                     tmp_path: Path) -> None:
    for n, activation, activates in ((0x7B, None, False), (0x7C, "zcl", True)):
        options = {} if activation is None else {"activation": activation}
        bench = Bench(ca, tmp_path / str(n), DeviceType.HCALCS, n, **options)
        assert bench.device.activation == (activation or "gbcs")
        bench.download()
        bench.hub.radio.send(bench.hub.server.activate(bench.ieee, IMAGE_HASH))
        bench.hub.radio.run_for(60)
        assert (bench.device.current_file_version == NEW_VERSION) is activates
        refused = "refused an upgrade end response naming an upgrade time: NOT_AUTHORIZED (activated by GBCS CS06 only)"
        assert (refused in bench.device.notes()) is not activates
        if not activates:
            [answer] = [f for f in bench.hub.radio.uplinked if f.src_ieee == bench.ieee and f.cluster == 0x0019
                        and f.payload[2] == 0x0B]  # the Default Response
            assert answer.payload[-1] == 0x7E  # NOT_AUTHORIZED
            assert bench.device.phase is Phase.WAITING_TO_UPGRADE


def test_an_hcalcs_refuses_the_answer_to_its_own_upgrade_end_when_it_names_an_upgrade_time(ca: TestCa,
                                                                                         tmp_path: Path) -> None:
    """SiLabs' ota-client.c (out-of-band activation policy): any UpgradeEndResponse with an upgrade time other than
    0xFFFFFFFF earns NOT_AUTHORIZED, solicited too; the device goes on waiting for CS06."""
    bench = Bench(ca, tmp_path, DeviceType.HCALCS, 0x7D)
    bench.hub.core.faults.set(bench.ieee, Fault(FaultKind.END_LATER, seconds=5), bench.hub.radio.clock.now())
    bench.hub.distribute(OTA, [bench.device])
    bench.hub.radio.run_until(lambda: bench.device.phase is Phase.WAITING_TO_UPGRADE, within=DAY)
    bench.hub.radio.run_for(HOUR)
    assert bench.device.current_file_version == OLD_VERSION and bench.device.phase is Phase.WAITING_TO_UPGRADE
    assert any("naming an upgrade time: NOT_AUTHORIZED" in note for note in bench.device.notes())
    assert bench.send(bench.cs06(2000)) and bench.device.current_file_version == NEW_VERSION  # CS06 still does it


def test_the_rtds_cs08_response_is_the_form_the_device_builds() -> None:
    """The device's CS08 response has the RTDS response's fields in the RTDS order (its MAC needs the RTDS PPMID's
    private KA key, which the RTDS does not publish: test_ciphering checks the RTDS MAC itself)."""
    rtds = GeneralSigning.parse(inner(message("cs08-read-version-response")))
    command = GeneralSigning.parse(inner(message("cs08-read-version-command")))
    rebuilt = GeneralSigning(CraFlag.RESPONSE, command.originator_counter, command.target, command.originator,
                             MessageCode.CS08_READ_FIRMWARE_VERSION,
                             ReadFirmwareVersionResponse(bytes.fromhex("0123ABCD"), 0).der(),
                             supplementary_party=command.supplementary_party,
                             supplementary_counter=command.supplementary_counter)
    assert rebuilt.encode() == rtds.encode()
