"""What can go wrong in Certificate-Based Key Establishment, each a one-line user-facing error."""

from __future__ import annotations

from hubfw.errors import HubfwError


class CbkeError(HubfwError):
    """Base of every CBKE failure."""


class InvalidPointError(CbkeError):
    """An encoded elliptic-curve point is malformed or not on the curve."""


class InvalidKeyError(CbkeError):
    """A private key is out of range for its curve, or does not match its public key."""


class BadCertificateError(CbkeError):
    """An implicit certificate is malformed or does not fit the crypto suite."""


class IssuerMismatchError(CbkeError):
    """The peer's certificate was issued by a CA other than ours."""


class KeyConfirmationError(CbkeError):
    """The peer's Confirm Key MAC does not match: the two sides derived different keys."""


class CredentialsFileError(CbkeError):
    """A CA or device credentials file cannot be read or written."""
