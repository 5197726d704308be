"""General-Signing signatures: ECDSA over NIST P-256 with SHA-256, carried as 64 octets raw r||s.

The signature covers every octet from the transaction-id's length octet (the `09` after the `DF` tag) to the end
of the content: for a bare signed message, `message[1:-65]` [GBCS section 4 "General-Signing"; the RTDS README,
tests/gbcs/rtds/README.md, whose CCS08 and 0x8F8B alerts verify this way against the signers' certificates].
The element layout is the one Wireshark's GBCS dissector walks (epan/dissectors/packet-zbee-zcl-se.c).
Signing is deterministic (RFC 6979). Raw r||s and DER convert through `hubfw.ota.keys` (cryptography's encode/decode_dss_signature).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.errors import HubfwError
from hubfw.gbcs.framing import GeneralSigning
from hubfw.ota.keys import der_to_raw, verify_message

Signer = ec.EllipticCurvePublicKey | x509.Certificate
"""Who a signature is checked against: a P-256 public key, or the X.509 certificate that holds one."""


class GbcsKeyError(HubfwError):
    """A key or certificate that cannot sign or check a GBCS signature (not ECDSA P-256)."""


def sign(message: GeneralSigning, key: ec.EllipticCurvePrivateKey) -> GeneralSigning:
    """`message` signed by `key` (any signature it had is replaced). The signature is deterministic ECDSA (RFC 6979):
    the same message and key always give the same octets, so a message made again after a crash is the same."""
    _p256(key.public_key())
    signature = key.sign(message.signed_span(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return message.with_signature(der_to_raw(signature))


def verify(message: bytes | GeneralSigning, signer: Signer) -> bool:
    """Whether `message` carries a signature that `signer` made over its signed span; False when unsigned.
    Bytes are read as received (GbcsFramingError when they are not a bare General-Signing message)."""
    if isinstance(message, GeneralSigning):
        parsed, span = message, message.signed_span()
    else:
        parsed, span = GeneralSigning.parse_with_span(message)
    if parsed.signature is None:
        return False
    return verify_message(public_key(signer), span, parsed.signature)


def public_key(signer: Signer) -> ec.EllipticCurvePublicKey:
    key = signer.public_key() if isinstance(signer, x509.Certificate) else signer
    return _p256(key)


def _p256(key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise GbcsKeyError("GBCS signatures are ECDSA P-256: the key or certificate holds another kind of key")
    return key
