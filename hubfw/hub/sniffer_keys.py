"""Keys for a sniffer: the coordinator's keys, labelled, in Wireshark's "Pre-configured Keys" table.

`hubfw keys export --wireshark FILE` asks the serving hub (control verb `keys_export`), which reads the keys
from the NCP there and then (`hubfw.radio.ncp_keys`; the hub keeps none on disk) and labels them with what it
knows: which key-table entries are CBKE keys and of which suite (`hubfw.hub.link_keys`), which device each
belongs to. The CLI writes them as Wireshark's UAT file `zigbee_pc_keys`, which Wireshark reads from its
personal configuration directory (or one line of it at a time with `tshark -o "uat:zigbee_pc_keys:LINE"`).

The format, from Wireshark's ZigBee security dissector (wireshark/wireshark epan/dissectors/packet-zbee-security.c,
now epan/dissectors/zigbee/packet-zbee-security.c: `uat_new("Pre-configured Keys", ..., "zigbee_pc_keys", ...)`
with the fields `key` (a string), `byte_order` (a value string, "Normal" = 0 or "Reverse" = 1) and `label`), one
record a line, each field double-quoted, separated by commas:

    "<32 hex digits>","Normal","<label>"

`zbee_security_parse_key` fills the key from its first byte up for "Normal" (from its last byte down for
"Reverse"): with "Normal" the first hex pair is the key's first byte, the order a key travels in on air (a
Transport-Key command) and the order EZSP's `EmberKeyData` carries it in. Text fields are written as Wireshark
writes them (epan/uat.c `uat_esc`): a double quote, a backslash or a character that is not printable ASCII
becomes `\\xNN`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import zigpy.types as t

from hubfw.errors import HubfwError
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.radio.ncp_keys import KeyKind, NcpKey

BYTE_ORDER = "Normal"
FILE_MODE = 0o600
ANY_DEVICE = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
UAT_TABLE = "zigbee_pc_keys"


class KeyExportError(HubfwError):
    """The keys file cannot be written (it exists already, or the directory refuses it)."""


def label_keys(keys: Iterable[NcpKey], coordinator: t.EUI64, cbke: LinkKeyRegistry | None,
               devices: Mapping[t.EUI64, str]) -> list[dict[str, Any]]:
    """Each key as `NcpKey.to_json` gives it plus a `label` naming the device and the kind of key.

    `cbke` says which key-table entries the hub made by CBKE (and with which suite); `devices` gives a short
    description (NWK address, model) of each device the hub knows."""
    labelled = []
    for key in keys:
        labelled.append({**key.to_json(), "label": _label(key, coordinator, cbke, devices)})
    return labelled


def _label(key: NcpKey, coordinator: t.EUI64, cbke: LinkKeyRegistry | None, devices: Mapping[t.EUI64, str]) -> str:
    if key.kind is KeyKind.NETWORK:
        sequence = "" if key.sequence is None else f", sequence {key.sequence}"
        return f"hubfw network key{sequence} (coordinator {coordinator})"
    if key.kind is KeyKind.TRUST_CENTRE_LINK:
        return (f"hubfw trust-centre link key of coordinator {coordinator} (with hashed link keys, the root "
                f"hashed with each device's EUI-64)")
    device = _device(key.eui64, devices)
    if key.kind is KeyKind.TRANSIENT:
        left = "" if key.ttl_s is None else f", {key.ttl_s} s left"
        if key.eui64 == ANY_DEVICE:
            return f"hubfw transient join key for any device{left}"
        return f"hubfw install-code link key (transient join key{left}) of {device}"
    suite = None if cbke is None or key.eui64 is None else cbke.suite(key.eui64)
    if suite is not None:
        return f"hubfw CBKE link key (suite {suite.value}, key table entry {key.index}) of {device}"
    where = "" if key.index is None else f" (key table entry {key.index})"
    return f"hubfw link key{where} of {device}"


def _device(eui64: t.EUI64 | None, devices: Mapping[t.EUI64, str]) -> str:
    if eui64 is None:
        return "an unknown device"
    described = devices.get(eui64)
    return str(eui64) if not described else f"{eui64} ({described})"


def uat_escape(text: str) -> str:
    """A UAT string field's contents as Wireshark writes them (`uat_esc`)."""
    return "".join(
        f"\\x{byte:02x}" if byte in (0x22, 0x5C) or not 0x20 <= byte < 0x7F else chr(byte)
        for byte in text.encode("utf-8")
    )


def wireshark_line(key_hex: str, label: str) -> str:
    """One `zigbee_pc_keys` record: the key as 32 hex digits, first byte first ("Normal"), and its label."""
    key = bytes.fromhex(key_hex)
    if len(key) != 16:
        raise KeyExportError(f"not a 128-bit key: {key_hex!r}")
    return f'"{key.hex()}","{BYTE_ORDER}","{uat_escape(label)}"'


def wireshark_text(keys: Iterable[Mapping[str, Any]]) -> str:
    """The whole file: one line per key, in the order given."""
    return "".join(wireshark_line(key["key"], key["label"]) + "\n" for key in keys)


def write_private_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 and `text` in it; an existing file (or link) is never overwritten."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        raise KeyExportError(f"{path} exists already: refusing to overwrite it (remove it or name another)") from None
    except OSError as exc:
        raise KeyExportError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(descriptor, FILE_MODE)  # whatever the umask took away or added
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            descriptor = -1
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        if descriptor >= 0:
            os.close(descriptor)
        raise KeyExportError(f"cannot write {path}: {exc.strerror or exc}") from None


async def coordinator_keys(app: Any, cbke: LinkKeyRegistry | None) -> dict[str, Any]:
    """What the control verb `keys_export` answers: the coordinator's EUI-64 and every key its radio holds, read
    from it now and labelled. `app` is the hub's started radio (`OtaRadio`)."""
    export = getattr(app, "export_keys", None)
    if export is None:
        raise KeyExportError("this radio cannot export its keys")
    try:
        keys = await export()
    except HubfwError:
        raise
    except Exception as exc:  # bellows' InvalidCommandError, a timeout: one line, not a traceback
        raise KeyExportError(f"the coordinator did not give its keys: {type(exc).__name__}: {exc}") from None
    coordinator = app.state.node_info.ieee
    devices = {ieee: _description(device) for ieee, device in app.devices.items() if ieee != coordinator}
    return {"coordinator": str(coordinator), "keys": label_keys(keys, coordinator, cbke, devices)}


def _description(device: Any) -> str:
    parts = [f"NWK 0x{int(device.nwk):04X}"]
    if getattr(device, "model", None):
        parts.append(str(device.model))
    return ", ".join(parts)
