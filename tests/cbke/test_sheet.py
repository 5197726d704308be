"""`hubfw cbke import`: vendor credential sheets in the styles vendors write them, into credentials files."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hubfw.cbke.cli import cbke
from hubfw.cbke.ecqv import CertificateAuthority, reconstruct_private_key
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.sheet import CredentialSheetError, credentials_from_sheet
from hubfw.cbke.suites import CryptoSuite
from hubfw.cli.main import main
from hubfw.devices import parse_eui64
from tests.cbke.vectors import CERTICOM_RECONSTRUCTION

HUB = "00:0d:6f:00:0a:bc:de:01"
OTHER = "00:0d:6f:00:0a:bc:de:02"

Record = dict[str, str]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Credentials files `hubfw cbke issue` writes for the hub, suite 1 and suite 2."""
    directory = tmp_path_factory.mktemp("sheets")
    runner = CliRunner()
    assert runner.invoke(cbke, ["ca", "new", "--out", str(directory / "ca")]).exit_code == 0
    files = {}
    for suite in (1, 2):
        path = directory / f"hub-suite{suite}.json"
        result = runner.invoke(cbke, ["issue", "--ca", str(directory / "ca"), "--eui64", HUB, "--suite", str(suite),
                                      "-o", str(path)])
        assert result.exit_code == 0, result.output
        files[suite] = path
    return files


def _spaced(value: str, separator: str = " ") -> str:
    return separator.join(value[i:i + 2] for i in range(0, len(value), 2))


def _wrapped(value: str, per_line: int = 16) -> str:
    pairs = _spaced(value).split(" ")
    return "\n".join(" ".join(pairs[i:i + per_line]) for i in range(0, len(pairs), per_line))


def certicom_web(record: Record) -> str:
    """As cut and pasted from Certicom's test CA: labels with colons, each value on the next line, the private
    key under `Private Key Reconstruction Data`."""
    return (f"CA Pub Key:\n{record['ca_public_key']}\nDevice Implicit Cert:\n{record['certificate']}\n"
            f"Private Key Reconstruction Data:\n{record['private_key']}\nDevice Public Key:\n{record['public_key']}\n")


def ti_gateway(record: Record) -> str:
    """`Label: value` on one line, with the IEEE address, upper-case hex."""
    ieee = record["subject"].replace(":", "").upper()
    return (f"IEEE Address: {ieee}\nDevice Implicit Cert: {record['certificate'].upper()}\n"
            f"CA Pub Key: {record['ca_public_key'].upper()}\nDevice Private Key: {record['private_key'].upper()}\n")


def no_colons_spaced(record: Record) -> str:
    """Labels without colons, bytes separated by spaces on the label's line."""
    return (f"CA Public Key {_spaced(record['ca_public_key'])}\n"
            f"Device Implicit Cert {_spaced(record['certificate'])}\n"
            f"Device Private Key {_spaced(record['private_key'])}\n"
            f"Device Public Key {_spaced(record['public_key'])}\n")


def lower_case_colon_bytes(record: Record) -> str:
    """Lower-case labels, colon-separated bytes."""
    return (f"ieee address: {record['subject']}\n"
            f"ca public key: {_spaced(record['ca_public_key'], ':')}\n"
            f"device implicit cert: {_spaced(record['certificate'], ':')}\n"
            f"device private key: {_spaced(record['private_key'], ':')}\n")


def wrapped_with_prose(record: Record) -> str:
    """A header (lines that begin with a label's words), blank lines, values wrapped over several lines after the label, a parenthetical after a label,
    underscores for spaces, `=`, an unknown field, CRLF line ends."""
    text = (
        "Smart Energy test certificate for the comms hub\n"
        "Issued by the vendor's test CA. Keep this file secret.\n"
        "Private key and certificate below are for bench testing only.\n"
        "IEEE 802.15.4 radios only: install on the hub's coordinator\n\n"
        f"CA_PUBLIC_KEY (compressed) =\n{_wrapped(record['ca_public_key'])}\n\n"
        f"Device Implicit Cert:\n\n{_wrapped(record['certificate'])}\n"
        "CBKE Flags: 0x00\n"
        f"Device Private Key:\n{_wrapped(record['private_key'])}\n"
    )
    return text.replace("\n", "\r\n")


def c_array(record: Record) -> str:
    """`0x..` bytes separated by commas."""
    def array(value: str) -> str:
        return ", ".join(f"0x{pair}" for pair in _spaced(value).split(" "))
    return (f"CA Pub Key: {array(record['ca_public_key'])}\nDevice Implicit Cert: {array(record['certificate'])}\n"
            f"Device Private Key: {array(record['private_key'])}\n")


STYLES: list[Callable[[Record], str]] = [certicom_web, ti_gateway, no_colons_spaced, lower_case_colon_bytes,
                                         wrapped_with_prose, c_array]


def _record(path: Path) -> Record:
    return json.loads(path.read_text())


def _import(tmp_path: Path, text: str, *extra: str, output: str = "imported.json") -> Result:
    sheet = tmp_path / "sheet.txt"
    sheet.write_bytes(text.encode())
    return CliRunner().invoke(main, ["cbke", "import", str(sheet), "-o", str(tmp_path / output), *extra])


@pytest.mark.parametrize("suite", [1, 2])
@pytest.mark.parametrize("style", STYLES, ids=lambda style: style.__name__)
def test_a_sheet_in_any_style_imports_to_the_identical_credentials_file(
    issued: dict[int, Path], tmp_path: Path, suite: int, style: Callable[[Record], str]
) -> None:
    result = _import(tmp_path, style(_record(issued[suite])), "--eui64", HUB)

    assert result.exit_code == 0, result.output
    imported = tmp_path / "imported.json"
    assert imported.read_bytes() == issued[suite].read_bytes()
    assert stat.S_IMODE(imported.stat().st_mode) == 0o600
    assert f"suite {suite} certificate for {HUB}" in result.output


@pytest.mark.parametrize("suite", [1, 2])
def test_the_imported_file_is_accepted_by_cbke_show(issued: dict[int, Path], tmp_path: Path, suite: int) -> None:
    assert _import(tmp_path, certicom_web(_record(issued[suite]))).exit_code == 0
    shown = CliRunner().invoke(main, ["cbke", "show", str(tmp_path / "imported.json")])
    assert shown.exit_code == 0, shown.output
    assert f"suite:         {suite}" in shown.output and f"subject:       {HUB}" in shown.output


def test_without_output_the_file_is_named_after_subject_and_suite(issued: dict[int, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sheet.txt").write_text(ti_gateway(_record(issued[2])))
    result = CliRunner().invoke(main, ["cbke", "import", "sheet.txt"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "000d6f000abcde01-suite2.json").read_bytes() == issued[2].read_bytes()


@pytest.mark.parametrize("vector", CERTICOM_RECONSTRUCTION, ids=["suite1-a", "suite1-b", "suite2"])
def test_certicoms_published_sheets_import(vector) -> None:
    """Certicom's own test certificates, as their sheets give them (the private key under Private Key
    Reconstruction Data)."""
    text = (f"CA Pub Key:\n{vector.ca_public_key}\nDevice Implicit Cert:\n{vector.certificate}\n"
            f"Private Key Reconstruction Data:\n{vector.private_key}\nDevice Public Key:\n{vector.public_key}\n")
    credentials = credentials_from_sheet(text, "certicom.txt")
    assert credentials.static_key.public_bytes().hex() == vector.public_key.lower()


def test_device_private_key_wins_over_reconstruction_data(tmp_path: Path) -> None:
    """A sheet for a key pair the requester made carries ECQV's r as the Private Key Reconstruction Data and the
    finished private key beside it."""
    ca = CertificateAuthority.generate(CryptoSuite.SUITE_2, parse_eui64(OTHER))
    request_key = KeyPair.generate(CryptoSuite.SUITE_2)
    issued = ca.issue(parse_eui64(HUB), request_key.public)
    private = reconstruct_private_key(issued.certificate, request_key, issued.reconstruction_data, ca.public_key)
    text = (f"CA Pub Key: {ca.public_key.encode().hex()}\nDevice Implicit Cert: {issued.certificate.encoded.hex()}\n"
            f"Private Key Reconstruction Data: {issued.reconstruction_data.to_bytes(36, 'big').hex()}\n"
            f"Device Private Key: {private.private_bytes().hex()}\n")
    credentials = credentials_from_sheet(text, "requested.txt", parse_eui64(HUB))
    assert credentials.static_key == private
    with pytest.raises(CredentialSheetError, match="the private key does not belong to the certificate \\(no Device"):
        credentials_from_sheet(_label_line(text, "Device Private Key"), "requested.txt")


def _other_key(record: Record) -> str:
    return KeyPair.generate(CryptoSuite(int(record["suite"]))).private_bytes().hex()


def _other_ca_key(record: Record) -> str:
    suite = CryptoSuite(int(record["suite"]))
    return CertificateAuthority.generate(suite, parse_eui64(HUB)).public_key.encode().hex()


def _label_line(text: str, label: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(label))


MALFORMED: list[tuple[str, Callable[[Record], str], tuple[str, ...], str]] = [
    ("no CA key", lambda r: _label_line(ti_gateway(r), "CA Pub Key"), (), "no CA Public Key in {sheet}"),
    ("no private key", lambda r: _label_line(ti_gateway(r), "Device Private Key"), (),
     "no Device Private Key in {sheet}"),
    ("no certificate nor key",
     lambda r: _label_line(_label_line(ti_gateway(r), "Device Private Key"), "Device Implicit Cert"), (),
     "no Device Implicit Cert or Device Private Key in {sheet}"),
    ("certificate 50 bytes", lambda r: ti_gateway({**r, "certificate": r["certificate"] + "abcd"}), (),
     "{sheet}: the Device Implicit Cert is 50 bytes: want 48 (suite 1) or 74 (suite 2)"),
    ("CA key of the other suite", lambda r: ti_gateway({**r, "ca_public_key": "02" + "11" * 36}), (),
     "{sheet}: the CA Public Key is 37 bytes: want 22 for suite 1 (the Device Implicit Cert is 48 bytes)"),
    ("private key too short", lambda r: ti_gateway({**r, "private_key": r["private_key"][2:]}), (),
     "{sheet}: the Device Private Key is 20 bytes: want 21 for suite 1 (the Device Implicit Cert is 48 bytes)"),
    ("someone else's private key", lambda r: ti_gateway({**r, "private_key": _other_key(r)}), (),
     "{sheet}: the private key does not belong to the certificate"),
    ("reconstruction data that is no key",
     lambda r: certicom_web({**r, "private_key": _other_key(r), "public_key": r["public_key"]}), (),
     "{sheet}: the private key does not belong to the certificate (no Device Private Key given; the Private Key "
     "Reconstruction Data is the private key only when the CA made the key pair)"),
    ("another CA's key", lambda r: certicom_web({**r, "ca_public_key": _other_ca_key(r)}), (),
     "{sheet}: the CA Public Key is not that of the CA that issued the certificate (the Device Public Key fits "
     "the private key, but the certificate reconstructs to another key)"),
    ("another device public key", lambda r: no_colons_spaced({**r, "public_key": _other_ca_key(r)}), (),
     "{sheet}: the Device Public Key is not the key the certificate and private key give"),
    ("certificate for another device", ti_gateway, ("--eui64", OTHER),
     f"{{sheet}}: the certificate is for {HUB}, not the coordinator {OTHER}"),
    ("IEEE address of another device", lambda r: ti_gateway({**r, "subject": OTHER}), (),
     f"{{sheet}}: the IEEE Address {OTHER} is not the certificate's subject {HUB}"),
    ("not hex", lambda r: ti_gateway(r).replace("Device Private Key: ", "Device Private Key: zz"), (),
     "the Device Private Key in {sheet} is not hex"),
    ("odd digits", lambda r: ti_gateway({**r, "private_key": r["private_key"] + "0"}), (),
     "the Device Private Key in {sheet} has an odd number of hex digits (43)"),
    ("two certificates", lambda r: ti_gateway(r) + f"Device Implicit Cert: {'00' * 48}\n", (),
     "{sheet} holds 2 different Device Implicit Cert values: give the sheet of one device and suite"),
    ("empty value", lambda r: ti_gateway(r).replace("CA Pub Key: ", "CA Pub Key:\nCBKE Flags: "), (),
     "the CA Public Key in {sheet} has no value"),
]


@pytest.mark.parametrize(("mangle", "extra", "message"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_a_malformed_sheet_gets_one_line_naming_what_is_wrong(issued: dict[int, Path], tmp_path: Path, mangle,
                                                              extra: tuple[str, ...], message: str) -> None:
    result = _import(tmp_path, mangle(_record(issued[1])), *extra)

    assert result.exit_code == 1
    expected = message.format(sheet=tmp_path / "sheet.txt")
    assert result.stderr.startswith(f"hubfw: error: {expected}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "imported.json").exists()


def test_an_existing_output_file_is_not_overwritten(issued: dict[int, Path], tmp_path: Path) -> None:
    (tmp_path / "imported.json").write_text("kept")
    result = _import(tmp_path, ti_gateway(_record(issued[2])))
    assert result.exit_code == 1
    assert result.stderr == f"hubfw: error: {tmp_path / 'imported.json'} already exists; refusing to overwrite " \
                            "credentials\n"
    assert (tmp_path / "imported.json").read_text() == "kept"


def test_an_unreadable_sheet_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cbke", "import", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.stderr == f"hubfw: error: cannot read {tmp_path / 'missing.txt'}: No such file or directory\n"
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(main, ["cbke", "import", str(tmp_path / "binary.txt"), "-o", str(tmp_path / "x")])
    assert result.stderr == f"hubfw: error: {tmp_path / 'binary.txt'} is not a text file\n"


def test_a_sheet_of_prose_alone_names_every_missing_value() -> None:
    with pytest.raises(CredentialSheetError, match="^no CA Public Key or Device Implicit Cert or Device Private Key "
                                                   "in notes.txt$"):
        credentials_from_sheet("Here are your certificates.\nRegards, the vendor\n", "notes.txt")
