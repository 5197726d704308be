"""The `hubfw keys` / `hubfw image` commands as a bench uses them: names, flags, JSON keys, errors."""

import hashlib
import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from zigpy.ota.image import OTAImage

from hubfw.cli.main import main

REQUIRED_JSON_KEYS = {
    "manufacturer_code",
    "image_type",
    "file_version",
    "stack_version",
    "header_length",
    "total_size",
    "min_hw_version",
    "max_hw_version",
    "destination",
    "sub_elements",
    "manufacturer_image_sha256",
    "signature",
}


def hubfw(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("hubfw: error:") and fragment in line, result.output


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """A directory with two key pairs and a 5000-byte Manufacturer Image."""
    assert hubfw("keys", "new", "--out", tmp_path / "keys").exit_code == 0
    assert hubfw("keys", "new", "--out", tmp_path / "other").exit_code == 0
    (tmp_path / "fw.bin").write_bytes(bytes(range(250)) * 20)
    return tmp_path


def run_build(bench: Path, *extra: object, output: str = "fw.ota") -> Result:
    """`hubfw image build` of the bench payload, with `extra` options after the usual ones."""
    return hubfw(
        "image",
        "build",
        "--manufacturer",
        "0x1234",
        "--image-type",
        "0x0001",
        "--file-version",
        "0x00000020",
        "--hw-min",
        1,
        "--hw-max",
        3,
        "--payload",
        bench / "fw.bin",
        "-o",
        bench / output,
        *extra,
    )


def build(bench: Path, *extra: object, output: str = "fw.ota") -> Path:
    result = run_build(bench, *extra, output=output)
    assert result.exit_code == 0, result.output
    return bench / output


def test_keys_new_writes_a_private_and_a_public_key(bench: Path) -> None:
    private, public = bench / "keys" / "manufacturer-key.pem", bench / "keys" / "manufacturer-pub.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    before = private.read_bytes()
    assert_one_line_error(hubfw("keys", "new", "--out", bench / "keys"), "refusing to overwrite")
    assert private.read_bytes() == before


def test_build_then_inspect_json_agrees_with_zigpy(bench: Path) -> None:
    path = build(
        bench,
        "--header-string",
        "PPMID fw",
        "--destination",
        "00:0d:6f:00:0a:bc:de:f0",
        "--security-credential-version",
        2,
        "--sign-key",
        bench / "keys" / "manufacturer-key.pem",
        "--integrity-code",
    )
    result = hubfw("image", "inspect", path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary.keys() >= REQUIRED_JSON_KEYS
    theirs, _ = OTAImage.deserialize(path.read_bytes())
    header = theirs.header
    assert summary["manufacturer_code"] == header.manufacturer_id == 0x1234
    assert summary["image_type"] == header.image_type
    assert summary["file_version"] == header.file_version == 0x20
    assert summary["stack_version"] == header.stack_version
    assert summary["header_length"] == header.header_length
    assert summary["total_size"] == header.image_size == path.stat().st_size
    assert summary["min_hw_version"] == header.minimum_hardware_version == 1
    assert summary["max_hw_version"] == header.maximum_hardware_version == 3
    assert summary["destination"] == str(header.upgrade_file_destination) == "00:0d:6f:00:0a:bc:de:f0"
    assert summary["security_credential_version"] == header.security_credential_version
    assert summary["field_control"] == int(header.field_control)
    assert summary["header_string"] == "PPMID fw"
    assert [(e["tag"], e["length"]) for e in summary["sub_elements"]] == [
        (int(e.tag_id), len(e.data)) for e in theirs.subelements
    ]
    assert summary["manufacturer_image_sha256"] == hashlib.sha256((bench / "fw.bin").read_bytes()).hexdigest()
    assert summary["signature"]["verdict"] == "unchecked"
    assert summary["integrity_code"]["verdict"] == "valid"


def test_inspect_text_shows_fields_sub_elements_hash_and_signature(bench: Path) -> None:
    path = build(bench, "--sign-key", bench / "keys" / "manufacturer-key.pem")
    result = hubfw("image", "inspect", path, "--trust", bench / "keys" / "manufacturer-pub.pem")
    assert result.exit_code == 0
    assert "manufacturer_code: 0x1234 (4660)" in result.stdout
    assert "tag 0xFE00 hubfw_manufacturer_signature: 64 bytes" in result.stdout
    assert "manufacturer_image_sha256: " in result.stdout
    assert "signature: valid" in result.stdout


def test_verify_passes_with_the_right_key_and_fails_with_another(bench: Path) -> None:
    path = build(bench, "--sign-key", bench / "keys" / "manufacturer-key.pem")
    good = hubfw("image", "verify", path, "--trust", bench / "keys" / "manufacturer-pub.pem")
    assert good.exit_code == 0, good.output
    assert "PASS signature" in good.stdout
    bad = hubfw("image", "verify", path, "--trust", bench / "other" / "manufacturer-pub.pem")
    assert_one_line_error(
        bad, "image rejected: signature: embedded signature does not verify against any of the 1 trusted key(s)"
    )
    assert [line for line in bad.stdout.splitlines() if line.startswith("FAIL")] == [
        "FAIL signature: embedded signature does not verify against any of the 1 trusted key(s)"
    ]


def test_detached_signature_round_trip_through_the_cli(bench: Path) -> None:
    path = build(bench)
    signed = hubfw("image", "sign", path, "--key", bench / "keys" / "manufacturer-key.pem", "-o", bench / "fw.sig")
    assert signed.exit_code == 0, signed.output
    args = ("image", "verify", path, "--signature", bench / "fw.sig")
    assert hubfw(*args, "--trust", bench / "keys" / "manufacturer-pub.pem").exit_code == 0
    assert_one_line_error(hubfw(*args, "--trust", bench / "other" / "manufacturer-pub.pem"), "signature")


def test_verify_with_a_cpl(bench: Path) -> None:
    path = build(bench)
    digest = json.loads(hubfw("image", "inspect", path, "--json").stdout)["manufacturer_image_sha256"]
    entry = f'manufacturer_code = 0x1234\nimage_type = 1\nfirmware_version = 0x20\nhash = "{digest}"\n'
    (bench / "ok.toml").write_text(f"[[entry]]\n{entry}hardware_version = 2\n")
    (bench / "bad.toml").write_text(f"[[entry]]\n{entry}hardware_version = 7\n")
    assert hubfw("image", "verify", path, "--cpl", bench / "ok.toml").exit_code == 0
    result = hubfw("image", "verify", path, "--cpl", bench / "bad.toml")
    assert_one_line_error(result, "image rejected: cpl: CPL hardware version 0x0007 lies outside")
    assert "FAIL cpl: CPL hardware version 0x0007 lies outside the header's 0x0001..0x0003" in result.stdout


def test_a_768001_byte_image_is_rejected(bench: Path) -> None:
    (bench / "fw.bin").write_bytes(bytes(768_001 - 60 - 6))
    path = build(bench, output="big.ota")
    assert path.stat().st_size == 768_001
    for command in ("verify", "inspect"):
        assert_one_line_error(hubfw("image", command, path), "image is 768001 bytes, over the 768000-byte limit")
    assert hubfw("image", "verify", path, "--max-size", 800_000).exit_code == 0


def corrupt(path: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    out = path.with_suffix(".bad")
    out.write_bytes(bytes(data))
    return out


def truncated(path: Path, length: int) -> Path:
    out = path.with_suffix(".cut")
    out.write_bytes(path.read_bytes()[:length])
    return out


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda p: corrupt(p, 0, "<I", 0x12345678), "bad magic 0x12345678"),
        (lambda p: truncated(p, 30), "truncated OTA header"),
        (lambda p: corrupt(p, 62, "<I", 6000), "claims 6000 bytes"),
        (lambda p: corrupt(p, 52, "<I", 1), "total image size in the header is 1 bytes"),
        (lambda p: p.with_name("missing.ota"), "cannot read"),
    ],
    ids=["bad-magic", "truncated-header", "sub-element-overflow", "size-lie", "unreadable"],
)
@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_broken_files_give_one_line_errors(bench: Path, damage, fragment: str, command: str) -> None:
    broken = damage(build(bench))
    assert_one_line_error(hubfw("image", command, broken), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--sign-key", "missing.pem"), "cannot read key file"),
        (("--header-string", "x" * 33), "at most 32"),
        (("--destination", "nope"), "not an EUI-64"),
    ],
)
def test_build_errors_are_one_line(bench: Path, args, fragment: str) -> None:
    result = run_build(bench, *args, output="x.ota")
    assert_one_line_error(result, fragment)
    assert not (bench / "x.ota").exists()


def test_build_rejects_half_a_hardware_range_and_oversized_numbers(bench: Path) -> None:
    base = ("image", "build", "--image-type", "1", "--file-version", "1")
    base += ("--payload", bench / "fw.bin", "-o", bench / "x.ota")
    assert hubfw(*base, "--manufacturer", "0x1234", "--hw-min", "1").exit_code == 2
    result = hubfw(*base, "--manufacturer", "0x10000")
    assert result.exit_code == 2 and "does not fit in 16 bits" in result.output


def test_build_takes_the_destination_as_eui64_too(bench: Path) -> None:
    old = build(bench, "--destination", "00:0d:6f:00:0a:bc:de:f0", output="old.ota")
    new = build(bench, "--eui64", "000D6F000ABCDEF0", output="new.ota")
    assert old.read_bytes() == new.read_bytes()
    assert json.loads(hubfw("image", "inspect", new, "--json").stdout)["destination"] == "00:0d:6f:00:0a:bc:de:f0"
