"""The checks both ends of a key establishment apply to what the peer sent, each failing with the
Terminate status it earns (SE 1.x Annex C)."""

from __future__ import annotations

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.agreement import check_peer_certificate
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.errors import (
    BadCertificateError,
    CbkeError,
    InvalidPointError,
    IssuerMismatchError,
    KeyConfirmationError,
)
from hubfw.han.key_establishment.wire import TerminateStatus
from hubfw.zigbee.zcl import decode


class Refusal(Exception):
    """The exchange must end with a Terminate carrying `status`; `reason` says why, in one line."""

    def __init__(self, status: TerminateStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def status_for(error: CbkeError) -> TerminateStatus:
    """The Terminate status a failed CBKE check maps to; anything unforeseen is a bad message."""
    if isinstance(error, IssuerMismatchError):
        return TerminateStatus.UNKNOWN_ISSUER
    if isinstance(error, BadCertificateError):
        return TerminateStatus.INVALID_CERTIFICATE
    if isinstance(error, KeyConfirmationError):
        return TerminateStatus.BAD_KEY_CONFIRM
    return TerminateStatus.BAD_MESSAGE


def decode_or_refuse(command: foundation.ZCLCommandDef, payload: bytes) -> foundation.CommandSchema:
    """The command body; a frame too short for it is a BAD_MESSAGE."""
    try:
        return decode(command, payload)
    except ValueError as error:
        raise Refusal(TerminateStatus.BAD_MESSAGE, str(error)) from error


def require_length(what: str, data: bytes, length: int) -> bytes:
    """`data` as bytes when it has the length the suite fixes; BAD_MESSAGE otherwise."""
    if len(data) != length:
        raise Refusal(TerminateStatus.BAD_MESSAGE, f"{what} must be {length} bytes, got {len(data)}")
    return bytes(data)


def vet_peer_certificate(
    own_certificate: ImplicitCertificate, identity: bytes, peer: t.EUI64, now: float | None
) -> ImplicitCertificate:
    """Parse and check the peer's certificate against ours: length (BAD_MESSAGE), issuer
    (UNKNOWN_ISSUER), then format, reconstruction point, subject = `peer` and, when `now` is given,
    suite-2 validity (INVALID_CERTIFICATE)."""
    suite = own_certificate.suite
    data = require_length(f"a suite {suite.value} certificate", identity, suite.certificate_length)
    try:
        certificate = check_peer_certificate(own_certificate, data, peer_eui64=peer, now=now)
        try:
            suite.curve.decode_point(certificate.reconstruction_point)
        except InvalidPointError as error:
            raise BadCertificateError(f"certificate of {certificate.subject}: {error}") from error
    except CbkeError as error:
        raise Refusal(status_for(error), str(error)) from error
    return certificate
