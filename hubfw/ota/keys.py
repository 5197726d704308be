"""Manufacturer ECDSA P-256 keys: make, save, load, and sign/verify raw messages.

GB suppliers check "a Digital Signature, created by the person who created the Manufacturer
Image" [SEC Appendix AB 2.2]; hubfw makes that signature with ECDSA over NIST P-256 and
SHA-256. Signatures travel in two encodings: raw `r || s` (64 bytes, fixed size, used inside
the image so the header's total size is known before signing) and DER (what `openssl dgst
-sign` writes, used for detached signature files).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from hubfw.errors import HubfwError

PRIVATE_KEY_FILE = "manufacturer-key.pem"
PUBLIC_KEY_FILE = "manufacturer-pub.pem"
RAW_SIGNATURE_SIZE = 64
_COORDINATE_SIZE = 32


class KeyFileError(HubfwError):
    """A key file is missing, unreadable, not PEM, or not a P-256 key."""


class SignatureEncodingError(HubfwError):
    """Signature bytes are neither 64-byte raw r||s nor a DER ECDSA signature."""


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_key_pair(directory: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a fresh key pair as PEM: the private key mode 0600 (PKCS#8), the public key SPKI."""
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise KeyFileError(f"{path} already exists; refusing to overwrite a key (use --force)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        key = new_private_key()
        write_private_key(private_path, key)
        public_path.write_bytes(public_pem(key.public_key()))
    except OSError as exc:
        raise KeyFileError(f"cannot write keys to {directory}: {exc.strerror or exc}") from None
    return private_path, public_path


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """`key` as unencrypted PKCS#8 PEM in a file of mode 0600 (OSError when it cannot be written)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file


def keep_private_key(private_path: Path, public_path: Path,
                     key: ec.EllipticCurvePrivateKey | None = None) -> ec.EllipticCurvePrivateKey:
    """A key kept in files: `key` if given, else the one in `private_path`, else a new one written there (mode 0600);
    either way its public half is (re)written to `public_path` when missing or different, for whoever checks its
    signatures. KeyFileError for a private key file that does not read; OSError when a file cannot be written."""
    if key is None and private_path.exists():
        key = load_private_key(private_path)
    elif key is None:
        key = new_private_key()
        write_private_key(private_path, key)
    public = public_pem(key.public_key())
    if not public_path.exists() or public_path.read_bytes() != public:
        public_path.write_bytes(public)
    return key


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """`key` as a PEM SubjectPublicKeyInfo."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    pem = _read(path)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({_first_line(exc)})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not an ECDSA P-256 private key")
    return key


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """A trust anchor: a PEM public key, a PEM X.509 certificate, or a PEM private key's public half."""
    pem = _read(path)
    key: object
    if b"CERTIFICATE-----" in pem:
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise KeyFileError(f"{path} is not a readable PEM certificate ({_first_line(exc)})") from None
    elif b"PRIVATE KEY-----" in pem:
        key = load_private_key(path).public_key()
    else:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise KeyFileError(f"{path} is not a PEM public key ({_first_line(exc)})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} does not hold an ECDSA P-256 public key")
    return key


def load_public_keys(paths: Iterable[Path]) -> tuple[ec.EllipticCurvePublicKey, ...]:
    return tuple(load_public_key(path) for path in paths)


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """First 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo, hex: names a key in reports."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize()[:8].hex()


def sign_message(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA P-256/SHA-256 signature of `message` as raw r||s (64 bytes)."""
    return der_to_raw(key.sign(message, ec.ECDSA(hashes.SHA256())))


def verify_message(key: ec.EllipticCurvePublicKey, message: bytes, raw_signature: bytes) -> bool:
    try:
        key.verify(raw_to_der(raw_signature), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def der_to_raw(der: bytes) -> bytes:
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise SignatureEncodingError("signature is not a DER ECDSA signature") from None
    if r.bit_length() > 256 or s.bit_length() > 256:
        raise SignatureEncodingError("DER signature integers are too large for P-256")
    return r.to_bytes(_COORDINATE_SIZE, "big") + s.to_bytes(_COORDINATE_SIZE, "big")


def raw_to_der(raw: bytes) -> bytes:
    if len(raw) != RAW_SIGNATURE_SIZE:
        raise SignatureEncodingError(f"raw signature is {len(raw)} bytes, want {RAW_SIGNATURE_SIZE} (r||s)")
    return encode_dss_signature(
        int.from_bytes(raw[:_COORDINATE_SIZE], "big"), int.from_bytes(raw[_COORDINATE_SIZE:], "big")
    )


def decode_detached_signature(data: bytes) -> bytes:
    """Raw r||s from a detached signature file: DER (openssl's output) or exactly 64 raw bytes.

    DER is tried first; 64 raw bytes that also happen to be well-formed DER are astronomically
    unlikely (the first two bytes would have to be 0x30 0x3E and the rest two INTEGER TLVs).
    """
    try:
        return der_to_raw(data)
    except SignatureEncodingError:
        if len(data) == RAW_SIGNATURE_SIZE:
            return data
        raise SignatureEncodingError(
            f"detached signature is {len(data)} bytes and neither DER nor 64-byte raw r||s"
        ) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
