"""CBKE credentials on disk: a test CA directory (one CA per suite) and device credential files.

All files are small JSON objects with hex strings, laid out like the Certicom test-certificate
sheets (CA public key, implicit certificate, private key, public key) so values can be pasted
into other tools. Files holding a private key are written mode 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.errors import CbkeError, CredentialsFileError
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64

CA_FORMAT = "hubfw-cbke-ca/1"
DEVICE_FORMAT = "hubfw-cbke-device/1"


def ca_file(directory: Path, suite: CryptoSuite) -> Path:
    return directory / f"ca-suite{suite.value}.json"


def save_ca(ca: CertificateAuthority, directory: Path, *, overwrite: bool = False) -> Path:
    path = ca_file(directory, ca.suite)
    _write_secret_json(
        path,
        {
            "format": CA_FORMAT,
            "suite": ca.suite.value,
            "issuer": str(ca.issuer),
            "ca_public_key": ca.key.public_bytes().hex(),
            "ca_private_key": ca.key.private_bytes().hex(),
        },
        overwrite=overwrite,
    )
    return path


def load_ca(directory: Path, suite: CryptoSuite) -> CertificateAuthority:
    path = ca_file(directory, suite)
    record = _read_json(path, CA_FORMAT)
    with _field_errors(path):
        if record["suite"] != suite.value:
            raise CredentialsFileError(f"{path}: holds a suite {record['suite']} CA, expected suite {suite.value}")
        key = KeyPair.from_bytes(suite, bytes.fromhex(record["ca_private_key"]))
        if key.public_bytes() != bytes.fromhex(record["ca_public_key"]):
            raise CredentialsFileError(f"{path}: ca_public_key does not match ca_private_key")
        return CertificateAuthority(parse_eui64(record["issuer"]), key)


def save_device(credentials: DeviceCredentials, path: Path, *, overwrite: bool = False) -> None:
    _write_secret_json(
        path,
        {
            "format": DEVICE_FORMAT,
            "suite": credentials.suite.value,
            "subject": str(credentials.eui64),
            "issuer": str(credentials.certificate.issuer),
            "ca_public_key": credentials.ca_public_key.encode().hex(),
            "certificate": credentials.certificate.encoded.hex(),
            "private_key": credentials.static_key.private_bytes().hex(),
            "public_key": credentials.static_key.public_bytes().hex(),
        },
        overwrite=overwrite,
    )


def load_device(path: Path) -> DeviceCredentials:
    """Load and cross-check device credentials (the private key must fit the certificate)."""
    record = _read_json(path, DEVICE_FORMAT)
    with _field_errors(path):
        certificate = ImplicitCertificate.parse(bytes.fromhex(record["certificate"]))
        suite = certificate.suite
        return DeviceCredentials(
            certificate,
            KeyPair.from_bytes(suite, bytes.fromhex(record["private_key"])),
            suite.curve.decode_point(bytes.fromhex(record["ca_public_key"])),
        )


@contextmanager
def _field_errors(path: Path) -> Iterator[None]:
    """Turn a missing field, bad hex or bad value in a credentials file into one clear error."""
    try:
        yield
    except CredentialsFileError:
        raise
    except KeyError as exc:
        raise CredentialsFileError(f"{path}: missing field {exc}") from None
    except (ValueError, TypeError, CbkeError) as exc:
        raise CredentialsFileError(f"{path}: {exc}") from None


def _read_json(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CredentialsFileError(f"{path} is not JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != expected_format:
        raise CredentialsFileError(f"{path} is not a {expected_format} file")
    return record


def _write_secret_json(path: Path, record: dict[str, Any], *, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CredentialsFileError(f"{path} already exists; refusing to overwrite credentials (use --force)") from None
    except OSError as exc:
        raise CredentialsFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2)
        out.write("\n")
