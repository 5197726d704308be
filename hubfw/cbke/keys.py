"""Elliptic-curve key pairs for a crypto suite: static (from ECQV) and ephemeral (per agreement)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Protocol

from hubfw.cbke.curves import Point
from hubfw.cbke.errors import InvalidKeyError
from hubfw.cbke.suites import CryptoSuite


class Randomness(Protocol):
    """Where keys and certificate serials come from: the `secrets` module, unless a test or a fuzzer needs the
    same credentials in every process (a seeded source with these two methods)."""

    def randbits(self, k: int, /) -> int: ...

    def randbelow(self, exclusive_upper_bound: int, /) -> int: ...


SYSTEM_RANDOMNESS: Randomness = secrets


@dataclass(frozen=True)
class KeyPair:
    """A private scalar d in [1, n-1] and its public point d*G."""

    suite: CryptoSuite
    private: int = field(repr=False)
    public: Point = field(init=False)

    def __post_init__(self) -> None:
        curve = self.suite.curve
        if not 0 < self.private < curve.order:
            raise InvalidKeyError(f"{curve.name}: a private key must lie in [1, n-1]")
        public = curve.multiply(self.private, curve.generator)
        assert public is not None  # G has prime order n > private > 0
        object.__setattr__(self, "public", public)

    @classmethod
    def generate(cls, suite: CryptoSuite, randomness: Randomness = SYSTEM_RANDOMNESS) -> KeyPair:
        return cls(suite, 1 + randomness.randbelow(suite.curve.order - 1))

    @classmethod
    def from_bytes(cls, suite: CryptoSuite, data: bytes) -> KeyPair:
        """A key from its octet string, reduced mod n.

        The octet string spans the whole field, so it can exceed n: Annex C's suite 2 responder
        ephemeral key does. Reducing changes neither d*G nor ECMQV, which works mod n throughout.
        """
        if len(data) != suite.private_key_length:
            raise InvalidKeyError(
                f"a suite {suite.value} private key is {suite.private_key_length} bytes, got {len(data)}"
            )
        return cls(suite, int.from_bytes(data, "big") % suite.curve.order)

    def private_bytes(self) -> bytes:
        return self.private.to_bytes(self.suite.private_key_length, "big")

    def public_bytes(self) -> bytes:
        """The compressed public key, as carried in Ephemeral Data commands."""
        return self.public.encode()
