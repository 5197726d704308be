"""General-Ciphering with a MAC (tag 0xDD): the GBCS command and response MAC, made and checked.

A GBCS Command (or a Response) that needs the DCC access control broker's authority travels as a General-Signing
message wrapped in a General-Ciphering "MAC header" [GBCS section 4; RTDS README, tests/gbcs/rtds/README.md]:

    DD 00 00 00 00 00 00    General-Ciphering, its six header elements empty (transaction-id, originator,
                            recipient, date-time, other-information, key-info)
    <BER length>            of what follows: the ciphered service
    11 <IC, 4 octets>       security header: security control octet 0x11 (authentication only), invocation
                            counter (always 00000000 here, see below)
    DF ...                  the General-Signing message, as it is (signed or not)
    <12 octets>             the MAC

The MAC key (GBCS section 4, Security: the key derivation; NIST SP 800-56A's single-step "concatenation" KDF with
SHA-256, one round since 16 octets are wanted):

    Z          = the ECDH P-256 shared secret (the x-coordinate, 32 octets) between the ACB's Key Agreement key and
                 the device's: the ACB's private key and the device's public key make a command's MAC; the device's
                 private key and the ACB's public key make a response's (ECDH is symmetric: either pair gives Z)
    OtherInfo  = AlgorithmID  60 85 74 06 08 03 00   (the AlgorithmID value GBCS fixes)
                 || PartyUInfo: the business originator id (8 octets, from the General-Signing message)
                 || PartyVInfo: 09 || CRA flag (01 command, 02 response, 03 alert) || originator counter (8)
                                   || business target id (8)
    key        = the first 16 octets of SHA-256(00000001 || Z || OtherInfo)

So the key is unique per transaction: the originator counter is in it. The entity ids are the General-Signing
message's business originator and target, not the ACB: a CS06 command's key pair is the ACB's and the ESME's, yet
its PartyUInfo is the supplier who signed it.

The MAC is the AES-128-GCM authentication tag, truncated to its leftmost 12 octets (NIST SP 800-38D),
of no plaintext, with

    IV  = the business originator id (8) || 00000000
    AAD = 11 00 00 00 00 00 || the General-Signing message (every octet of it, the signature included)

Neither depends on the security header: the IV ends in four zero octets and the AAD begins with 0x11 and five
zero octets whatever the header's invocation counter, as the DCC's GBCS parser builds them. GCM's need for a fresh
(key, IV) pair is met by the key, which changes with every originator counter. So a MAC is only portable with a
header of 11 00000000: hubfw makes only that header, and `check_mac` refuses any other (a flipped header bit fails
the check instead of going unnoticed).

The GBCS text itself was not at hand: the construction above is the specification's as the DCC's tooling implements
it, checked against: SmartDCCInnovation/gbcs-parser (0.5.x), src/crypto.ts (`deriveKeyFromPair`, `gcm`/`ungcm`) and
src/parser.ts (`parseGeneralCiphering`: what the AAD covers, which key pair a command or a response uses), read to
learn the construction and written here from the specification's terms; and the RTDS 4.5.0 messages (CS06 command,
CS08 command, CS08 response), whose MACs this module reproduces octet for octet (tests/gbcs/test_ciphering.py).
The key-derivation variant for encrypted content (KDF octet 04, supplementary originator counter) is not here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hubfw.gbcs.framing import (
    GENERAL_CIPHERING,
    GENERAL_SIGNING,
    CraFlag,
    GbcsFramingError,
    GeneralSigning,
    _ber_prefix,
    _check_whole,
    _Reader,
)
from hubfw.gbcs.signing import GbcsKeyError, Signer, public_key

MAC_HEADER = bytes([GENERAL_CIPHERING]) + bytes(6)
"""`DD` and the six empty elements of a General-Ciphering MAC header."""
SECURITY_CONTROL_MAC = 0x11
"""Security control octet of a MAC'd (authenticated, not encrypted) message."""
MAC_LENGTH = 12
KEY_LENGTH = 16
ALGORITHM_ID = bytes.fromhex("60857406080300")
"""OtherInfo's AlgorithmID [GBCS section 4; gbcs-parser src/crypto.ts `deriveKeyFromPair`]."""
_TRANSACTION_ID_LENGTH = 9
_SECURITY_HEADER_LENGTH = 5
_ENTITY_ID_LENGTH = 8
_KDF_ROUND_ONE = (1).to_bytes(4, "big")
_AAD_PREFIX = bytes([SECURITY_CONTROL_MAC]) + bytes(5)
_IV_COUNTER = bytes(4)


class GbcsMacError(GbcsFramingError):
    """A General-Ciphering message that is not one with a MAC header around a General-Signing message."""


@dataclass(frozen=True)
class MacedMessage:
    """One General-Ciphering message with a MAC header, field by field. `general_signing` is the inner message's
    octets exactly as carried (the MAC covers them as they are); `signed` is that message parsed."""

    general_signing: bytes
    mac: bytes
    security_control: int = SECURITY_CONTROL_MAC
    invocation_counter: int = 0

    def __post_init__(self) -> None:
        if len(self.mac) != MAC_LENGTH:
            raise GbcsMacError(f"MAC of {len(self.mac)} octets (want {MAC_LENGTH})")
        if not 0 <= self.security_control <= 0xFF or not 0 <= self.invocation_counter < 1 << 32:
            raise GbcsMacError("security control is one octet, invocation counter four")
        GeneralSigning.parse(self.general_signing)  # whole, bare, well-formed

    @property
    def signed(self) -> GeneralSigning:
        return GeneralSigning.parse(self.general_signing)

    @property
    def transaction_id(self) -> bytes:
        """CRA flag and originator counter, the 9 octets of the inner message's transaction-id."""
        signed = self.signed
        return bytes([signed.cra]) + signed.originator_counter.to_bytes(8, "big")

    @property
    def security_header(self) -> bytes:
        return bytes([self.security_control]) + self.invocation_counter.to_bytes(4, "big")

    def encode(self) -> bytes:
        ciphered = self.security_header + self.general_signing + self.mac
        return MAC_HEADER + _ber_prefix(len(ciphered)) + ciphered

    @classmethod
    def parse(cls, message: bytes) -> MacedMessage:
        """Every field of a whole MAC'd GBCS message; GbcsMacError (a GbcsFramingError) when it is not one."""
        _check_whole(message)
        if message[:len(MAC_HEADER)] != MAC_HEADER:
            raise GbcsMacError("not a General-Ciphering message with a MAC header (DD and six empty elements)")
        reader = _Reader(message, 1)
        for _ in range(6):
            reader.element()
        ciphered = reader.element()
        if len(ciphered) < _SECURITY_HEADER_LENGTH + MAC_LENGTH + 1:
            raise GbcsMacError(f"ciphered service of {len(ciphered)} octets is too short for a MAC'd message")
        inner = ciphered[_SECURITY_HEADER_LENGTH:-MAC_LENGTH]
        if inner[0] != GENERAL_SIGNING:
            raise GbcsMacError("MAC'd GBCS message without a General-Signing message inside")
        try:
            return cls(bytes(inner), bytes(ciphered[-MAC_LENGTH:]), ciphered[0],
                       int.from_bytes(ciphered[1:_SECURITY_HEADER_LENGTH], "big"))
        except GbcsMacError:
            raise
        except GbcsFramingError as exc:
            raise GbcsMacError(f"MAC'd GBCS message: {exc}") from None


def shared_secret(local_private: ec.EllipticCurvePrivateKey, remote_public: Signer) -> bytes:
    """Z: the ECDH P-256 shared secret of one party's private Key Agreement key and the other's public one."""
    if not isinstance(local_private, ec.EllipticCurvePrivateKey) or not isinstance(local_private.curve,
                                                                                   ec.SECP256R1):
        raise GbcsKeyError("GBCS key agreement is ECDH P-256: the private key is another kind of key")
    return local_private.exchange(ec.ECDH(), public_key(remote_public))


def derive_key(z: bytes, originator: bytes, cra: int, originator_counter: int, recipient: bytes) -> bytes:
    """The 16-octet AES key of GBCS section 4 (the KDF above) from the shared secret `z` and one transaction's ids."""
    if len(originator) != _ENTITY_ID_LENGTH or len(recipient) != _ENTITY_ID_LENGTH:
        raise GbcsMacError("originator and recipient ids are 8 octets")
    if cra not in CraFlag._value2member_map_:
        raise GbcsMacError(f"CRA flag 0x{cra:02X} (want 1 Command, 2 Response or 3 Alert)")
    if not 0 <= originator_counter < 1 << 64:
        raise GbcsMacError(f"originator counter {originator_counter} does not fit 8 octets")
    party_u = originator
    party_v = bytes([_TRANSACTION_ID_LENGTH, cra]) + originator_counter.to_bytes(8, "big") + recipient
    other_info = ALGORITHM_ID + party_u + party_v
    return hashlib.sha256(_KDF_ROUND_ONE + z + other_info).digest()[:KEY_LENGTH]


def mac_key(local_private: ec.EllipticCurvePrivateKey, remote_public: Signer,
            message: GeneralSigning | MacedMessage | bytes) -> bytes:
    """The MAC key for `message` (a General-Signing message, or a MAC'd one, parsed or as octets): ECDH of the two
    Key Agreement keys, then the KDF over the inner message's originator, transaction-id and target."""
    signed = _signed(message)
    return derive_key(shared_secret(local_private, remote_public), signed.originator, signed.cra,
                      signed.originator_counter, signed.target)


def compute_mac(key: bytes, general_signing: bytes) -> bytes:
    """The 12-octet MAC over the General-Signing message `general_signing` (octets as carried) under `key`."""
    if len(key) != KEY_LENGTH:
        raise GbcsMacError(f"MAC key of {len(key)} octets (want {KEY_LENGTH})")
    originator = GeneralSigning.parse(general_signing).originator
    tag = AESGCM(key).encrypt(originator + _IV_COUNTER, b"", _AAD_PREFIX + general_signing)
    return tag[:MAC_LENGTH]


def seal(message: GeneralSigning | bytes, local_private: ec.EllipticCurvePrivateKey, remote_public: Signer) -> bytes:
    """The MAC'd GBCS message around `message` (sign it first if it is to be signed; the MAC covers the signature):
    the ACB's private KA key and the device's public one for a command, the device's and the ACB's for a response."""
    inner = message.encode() if isinstance(message, GeneralSigning) else bytes(message)
    key = mac_key(local_private, remote_public, inner)
    return MacedMessage(inner, compute_mac(key, inner)).encode()


def check_mac(message: bytes | MacedMessage, local_private: ec.EllipticCurvePrivateKey, remote_public: Signer) -> bool:
    """Whether `message` is a MAC'd GBCS message whose MAC the two Key Agreement keys make. False for anything
    else: malformed octets, a security header other than 11 00000000, or a MAC that does not match."""
    try:
        parsed = message if isinstance(message, MacedMessage) else MacedMessage.parse(message)
    except GbcsFramingError:
        return False
    return check_mac_with_key(parsed, mac_key(local_private, remote_public, parsed))


def check_mac_with_key(message: bytes | MacedMessage, key: bytes) -> bool:
    """`check_mac` with the derived key already in hand (say, from `mac_key`)."""
    try:
        parsed = message if isinstance(message, MacedMessage) else MacedMessage.parse(message)
    except GbcsFramingError:
        return False
    if parsed.security_control != SECURITY_CONTROL_MAC or parsed.invocation_counter != 0:
        return False
    return hmac.compare_digest(compute_mac(key, parsed.general_signing), parsed.mac)


def unwrap(message: bytes) -> tuple[MacedMessage | None, GeneralSigning]:
    """A whole GBCS message as it came: its MAC header (None for a bare General-Signing message) and the General-Signing
    message; GbcsFramingError when it is neither."""
    maced = MacedMessage.parse(message) if message[:1] == bytes([GENERAL_CIPHERING]) else None
    return maced, GeneralSigning.parse(message) if maced is None else maced.signed


def _signed(message: GeneralSigning | MacedMessage | bytes) -> GeneralSigning:
    if isinstance(message, GeneralSigning):
        return message
    if isinstance(message, MacedMessage):
        return message.signed
    return unwrap(message)[1]
