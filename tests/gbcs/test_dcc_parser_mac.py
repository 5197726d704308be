"""hubfw's MAC'd GBCS messages read by an OUTSIDE checker: the DCC's open-source GBCS parser checks their MACs.

`dcc_mac_check.cjs` hands the parser (the same pinned install `test_dcc_parser.py` uses, or
`$HUBFW_GBCS_PARSER_MODULES`; skipped without node or the package) the Key Agreement and Digital Signing keys
and reports its own verdict on each MAC ("valid" / "invalid") and signature. The keys are fresh random ones, so
this checks hubfw's key derivation and MAC against the parser's on inputs the RTDS does not have.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.ciphering import seal
from hubfw.gbcs.firmware_content import (
    ActivateFirmwareCommand,
    ReadFirmwareVersionCommand,
    ReadFirmwareVersionResponse,
)
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode
from hubfw.gbcs.signing import sign
from tests.gbcs.rtds import ACB, SUPPLIER
from tests.gbcs.test_dcc_parser import DECODE_TIMEOUT, _install

SCRIPT = Path(__file__).resolve().parent / "dcc_mac_check.cjs"
DEVICE = bytes.fromhex("00DB1234567890B1")
KEYS = {(party, use): ec.generate_private_key(ec.SECP256R1()) for party in (ACB, SUPPLIER, DEVICE)
        for use in ("KA", "DS")}


@pytest.fixture(scope="module")
def parser_modules() -> Path:
    return _install()


def keystore() -> dict[str, str]:
    store = {}
    for (party, use), key in KEYS.items():
        store[f"{party.hex()}-{use}-private"] = _pem(key)
        store[f"{party.hex()}-{use}-public"] = _pem(key.public_key())
    return store


def keystore_of(keys: GbcsKeys) -> dict[str, str]:
    """A bench key set (`hubfw gbcs keys new`, or the one a demo leaves) as `dcc_mac_check.cjs` takes keys."""
    store = {f"{entity.hex()}-{use.upper()}-private": _pem(key) for (entity, use), key in keys.private_keys.items()}
    store.update({f"{entity.hex()}-{use.upper()}-public": _pem(key) for (entity, use), key in keys.public_keys.items()})
    return store


def _pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def parser_verdicts(modules: Path, messages: list[bytes], keys: dict[str, str] | None = None,
                    acb: bytes = ACB) -> list[dict[str, str | None]]:
    done = subprocess.run(
        ["node", str(SCRIPT)], capture_output=True, text=True, timeout=DECODE_TIMEOUT, check=False,
        input=json.dumps({"acb": acb.hex(), "keys": keystore() if keys is None else keys,
                          "messages": [m.hex() for m in messages]}),
        env={**os.environ, "GBCS_PARSER_MODULES": str(modules)},
    )
    assert done.returncode == 0, done.stderr
    verdicts = json.loads(done.stdout)
    assert len(verdicts) == len(messages)
    return verdicts


def flip_last_bit(message: bytes) -> bytes:
    return message[:-1] + bytes([message[-1] ^ 1])


def test_the_parser_finds_hubfws_macs_and_signatures_valid(parser_modules: Path) -> None:
    acb, device = KEYS[ACB, "KA"], KEYS[DEVICE, "KA"]
    cs06 = sign(GeneralSigning(CraFlag.COMMAND, 0x1_0000_0001, SUPPLIER, DEVICE, MessageCode.CS06_ACTIVATE_FIRMWARE,
                               ActivateFirmwareCommand(bytes(range(32)), 0x1_0000_0001).der()), KEYS[SUPPLIER, "DS"])
    cs08 = GeneralSigning(CraFlag.COMMAND, 777, ACB, DEVICE, MessageCode.CS08_READ_FIRMWARE_VERSION,
                          ReadFirmwareVersionCommand().der(), supplementary_party=SUPPLIER, supplementary_counter=5)
    response = GeneralSigning(CraFlag.RESPONSE, 777, DEVICE, ACB, MessageCode.CS08_READ_FIRMWARE_VERSION,
                              ReadFirmwareVersionResponse(bytes.fromhex("01020304"), 0).der(),
                              supplementary_party=SUPPLIER, supplementary_counter=5)
    messages = [seal(cs06, acb, device.public_key()), seal(cs08, acb, device.public_key()),
                seal(response, device, acb.public_key())]
    messages += [flip_last_bit(each) for each in messages]
    verdicts = parser_verdicts(parser_modules, messages)
    assert [v["mac"] for v in verdicts] == ["valid"] * 3 + ["invalid"] * 3
    assert [v["signature"] for v in verdicts] == ["true", None, None, "true", None, None]
