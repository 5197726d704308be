"""Credentials for the Key Establishment tests: one test CA per suite, the hub and two meters; their clock."""

from __future__ import annotations

import pytest

from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from tests.han.key_establishment.harness import GAS_METER, HUB, ISSUER, JAN_2026, METER, Party, make_party


@pytest.fixture(scope="session", params=list(CryptoSuite), ids=lambda suite: f"suite{int(suite)}")
def suite(request: pytest.FixtureRequest) -> CryptoSuite:
    return request.param


@pytest.fixture(scope="session")
def ca(suite: CryptoSuite) -> CertificateAuthority:
    return CertificateAuthority.generate(suite, ISSUER)


@pytest.fixture(scope="session")
def hub(ca: CertificateAuthority) -> Party:
    return make_party(ca, HUB)


@pytest.fixture(scope="session")
def meter(ca: CertificateAuthority) -> Party:
    return make_party(ca, METER)


@pytest.fixture(scope="session")
def gas_meter(ca: CertificateAuthority) -> Party:
    return make_party(ca, GAS_METER)


@pytest.fixture
def clock() -> VirtualClock:
    """A day into the certificates' validity."""
    return VirtualClock(JAN_2026 + 86400)
