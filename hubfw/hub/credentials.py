"""The hub's CBKE credentials: loading and checking them against the coordinator (or, with CBKE on the
NCP, the NCP's own certificates), what the hub presents, and — for the simulated radio — hubfw as its own
test CA in the state directory.

Layout under `state/cbke/`:
    ca/ca-suite{1,2}.json    the test CA (simulated radio only; simulated devices get their certificates here)
    hub-suite{1,2}.json      the hub's test credentials issued by that CA for the coordinator's EUI-64
    presented.json           the certificates the running hub presents, per suite (no private keys; no CA
                             key when the NCP holds the credentials): what `hubfw cbke show --state DIR` prints
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import zigpy.types as t

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.curves import Point
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.errors import CbkeError, CredentialsFileError
from hubfw.cbke.issuing import issue_credentials
from hubfw.cbke.store import ca_file, load_ca, load_device, save_ca, save_device
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.devices import parse_eui64
from hubfw.errors import HubfwError
from hubfw.files import replace_file

CBKE_DIR_NAME = "cbke"
PRESENTED_FORMAT = "hubfw-cbke-presented/1"
SIM_CA_ISSUER = t.EUI64.convert("48:55:42:46:57:54:43:41")  # "HUBFWTCA" in ASCII: the state dir's test CA
CA_KEY_IN_NCP = "not readable (held in the NCP's CBKE library)"
"""What `hubfw cbke show` says for the CA key of a certificate the NCP presents."""


class HubCredentialsError(HubfwError):
    """The hub's CBKE credentials do not fit the coordinator or each other."""


def cbke_dir(state_dir: Path) -> Path:
    return Path(state_dir) / CBKE_DIR_NAME


def sim_ca_dir(state_dir: Path) -> Path:
    """Where the simulated radio's test CA lives (`hubfw cbke issue --ca` takes this directory)."""
    return cbke_dir(state_dir) / "ca"


def presented_path(state_dir: Path) -> Path:
    return cbke_dir(state_dir) / "presented.json"


def load_hub_credentials(paths: Sequence[Path]) -> tuple[DeviceCredentials, ...]:
    """`hubfw serve --cbke FILE...`: one credentials file per suite."""
    loaded: dict[CryptoSuite, Path] = {}
    credentials = []
    for path in paths:
        found = load_device(path)
        if found.suite in loaded:
            raise HubCredentialsError(
                f"{loaded[found.suite]} and {path} are both suite {found.suite.value} credentials: give one per suite"
            )
        loaded[found.suite] = path
        credentials.append(found)
    return tuple(credentials)


def check_hub_credentials(
    credentials: Sequence[DeviceCredentials], coordinator: t.EUI64
) -> dict[CryptoSuite, DeviceCredentials]:
    """By suite; a device checks that the hub certificate's subject is the trust centre, so it must be ours."""
    by_suite: dict[CryptoSuite, DeviceCredentials] = {}
    for found in credentials:
        _check_subject(found.certificate, coordinator, f"issue one with `hubfw cbke issue --eui64 {coordinator} "
                                                       f"--suite {found.suite.value}`")
        if found.suite in by_suite:
            raise HubCredentialsError(f"two suite {found.suite.value} CBKE credentials: give one per suite")
        by_suite[found.suite] = found
    return by_suite


def check_ncp_certificates(
    certificates: Mapping[CryptoSuite, ImplicitCertificate], coordinator: t.EUI64
) -> Mapping[CryptoSuite, ImplicitCertificate]:
    """The NCP's own certificates (CBKE on the NCP) must name the coordinator too."""
    for certificate in certificates.values():
        _check_subject(certificate, coordinator, "program the NCP with CBKE data issued for its own EUI-64")
    return certificates


def _check_subject(certificate: ImplicitCertificate, coordinator: t.EUI64, remedy: str) -> None:
    if certificate.subject != coordinator:
        raise HubCredentialsError(
            f"the suite {certificate.suite.value} CBKE certificate is for {certificate.subject}, but the "
            f"coordinator's EUI-64 is {coordinator}: {remedy}"
        )


@dataclass(frozen=True)
class Presented:
    """What the hub presents for one suite: its certificate, and its CA's public key when the host holds it."""

    certificate: ImplicitCertificate
    ca_public_key: Point | None


def presented_by(by_suite: Mapping[CryptoSuite, DeviceCredentials]) -> dict[CryptoSuite, Presented]:
    """What host-side credentials present."""
    return {suite: Presented(found.certificate, found.ca_public_key) for suite, found in by_suite.items()}


def sim_ca(state_dir: Path, suite: CryptoSuite) -> CertificateAuthority:
    """The state directory's test CA for `suite`, created on first use."""
    directory = sim_ca_dir(state_dir)
    if not ca_file(directory, suite).exists():
        save_ca(CertificateAuthority.generate(suite, SIM_CA_ISSUER), directory)
    return load_ca(directory, suite)


def issue_sim_credentials(state_dir: Path, eui64: t.EUI64, suite: CryptoSuite, clock: Clock) -> DeviceCredentials:
    """Credentials from the state directory's test CA, valid from now and never expiring: what a simulated
    device carries so that it trusts a hub on the simulated radio and the hub trusts it."""
    return issue_credentials(sim_ca(state_dir, suite), eui64, None, clock)


def hub_sim_credentials(state_dir: Path, coordinator: t.EUI64, clock: Clock) -> tuple[DeviceCredentials, ...]:
    """The hub's own credentials from the test CA, both suites, kept in the state directory and issued again
    when the coordinator's EUI-64 has changed."""
    credentials = []
    for suite in CryptoSuite:
        path = cbke_dir(state_dir) / f"hub-suite{suite.value}.json"
        kept = load_device(path) if path.exists() else None
        if kept is None or kept.eui64 != coordinator:
            kept = issue_sim_credentials(state_dir, coordinator, suite, clock)
            save_device(kept, path, overwrite=True)
        credentials.append(kept)
    return tuple(credentials)


def write_presented(state_dir: Path, coordinator: t.EUI64, by_suite: Mapping[CryptoSuite, Presented]) -> None:
    """Record the certificates the hub presents (public parts only), for `hubfw cbke show`."""
    record = {
        "format": PRESENTED_FORMAT,
        "coordinator": str(coordinator),
        "suites": [
            {"suite": suite.value, "certificate": found.certificate.encoded.hex(),
             "ca_public_key": None if found.ca_public_key is None else found.ca_public_key.encode().hex()}
            for suite, found in sorted(by_suite.items())
        ],
    }
    path = presented_path(state_dir)
    replace_file(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"), 0o644)


def read_presented(state_dir: Path) -> tuple[t.EUI64, list[tuple[ImplicitCertificate, str]]]:
    """The coordinator and each presented certificate with its CA public key (hex), as the hub last started."""
    path = presented_path(state_dir)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != PRESENTED_FORMAT:
            raise ValueError(f"not a {PRESENTED_FORMAT} file")
        return parse_eui64(record["coordinator"]), [
            (ImplicitCertificate.parse(bytes.fromhex(entry["certificate"])),
             CA_KEY_IN_NCP if entry["ca_public_key"] is None else str(entry["ca_public_key"]))
            for entry in record["suites"]
        ]
    except FileNotFoundError:
        raise HubCredentialsError(
            f"no CBKE certificates recorded in {path.parent.parent}: the hub there has not served with --cbke "
            "(or the simulated radio) yet"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, CbkeError, HubfwError) as exc:
        raise CredentialsFileError(f"{path}: {exc}") from None
