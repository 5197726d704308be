"""Devices' Digital Signing keys on a bench (`hubfw.gbcs.device_keys`): the RTDS keystore's naming, the RTDS PPMID's
certificate checking the RTDS 0x8F8B, simulated devices' keys kept across runs, and every bad file refused."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import zigpy.types as t
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import activation_alert
from hubfw.errors import HubfwError
from hubfw.gbcs.alert_message import GbcsIdentity, activation_message
from hubfw.gbcs.bench_keys import bench_keys_dir
from hubfw.gbcs.device_keys import (
    DeviceKeyError,
    device_ds_key,
    key_file_stem,
    load_device_keys,
)
from hubfw.gbcs.signing import verify
from hubfw.ota.keys import new_private_key, public_pem, write_private_key
from tests.gbcs.rtds import CH, ESME, PPMID, RTDS, SUPPLIER, certificate, message

RTDS_KEYS = RTDS / "keys"
ACTIVATION = message("ppmid-8f8b-alert")
DEVICE = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")


def eui(entity: bytes) -> t.EUI64:
    return t.EUI64(entity[::-1])


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_rtds_keystore_reads_ds_certificates_and_skips_key_agreement_ones() -> None:
    keys = load_device_keys(RTDS_KEYS)
    assert set(keys) == {eui(ESME), eui(CH), eui(PPMID), eui(SUPPLIER)}
    assert (RTDS_KEYS / f"{PPMID.hex()}-ka.pem").exists()  # there, and not the key read for the PPMID
    assert spki(keys[eui(PPMID)]) == spki(certificate(PPMID).public_key())
    assert spki(keys[eui(PPMID)]) != spki(certificate(PPMID, "ka").public_key())


def test_the_rtds_ppmids_certificate_checks_the_rtds_0x8f8b_at_hand_over() -> None:
    keys = load_device_keys(RTDS_KEYS)
    assert verify(ACTIVATION, keys[eui(PPMID)])
    identity = GbcsIdentity(eui(CH), new_private_key(), device_keys=keys)
    assert identity.device_signature(eui(PPMID), ACTIVATION) == "valid"
    assert identity.device_signature(eui(ESME), ACTIVATION) == "invalid"  # negative control: another device's key
    assert identity.device_signature(DEVICE, ACTIVATION) == "unchecked"


def test_a_device_key_is_made_once_and_kept(tmp_path: Path) -> None:
    directory = bench_keys_dir(tmp_path)
    assert directory == tmp_path / "gbcs-keys"
    key = device_ds_key(directory, DEVICE)
    stem = key_file_stem(DEVICE)
    assert stem == "000d6f000abcdef0"  # the RTDS keystore's case and order: entity id, lower-case hex
    assert sorted(path.name for path in directory.iterdir()) == [f"{stem}-ds.key", f"{stem}-ds.pem"]
    assert stat.S_IMODE((directory / f"{stem}-ds.key").stat().st_mode) == 0o600
    assert (directory / f"{stem}-ds.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert spki(device_ds_key(directory, DEVICE).public_key()) == spki(key.public_key())
    assert spki(device_ds_key(directory, eui(PPMID)).public_key()) != spki(key.public_key())
    keys = load_device_keys(directory)
    assert spki(keys[DEVICE]) == spki(key.public_key())
    alert = activation_alert(1, DEVICE, 0x200, 1_767_225_600.0)
    signed = activation_message(alert, 1, key=device_ds_key(directory, DEVICE))
    assert GbcsIdentity(eui(CH), new_private_key(), device_keys=keys).device_signature(DEVICE, signed) == "valid"


def test_a_lost_public_half_is_written_again(tmp_path: Path) -> None:
    key = device_ds_key(tmp_path, DEVICE)
    public = tmp_path / f"{key_file_stem(DEVICE)}-ds.pem"
    public.write_bytes(public_pem(new_private_key().public_key()))
    device_ds_key(tmp_path, DEVICE)
    assert public.read_bytes() == public_pem(key.public_key())


@pytest.mark.parametrize("name", [
    "000D6F000ABCDEF0.pem", "000d6f000abcdef0-ds.pem", "00:0d:6f:00:0a:bc:de:f0.pem", "00-0D-6F-00-0A-BC-DE-F0-ds.pem",
])
def test_file_names_in_either_case_with_or_without_separators_and_ds(tmp_path: Path, name: str) -> None:
    shutil.copy(RTDS_KEYS / f"{PPMID.hex()}-ds.pem", tmp_path / name)
    keys = load_device_keys(tmp_path)
    assert set(keys) == {DEVICE} and spki(keys[DEVICE]) == spki(certificate(PPMID).public_key())


@pytest.mark.parametrize("name", ["000d6f000abcdef0-ka.pem", "README.pem", "000d6f000abcdef0-ds.key", "notes.txt",
                                  "000d6f000abcde.pem", "000d6f000abcdef0-ds.pem.bak"])
def test_other_files_are_skipped(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"not a key at all")
    assert load_device_keys(tmp_path) == {}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("content, problem", [
    (b"garbage", "neither a PEM certificate nor a PEM public key"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not read as PEM"),
    (public_pem(ec.generate_private_key(ec.SECP384R1()).public_key()), "P-256"),
    (new_private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()), "neither a PEM certificate nor a PEM public key"),
])
def test_a_bad_file_is_refused_with_one_line_naming_it(tmp_path: Path, content: bytes, problem: str) -> None:
    path = _write(tmp_path / "000d6f000abcdef0-ds.pem", content)
    with pytest.raises(DeviceKeyError, match=problem) as raised:
        load_device_keys(tmp_path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert isinstance(raised.value, HubfwError)


def test_an_unreadable_file_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "000d6f000abcdef0.pem").mkdir()
    with pytest.raises(DeviceKeyError, match="cannot read device key file .*000d6f000abcdef0.pem"):
        load_device_keys(tmp_path)
    with pytest.raises(DeviceKeyError, match="no directory of device keys"):
        load_device_keys(tmp_path / "absent")


def test_two_files_with_different_keys_for_one_device_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "000d6f000abcdef0.pem", public_pem(new_private_key().public_key()))
    _write(tmp_path / "000D6F000ABCDEF0-ds.pem", public_pem(new_private_key().public_key()))
    with pytest.raises(DeviceKeyError, match="hold different keys for device 00:0d:6f:00:0a:bc:de:f0"):
        load_device_keys(tmp_path)


def test_an_unreadable_private_key_is_a_device_key_error(tmp_path: Path) -> None:
    (tmp_path / f"{key_file_stem(DEVICE)}-ds.key").write_bytes(b"not a key")
    with pytest.raises(DeviceKeyError, match="-ds.key is not an unencrypted PEM private key"):
        device_ds_key(tmp_path, DEVICE)
    p384 = tmp_path / "p384"
    p384.mkdir()
    write_private_key(p384 / f"{key_file_stem(DEVICE)}-ds.key", ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(DeviceKeyError, match="P-256"):
        device_ds_key(p384, DEVICE)
