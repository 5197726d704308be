"""hubfw's GBCS alert messages read by an OUTSIDE decoder: the DCC's open-source GBCS parser.

The parser is SmartDCCInnovation/gbcs-parser (TypeScript, GPL-3.0, npm `@smartdcc/gbcs-parser`), the one the DCC's
own RTDS tests run against. `tools/gbcs_parser_check/` pins its version (package.json) and `check.mjs` feeds it
messages and DS keys and prints, per message, what the parser's output tree says (message code, CRA flag,
originator counter, originator / target, the CCS08 ASN.1 fields, and its own signature check). Nothing here or in
check.mjs decodes GBCS: hubfw's messages are compared with what the parser reports.

What the parser (0.5.0) does, read from its source:
- `parseGbcsMessage(hex_or_base64, keyStore)`; the key store is an async callback `(eui, 'DS' | 'KA',
  {privateKey, prePayment}) -> KeyObject`. For a General-Signing message with a signature it asks for the
  originator's DS public key and runs `crypto.verify('SHA256', message[1:-65], key, ieee-p1363)`, then adds a
  "Valid" item ("true" / "false"). It takes a KeyObject, so a bare SPKI public key works as well as a certificate
  (`crypto.createPublicKey` reads either): hubfw's test keys are given as bare `public_pem`s, the RTDS ones as the
  RTDS certificates; no self-signed certificate is needed.
- It decodes message code 0x0128 (CCS08 Firmware Transfer Alert) field by field. It has NO decoder for 0x012B
  (the PPMID's 0x8F8B): it shows that content as one undecoded "Payload" item, so for 0x8F8B this checks the
  header, the signature and the content bytes the parser delimited (not the ASN.1 fields). The same ASN.1 shape is
  decoded by the parser only under message code 0x0129 with CRA flag 3 (its "Read PPMID/HCALCS Firmware Version"
  alert). If a later pinned version decodes 0x012B, the test checks the fields instead.

Install and cache: npm is run once per session (`npm install`, with a timeout) into
`~/.cache/hubfw/gbcs-parser/<hash of package.json>/` (`$XDG_CACHE_HOME` is honoured; `$HUBFW_GBCS_PARSER_CACHE`
replaces the whole path). A cache outside the work tree is shared by every clone and worktree on the machine, so
CI's fresh clone does not download again, and a changed pin gets a new directory. `$HUBFW_GBCS_PARSER_MODULES` may
name a directory whose `node_modules/` already holds the package (no install then). The install needs the npm
registry; with no node/npm, or when the install fails (offline, or the registry does not serve the package), every
test here is skipped with a one-line reason. All messages go through one node process per module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import activation_alert, transfer_alert
from hubfw.gbcs.alert_content import ActivationOutcome, TransferResponse
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, GbcsIdentity, activation_message
from hubfw.gbcs.framing import CraFlag, MessageCode
from hubfw.ota.keys import new_private_key, public_pem
from tests.gbcs.rtds import ACB, CH, PPMID, RTDS, message

CHECK_DIR = Path(__file__).resolve().parents[2] / "tools" / "gbcs_parser_check"
PACKAGE = "@smartdcc/gbcs-parser"
INSTALL_TIMEOUT = 300
DECODE_TIMEOUT = 120


def _pinned_version() -> str:
    return json.loads((CHECK_DIR / "package.json").read_text())["dependencies"][PACKAGE]


def _cache_root() -> Path:
    if os.environ.get("HUBFW_GBCS_PARSER_CACHE"):
        return Path(os.environ["HUBFW_GBCS_PARSER_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "hubfw" / "gbcs-parser"


def _installed(modules: Path) -> bool:
    return (modules / "node_modules" / PACKAGE / "package.json").is_file()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _install() -> Path:
    """The directory whose node_modules holds the pinned parser: installed on first use, then reused."""
    prepared = os.environ.get("HUBFW_GBCS_PARSER_MODULES")
    if prepared:
        if not _installed(Path(prepared)):
            pytest.skip(f"HUBFW_GBCS_PARSER_MODULES={prepared} has no node_modules/{PACKAGE}")
        return Path(prepared)
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip(f"DCC GBCS parser check needs node and npm on PATH ({PACKAGE} is a node package)")
    spec = [CHECK_DIR / "package.json", CHECK_DIR / "package-lock.json"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in spec if p.exists())).hexdigest()[:16]
    target = _cache_root() / digest
    with _locked(_cache_root() / f"{digest}.lock"):
        if _installed(target):
            return target
        staging = target.with_name(f"{digest}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for p in spec:
            if p.exists():
                shutil.copy(p, staging / p.name)
        locked = (staging / "package-lock.json").exists()
        command = [npm, "ci" if locked else "install", "--no-audit", "--no-fund", "--ignore-scripts",
                   "--fetch-retries=1", "--fetch-timeout=30000"]
        try:
            done = subprocess.run(command, cwd=staging, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(f"npm install of {PACKAGE}@{_pinned_version()} timed out after {INSTALL_TIMEOUT}s "
                        "(it needs the npm registry)")
        if done.returncode != 0 or not _installed(staging):
            shutil.rmtree(staging, ignore_errors=True)
            pytest.skip(f"npm install of {PACKAGE}@{_pinned_version()} failed (it needs the npm registry, or set "
                        f"HUBFW_GBCS_PARSER_MODULES to an install): {_npm_error(done)}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target


def _npm_error(done: subprocess.CompletedProcess[str]) -> str:
    """npm's error in one line: "npm error E404: 404 Not Found", else its first line of output."""
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = [line.removeprefix("npm error").strip() for line in lines if line.startswith("npm error")]
    code = next((e.removeprefix("code ") for e in errors if e.startswith("code ")), None)
    detail = next((e for e in errors if not e.startswith("code ")), None)
    if detail is not None:
        detail = detail.split(" - ")[0]
    text = ": ".join(part for part in (code, detail) if part) or (lines[0] if lines else f"exit {done.returncode}")
    return f"npm error {text}"[:200]


@pytest.fixture(scope="session")
def parser_modules() -> Path:
    return _install()


def decode(modules: Path, messages: list[Any], keys: dict[str, str]) -> dict[str, Any]:
    """One node run of check.mjs: {"parser": {...}, "results": [...]}, one result per message, in order."""
    done = subprocess.run(
        ["node", str(CHECK_DIR / "check.mjs")], input=json.dumps({"messages": messages, "keys": keys}),
        capture_output=True, text=True, timeout=DECODE_TIMEOUT, check=False,
        env={**os.environ, "GBCS_PARSER_MODULES": str(modules)},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["results"]) == len(messages)
    return out


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return public_pem(key.public_key()).decode()


def eui(entity: bytes) -> str:
    return entity.hex().upper()


def rtds_cert(entity: bytes) -> str:
    return (RTDS / "keys" / f"{entity.hex()}-ds.pem").read_text()


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 1 << bit
    return bytes(changed)


def parser_time(alert: Any) -> str:
    return alert.execution_time.strftime("%Y-%m-%d %H:%M:%S Z")


# ----------------------------------------------------------------------------------------------------------------
# The cases: every message is built at import time, decoded in one node run (the `results` fixture).

CH_KEY = new_private_key()
PPMID_KEY = new_private_key()
OTHER_KEY = new_private_key()
HUB_CH = t.EUI64.convert("00:0D:6F:00:0A:1B:2C:3D")
HUB_PPMID = t.EUI64.convert("00:0D:6F:00:11:22:33:44")
HUB_PPMID_2 = t.EUI64.convert("00:0D:6F:00:55:66:77:88")
IDENTITY = GbcsIdentity(HUB_CH, CH_KEY)

TRANSFER_CASES = [
    (transfer_alert(1, HUB_PPMID, 0x0123ABCD, TransferResponse.SUCCESS, 1_420_070_400), 1),
    (transfer_alert(2, HUB_PPMID, 0x0000_0001, TransferResponse.IMAGE_DISCARDED, 1_700_000_000), 4000),
    (transfer_alert(3, HUB_PPMID_2, 0xFFFF_FFFF, TransferResponse.HARDWARE_VERSION_MISMATCH, 1_700_000_123), 1 << 40),
    (transfer_alert(4, HUB_PPMID_2, 0x8000_0000, TransferResponse.FILE_TRANSFER_FAILURE, 4_102_444_799),
     (1 << 64) - 1),
]
TRANSFERS = [(dataclasses.replace(alert, counter=counter), counter) for alert, counter in TRANSFER_CASES]
TRANSFER_MESSAGES = [IDENTITY.transfer_message(alert) for alert, _ in TRANSFERS]

ACTIVATIONS = [
    (activation_alert(10, HUB_PPMID, 0x1234ABCD, 1_420_070_400), 5000),
    (activation_alert(11, HUB_PPMID_2, 0x0000_0002, 1_800_000_000, ActivationOutcome.FAILURE), (1 << 63) + 7),
]
ACTIVATION_MESSAGES = [activation_message(alert, counter, key=PPMID_KEY) for alert, counter in ACTIVATIONS]
UNSIGNED_ACTIVATION = activation_message(*ACTIVATIONS[0])

RTDS_CCS08 = message("ccs08-8f8a-alert")
RTDS_8F8B = message("ppmid-8f8b-alert")

CASES: dict[str, Any] = {
    "rtds-ccs08": RTDS_CCS08.hex(),
    "rtds-8f8b": RTDS_8F8B.hex(),
    # one bit flipped in the signed span (message[1:-65]): in the header, and in the content's last octet
    "rtds-ccs08-counter-bit": flip(RTDS_CCS08, 3).hex(),
    "rtds-ccs08-content-bit": flip(RTDS_CCS08, len(RTDS_CCS08) - 66).hex(),
    "rtds-8f8b-content-bit": flip(RTDS_8F8B, len(RTDS_8F8B) - 66).hex(),
    # the same RTDS message checked with a key that did not sign it
    "rtds-ccs08-other-key": {"hex": RTDS_CCS08.hex(), "keys": {eui(CH): pem(OTHER_KEY)}},
    "unsigned-activation": UNSIGNED_ACTIVATION.hex(),
    "no-key-given": {"hex": TRANSFER_MESSAGES[0].hex(), "keys": {eui(bytes(HUB_CH)[::-1]): None}},
}
for i, m in enumerate(TRANSFER_MESSAGES):
    CASES[f"hub-ccs08-{i}"] = m.hex()
    CASES[f"hub-ccs08-{i}-other-key"] = {"hex": m.hex(), "keys": {eui(bytes(HUB_CH)[::-1]): pem(OTHER_KEY)}}
    CASES[f"hub-ccs08-{i}-bit"] = flip(m, len(m) - 70, 3).hex()
for i, m in enumerate(ACTIVATION_MESSAGES):
    entity = bytes(ACTIVATIONS[i][0].entity)[::-1]
    CASES[f"ppmid-8f8b-{i}"] = m.hex()
    CASES[f"ppmid-8f8b-{i}-ch-key"] = {"hex": m.hex(), "keys": {eui(entity): pem(CH_KEY)}}

KEYS = {
    eui(CH): rtds_cert(CH),                    # RTDS: X.509 certificates
    eui(PPMID): rtds_cert(PPMID),
    eui(bytes(HUB_CH)[::-1]): pem(CH_KEY),     # hubfw: bare SPKI public keys
    eui(bytes(HUB_PPMID)[::-1]): pem(PPMID_KEY),
    eui(bytes(HUB_PPMID_2)[::-1]): pem(PPMID_KEY),
}


@pytest.fixture(scope="module")
def decoded(parser_modules: Path) -> dict[str, Any]:
    out = decode(parser_modules, list(CASES.values()), KEYS)
    return {"parser": out["parser"], **dict(zip(CASES, out["results"], strict=True))}


def test_the_parser_is_the_pinned_version(decoded: dict[str, Any]) -> None:
    assert decoded["parser"] == {"name": PACKAGE, "version": _pinned_version()}


# ---- the RTDS messages, as the RTDS README lists them -----------------------------------------------------------

def test_rtds_ccs08_decodes_as_the_rtds_says_and_its_signature_is_valid(decoded: dict[str, Any]) -> None:
    r = decoded["rtds-ccs08"]
    assert r["ok"], r["error"]
    assert (r["message_code"], r["cra"], r["originator_counter"]) == (0x0128, 3, "4000")
    assert (r["originator"], r["target"]) == (eui(CH), eui(ACB))
    assert r["payload_decoder"] == "Firmware Transfer Alert"
    assert r["alert_code"] == 0x8F8A
    assert r["execution_time"] == "2015-01-01 00:00:00 Z"
    assert r["entity_id"] == eui(PPMID)
    assert r["firmware_version"] == "0123ABCD"
    assert r["transfer_response_code"] == 0
    assert r["signature_valid"] is True


def _check_8f8b_content(r: dict[str, Any], alert: Any) -> None:
    if r["payload_decoder"] == "Payload":  # 0.5.0: no decoder for 0x012B; the content as the parser delimited it
        assert r["payload_hex"] == alert.der().hex().upper()
        assert r["alert_code"] is None
    else:  # a parser that decodes 0x012B
        assert r["alert_code"] == 0x8F8B
        assert r["firmware_version"] == f"{alert.firmware_version:08X}"
        assert r["execution_time"] == parser_time(alert)


def test_rtds_8f8b_decodes_as_the_rtds_says_and_its_signature_is_valid(decoded: dict[str, Any]) -> None:
    r = decoded["rtds-8f8b"]
    assert r["ok"], r["error"]
    assert (r["message_code"], r["cra"], r["originator_counter"]) == (0x012B, 3, "5000")
    assert (r["originator"], r["target"]) == (eui(PPMID), eui(ACB))
    rtds_content = activation_alert(0, t.EUI64(PPMID[::-1]), 0x1234ABCD, 1_420_070_400)  # RTDS README: "Decoded"
    _check_8f8b_content(r, rtds_content)
    assert r["signature_valid"] is True


@pytest.mark.parametrize("case", ["rtds-ccs08-counter-bit", "rtds-ccs08-content-bit", "rtds-8f8b-content-bit"])
def test_one_flipped_bit_in_the_signed_span_makes_the_rtds_signature_invalid(decoded: dict[str, Any],
                                                                             case: str) -> None:
    r = decoded[case]
    assert r["ok"], r["error"]
    assert r["signature_valid"] is False


def test_the_flipped_bits_are_where_the_parser_sees_them(decoded: dict[str, Any]) -> None:
    assert decoded["rtds-ccs08-counter-bit"]["originator_counter"] == str(4000 + (1 << 56))  # counter's first octet
    assert decoded["rtds-ccs08-content-bit"]["transfer_response_code"] == 1


def test_an_rtds_message_does_not_verify_with_a_key_that_did_not_sign_it(decoded: dict[str, Any]) -> None:
    assert decoded["rtds-ccs08-other-key"]["signature_valid"] is False


# ---- hubfw's own messages ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(TRANSFERS)))
def test_hubfw_ccs08_decodes_with_its_fields_and_a_valid_ch_signature(decoded: dict[str, Any], i: int) -> None:
    alert, counter = TRANSFERS[i]
    r = decoded[f"hub-ccs08-{i}"]
    assert r["ok"], r["error"]
    assert r["message_code"] == MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT == 0x0128
    assert r["cra"] == CraFlag.ALERT == 3
    assert r["originator_counter"] == str(counter)
    assert r["originator"] == eui(bytes(HUB_CH)[::-1])
    assert r["target"] == eui(bytes(DEFAULT_ACB_ID)[::-1]) == eui(ACB)
    assert r["payload_decoder"] == "Firmware Transfer Alert"
    assert r["alert_code"] == int(alert.code)
    assert r["execution_time"] == parser_time(alert)
    assert r["entity_id"] == eui(bytes(alert.entity)[::-1])
    assert r["firmware_version"] == f"{alert.firmware_version:08X}"
    assert r["transfer_response_code"] == int(alert.transfer_response)
    assert r["signature_valid"] is True


@pytest.mark.parametrize("i", range(len(TRANSFERS)))
def test_hubfw_ccs08_signature_fails_with_another_key_and_with_a_flipped_bit(decoded: dict[str, Any],
                                                                            i: int) -> None:
    assert decoded[f"hub-ccs08-{i}-other-key"]["signature_valid"] is False
    flipped = decoded[f"hub-ccs08-{i}-bit"]
    assert flipped["ok"], flipped["error"]
    assert flipped["signature_valid"] is False


@pytest.mark.parametrize("i", range(len(ACTIVATIONS)))
def test_hubfw_ppmid_8f8b_decodes_with_its_fields_and_a_valid_ppmid_signature(decoded: dict[str, Any],
                                                                              i: int) -> None:
    alert, counter = ACTIVATIONS[i]
    r = decoded[f"ppmid-8f8b-{i}"]
    assert r["ok"], r["error"]
    assert r["message_code"] == MessageCode.FIRMWARE_ACTIVATION_ALERT == 0x012B
    assert r["cra"] == 3
    assert r["originator_counter"] == str(counter)
    assert r["originator"] == eui(bytes(alert.entity)[::-1])
    assert r["target"] == eui(ACB)
    _check_8f8b_content(r, alert)
    assert r["signature_valid"] is True
    assert decoded[f"ppmid-8f8b-{i}-ch-key"]["signature_valid"] is False


def test_an_unsigned_activation_message_has_no_signature_to_check(decoded: dict[str, Any]) -> None:
    r = decoded["unsigned-activation"]
    assert r["ok"], r["error"]
    assert (r["message_code"], r["originator_counter"]) == (0x012B, "5000")
    assert r["signature_valid"] is None


def test_a_signed_message_without_its_signers_key_is_not_reported_valid(decoded: dict[str, Any]) -> None:
    r = decoded["no-key-given"]
    assert not r["ok"]
    assert "no DS key" in r["error"]
