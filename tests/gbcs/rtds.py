"""The DCC's reference messages and certificates in tests/gbcs/rtds/ (DCC RTDS 4.5.0; see its README)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

RTDS = Path(__file__).resolve().parent / "rtds"

CH = bytes.fromhex("00DB1234567890A2")
PPMID = bytes.fromhex("00DB1234567890A4")
ESME = bytes.fromhex("00DB1234567890A0")
ACB = bytes.fromhex("90B3D51F30000002")
SUPPLIER = bytes.fromhex("90B3D51F30010000")


def message(name: str) -> bytes:
    return bytes.fromhex((RTDS / f"{name}.hex").read_text().strip())


def certificate(entity: bytes, use: str = "ds") -> x509.Certificate:
    return x509.load_pem_x509_certificate((RTDS / "keys" / f"{entity.hex()}-{use}.pem").read_bytes())
