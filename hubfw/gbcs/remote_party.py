"""The remote parties' side of CS06 Activate Firmware and CS08 Read PPMID/HCALCS Firmware Version: the commands a
supplier and the DCC's access control broker (ACB) send a device, and the checks of the device's answer.

On a bench hubfw stands in for both with a bench key set (`hubfw.gbcs.bench_keys`), and builds each command as the
DCC's Reference Test Data Set has it (tests/gbcs/rtds/README.md; `hubfw.gbcs.device_commands` is the device's side):

- **CS06** (message code 0x0012): a General-Signing Command (CRA 1) from the supplier to the device, no date-time, no
  supplementary party, content `SEQUENCE { manufacturerImageHash, originatorCounter }` repeating the transaction's
  counter; signed by the supplier's DS key, then MAC'd under the ACB's KA key and the device's. The answer is a bare
  General-Signing Response (CRA 2) with the same counter, from the device to the supplier, signed by the device's DS
  key, content `SEQUENCE { responseCode, firmwareVersion }`.
- **CS08** (message code 0x0129): a General-Signing Command from the ACB to the device, supplementary remote party
  the supplier with the supplier's counter, content NULL, unsigned, MAC'd as CS06. The answer is a Response with
  the same counter and supplementary party, content `SEQUENCE { firmwareVersion, responseCode }`, unsigned, MAC'd
  under the device's KA key and the ACB's.

A device discards a command whose originator counter is not above the last it accepted from that originator (GBCS
section 4, replay protection), so the counters here strictly increase, per originator, and survive restarts
(`OriginatorCounters` with a file: the new value is on disk before the command that carries it exists).

An answer is matched to its command by device, CRA flag, message code, counter and parties; its MAC and signature
are then checked, and an answer that fails them is reported as such, not dropped (on a bench a failing check is
what the engineer needs to see). `describe` decodes any GBCS message seen in a tunnel for `hubfw tunnel messages`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfw.errors import HubfwError
from hubfw.files import replace_file
from hubfw.gbcs.alert_content import FirmwareActivationAlert
from hubfw.gbcs.bench_keys import DS, KA, GbcsKeys, GbcsKeysError
from hubfw.gbcs.ciphering import MacedMessage, check_mac, seal, unwrap
from hubfw.gbcs.device_commands import ActivationCode, ReadVersionCode
from hubfw.gbcs.firmware_content import (
    ActivateFirmwareCommand,
    ActivateFirmwareResponse,
    ReadFirmwareVersionCommand,
    ReadFirmwareVersionResponse,
)
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, GeneralSigning, MessageCode
from hubfw.gbcs.signing import sign, verify

CS06, CS08 = "CS06", "CS08"
VALID, INVALID, UNCHECKED = "valid", "invalid", "unchecked"
"""What a check of a MAC or a signature found; `unchecked` when the key it needs is not in the key set."""


class RemotePartyError(HubfwError):
    """A command that cannot be built: a key missing from the bench key set, a counter file that cannot be kept."""


class OriginatorCounters:
    """Each originator's last originator counter; the next is `max(last + 1, clock in ms)`, so counters stay above
    any a device saw even when the record of them is lost (as long as fewer than 1000 go out a second).

    With `path` the record is a JSON file `{"<originator hex>": last}`, written whole (temporary file, fsync,
    rename) before a counter is handed out: a command built after a crash never reuses a counter."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.last: dict[bytes, int] = {} if path is None else _read_counters(path)

    def next(self, originator: bytes, now: float) -> int:
        counter = max(self.last.get(originator, 0) + 1, int(now * 1000))
        self.last[originator] = counter
        if self.path is not None:
            _write_counters(self.path, self.last)
        return counter


@dataclass(frozen=True)
class IssuedCommand:
    """One command on its way to a device: which, to whom, the GBCS message as it goes through the tunnel."""

    kind: str
    device: bytes
    """The device's entity id (its EUI-64 big-endian)."""
    message: bytes
    originator: bytes
    originator_counter: int
    image_hash: bytes | None = None
    """CS06: the Manufacturer Image hash the device is to activate."""

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"command": self.kind, "originator": self.originator.hex().upper(),
                                 "originator_counter": self.originator_counter, "command_message": self.message.hex()}
        if self.image_hash is not None:
            shown["manufacturer_image_sha256"] = self.image_hash.hex()
        return shown


@dataclass(frozen=True)
class CommandOutcome:
    """A device's answer to an `IssuedCommand`, checked: its response code (by name too), the firmware version it
    reports, and what the MAC and signature checks found (None where the message carries neither)."""

    command: IssuedCommand
    response: bytes
    code: int
    code_name: str
    firmware_version: int
    mac: str | None
    signature: str | None

    @property
    def authentic(self) -> bool:
        """Every check the answer is due passed."""
        return INVALID not in (self.mac, self.signature) and UNCHECKED not in (self.mac, self.signature)

    @property
    def succeeded(self) -> bool:
        return self.authentic and self.code == 0

    def to_json(self) -> dict[str, Any]:
        return {**self.command.to_json(), "response_message": self.response.hex(), "response_code": self.code,
                "response_code_name": self.code_name, "firmware_version": f"0x{self.firmware_version:08X}",
                "mac": self.mac, "signature": self.signature, "authentic": self.authentic}


class RemoteParty:
    """The supplier and the ACB of one bench key set, with their originator counters.

    `keys` is re-read (`reload`) when a device's key is asked for and missing: simulated devices make theirs in the
    same directory on first use, after the hub has started."""

    def __init__(self, keys: GbcsKeys, counters: OriginatorCounters,
                 reload: Callable[[], GbcsKeys] | None = None) -> None:
        self.keys = keys
        self.counters = counters
        self._reload = reload

    @classmethod
    def from_directory(cls, directory: Path, counters: OriginatorCounters) -> RemoteParty:
        """A key set directory (`hubfw gbcs keys new`, or the RTDS keystore layout), re-read when a key is missing."""
        return cls(GbcsKeys.load(directory), counters, lambda: GbcsKeys.load(directory))

    def reload(self) -> GbcsKeys:
        """The key set read again (when it came from a directory): keys made since are in it."""
        if self._reload is not None:
            self.keys = self._reload()
        return self.keys

    def keys_covering(self, devices: Iterable[bytes]) -> GbcsKeys:
        """The key set, read again once when it lacks the public DS or KA key of one of `devices` (simulated devices
        make theirs after the hub started): a directory is not re-read for every message checked."""
        if any((device, use) not in self.keys.public_keys for device in devices for use in (DS, KA)):
            self.reload()
        return self.keys

    def activate(self, device: bytes, image_hash: bytes, now: float) -> IssuedCommand:
        """CS06 to `device` for the image with Manufacturer Image hash `image_hash`, as the RTDS builds it."""
        keys = self._keys_for(device, KA)
        supplier_ds, acb_ka, device_ka = keys.supplier_ds, keys.acb_ka, keys.public(device, KA)
        counter = self.counters.next(keys.supplier_id, now)
        try:
            content = ActivateFirmwareCommand(image_hash, counter).der()
        except GbcsFramingError as exc:
            raise RemotePartyError(f"cannot build CS06: {exc}") from None
        inner = GeneralSigning(CraFlag.COMMAND, counter, keys.supplier_id, device, MessageCode.CS06_ACTIVATE_FIRMWARE,
                               content)
        message = seal(sign(inner, supplier_ds), acb_ka, device_ka)
        return IssuedCommand(CS06, device, message, keys.supplier_id, counter, image_hash)

    def read_version(self, device: bytes, now: float) -> IssuedCommand:
        """CS08 to `device` from the ACB, on behalf of the supplier (its supplementary remote party), as the RTDS."""
        keys = self._keys_for(device, KA)
        acb_ka, device_ka = keys.acb_ka, keys.public(device, KA)
        supplier_counter = self.counters.next(keys.supplier_id, now)
        counter = self.counters.next(keys.acb_id, now)
        inner = GeneralSigning(CraFlag.COMMAND, counter, keys.acb_id, device, MessageCode.CS08_READ_FIRMWARE_VERSION,
                               ReadFirmwareVersionCommand().der(), supplementary_party=keys.supplier_id,
                               supplementary_counter=supplier_counter)
        return IssuedCommand(CS08, device, seal(inner, acb_ka, device_ka), keys.acb_id, counter)

    def answer(self, command: IssuedCommand, message: bytes) -> CommandOutcome | None:
        """The checked outcome when `message` is the device's response to `command`; None when it is another
        message (another transaction, an alert, something that does not parse)."""
        try:
            maced, signed = unwrap(message)
        except GbcsFramingError:
            return None
        code = MessageCode.CS06_ACTIVATE_FIRMWARE if command.kind == CS06 else MessageCode.CS08_READ_FIRMWARE_VERSION
        if (signed.cra, signed.message_code, signed.originator_counter, signed.originator, signed.target) != (
                CraFlag.RESPONSE, code, command.originator_counter, command.device, command.originator):
            return None
        try:
            if command.kind == CS06:
                activated = ActivateFirmwareResponse.from_der(signed.content)
                number, version = activated.response_code, activated.firmware_version
                name = _name(ActivationCode, number)
            else:
                read = ReadFirmwareVersionResponse.from_der(signed.content)
                number, version = read.response_code, read.firmware_version
                name = _name(ReadVersionCode, number)
        except GbcsFramingError:
            return None
        mac, signature = self._checks(command, maced, signed)
        return CommandOutcome(command, message, number, name, int.from_bytes(version, "big"), mac, signature)

    def _checks(self, command: IssuedCommand, maced: MacedMessage | None,
                signed: GeneralSigning) -> tuple[str | None, str | None]:
        """CS06's answer: signed by the device (RTDS), no MAC; CS08's: MAC'd, unsigned."""
        if command.kind == CS06:
            if maced is not None:
                return INVALID, _signature(self, command.device, maced.signed)
            return None, _signature(self, command.device, signed)
        if maced is None:
            return INVALID, None
        try:
            keys = self._keys_for(command.device, KA)
            valid = check_mac(maced, keys.acb_ka, keys.public(command.device, KA))
        except RemotePartyError:  # the device's KA key or the ACB's has gone from the key set since the command
            return UNCHECKED, None
        return (VALID if valid else INVALID), (None if signed.signature is None else INVALID)

    def _keys_for(self, device: bytes, use: str) -> GbcsKeys:
        """The key set, re-read once when it lacks `device`'s public `use` key; RemotePartyError for a missing
        supplier or ACB private key (one line, naming the file wanted)."""
        if (device, use) not in self.keys.public_keys:
            self.reload()
        try:
            self.keys.public(device, use)
            self.keys.acb_ka  # noqa: B018 - raises naming the file when the ACB's key is missing
        except GbcsKeysError as exc:
            raise RemotePartyError(str(exc)) from None
        return self.keys


def describe(message: bytes, keys: GbcsKeys | None = None) -> dict[str, Any]:
    """A GBCS message decoded for people: MAC'd or not, CRA, counter, parties, message code and, for the firmware
    messages hubfw knows, the content; with `keys` the signature is checked against the originator's DS key and a
    MAC against the ACB's and the device's KA keys. `{"error": ...}` for octets that are not one GBCS message."""
    try:
        maced, signed = unwrap(message)
    except GbcsFramingError as exc:
        return {"error": str(exc)}
    shown: dict[str, Any] = {
        "mac": None if maced is None else UNCHECKED, "cra": CraFlag(signed.cra).name.lower(),
        "originator_counter": signed.originator_counter, "originator": signed.originator.hex().upper(),
        "target": signed.target.hex().upper(), "message_code": f"0x{signed.message_code:04X}",
        "message": _MESSAGE_NAMES.get(signed.message_code), "content": _content(signed),
        "signature": None if signed.signature is None else UNCHECKED,
    }
    if keys is not None:
        if signed.signature is not None:
            signer = keys.public_keys.get((signed.originator, DS))
            shown["signature"] = UNCHECKED if signer is None else (VALID if verify(signed, signer) else INVALID)
        if maced is not None:
            shown["mac"] = _mac(keys, maced, signed)
    return shown


_MESSAGE_NAMES = {MessageCode.CS06_ACTIVATE_FIRMWARE: "CS06 Activate Firmware",
                  MessageCode.CS08_READ_FIRMWARE_VERSION: "CS08 Read PPMID/HCALCS Firmware Version",
                  MessageCode.FIRMWARE_ACTIVATION_ALERT: "0x8F8B Firmware Activation Alert"}


def _content(signed: GeneralSigning) -> dict[str, Any] | None:
    """The firmware messages' contents, by CRA and message code; None for anything else or what does not decode."""
    try:
        if signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE and signed.cra == CraFlag.COMMAND:
            command = ActivateFirmwareCommand.from_der(signed.content)
            return {"manufacturer_image_sha256": command.image_hash.hex(),
                    "originator_counter": command.originator_counter}
        if signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE and signed.cra == CraFlag.RESPONSE:
            activated = ActivateFirmwareResponse.from_der(signed.content)
            return {"response_code": activated.response_code,
                    "response_code_name": _name(ActivationCode, activated.response_code),
                    "firmware_version": f"0x{activated.firmware_version.hex().upper()}"}
        if signed.message_code == MessageCode.CS08_READ_FIRMWARE_VERSION and signed.cra == CraFlag.COMMAND:
            ReadFirmwareVersionCommand.from_der(signed.content)
            return {}
        if signed.message_code == MessageCode.CS08_READ_FIRMWARE_VERSION and signed.cra == CraFlag.RESPONSE:
            read = ReadFirmwareVersionResponse.from_der(signed.content)
            return {"firmware_version": f"0x{read.firmware_version.hex().upper()}", "response_code": read.response_code,
                    "response_code_name": _name(ReadVersionCode, read.response_code)}
        if signed.message_code == MessageCode.FIRMWARE_ACTIVATION_ALERT:
            alert = FirmwareActivationAlert.from_der(signed.content)
            return {"alert_code": f"0x{alert.alert_code:04X}", "execution_time": alert.execution_time.isoformat(),
                    "firmware_version": f"0x{alert.firmware_version.hex().upper()}", "outcome": alert.outcome}
    except GbcsFramingError:
        return None
    return None


def _mac(keys: GbcsKeys, maced: MacedMessage, signed: GeneralSigning) -> str:
    """A command's MAC is the ACB's with the target device's KA key; a response's, the originator device's."""
    device = signed.target if signed.cra == CraFlag.COMMAND else signed.originator
    device_ka = keys.public_keys.get((device, KA))
    acb_ka = keys.private_keys.get((keys.acb_id, KA))
    if device_ka is None or acb_ka is None:
        return UNCHECKED
    return VALID if check_mac(maced, acb_ka, device_ka) else INVALID


def _signature(party: RemoteParty, device: bytes, signed: GeneralSigning) -> str:
    if signed.signature is None:
        return INVALID
    try:
        signer = party._keys_for(device, DS).public(device, DS)
    except RemotePartyError:
        return UNCHECKED
    return VALID if verify(signed, signer) else INVALID


def _name(codes: type[ActivationCode] | type[ReadVersionCode], number: int) -> str:
    return codes(number).name if number in codes._value2member_map_ else f"code {number}"


def _read_counters(path: Path) -> dict[bytes, int]:
    if not path.exists():
        return {}
    try:
        return {bytes.fromhex(originator): int(last) for originator, last in json.loads(path.read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise RemotePartyError(f"{path} does not read as originator counters: {exc}") from None


def _write_counters(path: Path, last: dict[bytes, int]) -> None:
    record = {originator.hex(): counter for originator, counter in sorted(last.items())}
    try:
        replace_file(path, json.dumps(record, indent=2).encode("ascii"), 0o644)
    except OSError as exc:
        raise RemotePartyError(f"cannot keep the originator counters in {path}: {exc.strerror or exc}") from None
