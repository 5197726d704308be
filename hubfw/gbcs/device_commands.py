"""A device's side of the GBCS firmware commands CS06 (Activate Firmware) and CS08 (Read PPMID/HCALCS Firmware
Version): check what arrives through the tunnel, and make the answer, as the DCC's Reference Test Data Set has both.

What a device checks of a command, in this order; any failure refuses it (`CommandRefused`), and a refused command
gets no answer (see below):

1. it is a General-Ciphering message with a MAC header around a General-Signing Command (CRA flag 1) addressed to
   this device (business target id), message code 0x0012 or 0x0129;
2. the MAC: the key from ECDH of the device's private Key Agreement (KA) key and the ACB's public one
   (`hubfw.gbcs.ciphering`, the RTDS README "General-Ciphering with a MAC");
3. CS06: the business originator is the device's supplier and the message carries the supplier's signature, checked
   against its Digital Signing (DS) key; CS08: the business originator is the ACB (the RTDS CS08: originator
   90B3D51F30000002, supplementary remote party the supplier);
4. the originator counter is strictly greater than the last one this device accepted from that originator (GBCS
   section 4, replay protection: a replayed or lower counter is refused), kept per business originator;
5. the content is the command's DER (`hubfw.gbcs.firmware_content`).

Only a command that passes all five moves the counter on. What the device then does (activate, or not) is the
device's business; this module makes the response:

- CS06 response: a bare General-Signing Response (CRA 2) with the command's originator counter, from the device to the
  command's originator, *with a date-time*, message code 0x0012, content `SEQUENCE { responseCode, firmwareVersion }`,
  **signed by the device's DS key and not MAC'd** - exactly the RTDS `cs06-activate-response.hex`.
- CS08 response: a General-Signing Response (CRA 2) with the command's counter, from the device to the command's
  originator (the ACB), no date-time, other-information the message code and the command's supplementary remote party
  and counter, content `SEQUENCE { firmwareVersion, responseCode }`, **unsigned and MAC'd** under the device's KA key
  and the ACB's - exactly the RTDS `cs08-read-version-response.hex`.

Response codes [SmartDCCInnovation/gbcs-parser src/asn1.ts, `parseActivateFirmwareExecutionOutcome` (CS06: 0 Success,
1 No Image Held, 2 Hash Mismatch, 3 Activation Failure) and `parseReadPPMIDHCALCSFirmwareVersionResponse` (CS08:
0 Read Success, 1 Read Failure)].

A command that fails its MAC, signature or counter check is discarded without an answer: an answer is keyed to the
command's transaction (its MAC key derives from the command's originator and counter, its target is the command's
originator), and answering a message nobody authenticated would hand an unknown sender a device-signed message. The
GBCS text was not at hand to cite; the DCC parser's alert table names the alerts a real device may raise instead
(0x8F3E "Unauthorised Communication Access attempted", src/util.ts), which the simulated devices do not raise.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.errors import HubfwError
from hubfw.gbcs.ciphering import MacedMessage, check_mac, seal
from hubfw.gbcs.firmware_content import (
    ActivateFirmwareCommand,
    ActivateFirmwareResponse,
    ReadFirmwareVersionCommand,
    ReadFirmwareVersionResponse,
)
from hubfw.gbcs.framing import CraFlag, GbcsFramingError, GeneralSigning, MessageCode
from hubfw.gbcs.signing import sign, verify

FIRMWARE_VERSION_LENGTH = 4


class ActivationCode(enum.IntEnum):
    """CS06 response codes [gbcs-parser src/asn1.ts `parseActivateFirmwareExecutionOutcome`]."""

    SUCCESS = 0
    NO_IMAGE_HELD = 1
    HASH_MISMATCH = 2
    ACTIVATION_FAILURE = 3


class ReadVersionCode(enum.IntEnum):
    """CS08 response codes [gbcs-parser src/asn1.ts `parseReadPPMIDHCALCSFirmwareVersionResponse`]."""

    SUCCESS = 0
    READ_FAILURE = 1


class CommandRefused(HubfwError):
    """A GBCS command the device discards: not for it, not authentic, replayed or malformed (one line why)."""


@dataclass(frozen=True)
class DeviceGbcsKeys:
    """What a device holds to take GBCS commands: its entity id, its own DS and KA private keys, and the public keys
    of the parties it trusts - the ACB's KA key (MACs) and its supplier's DS key (CS06 signatures)."""

    entity: bytes
    ds_key: ec.EllipticCurvePrivateKey
    ka_key: ec.EllipticCurvePrivateKey
    acb_id: bytes
    acb_ka: ec.EllipticCurvePublicKey
    supplier_id: bytes
    supplier_ds: ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class ActivateCommand:
    """An accepted CS06: the General-Signing message as it came, and its content."""

    message: GeneralSigning
    content: ActivateFirmwareCommand


@dataclass(frozen=True)
class ReadVersionCommand:
    """An accepted CS08."""

    message: GeneralSigning


class CommandReceiver:
    """One device's checks of the commands it receives, and its last accepted originator counter per originator."""

    def __init__(self, keys: DeviceGbcsKeys, *, replay_protection: bool = True) -> None:
        self.keys = keys
        self.replay_protection = replay_protection
        """Check 4; False only for a simulated defective device (`accepts-replays`), which a conformance run catches."""
        self.last_counters: dict[bytes, int] = {}
        """Business originator id -> the originator counter of the last command accepted from it."""

    def receive(self, message: bytes) -> ActivateCommand | ReadVersionCommand:
        """The command `message` is, checked (module docstring, 1-5); CommandRefused saying why not."""
        try:
            maced = MacedMessage.parse(message)
        except GbcsFramingError as exc:
            raise CommandRefused(f"not a MAC'd GBCS command: {exc}") from None
        signed = maced.signed
        if signed.cra != CraFlag.COMMAND:
            raise CommandRefused(f"CRA flag {signed.cra} is not a Command")
        if signed.target != self.keys.entity:
            raise CommandRefused(f"addressed to {signed.target.hex()}, not to this device")
        if signed.message_code not in (MessageCode.CS06_ACTIVATE_FIRMWARE, MessageCode.CS08_READ_FIRMWARE_VERSION):
            raise CommandRefused(f"message code 0x{signed.message_code:04X} is not CS06 or CS08")
        if not check_mac(maced, self.keys.ka_key, self.keys.acb_ka):
            raise CommandRefused("the MAC does not check against the ACB's Key Agreement key")
        if signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE:
            if signed.originator != self.keys.supplier_id:
                raise CommandRefused(f"CS06 from {signed.originator.hex()}, not from the supplier "
                                     f"{self.keys.supplier_id.hex()}")
            if not verify(maced.general_signing, self.keys.supplier_ds):
                raise CommandRefused("CS06 without the supplier's valid signature")
        elif signed.originator != self.keys.acb_id:
            raise CommandRefused(f"CS08 from {signed.originator.hex()}, not from the ACB {self.keys.acb_id.hex()}")
        last = self.last_counters.get(signed.originator)
        if self.replay_protection and last is not None and signed.originator_counter <= last:
            raise CommandRefused(f"originator counter {signed.originator_counter} is not above {last}, the last "
                                 f"accepted from {signed.originator.hex()} (a replay)")
        try:
            command: ActivateCommand | ReadVersionCommand
            if signed.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE:
                command = ActivateCommand(signed, ActivateFirmwareCommand.from_der(signed.content))
            else:
                ReadFirmwareVersionCommand.from_der(signed.content)
                command = ReadVersionCommand(signed)
        except GbcsFramingError as exc:
            raise CommandRefused(str(exc)) from None
        self.last_counters[signed.originator] = signed.originator_counter
        return command

    def activate_response(self, command: ActivateCommand, code: ActivationCode, firmware_version: int,
                          date_time: bytes) -> bytes:
        """The CS06 response: device-signed, with `date_time` (12-octet DLMS date-time), not MAC'd (RTDS)."""
        request = command.message
        content = ActivateFirmwareResponse(int(code), _version(firmware_version)).der()
        response = GeneralSigning(CraFlag.RESPONSE, request.originator_counter, self.keys.entity, request.originator,
                                  MessageCode.CS06_ACTIVATE_FIRMWARE, content, date_time=date_time)
        return sign(response, self.keys.ds_key).encode()

    def read_version_response(self, command: ReadVersionCommand, firmware_version: int,
                              code: ReadVersionCode = ReadVersionCode.SUCCESS) -> bytes:
        """The CS08 response: unsigned, MAC'd under the device's KA key and the ACB's (RTDS)."""
        request = command.message
        content = ReadFirmwareVersionResponse(_version(firmware_version), int(code)).der()
        response = GeneralSigning(CraFlag.RESPONSE, request.originator_counter, self.keys.entity, request.originator,
                                  MessageCode.CS08_READ_FIRMWARE_VERSION, content,
                                  supplementary_party=request.supplementary_party,
                                  supplementary_counter=request.supplementary_counter)
        return seal(response, self.keys.ka_key, self.keys.acb_ka)


def dlms_date_time(unix_seconds: float) -> bytes:
    """The 12-octet DLMS date-time of a UTC instant as the RTDS CS06 response writes it: year (2 octets), month, day,
    day of week not specified (FF), hour, minute, second, hundredths 00, deviation not specified (8000), clock
    status FF (`07DF0101FF000000008000FF` is 2015-01-01 00:00:00)."""
    moment = datetime.datetime.fromtimestamp(int(unix_seconds), datetime.timezone.utc)
    return (moment.year.to_bytes(2, "big") + bytes([moment.month, moment.day, 0xFF, moment.hour, moment.minute,
                                                    moment.second, 0x00]) + bytes.fromhex("8000FF"))


def _version(firmware_version: int) -> bytes:
    if not 0 <= firmware_version < 1 << 32:
        raise ValueError(f"firmware version {firmware_version} does not fit 4 octets")
    return firmware_version.to_bytes(FIRMWARE_VERSION_LENGTH, "big")
