"""A bench's GBCS key set: the supplier's and the access control broker's keys, and the simulated devices' own.

A GBCS command that changes a device (CS06 Activate Firmware) is signed by the supplier's Digital Signing (DS) key
and MAC'd under the Key Agreement (KA) keys of the DCC's access control broker (ACB) and the device; a device's
answer is signed by the device's DS key or MAC'd under its KA key and the ACB's [GBCS section 4; the RTDS README,
tests/gbcs/rtds/README.md]. On a bench all of them are test keys, kept in one directory laid out as the DCC's RTDS
keystore lays its keys out (tests/gbcs/rtds/keys/): `<entity id>-<ds|ka>.<key|pem>`, the entity id's 16 hex digits
big-endian in lower case, `.key` an unencrypted PKCS#8 PEM private key (mode 0600), `.pem` an X.509 certificate or
a PEM public key (P-256).

- `new_key_set(directory, supplier_id, acb_id)` (`hubfw gbcs keys new --out DIR`) makes the supplier's DS and KA
  keys and the ACB's KA key, and names who is who in `gbcs-keys.json`; it refuses to overwrite any file.
- The simulated devices keep their own DS and KA keys in the same directory, made on first use
  (`hubfw.gbcs.device_keys.device_ds_key` / `device_ka_key`).
- `GbcsKeys.load(directory)` reads every key in such a directory, and as well the RTDS keystore itself (where only
  the ACB and the supplier have private keys, and the devices certificates): without `gbcs-keys.json` the supplier
  and the ACB are the RTDS's entities unless told otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import zigpy.types as t
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.errors import HubfwError
from hubfw.gbcs.device_keys import device_ds_key, device_ka_key
from hubfw.ota.keys import (
    KeyFileError,
    load_private_key,
    load_public_key,
    new_private_key,
    public_pem,
    write_private_key,
)

DEFAULT_SUPPLIER_ID = bytes.fromhex("90B3D51F30010000")
"""The supplier of the RTDS CS06 and CS08 messages."""
DEFAULT_ACB_ID = bytes.fromhex("90B3D51F30000002")
"""The DCC access control broker of the RTDS messages."""
BENCH_KEYS_DIR = "gbcs-keys"
"""Where a simulated bench keeps its key set, under its state directory (`bench_keys_dir`)."""
MANIFEST = "gbcs-keys.json"
"""Who is who in a key set `new_key_set` made: {"supplier": "<16 hex>", "acb": "<16 hex>"}."""
DS, KA = "ds", "ka"
_NAME = re.compile(r"(?P<entity>[0-9a-fA-F]{16})-(?P<use>ds|ka)\.(?P<kind>key|pem)")


class GbcsKeysError(HubfwError):
    """A GBCS key set that cannot be made or read, or lacks a key asked of it."""


def parse_entity_id(text: str) -> bytes:
    """An entity id from its 16 hex digits (`:` or `-` between octets allowed), big-endian as GBCS carries it."""
    digits = re.sub("[:-]", "", text.strip())
    if not re.fullmatch(r"[0-9a-fA-F]{16}", digits):
        raise GbcsKeysError(f"entity id {text!r} is not 16 hex digits")
    return bytes.fromhex(digits)


def entity_of(eui64: t.EUI64) -> bytes:
    """A device's entity id: its EUI-64 big-endian."""
    return bytes(eui64)[::-1]


def eui64_of(entity: bytes) -> t.EUI64:
    """The EUI-64 whose entity id `entity` is (`entity_of` undone)."""
    return t.EUI64(entity[::-1])


@dataclass(frozen=True)
class GbcsKeys:
    """The keys of one directory: private keys by (entity id, "ds" | "ka"), public keys likewise (every private key's
    public half among them), and which entities are the supplier and the ACB."""

    directory: Path
    supplier_id: bytes = DEFAULT_SUPPLIER_ID
    acb_id: bytes = DEFAULT_ACB_ID
    private_keys: dict[tuple[bytes, str], ec.EllipticCurvePrivateKey] = field(default_factory=dict, repr=False)
    public_keys: dict[tuple[bytes, str], ec.EllipticCurvePublicKey] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, directory: Path, supplier_id: bytes | None = None, acb_id: bytes | None = None) -> GbcsKeys:
        """Every `<entity>-<ds|ka>.<key|pem>` in `directory` (other names are skipped). The supplier and the ACB are
        `supplier_id` / `acb_id` when given, else those `gbcs-keys.json` names, else the RTDS's. GbcsKeysError (one
        line, naming the file) for a file that does not read as a P-256 key, or a `.pem` that is not the `.key`'s
        public half."""
        if not directory.is_dir():
            raise GbcsKeysError(f"no GBCS key directory at {directory}")
        named = _manifest(directory)
        supplier = supplier_id or named.get("supplier", DEFAULT_SUPPLIER_ID)
        acb = acb_id or named.get("acb", DEFAULT_ACB_ID)
        private: dict[tuple[bytes, str], ec.EllipticCurvePrivateKey] = {}
        public: dict[tuple[bytes, str], ec.EllipticCurvePublicKey] = {}
        try:
            paths = sorted(directory.iterdir())
        except OSError as exc:
            raise GbcsKeysError(f"cannot list {directory}: {exc.strerror or exc}") from None
        for path in paths:
            match = _NAME.fullmatch(path.name)
            if match is None:
                continue
            slot = (bytes.fromhex(match["entity"]), match["use"])
            try:
                if match["kind"] == "key":
                    private[slot] = load_private_key(path)
                else:
                    public[slot] = load_public_key(path)
            except KeyFileError as exc:
                raise GbcsKeysError(str(exc)) from None
        for slot, key in private.items():
            if slot in public and _spki(public[slot]) != _spki(key.public_key()):
                raise GbcsKeysError(f"{directory / _file(slot, 'pem')} is not the public half of "
                                    f"{directory / _file(slot, 'key')}")
            public.setdefault(slot, key.public_key())
        return cls(directory, supplier, acb, private, public)

    def private(self, entity: bytes, use: str) -> ec.EllipticCurvePrivateKey:
        """The private `use` ("ds" or "ka") key of `entity`; GbcsKeysError when the directory has none."""
        key = self.private_keys.get((entity, use))
        if key is None:
            raise GbcsKeysError(f"no private {use.upper()} key for {entity.hex()} in {self.directory} "
                                f"(want {_file((entity, use), 'key')})")
        return key

    def public(self, entity: bytes, use: str) -> ec.EllipticCurvePublicKey:
        """The public `use` key of `entity` (from its `.pem`, or its `.key`); GbcsKeysError when there is none."""
        key = self.public_keys.get((entity, use))
        if key is None:
            raise GbcsKeysError(f"no {use.upper()} key or certificate for {entity.hex()} in {self.directory} "
                                f"(want {_file((entity, use), 'pem')})")
        return key

    @property
    def supplier_ds(self) -> ec.EllipticCurvePrivateKey:
        return self.private(self.supplier_id, DS)

    @property
    def supplier_ka(self) -> ec.EllipticCurvePrivateKey:
        return self.private(self.supplier_id, KA)

    @property
    def acb_ka(self) -> ec.EllipticCurvePrivateKey:
        return self.private(self.acb_id, KA)

    def device_keys(self, eui64: t.EUI64) -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
        """A simulated device's (DS, KA) private keys from this directory, made on first use (`device_keys`)."""
        return device_ds_key(self.directory, eui64), device_ka_key(self.directory, eui64)


def bench_keys_dir(state_dir: Path) -> Path:
    """The key set of the simulated bench whose state directory is `state_dir`: `state_dir/gbcs-keys`, the supplier's
    and the ACB's keys and the simulated devices' own. The hub is given the same directory (`serve --gbcs-keys`,
    `--device-certs`; their defaults on `--radio sim`), and `hubfw demo --state DIR` leaves it in DIR."""
    return state_dir / BENCH_KEYS_DIR


def bench_key_set(directory: Path) -> GbcsKeys:
    """The key set in `directory`, its supplier and ACB keys made first when it has none (no `gbcs-keys.json`): what
    a simulated bench starts from. Device keys are made by each device on first use."""
    if not (directory / MANIFEST).exists():
        new_key_set(directory)
    return GbcsKeys.load(directory)


def new_key_set(directory: Path, supplier_id: bytes = DEFAULT_SUPPLIER_ID, acb_id: bytes = DEFAULT_ACB_ID,
                devices: Iterable[t.EUI64] = ()) -> list[Path]:
    """Make a bench key set in `directory` (created if need be): the supplier's DS and KA keys, the ACB's KA key, each
    as `.key` (mode 0600) and `.pem` (public key), `gbcs-keys.json`, and for each of `devices` its DS and KA keys.
    Refuses (GbcsKeysError, nothing written) when any of those files exists already. The files written, in order."""
    if len(supplier_id) != 8 or len(acb_id) != 8:
        raise GbcsKeysError("entity ids are 8 octets")
    if supplier_id == acb_id:
        raise GbcsKeysError("the supplier and the ACB are different entities")
    slots = [(supplier_id, DS), (supplier_id, KA), (acb_id, KA)]
    slots += [(entity_of(eui64), use) for eui64 in devices for use in (DS, KA)]
    if len(set(slots)) != len(slots):
        raise GbcsKeysError("a device has the supplier's or the ACB's entity id, or is named twice")
    paths = [directory / _file(slot, kind) for slot in slots for kind in ("key", "pem")]
    existing = [path for path in [*paths, directory / MANIFEST] if path.exists()]
    if existing:
        raise GbcsKeysError(f"{existing[0]} already exists; refusing to overwrite a key set "
                            f"({len(existing)} file(s) in the way)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for slot in slots:
            key = new_private_key()
            write_private_key(directory / _file(slot, "key"), key)
            (directory / _file(slot, "pem")).write_bytes(public_pem(key.public_key()))
        manifest = {"supplier": supplier_id.hex(), "acb": acb_id.hex()}
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise GbcsKeysError(f"cannot write the key set to {directory}: {exc.strerror or exc}") from None
    return [*paths, directory / MANIFEST]


def _manifest(directory: Path) -> dict[str, bytes]:
    path = directory / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {role: parse_entity_id(data[role]) for role in ("supplier", "acb") if role in data}
    except (OSError, ValueError, TypeError, GbcsKeysError) as exc:
        raise GbcsKeysError(f"{path} does not read as a key set manifest: {exc}") from None


def _file(slot: tuple[bytes, str], kind: str) -> str:
    return f"{slot[0].hex()}-{slot[1]}.{kind}"


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
