"""Smart Energy Certificate-Based Key Establishment (CBKE) cryptography, pure Python.

Suite 1 (sect163k1) and suite 2 (sect283k1): ECQV implicit certificates, ECMQV key agreement,
the AES-MMO key derivation and HMAC-MMO key confirmation, and a test CA. The Key Establishment
cluster (0x0800) builds on `KeyAgreement`; this package knows nothing of radios or ZCL.
"""

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, KeyAgreementResult, Role
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecqv import CertificateAuthority, IssuedCertificate, reconstruct_private_key, reconstruct_public_key
from hubfw.cbke.errors import (
    BadCertificateError,
    CbkeError,
    CredentialsFileError,
    InvalidKeyError,
    InvalidPointError,
    IssuerMismatchError,
    KeyConfirmationError,
)
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite

__all__ = [
    "BadCertificateError",
    "CbkeError",
    "CertificateAuthority",
    "CredentialsFileError",
    "CryptoSuite",
    "DeviceCredentials",
    "ImplicitCertificate",
    "InvalidKeyError",
    "InvalidPointError",
    "IssuedCertificate",
    "IssuerMismatchError",
    "KeyAgreement",
    "KeyAgreementResult",
    "KeyConfirmationError",
    "KeyPair",
    "Role",
    "reconstruct_private_key",
    "reconstruct_public_key",
]
