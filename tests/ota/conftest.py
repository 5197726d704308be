"""Keys for the OTA tests: generated once per session (P-256 key generation is cheap but not free)."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.keys import new_private_key


@pytest.fixture(scope="session")
def manufacturer_key() -> ec.EllipticCurvePrivateKey:
    return new_private_key()


@pytest.fixture(scope="session")
def other_key() -> ec.EllipticCurvePrivateKey:
    return new_private_key()
