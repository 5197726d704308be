"""The two Smart Energy Key Establishment crypto suites and their wire sizes."""

from __future__ import annotations

import enum

from hubfw.cbke.curves import SECT163K1, SECT283K1, KoblitzCurve


class CryptoSuite(enum.IntEnum):
    """Values are the suite numbers; `bitmask` is the Key Establishment cluster's suite bit."""

    SUITE_1 = 1  # sect163k1, 48-byte certificates (SE 1.0/1.1)
    SUITE_2 = 2  # sect283k1, 74-byte certificates (SE 1.2+)

    @property
    def curve(self) -> KoblitzCurve:
        return SECT163K1 if self is CryptoSuite.SUITE_1 else SECT283K1

    @property
    def certificate_length(self) -> int:
        return 48 if self is CryptoSuite.SUITE_1 else 74

    @property
    def point_length(self) -> int:
        """Length of a compressed public key (ephemeral data, reconstruction point): 22 or 37."""
        return self.curve.point_length

    @property
    def private_key_length(self) -> int:
        """Length of a private key octet string: 21 or 36."""
        return self.curve.scalar_length

    @property
    def bitmask(self) -> int:
        return 1 << (self.value - 1)

    @classmethod
    def for_certificate_length(cls, length: int) -> CryptoSuite | None:
        return next((suite for suite in cls if suite.certificate_length == length), None)
