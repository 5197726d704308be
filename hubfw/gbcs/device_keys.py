"""Devices' Digital Signing (DS) keys on a bench: the simulated devices' private keys, and the public keys the hub
checks a device's own GBCS messages (a PPMID's 0x8F8B) against.

The files are named as the DCC's RTDS keystore names them (tests/gbcs/rtds/README.md, `keys/`):
`<entity id>-<ds|ka>.<key|pem>`, the entity id the EUI-64's 16 hex digits big-endian in lower case
(`00db1234567890a4-ds.pem`), `ds` the Digital Signing and `ka` the Key Agreement key, `.key` a PKCS#8 private key
and `.pem` an X.509 certificate (here also a PEM public key). A device signs its General-Signing messages with its
DS key, ECDSA P-256 [GBCS section 4].

- `device_ds_key(directory, eui64)`: a simulated device's DS key, made on first use (`<eui>-ds.key`, mode 0600)
  with its public half beside it (`<eui>-ds.pem`), so the hub on the same bench can be given the directory;
  `device_ka_key(directory, eui64)` likewise its Key Agreement key (`<eui>-ka.key`, `<eui>-ka.pem`).
- `load_device_keys(directory)`: what the hub checks devices' signatures with: every `<eui>[-ds].pem`;
  `DeviceKeyDirectory` reads them again for a device it has not seen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import zigpy.types as t
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.keys import KeyFileError, keep_private_key

LOGGER = logging.getLogger(__name__)

_NAME = re.compile(r"(?P<eui>[0-9A-Fa-f]{2}(?:[:-]?[0-9A-Fa-f]{2}){7})(?P<use>-ds|-ka)?\.pem")


class DeviceKeyError(KeyFileError):
    """A device key file that cannot be read, made, or is not an ECDSA P-256 certificate or public key."""


def key_file_stem(eui64: t.EUI64) -> str:
    """The RTDS keystore's name for a device's files, before `-ds.key` / `-ds.pem`: its entity id in lower-case hex."""
    return bytes(eui64)[::-1].hex()


def device_ds_key(directory: Path, eui64: t.EUI64) -> ec.EllipticCurvePrivateKey:
    """The DS key of the device `eui64`, kept in `directory/<eui>-ds.key` (PKCS#8 PEM, mode 0600) and made on first
    use; its public key is (re)written to `directory/<eui>-ds.pem` when missing or different."""
    return _device_key(directory, eui64, "ds")


def device_ka_key(directory: Path, eui64: t.EUI64) -> ec.EllipticCurvePrivateKey:
    """The Key Agreement (KA) key of the device `eui64`, as `device_ds_key` keeps the DS key: `directory/<eui>-ka.key`
    (mode 0600, made on first use) and its public half in `directory/<eui>-ka.pem`. With the ACB's KA key it makes and
    checks the MACs of the GBCS commands and responses the device exchanges (`hubfw.gbcs.ciphering`)."""
    return _device_key(directory, eui64, "ka")


def _device_key(directory: Path, eui64: t.EUI64, use: str) -> ec.EllipticCurvePrivateKey:
    stem = key_file_stem(eui64)
    private_path, public_path = directory / f"{stem}-{use}.key", directory / f"{stem}-{use}.pem"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if public_path.exists() and not private_path.exists():  # a keystore's certificate (the RTDS's): keep it
            raise DeviceKeyError(f"{public_path} has no private key beside it ({private_path.name}): a simulated "
                                 f"device {eui64} cannot use that keystore's {use.upper()} key")
        return keep_private_key(private_path, public_path)
    except DeviceKeyError:
        raise
    except KeyFileError as exc:
        raise DeviceKeyError(str(exc)) from None
    except OSError as exc:
        raise DeviceKeyError(f"cannot keep the {use.upper()} key of device {eui64} in {directory}: "
                             f"{exc.strerror or exc}") from None


def load_device_keys(directory: Path) -> dict[t.EUI64, ec.EllipticCurvePublicKey]:
    """Every device's DS public key in `directory`: each `*.pem` named by an EUI-64 (16 hex digits, either case,
    optionally with `:` or `-` between octets), optionally followed by `-ds`; `-ka.pem` (Key Agreement) files and
    other names are skipped. Each file is an X.509 certificate or a PEM public key, P-256. DeviceKeyError (one line,
    naming the file) for a file that cannot be read or holds anything else, or two files with different keys for
    one device."""
    if not directory.is_dir():
        raise DeviceKeyError(f"no directory of device keys at {directory}")
    keys: dict[t.EUI64, ec.EllipticCurvePublicKey] = {}
    named: dict[t.EUI64, Path] = {}
    try:
        paths = sorted(directory.iterdir())
    except OSError as exc:
        raise DeviceKeyError(f"cannot list device keys in {directory}: {exc.strerror or exc}") from None
    for path in paths:
        match = _NAME.fullmatch(path.name)
        if match is None or match["use"] == "-ka":
            continue
        eui64 = t.EUI64(bytes.fromhex(re.sub("[:-]", "", match["eui"]))[::-1])
        key = _public_key(path)
        if eui64 in keys and _spki(keys[eui64]) != _spki(key):
            raise DeviceKeyError(f"{path} and {named[eui64]} hold different keys for device {eui64}")
        keys[eui64], named[eui64] = key, path
    return keys


class DeviceKeyDirectory(Mapping[t.EUI64, ec.EllipticCurvePublicKey]):
    """The device keys of a directory (`hubfw serve --device-certs DIR`), read again when asked for a device they do
    not include: a bench drops in a certificate, or the simulator makes a device's key, while the hub runs. A file
    that spoils the re-read is logged and the keys read before stay."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys = load_device_keys(directory)

    def __getitem__(self, eui64: t.EUI64) -> ec.EllipticCurvePublicKey:
        if eui64 not in self._keys:
            try:
                self._keys = load_device_keys(self.directory)
            except DeviceKeyError as exc:
                LOGGER.error("%s", exc)
        return self._keys[eui64]

    def __iter__(self) -> Iterator[t.EUI64]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise DeviceKeyError(f"cannot read device key file {path}: {exc.strerror or exc}") from None
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem:
            key = x509.load_pem_x509_certificate(pem).public_key()
        elif b"-----BEGIN PUBLIC KEY-----" in pem:
            key = serialization.load_pem_public_key(pem)
        else:
            raise DeviceKeyError(f"{path} is neither a PEM certificate nor a PEM public key")
    except (ValueError, TypeError) as exc:
        raise DeviceKeyError(f"{path} does not read as PEM: {_first_line(exc)}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DeviceKeyError(f"{path} does not hold an ECDSA P-256 public key")
    return key


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
