"""A bench's GBCS key set (`hubfw gbcs keys new`, `hubfw.gbcs.bench_keys`): the RTDS keystore layout, private keys
0600, no overwriting, and the loader reading both a made set and the RTDS keystore itself."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import zigpy.types as t
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from hubfw.cli.main import main
from hubfw.gbcs.bench_keys import (
    DEFAULT_ACB_ID,
    DEFAULT_SUPPLIER_ID,
    KA,
    GbcsKeys,
    GbcsKeysError,
    entity_of,
    new_key_set,
)
from hubfw.gbcs.ciphering import check_mac
from hubfw.gbcs.device_keys import DeviceKeyError, device_ds_key, device_ka_key, key_file_stem
from hubfw.gbcs.framing import general_signing_inside
from hubfw.gbcs.signing import verify
from tests.gbcs.rtds import ACB, ESME, PPMID, RTDS, SUPPLIER, message

DEVICE = t.EUI64.convert("00:0d:6f:00:00:00:e0:03")


def spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_keys_new_writes_the_rtds_layout_with_private_keys_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = CliRunner().invoke(main, ["gbcs", "keys", "new", "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = {f"{SUPPLIER.hex()}-ds.key", f"{SUPPLIER.hex()}-ds.pem", f"{SUPPLIER.hex()}-ka.key",
                f"{SUPPLIER.hex()}-ka.pem", f"{ACB.hex()}-ka.key", f"{ACB.hex()}-ka.pem", "gbcs-keys.json"}
    assert {path.name for path in out.iterdir()} == expected
    assert set(result.output.split()) == {str(out / name) for name in expected}
    for path in out.glob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads((out / "gbcs-keys.json").read_text()) == {"supplier": SUPPLIER.hex(), "acb": ACB.hex()}
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    again = CliRunner().invoke(main, ["gbcs", "keys", "new", "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before

    keys = GbcsKeys.load(out)
    assert (keys.supplier_id, keys.acb_id) == (DEFAULT_SUPPLIER_ID, DEFAULT_ACB_ID)
    assert spki(keys.public(SUPPLIER, "ds")) == spki(keys.supplier_ds.public_key())
    device_ds, device_ka = keys.device_keys(DEVICE)  # a simulated device's own keys, made on first use
    stem = key_file_stem(DEVICE)
    assert {f"{stem}-{use}.{kind}" for use in ("ds", "ka") for kind in ("key", "pem")} < {p.name for p in out.iterdir()}
    assert stat.S_IMODE((out / f"{stem}-ka.key").stat().st_mode) == 0o600
    reloaded = GbcsKeys.load(out)
    assert spki(reloaded.public(entity_of(DEVICE), KA)) == spki(device_ka.public_key())
    assert spki(device_ds_key(out, DEVICE).public_key()) == spki(device_ds.public_key())
    assert spki(device_ka_key(out, DEVICE).public_key()) == spki(device_ka.public_key())  # kept, not made again


def test_other_entity_ids_are_named_in_the_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["gbcs", "keys", "new", "--out", str(tmp_path), "--supplier-id",
                                       "11:22:33:44:55:66:77:88", "--acb-id", "AABBCCDDEEFF0011"])
    bad = CliRunner().invoke(main, ["gbcs", "keys", "new", "--out", str(tmp_path / "x"), "--acb-id", "12"])
    assert bad.exit_code == 2 and "is not 16 hex digits" in bad.output
    assert result.exit_code == 0, result.output
    keys = GbcsKeys.load(tmp_path)
    assert keys.supplier_id == bytes.fromhex("1122334455667788") and keys.acb_id == bytes.fromhex("AABBCCDDEEFF0011")
    assert (tmp_path / "aabbccddeeff0011-ka.key").exists()
    assert keys.acb_ka is keys.private(keys.acb_id, KA) and keys.supplier_ka is keys.private(keys.supplier_id, KA)
    with pytest.raises(GbcsKeysError, match="no private KA key for 90b3d51f30000002"):
        keys.private(ACB, KA)


def test_one_existing_file_stops_the_whole_set(tmp_path: Path) -> None:
    (tmp_path / f"{ACB.hex()}-ka.pem").write_text("someone's certificate")
    with pytest.raises(GbcsKeysError, match="already exists"):
        new_key_set(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == [f"{ACB.hex()}-ka.pem"]
    with pytest.raises(GbcsKeysError, match="different entities"):
        new_key_set(tmp_path / "x", SUPPLIER, SUPPLIER)


def test_the_rtds_keystore_loads_and_its_keys_check_the_rtds_messages() -> None:
    keys = GbcsKeys.load(RTDS / "keys")
    assert (keys.supplier_id, keys.acb_id) == (SUPPLIER, ACB)
    cs06 = message("cs06-activate-command")
    assert check_mac(cs06, keys.acb_ka, keys.public(ESME, KA))
    assert check_mac(message("cs08-read-version-response"), keys.acb_ka, keys.public(PPMID, KA))
    assert verify(general_signing_inside(cs06), keys.public(SUPPLIER, "ds"))
    assert verify(message("cs06-activate-response"), keys.public(ESME, "ds"))
    with pytest.raises(GbcsKeysError, match="no private DS key for 00db1234567890a0"):
        keys.private(ESME, "ds")


def test_a_simulated_device_will_not_take_over_a_keystore_certificate(tmp_path: Path) -> None:
    (tmp_path / f"{key_file_stem(DEVICE)}-ka.pem").write_bytes((RTDS / "keys" / f"{ESME.hex()}-ka.pem").read_bytes())
    with pytest.raises(DeviceKeyError, match="has no private key beside it"):
        device_ka_key(tmp_path, DEVICE)


def test_a_pem_that_is_not_the_keys_public_half_is_refused(tmp_path: Path) -> None:
    new_key_set(tmp_path)
    (tmp_path / f"{ACB.hex()}-ka.pem").write_bytes((tmp_path / f"{SUPPLIER.hex()}-ka.pem").read_bytes())
    with pytest.raises(GbcsKeysError, match="is not the public half"):
        GbcsKeys.load(tmp_path)
