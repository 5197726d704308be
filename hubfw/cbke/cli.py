"""`hubfw cbke …`: hubfw as its own Smart Energy test CA — make CAs, issue device credentials, show them — and
vendor credential sheets imported into the same credentials files."""

from __future__ import annotations

from pathlib import Path

import click
import zigpy.types as t

from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.errors import CredentialsFileError
from hubfw.cbke.issuing import issue_credentials
from hubfw.cbke.sheet import import_sheet
from hubfw.cbke.store import load_ca, load_device, save_ca, save_device
from hubfw.cbke.suites import CryptoSuite
from hubfw.cli.options import EUI64, state_option
from hubfw.clock import SystemClock
from hubfw.hub.credentials import read_presented

DEFAULT_ISSUER = "48:55:42:46:57:43:41:31"  # "HUBFWCA1" in ASCII
DEFAULT_CA_DIR = "cbke-ca"
"""Where `ca new` puts the CA and `issue` finds it unless told otherwise, so the two commands chain bare."""
_SUITE = click.Choice(["1", "2"])


@click.group()
def cbke() -> None:
    """Smart Energy CBKE credentials (ECQV implicit certificates) from a local test CA."""


@cbke.group("ca")
def ca_group() -> None:
    """The test certificate authority."""


@ca_group.command("new")
@click.option("--out", "directory", default=DEFAULT_CA_DIR, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--issuer", type=EUI64, default=DEFAULT_ISSUER, show_default=True, help="Issuer ID for certificates.")
@click.option("--suite", "suites", type=_SUITE, multiple=True, help="Crypto suite(s) to create (default: both).")
@click.option("--force", is_flag=True, help="Overwrite an existing CA in DIR.")
def ca_new(directory: Path, issuer: t.EUI64, suites: tuple[str, ...], force: bool) -> None:
    """Create a CA key per crypto suite in DIR."""
    for suite in _suites(suites):
        path = save_ca(CertificateAuthority.generate(suite, issuer), directory, overwrite=force)
        click.echo(f"{path}: suite {suite.value} ({suite.curve.name}) CA, issuer {issuer}")


@cbke.command("issue")
@click.option("--ca", "ca_dir", default=DEFAULT_CA_DIR, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--eui64", "subject", required=True, type=EUI64, help="The device the certificate is for.")
@click.option("--suite", required=True, type=_SUITE, help="1 = sect163k1 (48-byte cert), 2 = sect283k1 (74-byte).")
@click.option("--valid-days", type=click.IntRange(min=1), help="Suite 2 only: expiry (default: never).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.json",
              help="default: <eui64 hex>-suite<N>.json here")
@click.option("--force", is_flag=True, help="Overwrite OUT.json.")
def issue(ca_dir: Path, subject: t.EUI64, suite: str, valid_days: int | None, output: Path | None,
          force: bool) -> None:
    """Issue a certificate and private key for a device (written together to OUT.json, mode 0600)."""
    if output is None:
        output = Path(f"{str(subject).replace(':', '')}-suite{suite}.json")
    credentials = issue_credentials(load_ca(ca_dir, CryptoSuite(int(suite))), subject, valid_days, SystemClock())
    save_device(credentials, output, overwrite=force)
    click.echo(f"{output}: suite {suite} certificate for {subject}")


@cbke.command("import")
@click.argument("textfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.json",
              help="default: <eui64 hex>-suite<N>.json here")
@click.option("--eui64", "coordinator", type=EUI64, metavar="COORDINATOR",
              help="Check that the certificate names this coordinator (the hub's trust centre EUI-64).")
def import_(textfile: Path, output: Path | None, coordinator: t.EUI64 | None) -> None:
    """Turn a vendor's certificate sheet (Certicom / Silicon Labs style text: CA Pub Key, Device Implicit Cert,
    Device Private Key, ...) into a credentials file (OUT.json, mode 0600), checking that the private key
    belongs to the certificate."""
    credentials = import_sheet(textfile, coordinator)
    if output is None:
        output = Path(f"{str(credentials.eui64).replace(':', '')}-suite{credentials.suite.value}.json")
    if output.exists():
        raise CredentialsFileError(f"{output} already exists; refusing to overwrite credentials")
    save_device(credentials, output)
    click.echo(f"{output}: suite {credentials.suite.value} certificate for {credentials.eui64} "
               f"(issuer {credentials.certificate.issuer}) from {textfile}")


@cbke.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@state_option("the hub's state directory (without FILE)")
def show(file: Path | None, state_dir: Path) -> None:
    """What the hub presents: the certificate per suite of the hub serving --state (as it last started),
    or a credentials FILE's certificate fields. Never a private key."""
    if file is not None:
        credentials = load_device(file)
        for line in certificate_lines(credentials.certificate):
            click.echo(line)
        click.echo(f"public key:    {credentials.static_key.public_bytes().hex()}")
        click.echo(f"CA public key: {credentials.ca_public_key.encode().hex()}")
        return
    coordinator, presented = read_presented(state_dir)
    click.echo(f"coordinator:   {coordinator} (the trust centre's EUI-64)")
    for certificate, ca_public_key in presented:
        click.echo("")
        for line in certificate_lines(certificate):
            click.echo(line)
        click.echo(f"CA public key: {ca_public_key}")


def certificate_lines(certificate: ImplicitCertificate) -> list[str]:
    lines = [
        f"suite:         {certificate.suite.value} ({certificate.suite.curve.name})",
        f"subject:       {certificate.subject}",
        f"issuer:        {certificate.issuer}",
        f"certificate:   {certificate.encoded.hex()}",
    ]
    if certificate.suite is CryptoSuite.SUITE_2:
        expires = "never" if certificate.expires_at is None else str(certificate.expires_at)
        lines += [
            f"serial:        {certificate.serial:#018x}",
            f"valid from:    {certificate.valid_from} (Unix time)",
            f"expires:       {expires}",
            f"key usage:     {certificate.key_usage:#04x}",
        ]
    return lines


def _suites(values: tuple[str, ...]) -> list[CryptoSuite]:
    return [CryptoSuite(int(v)) for v in sorted(set(values))] if values else list(CryptoSuite)
