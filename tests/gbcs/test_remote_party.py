"""The remote parties' side of CS06 and CS08 (`hubfw.gbcs.remote_party`) held against the DCC's Reference Test Data
Set: with the RTDS keystore the commands hubfw builds are the RTDS's (CS08 octet for octet, CS06 up to the
supplier's random ECDSA signature, and so its MAC), the RTDS answers are matched and checked, and the counters only
ever go up, across restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.ciphering import MacedMessage, check_mac
from hubfw.gbcs.remote_party import (
    CS06,
    CS08,
    INVALID,
    UNCHECKED,
    VALID,
    IssuedCommand,
    OriginatorCounters,
    RemoteParty,
    RemotePartyError,
    describe,
)
from hubfw.gbcs.signing import verify
from tests.gbcs.rtds import ACB, ESME, PPMID, RTDS, SUPPLIER, certificate, message

KEYS = GbcsKeys.load(RTDS / "keys")
CS06_COMMAND = message("cs06-activate-command")
CS06_RESPONSE = message("cs06-activate-response")
CS08_COMMAND = message("cs08-read-version-command")
CS08_RESPONSE = message("cs08-read-version-response")
SIGNATURE_AND_MAC = 64 + 12


def party_at(counters: dict[bytes, int]) -> RemoteParty:
    """The RTDS's supplier and ACB, their last counters one below the RTDS's (the clock at 0 does not lift them)."""
    kept = OriginatorCounters()
    kept.last.update(counters)
    return RemoteParty(KEYS, kept)


def rtds_image_hash() -> bytes:
    return MacedMessage.parse(CS06_COMMAND).signed.content[4:36]


def test_cs08_is_the_rtds_command_octet_for_octet() -> None:
    party = party_at({SUPPLIER: 999, ACB: 1299})
    command = party.read_version(PPMID, now=0.0)
    assert command.message == CS08_COMMAND
    assert (command.kind, command.originator, command.originator_counter) == (CS08, ACB, 1300)


def test_cs06_is_the_rtds_command_up_to_the_suppliers_signature() -> None:
    party = party_at({SUPPLIER: 999})
    command = party.activate(ESME, rtds_image_hash(), now=0.0)
    assert command.message[:-SIGNATURE_AND_MAC] == CS06_COMMAND[:-SIGNATURE_AND_MAC]
    maced = MacedMessage.parse(command.message)
    assert verify(maced.general_signing, certificate(SUPPLIER))
    assert check_mac(maced, KEYS.acb_ka, certificate(ESME, "ka"))
    assert (command.originator, command.originator_counter, command.image_hash) == (SUPPLIER, 1000, rtds_image_hash())


@pytest.mark.parametrize(("build", "response", "expected"), [
    (lambda party: party.activate(ESME, rtds_image_hash(), 0.0), CS06_RESPONSE,
     {"response_code": 0, "response_code_name": "SUCCESS", "firmware_version": "0x0123ABCE", "mac": None,
      "signature": VALID, "authentic": True}),
    (lambda party: party.read_version(PPMID, 0.0), CS08_RESPONSE,
     {"response_code": 0, "response_code_name": "SUCCESS", "firmware_version": "0x0123ABCD", "mac": VALID,
      "signature": None, "authentic": True}),
], ids=["cs06", "cs08"])
def test_the_rtds_answers_are_matched_to_their_commands_and_check_out(build, response, expected) -> None:
    party = party_at({SUPPLIER: 999, ACB: 1299})
    command = build(party)
    outcome = party.answer(command, response)
    assert outcome is not None
    shown = outcome.to_json()
    assert {key: shown[key] for key in expected} == expected
    assert outcome.succeeded and shown["response_message"] == response.hex()
    flipped = response[:-1] + bytes([response[-1] ^ 1])  # negative control: a bit of the signature or the MAC
    spoiled = party.answer(command, flipped)
    assert spoiled is not None and not spoiled.authentic and INVALID in (spoiled.mac, spoiled.signature)


def test_an_answer_to_another_transaction_or_device_is_not_taken_for_this_one() -> None:
    party = party_at({SUPPLIER: 1000, ACB: 1299})  # the next CS06 has counter 1001: the RTDS answer is for 1000
    assert party.answer(party.activate(ESME, rtds_image_hash(), 0.0), CS06_RESPONSE) is None
    party = party_at({SUPPLIER: 999, ACB: 1299})
    assert party.answer(party.read_version(ESME, 0.0), CS08_RESPONSE) is None  # the RTDS answer is the PPMID's
    assert party.answer(party.activate(ESME, rtds_image_hash(), 0.0), CS08_RESPONSE) is None  # another command
    assert party.answer(party.read_version(PPMID, 0.0), b"\xdf\x09") is None  # not a whole message


def test_an_answer_from_a_device_whose_key_the_set_lacks_is_unchecked_not_valid() -> None:
    party = party_at({})
    command = IssuedCommand(CS06, ESME, CS06_COMMAND, SUPPLIER, 1000, rtds_image_hash())
    bare = RemoteParty(GbcsKeys(KEYS.directory, private_keys=dict(KEYS.private_keys)), party.counters)
    outcome = bare.answer(command, CS06_RESPONSE)
    assert outcome is not None and outcome.signature == UNCHECKED and not outcome.authentic


def test_a_cs08_answer_whose_device_key_has_left_the_set_is_unchecked_not_an_error() -> None:
    command = party_at({SUPPLIER: 999, ACB: 1299}).read_version(PPMID, 0.0)
    bare = RemoteParty(GbcsKeys(KEYS.directory, private_keys=dict(KEYS.private_keys)), OriginatorCounters())
    outcome = bare.answer(command, CS08_RESPONSE)
    assert outcome is not None and (outcome.mac, outcome.authentic) == (UNCHECKED, False)


def test_a_device_without_a_ka_key_in_the_set_gets_no_command_one_line_why(tmp_path: Path) -> None:
    with pytest.raises(RemotePartyError, match="00db1234567890a2-ka.pem"):
        party_at({}).activate(bytes.fromhex("00DB1234567890A2"), bytes(32), 0.0)


def test_counters_strictly_increase_per_originator_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "gbcs" / "originator-counters.json"
    counters = OriginatorCounters(path)
    first = [counters.next(SUPPLIER, now=1_000.0) for _ in range(3)]
    assert first == [1_000_000, 1_000_001, 1_000_002]
    assert counters.next(ACB, now=1_000.0) == 1_000_000  # each originator has its own
    assert json.loads(path.read_text()) == {ACB.hex(): 1_000_000, SUPPLIER.hex(): 1_000_002}
    again = OriginatorCounters(path)  # a restart, with the clock set back by an hour
    assert again.next(SUPPLIER, now=1_000.0 - 3600) == 1_000_003
    assert OriginatorCounters(path).next(SUPPLIER, now=2_000.0) == 2_000_000  # the clock lifts them when ahead


def test_a_counter_file_that_does_not_read_is_one_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "originator-counters.json"
    path.write_text("{not json")
    with pytest.raises(RemotePartyError, match="originator-counters.json does not read as originator counters"):
        OriginatorCounters(path)
    assert path.read_text() == "{not json"


def test_describe_decodes_each_rtds_message_and_checks_it_with_the_keys() -> None:
    cs06 = describe(CS06_COMMAND, KEYS)
    assert (cs06["message"], cs06["cra"], cs06["originator_counter"], cs06["signature"], cs06["mac"]) == (
        "CS06 Activate Firmware", "command", 1000, VALID, VALID)
    assert cs06["content"] == {"manufacturer_image_sha256": rtds_image_hash().hex(), "originator_counter": 1000}
    answer = describe(CS06_RESPONSE, KEYS)
    assert (answer["cra"], answer["signature"], answer["mac"]) == ("response", VALID, None)
    assert answer["content"] == {"response_code": 0, "response_code_name": "SUCCESS", "firmware_version": "0x0123ABCE"}
    read = describe(CS08_RESPONSE, KEYS)
    assert (read["mac"], read["content"]["firmware_version"]) == (VALID, "0x0123ABCD")
    alert = describe(message("ppmid-8f8b-alert"), KEYS)
    assert (alert["message"], alert["signature"], alert["content"]["firmware_version"]) == (
        "0x8F8B Firmware Activation Alert", VALID, "0x1234ABCD")
    assert describe(CS08_RESPONSE)["mac"] == UNCHECKED  # no keys: decoded, not checked
    assert describe(CS08_RESPONSE[:-1] + bytes([CS08_RESPONSE[-1] ^ 1]), KEYS)["mac"] == INVALID
    assert "error" in describe(b"\x00\x01")
