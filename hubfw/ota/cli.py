"""`hubfw keys …` and `hubfw image …`: make test keys, build, inspect, sign and verify OTA images."""

from __future__ import annotations

import json
from pathlib import Path

import click
import zigpy.types as t

from hubfw.cli.options import EUI64, json_option
from hubfw.errors import HubfwError
from hubfw.files import replace_file
from hubfw.ota.admission import admit, read_image_file
from hubfw.ota.broken import Break, break_image, broken_image_type, warning
from hubfw.ota.cpl import CentralProductsList
from hubfw.ota.image import DEFAULT_MAX_IMAGE_SIZE, OtaImage, build_image
from hubfw.ota.integrity import check_integrity_code
from hubfw.ota.keys import load_private_key, load_public_keys, write_key_pair
from hubfw.ota.signing import detached_signature, verify_signature
from hubfw.ota.summary import image_summary, summary_lines


class InputFileError(HubfwError):
    """A payload, key or signature file cannot be read."""


class OutputFileError(HubfwError):
    """An output file cannot be written."""


class UnsignedInt(click.ParamType):
    """An unsigned integer of a given width, decimal or 0x-hex (how OTA fields are usually written)."""

    name = "integer"

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(str(value), 0)
            except ValueError:
                self.fail(f"{value!r} is not an integer (decimal or 0x-hex)", param, ctx)
        if not 0 <= number < 1 << self.bits:
            self.fail(f"{value} does not fit in {self.bits} bits", param, ctx)
        return number


U8, U16, U32 = UnsignedInt(8), UnsignedInt(16), UnsignedInt(32)
_FILE_PATH = click.Path(dir_okay=False, path_type=Path)
_MAX_SIZE = click.option(
    "--max-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_IMAGE_SIZE,
    show_default=True,
    help="Largest OTA Upgrade Image accepted, in bytes (GBCS: 750 KB).",
)
_TRUST = click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=_FILE_PATH,
    metavar="KEY.pem",
    help="Trust anchor: manufacturer public key (or certificate) PEM; repeatable.",
)
_SIGNATURE = click.option(
    "--signature",
    "signature_path",
    type=_FILE_PATH,
    metavar="SIG",
    help="Detached manufacturer signature (DER or 64-byte r||s) over OTA header ‖ Manufacturer Image.",
)


@click.group()
def keys() -> None:
    """Manufacturer test keys (ECDSA P-256); the coordinator's Zigbee keys for a sniffer (`export`)."""


@keys.command("new")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--force", is_flag=True, help="Overwrite an existing key pair in DIR.")
def keys_new(out_dir: Path, force: bool) -> None:
    """Write manufacturer-key.pem (private, mode 0600) and manufacturer-pub.pem to DIR."""
    private_path, public_path = write_key_pair(out_dir, overwrite=force)
    click.echo(f"wrote {private_path} (private, keep it secret) and {public_path} (public: give to --trust)")


@click.group()
def image() -> None:
    """Zigbee OTA upgrade images: build, inspect, sign, verify."""


@image.command("build")
@click.option("--manufacturer", required=True, type=U16, help="Manufacturer code, e.g. 0x1234.")
@click.option("--image-type", required=True, type=U16, help="Image type (the CPL model identifier).")
@click.option("--file-version", required=True, type=U32, help="File (firmware) version, e.g. 0x00000020.")
@click.option("--stack-version", type=U16, default=2, show_default=True, help="Zigbee stack version (2 = ZigBee PRO).")
@click.option("--hw-min", type=U16, help="Minimum hardware version (give with --hw-max).")
@click.option("--hw-max", type=U16, help="Maximum hardware version (give with --hw-min).")
@click.option("--header-string", default="", help="Up to 32 bytes of UTF-8 text.")
@click.option("--destination", "--eui64", "destination", type=EUI64,
              help="EUI-64 of the one device this file is for (device-specific file).")
@click.option("--security-credential-version", type=U8, help="Security credential version field.")
@click.option("--sign-key", type=_FILE_PATH, metavar="KEY.pem", help="Embed a manufacturer signature (this key).")
@click.option("--integrity-code", is_flag=True, help="Append a Zigbee image integrity code sub-element (AES-MMO).")
@click.option("--payload", required=True, type=_FILE_PATH, metavar="FILE", help="The Manufacturer Image.")
@click.option("--break", "breaks", multiple=True, type=click.Choice([kind.value for kind in Break]),
              help="Make a deliberately broken test image a device must refuse (repeatable): signature (does not "
                   "verify; needs --sign-key), integrity (wrong integrity code; needs --integrity-code), size (the "
                   "header's total size lies), image-type (the header names image type --image-type + 1).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.ota")
def image_build(
    manufacturer: int,
    image_type: int,
    file_version: int,
    stack_version: int,
    hw_min: int | None,
    hw_max: int | None,
    header_string: str,
    destination: t.EUI64 | None,
    security_credential_version: int | None,
    sign_key: Path | None,
    integrity_code: bool,
    payload: Path,
    breaks: tuple[str, ...],
    output: Path,
) -> None:
    """Build an OTA upgrade image around a Manufacturer Image (or, with --break, a deliberately broken one)."""
    if (hw_min is None) != (hw_max is None):
        raise click.UsageError("give both --hw-min and --hw-max, or neither")
    broken = {Break(name) for name in breaks}
    key = None if sign_key is None else load_private_key(sign_key)
    built = build_image(
        manufacturer_code=manufacturer,
        image_type=broken_image_type(image_type) if Break.IMAGE_TYPE in broken else image_type,
        file_version=file_version,
        payload=_read_input(payload),
        stack_version=stack_version,
        header_string=header_string,
        min_hw_version=hw_min,
        max_hw_version=hw_max,
        destination=destination,
        security_credential_version=security_credential_version,
        sign_key=key,
        integrity_code=integrity_code,
    )
    data = break_image(built, broken, key) if broken else built.to_bytes()
    _write_output(output, data)
    click.echo(f"wrote {output}: {len(data)} bytes, Manufacturer Image SHA-256 {built.manufacturer_image_sha256.hex()}")
    if len(data) > DEFAULT_MAX_IMAGE_SIZE:
        click.echo(
            f"warning: {len(data)} bytes is over the {DEFAULT_MAX_IMAGE_SIZE}-byte GBCS limit; a hub will reject it",
            err=True,
        )
    if broken:
        click.echo(warning(broken), err=True)


@image.command("inspect")
@click.argument("file", type=_FILE_PATH)
@json_option("Print one JSON object.")
@_TRUST
@_SIGNATURE
@_MAX_SIZE
def image_inspect(
    file: Path, as_json: bool, trust_paths: tuple[Path, ...], signature_path: Path | None, max_size: int
) -> None:
    """Show an image: header, sub-elements, hash, signature.

    Every header field, each sub-element (tag, length, offset), the Manufacturer Image SHA-256,
    the manufacturer signature verdict and the image integrity code verdict.
    """
    parsed = OtaImage.parse(read_image_file(file, max_size))
    signature = verify_signature(
        parsed, load_public_keys(trust_paths), None if signature_path is None else _read_input(signature_path)
    )
    integrity = check_integrity_code(parsed)
    if as_json:
        click.echo(json.dumps(image_summary(parsed, signature, integrity), indent=2))
    else:
        click.echo("\n".join(summary_lines(parsed, signature, integrity)))


@image.command("verify")
@click.argument("file", type=_FILE_PATH)
@_TRUST
@_SIGNATURE
@click.option("--cpl", "cpl_path", type=_FILE_PATH, metavar="CPL.toml", help="Central Products List to check against.")
@click.option(
    "--require-signature",
    is_flag=True,
    help="Fail when no signature is verified (implied by --trust and --signature).",
)
@_MAX_SIZE
def image_verify(
    file: Path,
    trust_paths: tuple[Path, ...],
    signature_path: Path | None,
    cpl_path: Path | None,
    require_signature: bool,
    max_size: int,
) -> None:
    """Run the GBCS admission checks on an image.

    One line per check (PASS / FAIL / SKIP) on stdout; exit 0 only when every requested check
    passes, else one error line on stderr naming each failed check and its reason.
    """
    report = admit(
        read_image_file(file, max_size),
        max_size=max_size,
        trust=load_public_keys(trust_paths),
        detached_signature=None if signature_path is None else _read_input(signature_path),
        cpl=None if cpl_path is None else CentralProductsList.load(cpl_path),
        require_signature=require_signature or bool(trust_paths) or signature_path is not None,
    )
    for check in report.checks:
        click.echo(check.line())
    report.raise_if_rejected()


@image.command("sign")
@click.argument("file", type=_FILE_PATH)
@click.option("--key", "key_path", required=True, type=_FILE_PATH, metavar="KEY.pem")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="SIG")
@_MAX_SIZE
def image_sign(file: Path, key_path: Path, output: Path, max_size: int) -> None:
    """Write a detached signature for an image.

    DER ECDSA P-256/SHA-256 over FILE's OTA header ‖ Manufacturer Image, as `openssl dgst -sign` makes.
    """
    signature = detached_signature(OtaImage.parse(read_image_file(file, max_size)), load_private_key(key_path))
    _write_output(output, signature)
    click.echo(f"wrote {output}: {len(signature)}-byte DER ECDSA P-256/SHA-256 signature")


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write_output(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a failure never leaves a half-written output."""
    try:
        replace_file(path, data, 0o644)
    except OSError as exc:
        raise OutputFileError(f"cannot write {path}: {exc.strerror or exc}") from None
