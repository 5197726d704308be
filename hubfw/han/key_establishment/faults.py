"""What the hub's Key Establishment server does wrong on purpose, when a fault is set for the device
(hubfw.hub.faults: CBKE_FOREIGN_CA, CBKE_MANGLED_CERT, CBKE_BAD_MAC, CBKE_DELAY, CBKE_TERMINATE).

The model is Silicon Labs' test-harness component (Gecko SDK, protocol/zigbee/app/framework/plugin/test-harness,
`test-harness-cli.c`): `cert-mangle` (corrupt a byte, change the subject or the issuer of the certificate the
responder presents), `key-mangle` (a wrong key-confirm MAC), `delay-cbke` (answer late) and its forced
Terminate statuses. Here each is a `Fault` a bench sets per device; the server spends it when it acts
(`FaultBook.take`, which records it in the device's history):
- CBKE_TERMINATE: the device's next Initiate is answered with Terminate Key Establishment carrying the chosen
  status (SE 1.x Annex C.3.1.2.4 status codes 1..6, `TerminateStatus`);
- CBKE_FOREIGN_CA: the Initiate Response carries a certificate for the hub's own EUI-64 issued by a CA the
  device does not trust (a throwaway one, made here per suite): a device checking the issuer terminates with
  UNKNOWN_ISSUER;
- CBKE_MANGLED_CERT: the Initiate Response carries the hub's certificate changed: `variant` "issuer" (the
  device owes UNKNOWN_ISSUER), "subject" (INVALID_CERTIFICATE: the subject is not the trust centre) or "byte"
  (one byte outside the fields a device checks, at `offset` if given: only the key confirmation fails);
- CBKE_BAD_MAC: the Confirm Key Response carries a MAC with one bit flipped (the device owes BAD_KEY_CONFIRM);
- CBKE_DELAY: every answer of the exchange goes out `seconds` late (`OutgoingFrame.not_before`).
Faults act on the Initiate (all but BAD_MAC) or the Confirm Key (BAD_MAC) of an exchange; a one-shot fault is
then spent, so the device's next attempt meets a well-behaved hub.
"""

from __future__ import annotations

import functools

import zigpy.types as t

from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.suites import CryptoSuite
from hubfw.han.key_establishment.wire import TerminateStatus
from hubfw.hub.faults import Fault, FaultError, FaultKind

FOREIGN_CA_ISSUER = t.EUI64(bytes(b"hubfwFCA")[::-1])
"""The issuer of the throwaway CA behind CBKE_FOREIGN_CA ("hubfwFCA" as it reads on the wire)."""
CERTIFICATE_KINDS = (FaultKind.CBKE_FOREIGN_CA, FaultKind.CBKE_MANGLED_CERT)
INITIATE_KINDS = (FaultKind.CBKE_TERMINATE, *CERTIFICATE_KINDS)
_SUBJECT = {CryptoSuite.SUITE_1: slice(22, 30), CryptoSuite.SUITE_2: slice(28, 36)}
_ISSUER = {CryptoSuite.SUITE_1: slice(30, 38), CryptoSuite.SUITE_2: slice(11, 19)}
UNCHECKED_BYTE = {CryptoSuite.SUITE_1: 38, CryptoSuite.SUITE_2: 1}
"""Where "byte" mangling flips a bit by default: the first byte of the profile attribute data (suite 1), of the
serial number (suite 2). No format check sees it, but it is hashed into the public key reconstruction, so
the device derives the wrong key and only the key confirmation fails."""


def terminate_status(fault: Fault) -> TerminateStatus:
    """The status a CBKE_TERMINATE fault names (by name, any case, or by number 1..6)."""
    text = str(fault.status).strip()
    try:
        return TerminateStatus(int(text, 0)) if text[:1].isdigit() else TerminateStatus[text.upper().replace("-", "_")]
    except (KeyError, ValueError):
        names = ", ".join(status.name for status in TerminateStatus)
        raise FaultError(f"fault {fault.kind.value}: status is one of {names}, not {fault.status!r}") from None


@functools.cache
def foreign_ca(suite: CryptoSuite) -> CertificateAuthority:
    """A CA no device trusts, one per suite for the process (its key is thrown away with it)."""
    return CertificateAuthority.generate(suite, FOREIGN_CA_ISSUER)


@functools.cache
def foreign_certificate(own: ImplicitCertificate) -> ImplicitCertificate:
    """A certificate for `own`'s subject (the hub), with its validity, issued by `foreign_ca`."""
    valid_from = own.valid_from or 0
    kwargs = {} if own.valid_to is None else {"valid_to": own.valid_to}
    certificate, _ = foreign_ca(own.suite).issue_key_pair(own.subject, valid_from=valid_from, **kwargs)
    return certificate


def mangled_certificate(own: ImplicitCertificate, variant: str, offset: int | None = None) -> bytes:
    """`own`'s encoding with one bit flipped: in the subject, the issuer, or the byte at `offset` (by default
    one no format check reads, `UNCHECKED_BYTE`)."""
    data = bytearray(own.encoded)
    if variant == "subject":
        index = _SUBJECT[own.suite].start
    elif variant == "issuer":
        index = _ISSUER[own.suite].start
    else:
        index = UNCHECKED_BYTE[own.suite] if offset is None else offset
        if not 0 <= index < len(data):
            raise FaultError(f"a suite {own.suite.value} certificate has {len(data)} bytes; no byte at {index}")
    data[index] ^= 0x01
    return bytes(data)


def presented_certificate(own: ImplicitCertificate, fault: Fault | None) -> bytes:
    """What the hub puts in its Initiate Response: its certificate, or the one `fault` makes of it."""
    if fault is None:
        return own.encoded
    if fault.kind is FaultKind.CBKE_FOREIGN_CA:
        return foreign_certificate(own).encoded
    return mangled_certificate(own, fault.variant or "byte", fault.offset)


def mangled_mac(mac: bytes) -> bytes:
    """The key-confirm MAC with its first bit flipped."""
    return bytes([mac[0] ^ 0x80]) + mac[1:]
