"""Fuzz target `gbcs`: GBCS framing and the hub's device-alert finder on untrusted bytes, from any sender.

An input is one selector octet, eight octets of a sender's entity id (an EUI-64, big-endian), then the message:
the selector's low two bits say who PUT the message through the tunnel — 0 the message's own business originator
(bytes 12..20 of a bare General-Signing message; the sender bytes when the message is shorter), 1 the RTDS PPMID
00DB1234567890A4, 2 the simulated PPMID, 3 the eight sender octets — so the finder sees both its own device's
messages and messages that name someone else.

Properties, for every input:
- `message_length` returns None (too short to tell) or a length, and then the same length for exactly that prefix,
  or raises a GbcsFramingError with one clean line;
- `parse_message` and `GeneralSigning.parse` return a message or raise a clean GbcsFramingError; a General-Signing
  message parsed re-encodes to one that parses to the same fields, and both parsers agree on the header;
- `find_device_alert(message, sender)` returns None or a FoundAlert whose `raw` is the message; a decoded alert is the
  sender's (`entity == sender`: never credited to another device, whatever the message names), carries the message
  verbatim, has originator = the sender's entity id and message code 0x012B; an alert it cannot decode has a one-line
  problem;
- `describe(message, keys)` (what `hubfw tunnel messages` shows) returns a decoding or a one-line error, never raises;
- the remote party's check of an answer (`RemoteParty.answer`, for the RTDS CS06 and CS08 commands with the RTDS
  keystore) returns None or an outcome, and an outcome it calls authentic carries exactly the octets the RTDS device
  signed (CS06) or MAC'd (CS08): an altered answer is never taken for the device's;
- a device signature the hub would call "valid" (`GbcsIdentity.device_signature`, with the RTDS PPMID's certificate
  and the simulated PPMID's key) is one of the genuine signatures in the seeds over exactly the octets they signed:
  a mis-signed or altered message never verifies.

Seeds: the RTDS messages (tests/gbcs/rtds/README.md: the PPMID's 0x8F8B, the CH's CCS08, CS06 and CS08 with and
without General-Ciphering), a simulated PPMID's 0x8F8B (`activation_message`, signed, unsigned, failure outcome,
an originator counter of 2^64-1), and malformed ones: truncated, oversized (a 300-octet content, its length in BER long
form), trailing octets, wrong originator, wrong message code, signed by another key, a
flipped bit in the signed span. References: GBCS section 4; Wireshark's GBCS dissector
(epan/dissectors/packet-zbee-zcl-se.c).

Run it with tools/fuzz.py (`python tools/fuzz.py gbcs --runs 100000`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

import zigpy.types as t
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from fuzzlib.engine import PropertyViolation, Target, judge_rejection, message_kind, mutate_bytes
from hubfw.alerts import ActivationOutcome, AlertCode, activation_alert
from hubfw.errors import HubfwError
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID, GbcsIdentity, activation_message, entity_id
from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.ciphering import GbcsMacError, MacedMessage
from hubfw.gbcs.device_alert import find_device_alert
from hubfw.gbcs.framing import (
    CraFlag,
    GbcsFramingError,
    GeneralSigning,
    MessageCode,
    message_length,
    parse_message,
)
from hubfw.gbcs.remote_party import CS06, CS08, IssuedCommand, OriginatorCounters, RemoteParty, describe
from hubfw.gbcs.signing import sign

MAX_LEN = 1200
HEADER = 9
"""Selector octet and the eight sender octets in front of the message."""
RTDS_DIR = Path(__file__).resolve().parents[2] / "tests" / "gbcs" / "rtds"
RTDS_PPMID = t.EUI64(bytes.fromhex("00DB1234567890A4")[::-1])
SIM_PPMID = t.EUI64.convert("00:0d:6f:00:00:00:e0:01")
OTHER = t.EUI64.convert("00:0d:6f:00:00:00:e0:02")
NEW_YEAR_2026 = 1_767_225_600.0
_SIM_KEY = ec.derive_private_key(0x6B_C5_8F_8B, ec.SECP256R1())
_OTHER_KEY = ec.derive_private_key(0x0BAD_5EED, ec.SECP256R1())
_CH_KEY = ec.derive_private_key(0xC4_C4, ec.SECP256R1())


@cache
def _identity() -> GbcsIdentity:
    certificate = x509.load_pem_x509_certificate((RTDS_DIR / "keys" / "00db1234567890a4-ds.pem").read_bytes())
    return GbcsIdentity(t.EUI64(bytes.fromhex("00DB1234567890A2")[::-1]), _CH_KEY,
                        device_keys={RTDS_PPMID: certificate.public_key(), SIM_PPMID: _SIM_KEY.public_key()})


def _rtds(name: str) -> bytes:
    return bytes.fromhex((RTDS_DIR / f"{name}.hex").read_text().strip())


@cache
def _genuine() -> frozenset[tuple[bytes, bytes]]:
    """(signed span, signature) of every message in the seeds that its device really signed."""
    genuine = set()
    for message in (_rtds("ppmid-8f8b-alert"), *_simulated()):
        parsed, span = GeneralSigning.parse_with_span(message)
        genuine.add((span, parsed.signature))
    return frozenset(genuine)


@cache
def _simulated() -> tuple[bytes, ...]:
    """A simulated PPMID's 0x8F8B, as `hubfw.sim` sends it (signed by its DS key), in a few forms."""
    alert = activation_alert(1, SIM_PPMID, 0x0000_0200, NEW_YEAR_2026)
    failed = activation_alert(2, SIM_PPMID, 0x0000_0201, NEW_YEAR_2026 + 60, ActivationOutcome.FAILURE)
    return (activation_message(alert, 1_767_225_600_000, DEFAULT_ACB_ID, key=_SIM_KEY),
            activation_message(failed, 2**64 - 1, DEFAULT_ACB_ID, key=_SIM_KEY))


def check_gbcs(data: bytes) -> list[str]:
    """The outcome labels of framing and finding an alert in `data`'s message; raises on a broken property."""
    sender, message = _sender(data), data[HEADER:]
    outcomes = [_check_length(message)]
    parsed = _check_parse(message, outcomes)
    signed = _check_general_signing(message, outcomes)
    if parsed is not None and signed is not None and (parsed.cra, parsed.originator_counter, parsed.originator,
                                                      parsed.target, parsed.message_code, parsed.content) != (
            signed.cra, signed.originator_counter, signed.originator, signed.target, signed.message_code,
            signed.content):
        raise PropertyViolation("parse_message and GeneralSigning.parse disagree on a header", message.hex())
    outcomes.append(_check_describe(message))
    outcomes.extend(_check_answer(command, message) for command in _rtds_commands())
    outcomes.append(_check_finder(message, sender, signed))  # last: its verdict is the input's headline
    return outcomes


def _check_describe(message: bytes) -> str:
    shown = describe(message, _rtds_party().keys)
    if "error" in shown:
        if not shown["error"].strip() or "\n" in shown["error"]:
            raise PropertyViolation("describe gave an error that is not one line", repr(shown["error"]))
        return "describe: error"
    return f"describe: {shown['cra']} signature {shown['signature']} mac {shown['mac']}"


def _check_answer(command: IssuedCommand, message: bytes) -> str:
    outcome = _rtds_party().answer(command, message)
    if outcome is None:
        return f"{command.kind} answer: not it"
    if outcome.authentic:
        if command.kind == CS06:
            parsed, span = GeneralSigning.parse_with_span(message)
            genuine = GeneralSigning.parse_with_span(_rtds("cs06-activate-response"))
            if (span, parsed.signature) != (genuine[1], genuine[0].signature):
                raise PropertyViolation("an altered CS06 answer was taken as the device's", message.hex())
        elif MacedMessage.parse(message).general_signing != MacedMessage.parse(
                _rtds("cs08-read-version-response")).general_signing:
            raise PropertyViolation("an altered CS08 answer was taken as the device's", message.hex())
    return f"{command.kind} answer: {outcome.code_name}, authentic {outcome.authentic}"


@cache
def _rtds_party() -> RemoteParty:
    return RemoteParty(GbcsKeys.load(RTDS_DIR / "keys"), OriginatorCounters())


@cache
def _rtds_commands() -> tuple[IssuedCommand, IssuedCommand]:
    """The RTDS CS06 (to its ESME, counter 1000) and CS08 (to its PPMID, counter 1300) as sent commands."""
    cs06, cs08 = _rtds("cs06-activate-command"), _rtds("cs08-read-version-command")
    try:
        first, second = MacedMessage.parse(cs06).signed, MacedMessage.parse(cs08).signed
    except GbcsMacError as exc:  # the seeds are fixed files: this only fires when they are damaged
        raise PropertyViolation("an RTDS command does not parse", str(exc)) from None
    return (IssuedCommand(CS06, first.target, cs06, first.originator, first.originator_counter, first.content[4:36]),
            IssuedCommand(CS08, second.target, cs08, second.originator, second.originator_counter))


def _sender(data: bytes) -> t.EUI64:
    selector, sender = data[:1], data[1:HEADER].ljust(8, b"\0")
    choice = selector[0] & 3 if selector else 0
    if choice == 0:
        originator = data[HEADER + 12:HEADER + 20]
        return t.EUI64((originator if len(originator) == 8 else sender)[::-1])
    return {1: RTDS_PPMID, 2: SIM_PPMID}.get(choice, t.EUI64(sender[::-1]))


def _check_length(message: bytes) -> str:
    try:
        length = message_length(message)
    except GbcsFramingError as exc:
        return "length: " + judge_rejection(exc, "message_length")
    except HubfwError as exc:
        raise PropertyViolation("message_length raised a HubfwError that is not a GbcsFramingError", repr(exc)) from None
    if length is None:
        return "length: too short to tell"
    if length < 1:
        raise PropertyViolation("message_length gave a length below one octet", f"{length} for {message.hex()}")
    if length <= len(message) and message_length(message[:length]) != length:
        raise PropertyViolation("message_length of the message alone differs", message.hex())
    return "length: " + ("whole" if length == len(message) else "short" if length > len(message) else "with trailer")


def _check_parse(message: bytes, outcomes: list[str]):
    try:
        parsed = parse_message(message)
    except GbcsFramingError as exc:
        outcomes.append("parse: " + judge_rejection(exc, "parse_message"))
        return None
    outcomes.append(f"parse: cra {parsed.cra} code {parsed.message_code}"[:40])
    return parsed


def _check_general_signing(message: bytes, outcomes: list[str]) -> GeneralSigning | None:
    try:
        signed = GeneralSigning.parse(message)
    except GbcsFramingError as exc:
        outcomes.append("general-signing: " + judge_rejection(exc, "GeneralSigning.parse"))
        return None
    again = GeneralSigning.parse(signed.encode())
    if again != signed:
        raise PropertyViolation("a General-Signing message re-encoded parses to other fields", message.hex())
    outcomes.append("general-signing: " + ("signed" if signed.signature else "unsigned"))
    return signed


def _check_finder(message: bytes, sender: t.EUI64, signed: GeneralSigning | None) -> str:
    found = find_device_alert(message, sender)
    if found is None:
        return "finder: not an alert"
    if found.raw != message:
        raise PropertyViolation("the finder's raw bytes are not the message", message.hex())
    if found.alert is None:
        problem = found.problem or ""
        if not problem.strip() or "\n" in problem or "\r" in problem:
            raise PropertyViolation("an alert kept raw without a one-line problem", repr(problem))
        return "finder: raw, " + message_kind(HubfwError(problem))
    alert = found.alert
    if alert.entity != sender:
        raise PropertyViolation("an alert credited to a device other than the sender",
                                f"{alert.entity} from sender {sender}: {message.hex()}")
    if signed is None or signed.originator != entity_id(sender) or signed.cra != CraFlag.ALERT \
            or signed.message_code != MessageCode.FIRMWARE_ACTIVATION_ALERT or alert.code is not AlertCode.ACTIVATION:
        raise PropertyViolation("an alert decoded from what is not the sender's bare 0x012B alert", message.hex())
    if alert.message != message or found.problem is not None or alert.source != "tunnel":
        raise PropertyViolation("a decoded alert does not carry the message verbatim", message.hex())
    return "finder: alert, signature " + _check_signature(sender, message)


def _check_signature(sender: t.EUI64, message: bytes) -> str:
    state = _identity().device_signature(sender, message)
    if state == "valid":
        parsed, span = GeneralSigning.parse_with_span(message)
        if (span, parsed.signature) not in _genuine():
            raise PropertyViolation("a mis-signed message verified as the device's", message.hex())
    return state


# ------------------------------------------------------------------ seeds and mutation


def _framed(selector: int, message: bytes, sender: t.EUI64 = OTHER) -> bytes:
    return bytes([selector]) + bytes(sender)[::-1] + message


def _maced(inner: bytes) -> bytes:
    ciphered = b"\x11" + (7).to_bytes(4, "big") + inner + bytes(12)
    length = bytes([len(ciphered)]) if len(ciphered) < 0x80 else b"\x82" + len(ciphered).to_bytes(2, "big")
    return bytes([0xDD, 0, 0, 0, 0, 0, 0]) + length + ciphered


def seeds() -> list[bytes]:
    rtds_alert = _rtds("ppmid-8f8b-alert")
    simulated, failure = _simulated()
    parsed = GeneralSigning.parse(simulated)
    other_originator = sign(replace(parsed, originator=entity_id(OTHER)), _SIM_KEY).encode()
    other_signer = sign(parsed, _OTHER_KEY).encode()
    ccs08_code = sign(replace(parsed, message_code=MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT), _SIM_KEY).encode()
    oversized = replace(parsed, content=parsed.content + bytes(300), signature=None).encode()
    flipped = bytearray(simulated)
    flipped[40] ^= 0x01
    messages = [
        _framed(0, rtds_alert), _framed(1, rtds_alert), _framed(2, rtds_alert), _framed(3, rtds_alert, SIM_PPMID),
        _framed(0, simulated), _framed(2, simulated), _framed(1, simulated), _framed(0, failure),
        _framed(0, replace(parsed, signature=None).encode()),
        _framed(2, other_originator), _framed(0, other_originator), _framed(2, other_signer), _framed(2, ccs08_code),
        _framed(0, oversized), _framed(2, bytes(flipped)), _framed(2, simulated[:-7]), _framed(2, simulated + b"\0"),
        _framed(2, _maced(simulated)),
    ]
    for name in ("ccs08-8f8a-alert", "cs06-activate-command", "cs06-activate-response",
                 "cs08-read-version-command", "cs08-read-version-response"):
        messages.append(_framed(0, _rtds(name)))
    return [message[:MAX_LEN] for message in messages]


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Another sender, a flipped bit in the message (a mis-signed one when it lands in the signed span), an element
    length set to a boundary (truncated / oversized), or libFuzzer-like byte mutations."""
    buffer = bytearray(data.ljust(HEADER, b"\0"))
    roll = rng.random()
    if roll < 0.15:
        buffer[0] = rng.randrange(256)
        if rng.random() < 0.5:
            buffer[1:HEADER] = rng.randbytes(8)
        return bytes(buffer)
    if roll < 0.45 and len(buffer) > HEADER:
        position = rng.randrange(HEADER, len(buffer))
        buffer[position] ^= 1 << rng.randrange(8)
        return bytes(buffer)
    if roll < 0.6 and len(buffer) > HEADER + 1:
        position = rng.randrange(HEADER + 1, len(buffer))
        buffer[position] = rng.choice((0x00, 0x08, 0x09, 0x0C, 0x40, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFF))
        return bytes(buffer)
    return mutate_bytes(bytes(buffer), rng, pool, MAX_LEN)


TARGET = Target(
    name="gbcs",
    check=check_gbcs,
    seeds=seeds,
    mutate=mutate,
    max_len=MAX_LEN,
)
