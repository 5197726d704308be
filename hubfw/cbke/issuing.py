"""Issuing device credentials from a test CA: what `hubfw cbke issue`, the hub's simulated-radio CA and the
test rigs share (a module of its own so that none of them imports a CLI module)."""

from __future__ import annotations

import zigpy.types as t

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import NO_EXPIRY
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.errors import HubfwError

DAY = 86_400


def issue_credentials(
    ca: CertificateAuthority, subject: t.EUI64, valid_days: int | None, clock: Clock
) -> DeviceCredentials:
    """Issue device credentials valid from now (suite 1 certificates carry no validity)."""
    if valid_days is not None and ca.suite is CryptoSuite.SUITE_1:
        raise HubfwError("--valid-days applies to suite 2 only: suite 1 certificates carry no validity period")
    valid_to = NO_EXPIRY if valid_days is None else valid_days * DAY
    certificate, key = ca.issue_key_pair(subject, valid_from=int(clock.now()), valid_to=valid_to)
    return DeviceCredentials(certificate, key, ca.public_key)
