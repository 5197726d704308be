"""Deliberately broken test images (`hubfw image build --break`): each breaks what it names and nothing else, the
admission refuses each with that reason, `--allow-broken` stores it anyway, and a simulated device refuses it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from zigpy.zcl import foundation

from hubfw.cli.main import main
from hubfw.devices import DeviceType
from hubfw.ota.admission import AdmissionError, admit
from hubfw.ota.broken import Break, BreakError, break_image, broken_image_type
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import ImageFormatError, OtaImage, build_image, parse_ignoring_total_size
from hubfw.ota.keys import load_public_keys, new_private_key
from hubfw.sim.devices import Phase, ppmid
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, make_hub

Status = foundation.Status
KEY = new_private_key()
PAYLOAD = bytes((i * 7) % 251 for i in range(1500))


def built(image_type: int = IMAGE_TYPE) -> OtaImage:
    return build_image(manufacturer_code=MANUFACTURER, image_type=image_type, file_version=NEW_VERSION,
                       payload=PAYLOAD, sign_key=KEY, integrity_code=True, min_hw_version=1, max_hw_version=5)


def broken(kind: Break) -> bytes:
    image = built(broken_image_type(IMAGE_TYPE) if kind is Break.IMAGE_TYPE else IMAGE_TYPE)
    return break_image(image, [kind], KEY)


def cpl() -> CentralProductsList:
    digest = built().manufacturer_image_sha256.hex()
    return CentralProductsList.parse(
        f'[[entry]]\nmanufacturer_code = {MANUFACTURER}\nimage_type = {IMAGE_TYPE}\n'
        f'firmware_version = {NEW_VERSION}\nhardware_version = 1\nhash = "{digest}"\n'
    )


def strict(data: bytes):
    return admit(data, trust=[KEY.public_key()], cpl=cpl(), require_signature=True)


def test_an_unbroken_image_passes_every_check() -> None:
    report = strict(built().to_bytes())
    assert report.admitted, report.failures


@pytest.mark.parametrize(("kind", "check"), [
    (Break.SIGNATURE, "signature"), (Break.INTEGRITY, "integrity-code"), (Break.IMAGE_TYPE, "cpl"),
])
def test_each_break_fails_exactly_its_check(kind: Break, check: str) -> None:
    report = strict(broken(kind))
    assert [failure.name for failure in report.failures] == [check]
    with pytest.raises(AdmissionError, match=check):
        report.raise_if_rejected()


def test_the_size_lie_is_a_format_error_unless_broken_images_are_allowed() -> None:
    data = broken(Break.SIZE)
    with pytest.raises(ImageFormatError, match="total image size in the header"):
        strict(data)
    report = admit(data, trust=[KEY.public_key()], cpl=cpl(), require_signature=True, allow_broken=True)
    assert [failure.name for failure in report.failures] == ["total-size"]  # signature and code made over the lie
    assert parse_ignoring_total_size(data).to_bytes() == data


def test_breaks_combine_and_a_break_needs_what_it_breaks() -> None:
    data = break_image(built(), [Break.SIGNATURE, Break.INTEGRITY, Break.SIZE], KEY)
    report = admit(data, trust=[KEY.public_key()], require_signature=True, allow_broken=True)
    assert {failure.name for failure in report.failures} == {"signature", "integrity-code", "total-size"}
    plain = build_image(manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=NEW_VERSION,
                        payload=PAYLOAD)
    with pytest.raises(BreakError, match="--sign-key"):
        break_image(plain, [Break.SIGNATURE])
    with pytest.raises(BreakError, match="--integrity-code"):
        break_image(plain, [Break.INTEGRITY])


def test_image_build_break_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "new", "--out", str(tmp_path / "keys")]).exit_code == 0
    (tmp_path / "fw.bin").write_bytes(PAYLOAD)
    out = tmp_path / "broken.ota"
    result = runner.invoke(main, [
        "image", "build", "--manufacturer", hex(MANUFACTURER), "--image-type", hex(IMAGE_TYPE), "--file-version",
        hex(NEW_VERSION), "--payload", str(tmp_path / "fw.bin"), "--sign-key", str(tmp_path / "keys" /
        "manufacturer-key.pem"), "--integrity-code", "--break", "signature", "--break", "image-type", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "deliberately broken (image-type, signature)" in result.stderr
    data = out.read_bytes()
    assert OtaImage.parse(data).header.image_type == IMAGE_TYPE + 1
    trust = load_public_keys([tmp_path / "keys" / "manufacturer-pub.pem"])
    report = admit(data, trust=trust)
    assert [failure.name for failure in report.failures] == ["signature"]

    refused = runner.invoke(main, [
        "image", "build", "--manufacturer", "1", "--image-type", "1", "--file-version", "1", "--payload",
        str(tmp_path / "fw.bin"), "--break", "integrity", "-o", str(tmp_path / "x.ota"),
    ])
    assert refused.exit_code != 0 and "--integrity-code" in refused.output
    unbroken = runner.invoke(main, [
        "image", "build", "--manufacturer", "1", "--image-type", "1", "--file-version", "1", "--payload",
        str(tmp_path / "fw.bin"), "-o", str(tmp_path / "ok.ota"),
    ])
    assert unbroken.exit_code == 0 and "broken" not in unbroken.output


# ------------------------------------------------------------------ through the hub to a simulated device


def rig_for(device, trust: bool = True):
    hub = make_hub([device])
    hub.core.config = replace(hub.core.config, trust=(KEY.public_key(),) if trust else (), cpl=cpl(),
                              require_signature=trust)
    return hub


@pytest.mark.parametrize("kind", [Break.SIGNATURE, Break.INTEGRITY, Break.SIZE])
def test_allow_broken_stores_it_and_the_device_refuses_it(kind: Break, caplog: pytest.LogCaptureFixture) -> None:
    device = ppmid(eui(1), 0x1001, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=OLD_VERSION,
                   trust_anchors=(KEY.public_key(),))
    hub = rig_for(device)
    data = broken(kind)
    with pytest.raises((AdmissionError, ImageFormatError)):
        hub.core.distribute(data, [device.ieee], DeviceType.PPMID)
    assert not any(block.image for block in hub.core.store.status().blocks)

    with caplog.at_level("WARNING", logger="hubfw.hub.core"):
        distributed = hub.core.distribute(data, [device.ieee], DeviceType.PPMID, allow_broken=True)
    assert distributed.admission.failures  # the report still says what is wrong
    assert "broken image" in caplog.text
    hub.radio.send(distributed.frames)
    hub.radio.run_until(lambda: bool(device.sent("upgrade_end")), within=3600)
    assert [entry.command.status for entry in device.sent("upgrade_end")] == [Status.INVALID_IMAGE]
    assert device.current_file_version == OLD_VERSION and device.phase is not Phase.WAITING_TO_UPGRADE


def test_a_wrong_image_type_is_never_offered_to_the_device() -> None:
    device = ppmid(eui(2), 0x1002, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE, file_version=OLD_VERSION)
    hub = rig_for(device)
    data = broken(Break.IMAGE_TYPE)
    with pytest.raises(AdmissionError, match="cpl"):
        hub.core.distribute(data, [device.ieee], DeviceType.PPMID)
    distributed = hub.core.distribute(data, [device.ieee], DeviceType.PPMID, allow_broken=True)
    hub.radio.send(distributed.frames)
    hub.radio.run_for(3600)
    assert device.sent("image_block") == [] and device.sent("image_page") == []
    assert device.current_file_version == OLD_VERSION
