"""Credentials files and the `hubfw cbke` commands: CA, issue, show, and clear one-line errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubfw.cbke.agreement import KeyAgreement, Role
from hubfw.cbke.cli import cbke
from hubfw.cbke.errors import CredentialsFileError
from hubfw.cbke.issuing import issue_credentials
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.store import load_ca, load_device, save_device
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError

METER = "00:0d:6f:00:00:00:00:02"
HUB = "00:0d:6f:00:00:00:00:01"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cbke") / "ca"
    result = CliRunner().invoke(cbke, ["ca", "new", "--out", str(directory)])
    assert result.exit_code == 0, result.output
    return directory


def test_cli_issues_credentials_that_agree_with_each_other(ca_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for name, eui64 in (("hub", HUB), ("meter", METER)):
        result = runner.invoke(
            cbke, ["issue", "--ca", str(ca_dir), "--eui64", eui64, "--suite", "1", "-o", str(tmp_path / f"{name}.json")]
        )
        assert result.exit_code == 0, result.output
    hub, meter = load_device(tmp_path / "hub.json"), load_device(tmp_path / "meter.json")
    assert hub.eui64 == parse_eui64(HUB) and hub.suite is CryptoSuite.SUITE_1
    assert stat.S_IMODE((tmp_path / "hub.json").stat().st_mode) == 0o600

    initiator, responder = KeyAgreement(meter, Role.INITIATOR), KeyAgreement(hub, Role.RESPONDER)
    at_meter = initiator.complete(hub.certificate, responder.ephemeral_public_key)
    at_hub = responder.complete(meter.certificate, initiator.ephemeral_public_key)
    assert at_meter.link_key == at_hub.link_key

    shown = runner.invoke(cbke, ["show", str(tmp_path / "hub.json")])
    assert shown.exit_code == 0
    assert f"subject:       {HUB}" in shown.output
    assert hub.static_key.private_bytes().hex() not in shown.output


def test_the_bare_commands_of_the_issue_chain_in_the_working_directory(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`hubfw cbke ca new` then `hubfw cbke issue --eui64 X --suite 2`, nothing else: the CA lands in ./cbke-ca
    and the credentials in ./<eui64 hex>-suite2.json."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    assert runner.invoke(cbke, ["ca", "new"]).exit_code == 0
    result = runner.invoke(cbke, ["issue", "--eui64", METER, "--suite", "2"])

    assert result.exit_code == 0, result.output
    issued = load_device(tmp_path / "000d6f0000000002-suite2.json")
    assert issued.eui64 == parse_eui64(METER) and issued.suite is CryptoSuite.SUITE_2
    assert issued.ca_public_key == load_ca(tmp_path / "cbke-ca", CryptoSuite.SUITE_2).public_key


def test_suite2_validity_comes_from_the_injected_clock(ca_dir: Path, tmp_path: Path) -> None:
    clock = VirtualClock(start=1_767_225_600)
    credentials = issue_credentials(load_ca(ca_dir, CryptoSuite.SUITE_2), parse_eui64(METER), 30, clock)
    assert credentials.certificate.valid_from == 1_767_225_600
    assert credentials.certificate.expires_at == 1_767_225_600 + 30 * 86_400
    save_device(credentials, tmp_path / "m2.json")
    assert load_device(tmp_path / "m2.json") == credentials
    with pytest.raises(HubfwError, match="suite 2 only"):
        issue_credentials(load_ca(ca_dir, CryptoSuite.SUITE_1), parse_eui64(METER), 30, clock)


def test_existing_files_are_not_overwritten(ca_dir: Path) -> None:
    before = (ca_dir / "ca-suite1.json").read_bytes()
    result = CliRunner().invoke(cbke, ["ca", "new", "--out", str(ca_dir), "--suite", "1"])
    assert result.exit_code != 0
    assert isinstance(result.exception, CredentialsFileError)
    assert "refusing to overwrite" in str(result.exception)
    assert (ca_dir / "ca-suite1.json").read_bytes() == before


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda record: record.pop("private_key"), "missing field 'private_key'"),
        (lambda record: record.update(private_key="zz"), "non-hexadecimal"),
        (lambda record: record.update(format="other"), "is not a hubfw-cbke-device/1 file"),
        (lambda record: record.update(certificate=record["certificate"][:-2]), "bytes, got"),
    ],
)
def test_damaged_device_file_gives_one_clear_error(ca_dir: Path, tmp_path: Path, mangle, message: str) -> None:
    clock = VirtualClock()
    path = tmp_path / "device.json"
    save_device(issue_credentials(load_ca(ca_dir, CryptoSuite.SUITE_1), parse_eui64(METER), None, clock), path)
    record = json.loads(path.read_text())
    mangle(record)
    path.write_text(json.dumps(record))
    with pytest.raises(CredentialsFileError, match=message) as info:
        load_device(path)
    assert "\n" not in str(info.value)


def test_device_file_with_someone_elses_key_is_refused(ca_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    save_device(issue_credentials(load_ca(ca_dir, CryptoSuite.SUITE_1), parse_eui64(METER), None, VirtualClock()), path)
    record = json.loads(path.read_text())
    record["private_key"] = KeyPair.generate(CryptoSuite.SUITE_1).private_bytes().hex()
    path.write_text(json.dumps(record))
    with pytest.raises(CredentialsFileError, match="does not belong"):
        load_device(path)


def test_missing_ca_is_reported(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cbke, ["issue", "--ca", str(tmp_path), "--eui64", METER, "--suite", "2", "-o", str(tmp_path / "x.json")]
    )
    assert isinstance(result.exception, CredentialsFileError)
    assert "cannot read" in str(result.exception)
    assert not (tmp_path / "x.json").exists()


def test_bad_eui64_is_a_usage_error(ca_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cbke, ["issue", "--ca", str(ca_dir), "--eui64", "nope", "--suite", "1", "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2
    assert "not an EUI-64" in result.output
