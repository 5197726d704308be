"""GBCS admission: size first, fatal format errors, and each reported check incl. the CPL."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.errors import HubfwError
from hubfw.ota.admission import (
    AdmissionError,
    ImageFileError,
    ImageTooLargeError,
    Outcome,
    admit,
    read_image_file,
)
from hubfw.ota.cpl import CentralProductsList, CplEntry, CplError
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, ImageFormatError, OtaImage, SubElement, build_image
from hubfw.ota.signing import detached_signature
from tests.ota.strategies import assemble, images


def image_bytes(payload: bytes = b"manufacturer image", **options: object) -> bytes:
    options.setdefault("min_hw_version", 1)
    options.setdefault("max_hw_version", 3)
    return build_image(
        manufacturer_code=0x1234, image_type=0x0001, file_version=0x20, payload=payload, **options
    ).to_bytes()


def outcomes(report) -> dict[str, Outcome]:
    return {check.name: check.outcome for check in report.checks}


def cpl_for(data: bytes, **changes: int) -> CentralProductsList:
    image = OtaImage.parse(data)
    fields = dict(manufacturer_code=0x1234, image_type=0x0001, firmware_version=0x20, hardware_version=2)
    fields.update(changes)
    return CentralProductsList((CplEntry(**fields, manufacturer_image_sha256=image.manufacturer_image_sha256),))


def test_768000_bytes_pass_and_768001_are_rejected() -> None:
    at_limit = image_bytes(bytes(DEFAULT_MAX_IMAGE_SIZE - 66))
    assert len(at_limit) == DEFAULT_MAX_IMAGE_SIZE
    assert admit(at_limit).admitted
    over = image_bytes(bytes(DEFAULT_MAX_IMAGE_SIZE - 65))
    assert len(over) == DEFAULT_MAX_IMAGE_SIZE + 1
    with pytest.raises(ImageTooLargeError, match="image is 768001 bytes, over the 768000-byte limit"):
        admit(over)


def test_size_is_checked_before_parsing() -> None:
    with pytest.raises(ImageTooLargeError):
        admit(b"not an image at all" * 50_000)


def test_size_limit_is_configurable() -> None:
    data = image_bytes(bytes(1000))
    with pytest.raises(ImageTooLargeError, match="over the 500-byte limit"):
        admit(data, max_size=500)
    assert admit(data, max_size=len(data)).admitted


def test_format_errors_are_fatal() -> None:
    with pytest.raises(ImageFormatError, match="bad magic"):
        admit(b"\x00" * 100)


def test_an_image_without_manufacturer_image_is_refused() -> None:
    header = OtaImage.parse(image_bytes()).header
    with pytest.raises(ImageFormatError, match="no upgrade image sub-element"):
        admit(assemble(header, [SubElement(0xF000, b"x")]).to_bytes())


def test_a_plain_image_is_admitted_with_optional_checks_skipped() -> None:
    report = admit(image_bytes())
    assert report.admitted
    assert outcomes(report) == {
        "size": Outcome.PASS,
        "format": Outcome.PASS,
        "hardware-versions": Outcome.PASS,
        "signature": Outcome.SKIP,
        "integrity-code": Outcome.SKIP,
        "cpl": Outcome.SKIP,
    }
    report.raise_if_rejected()


def test_inverted_hardware_bounds_fail() -> None:
    report = admit(image_bytes(min_hw_version=5, max_hw_version=3))
    assert outcomes(report)["hardware-versions"] is Outcome.FAIL
    with pytest.raises(AdmissionError, match="hardware-versions: min hardware version 0x0005 is above max 0x0003"):
        report.raise_if_rejected()


class TestSignatureCheck:
    def test_valid_signature_passes(self, manufacturer_key) -> None:
        report = admit(image_bytes(sign_key=manufacturer_key), trust=[manufacturer_key.public_key()])
        assert outcomes(report)["signature"] is Outcome.PASS and report.signature.valid

    def test_wrong_key_fails(self, manufacturer_key, other_key) -> None:
        report = admit(image_bytes(sign_key=manufacturer_key), trust=[other_key.public_key()])
        assert [check.name for check in report.failures] == ["signature"]

    def test_unsigned_image_fails_only_when_a_signature_is_required(self, manufacturer_key) -> None:
        trust = [manufacturer_key.public_key()]
        assert outcomes(admit(image_bytes(), trust=trust))["signature"] is Outcome.SKIP
        report = admit(image_bytes(), trust=trust, require_signature=True)
        assert report.failures[0].detail.startswith("required but no manufacturer signature")

    def test_required_signature_without_trust_anchor_fails(self, manufacturer_key) -> None:
        report = admit(image_bytes(sign_key=manufacturer_key), require_signature=True)
        assert outcomes(report)["signature"] is Outcome.FAIL
        assert "no trust anchor" in report.failures[0].detail

    def test_zigbee_suite_signature_never_satisfies_a_required_signature(self, manufacturer_key) -> None:
        suite1 = SubElement(0x0001, bytes(50))
        report = admit(
            image_bytes(extra_sub_elements=[suite1]), trust=[manufacturer_key.public_key()], require_signature=True
        )
        assert outcomes(report)["signature"] is Outcome.FAIL
        assert outcomes(report)["zigbee-signature"] is Outcome.SKIP

    def test_detached_signature(self, manufacturer_key) -> None:
        data = image_bytes()
        signature = detached_signature(OtaImage.parse(data), manufacturer_key)
        report = admit(data, trust=[manufacturer_key.public_key()], detached_signature=signature)
        assert report.admitted and report.signature.source == "detached"


def test_bad_integrity_code_fails() -> None:
    data = bytearray(image_bytes(integrity_code=True))
    data[-1] ^= 0xFF
    report = admit(bytes(data))
    assert [check.name for check in report.failures] == ["integrity-code"]


class TestCentralProductsList:
    def test_listed_image_passes(self) -> None:
        data = image_bytes()
        report = admit(data, cpl=cpl_for(data))
        assert outcomes(report)["cpl"] is Outcome.PASS

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"manufacturer_code": 0x9999}, "no CPL entry with this hash has manufacturer 0x1234"),
            ({"image_type": 0x0002}, "image type 0x0001"),
            ({"firmware_version": 0x21}, "firmware 0x00000020"),
            ({"hardware_version": 4}, "CPL hardware version 0x0004 lies outside the header's 0x0001..0x0003"),
        ],
    )
    def test_mismatches_fail_with_the_reason(self, changes, message) -> None:
        data = image_bytes()
        report = admit(data, cpl=cpl_for(data, **changes))
        assert [check.name for check in report.failures] == ["cpl"]
        assert message in report.failures[0].detail

    def test_hash_not_on_cpl(self) -> None:
        other = image_bytes(b"another image")
        report = admit(image_bytes(), cpl=cpl_for(other))
        assert "is not on the CPL" in report.failures[0].detail

    def test_hardware_bounds_are_inclusive(self) -> None:
        data = image_bytes()
        for version in (1, 3):
            assert admit(data, cpl=cpl_for(data, hardware_version=version)).admitted

    def test_image_without_hardware_versions_fails_the_cpl_check(self) -> None:
        data = image_bytes(min_hw_version=None, max_hw_version=None)
        report = admit(data, cpl=cpl_for(data))
        assert "no min/max hardware versions" in report.failures[0].detail

    def test_any_matching_entry_suffices(self) -> None:
        data = image_bytes()
        wrong, right = cpl_for(data, hardware_version=9).entries[0], cpl_for(data).entries[0]
        assert admit(data, cpl=CentralProductsList((wrong, right))).admitted


def test_cpl_toml_file(tmp_path: Path) -> None:
    data = image_bytes()
    digest = OtaImage.parse(data).manufacturer_image_sha256.hex()
    path = tmp_path / "cpl.toml"
    path.write_text(
        f"""
        [[entry]]
        description = "test PPMID"
        manufacturer_code = 0x1234
        image_type = 0x0001
        firmware_version = 0x00000020
        hardware_version = 0x0002
        hash = "{":".join(digest[i : i + 2] for i in range(0, 64, 2))}"
        """
    )
    cpl = CentralProductsList.load(path)
    assert cpl.entries[0].hardware_version == 2
    assert admit(data, cpl=cpl).admitted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[entry]\n", "not valid TOML"),
        ("products = 1\n", "unknown top-level key"),
        ("entry = 1\n", "array of tables"),
        ("[[entry]]\nmanufacturer_code = 1\n", "entry 1: missing firmware_version, hardware_version, hash, image_type"),
        (
            "[[entry]]\nmanufacturer_code = 0x10000\nimage_type = 1\nfirmware_version = 1\nhardware_version = 1\n"
            'hash = "' + "00" * 32 + '"\n',
            "manufacturer_code must be an integer of 16 bits",
        ),
        (
            "[[entry]]\nmanufacturer_code = 1\nimage_type = 1\nfirmware_version = 1\nhardware_version = 1\n"
            'hash = "abcd"\n',
            "hash is 2 bytes",
        ),
        (
            "[[entry]]\nmanufacturer_code = 1\nimage_type = 1\nfirmware_version = 1\nhardware_version = 1\n"
            'hash = "zz"\n',
            "hash is not hex",
        ),
        ("[[entry]]\nmodel = 1\n", "unknown key\\(s\\) model"),
    ],
)
def test_malformed_cpl_files_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(CplError, match=message) as caught:
        CentralProductsList.parse(text, source="cpl.toml")
    assert "\n" not in str(caught.value)


def test_unreadable_cpl_file(tmp_path: Path) -> None:
    with pytest.raises(CplError, match="cannot read CPL file"):
        CentralProductsList.load(tmp_path / "missing.toml")


def test_read_image_file_refuses_oversized_files_from_their_size(tmp_path: Path) -> None:
    path = tmp_path / "big.ota"
    path.write_bytes(bytes(DEFAULT_MAX_IMAGE_SIZE + 1))
    with pytest.raises(ImageTooLargeError):
        read_image_file(path)
    with pytest.raises(ImageFileError, match="cannot read"):
        read_image_file(tmp_path / "missing.ota")
    with pytest.raises(ImageFileError, match="cannot read"):
        read_image_file(tmp_path)


@given(images(), st.data())
def test_admission_of_mutated_images_raises_only_hubfw_errors(image: OtaImage, data) -> None:
    mutated = bytearray(image.to_bytes())
    position = data.draw(st.integers(0, len(mutated) - 1))
    mutated[position] = data.draw(st.integers(0, 255))
    try:
        report = admit(bytes(mutated))
    except HubfwError as exc:
        assert "\n" not in str(exc)
    else:
        assert report.image.to_bytes() == bytes(mutated)
