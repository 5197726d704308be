"""Vendor credential sheets: the text a CA or chip vendor hands out with Smart Energy test certificates.

What the sheets look like, and so which labels are read, comes from the public parsers of them:

- zsmartsystems' ``CerticomCbkeCertificate`` (com.zsmartsystems.zigbee, "cut and paste from the Certicom
  website") and its test ``CerticomCbkeCertificateTest``: ``CA Pub Key:``, ``Device Implicit Cert:``,
  ``Private Key Reconstruction Data:``, ``Device Public Key:``, each label on its own line with the hex on
  the next; the suite told apart by the sizes 22/48/21 (suite 1) and 37/74/36 (suite 2) bytes; and the
  ``Private Key Reconstruction Data`` taken as the device's private key — which is what it is on those
  sheets: Certicom's test CA made the key pair (the request's public key is optional, Digi's forum thread
  "Profile attribute data for SE certificate"), and for the published Certicom certificates (in
  tests/cbke/vectors.py) that value times G is the Device Public Key the certificate reconstructs to.
- TI's Z-Stack Linux gateway (``zbSocCmd.c``, ``zbSocInitiateCertInstall``): ``IEEE Address:``,
  ``Device Implicit Cert:``, ``CA Pub Key:``, ``Device Private Key:``, value on the label's line, the
  IEEE address written most significant byte first (as hubfw writes EUI-64s).
- Silicon Labs AN708 ("Setting Smart Energy Certificates for Zigbee Devices"): the components — CA public
  key, implicit certificate, private key — must all match one another, which is checked here (ECQV).

So a label is one of `LABELS` (any case; spaces, ``_`` or ``-`` between words; ``CA Public Key`` or
``CA Pub Key``; an optional ``(…)`` after it, e.g. ``(283k1)``), then ``:``, ``=`` or nothing (then the rest
of the line must be hex or nothing: "Private key must be kept secret" is prose), then the value on the same
line and/or the lines after it (hex, any case, bytes run together or split by spaces, colons,
commas or dashes, ``0x`` prefixes allowed). Other lines are ignored. ``Device Private Key`` wins over
``Private Key Reconstruction Data`` when a sheet has both (then the latter is ECQV's r, not the key).
"""

from __future__ import annotations

import re
from pathlib import Path

import zigpy.types as t

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecqv import reconstruct_public_key
from hubfw.cbke.errors import CbkeError, CredentialsFileError
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64

CA_PUBLIC_KEY = "CA Public Key"
CERTIFICATE = "Device Implicit Cert"
PRIVATE_KEY = "Device Private Key"
RECONSTRUCTION_DATA = "Private Key Reconstruction Data"
PUBLIC_KEY = "Device Public Key"
IEEE_ADDRESS = "IEEE Address"

LABELS: dict[str, tuple[str, ...]] = {
    CA_PUBLIC_KEY: ("CA Public Key", "CA Pub Key", "CA Pubkey", "CA Key"),
    CERTIFICATE: ("Device Implicit Cert", "Device Implicit Certificate", "Implicit Cert", "Implicit Certificate"),
    PRIVATE_KEY: ("Device Private Key", "Private Key"),
    RECONSTRUCTION_DATA: ("Private Key Reconstruction Data",),
    PUBLIC_KEY: ("Device Public Key", "Public Key"),
    IEEE_ADDRESS: ("IEEE Address", "IEEE Addr", "IEEE", "EUI64", "EUI-64"),
}
"""Each field (its name in messages) and the spellings of its label."""

_SEPARATORS = r"[\s:,\-]"
_HEX_LINE = re.compile(rf"^(?:{_SEPARATORS}|0[xX](?=[0-9a-fA-F])|[0-9a-fA-F])*$")


def _spellings() -> list[tuple[str, str]]:
    """(spelling, field), longest spelling first so that `Private Key Reconstruction Data` is not read as
    `Private Key` followed by text."""
    return sorted(((spelling, field) for field, names in LABELS.items() for spelling in names),
                  key=lambda item: -len(item[0]))


def _label_pattern() -> re.Pattern[str]:
    alternatives = []
    for index, (spelling, _field) in enumerate(_spellings()):
        words = r"[ \t_-]*".join(re.escape(word) for word in re.split(r"[\s-]+", spelling))
        alternatives.append(f"(?P<l{index}>{words})")
    pattern = (rf"^\s*(?:{'|'.join(alternatives)})(?![0-9A-Za-z])"
               r"(?:\s*\([^)]*\))?\s*(?P<separator>[:=]?)[ \t]*(?P<rest>.*)$")
    return re.compile(pattern, re.IGNORECASE)


_LABEL = _label_pattern()
_FIELD_OF_GROUP = {f"l{index}": field for index, (_spelling, field) in enumerate(_spellings())}


class CredentialSheetError(CredentialsFileError):
    """A vendor credential sheet lacks a value, holds a malformed one, or its values do not fit together."""


def read_sheet_values(text: str, source: str) -> dict[str, bytes]:
    """Every labelled value in `text` by field name (see `LABELS`), decoded from hex; `source` names the
    sheet in errors. A field given twice must have the same value both times."""
    found: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _LABEL.match(line)
        if match is not None and not match.group("separator") and not _HEX_LINE.match(match.group("rest")):
            match = None  # prose that begins with a label's words ("Private key must be kept secret")
        if match is not None:
            group = next(name for name, value in match.groupdict().items()
                         if name.startswith("l") and value is not None)
            current = [match.group("rest").strip()]
            found.setdefault(_FIELD_OF_GROUP[group], []).append(current)
        elif current is None:
            continue
        elif not line.strip():
            if any(current):
                current = None  # a blank line ends a value that has begun
        elif _HEX_LINE.match(line):
            current.append(line.strip())
        else:
            current = None  # a line of other text ends the value
    decoded: dict[str, bytes] = {}
    for field, occurrences in found.items():
        values = {_decode_hex(" ".join(parts), field, source) for parts in occurrences}
        if len(values) > 1:
            raise CredentialSheetError(
                f"{source} holds {len(values)} different {field} values: give the sheet of one device and suite"
            )
        decoded[field] = values.pop()
    return decoded


def _decode_hex(text: str, field: str, source: str) -> bytes:
    tokens = [token[2:] if token[:2].lower() == "0x" else token
              for token in re.split(rf"{_SEPARATORS}+", text) if token]
    digits = "".join(tokens)
    if not digits:
        raise CredentialSheetError(f"the {field} in {source} has no value")
    if not re.fullmatch(r"[0-9a-fA-F]*", digits):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise CredentialSheetError(f"the {field} in {source} is not hex: {shown!r}")
    if len(digits) % 2:
        raise CredentialSheetError(f"the {field} in {source} has an odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def credentials_from_sheet(text: str, source: str, coordinator: t.EUI64 | None = None) -> DeviceCredentials:
    """The credentials a sheet describes, checked: sizes, the key pair against the certificate (ECQV), the
    IEEE Address and Device Public Key when given, and the subject against `coordinator` when given."""
    values = read_sheet_values(text, source)
    private_field = PRIVATE_KEY if PRIVATE_KEY in values else RECONSTRUCTION_DATA
    missing = [field for field in (CA_PUBLIC_KEY, CERTIFICATE, private_field) if field not in values]
    if missing:
        names = [PRIVATE_KEY if field == RECONSTRUCTION_DATA else field for field in missing]
        raise CredentialSheetError(f"no {' or '.join(names)} in {source}")

    suite = CryptoSuite.for_certificate_length(len(values[CERTIFICATE]))
    if suite is None:
        raise CredentialSheetError(
            f"{source}: the {CERTIFICATE} is {len(values[CERTIFICATE])} bytes: want 48 (suite 1) or 74 (suite 2)"
        )
    expected = {CA_PUBLIC_KEY: suite.point_length, private_field: suite.private_key_length,
                PUBLIC_KEY: suite.point_length, IEEE_ADDRESS: 8}
    for field, length in expected.items():
        if field in values and len(values[field]) != length:
            raise CredentialSheetError(
                f"{source}: the {field} is {len(values[field])} bytes: want {length}"
                + ("" if field == IEEE_ADDRESS else
                   f" for suite {suite.value} (the {CERTIFICATE} is {suite.certificate_length} bytes)")
            )

    try:
        certificate = ImplicitCertificate.parse(values[CERTIFICATE], suite)
        ca_public_key = suite.curve.decode_point(values[CA_PUBLIC_KEY])
        key = KeyPair.from_bytes(suite, values[private_field])
        reconstructed = reconstruct_public_key(certificate, ca_public_key)
    except CbkeError as exc:
        raise CredentialSheetError(f"{source}: {exc}") from None

    if key.public != reconstructed:
        raise CredentialSheetError(_mismatch(source, private_field, values.get(PUBLIC_KEY), key))
    if PUBLIC_KEY in values and values[PUBLIC_KEY] != reconstructed.encode():
        raise CredentialSheetError(
            f"{source}: the {PUBLIC_KEY} is not the key the certificate and private key give "
            f"({reconstructed.encode().hex()})"
        )
    if IEEE_ADDRESS in values:
        ieee = parse_eui64(values[IEEE_ADDRESS].hex())
        if ieee != certificate.subject:
            raise CredentialSheetError(
                f"{source}: the {IEEE_ADDRESS} {ieee} is not the certificate's subject {certificate.subject}"
            )
    if coordinator is not None and certificate.subject != coordinator:
        raise CredentialSheetError(
            f"{source}: the certificate is for {certificate.subject}, not the coordinator {coordinator}"
        )
    return DeviceCredentials(certificate, key, ca_public_key)


def _mismatch(source: str, private_field: str, public_key: bytes | None, key: KeyPair) -> str:
    """Why the private key's public key is not the one the certificate reconstructs to, as far as the sheet
    can tell."""
    if public_key is not None and public_key == key.public_bytes():
        return (f"{source}: the CA Public Key is not that of the CA that issued the certificate "
                f"(the {PUBLIC_KEY} fits the private key, but the certificate reconstructs to another key)")
    message = f"{source}: the private key does not belong to the certificate"
    if private_field == RECONSTRUCTION_DATA:
        message += (f" (no {PRIVATE_KEY} given; the {RECONSTRUCTION_DATA} is the private key only when the "
                    "CA made the key pair)")
    return message


def import_sheet(path: Path, coordinator: t.EUI64 | None = None) -> DeviceCredentials:
    """Read and check the sheet at `path` (see `credentials_from_sheet`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CredentialSheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CredentialSheetError(f"{path} is not a text file") from None
    return credentials_from_sheet(text, str(path), coordinator)
