"""The `gbcs` fuzz target (tools/fuzzlib/gbcs.py): a short seeded run finds nothing, its seeds reach every verdict
of the finder and of the CS06/CS08 answer check, and its judge can fail — a finder that credits the message's
originator, a verifier that calls a mis-signed message valid, an answer check that takes an altered answer and a
framing error with two lines are each caught."""

from __future__ import annotations

import pytest
from fuzzlib import gbcs as fuzz_gbcs
from fuzzlib.engine import Session, fuzz_with_mutator, run_input

from hubfw.gbcs import device_alert
from hubfw.gbcs.alert_message import GbcsIdentity
from hubfw.gbcs.framing import GbcsFramingError

RUNS = 600
SEED = 20260101


def test_a_short_seeded_run_finds_no_failure() -> None:
    session = Session(fuzz_gbcs.TARGET, crashers=None, minimize_runs=200)
    stats = fuzz_with_mutator(session, RUNS, SEED, fuzz_gbcs.seeds())
    assert stats.inputs == RUNS
    failures = [f"{signature}\n{found.failure.detail}" for signature, found in stats.failures.items()]
    assert not failures, "\n\n".join(failures)
    assert stats.outcomes["finder: alert, signature valid"] and stats.outcomes["finder: alert, signature invalid"]


def test_the_seeds_reach_every_verdict_of_the_finder() -> None:
    reached = {outcome for data in fuzz_gbcs.seeds() for outcome in run_input(fuzz_gbcs.TARGET, data).outcomes}
    assert {"finder: not an alert", "finder: alert, signature valid", "finder: alert, signature invalid",
            "finder: alert, signature unchecked"} <= reached
    assert any(outcome.startswith("finder: raw, ") and "not the sender" in outcome for outcome in reached)
    assert any(outcome.startswith("finder: raw, ") and "does not frame" in outcome for outcome in reached)
    assert {"CS06 answer: SUCCESS, authentic True", "CS08 answer: SUCCESS, authentic True",
            "CS06 answer: not it"} <= reached


def test_negative_control_an_answer_check_that_takes_an_altered_answer_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hubfw.gbcs.remote_party import VALID, RemoteParty

    response = fuzz_gbcs._rtds("cs06-activate-response")
    altered = fuzz_gbcs._framed(0, response[:-1] + bytes([response[-1] ^ 1]))  # a bit of the device's signature
    assert run_input(fuzz_gbcs.TARGET, altered).failure is None
    monkeypatch.setattr(RemoteParty, "_checks", lambda self, command, maced, signed: (None, VALID))
    failure = run_input(fuzz_gbcs.TARGET, altered).failure
    assert failure is not None and failure.signature == "property: an altered CS06 answer was taken as the device's"


def _rtds_alert_from_someone_else() -> bytes:
    """The RTDS PPMID's 0x8F8B PUT by the simulated PPMID (selector 2): it must be credited to nobody."""
    [data] = [seed for seed in fuzz_gbcs.seeds() if seed[0] == 2 and seed[9:] == fuzz_gbcs._rtds("ppmid-8f8b-alert")]
    return data


def test_negative_control_a_finder_that_credits_the_originator_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _rtds_alert_from_someone_else()
    assert run_input(fuzz_gbcs.TARGET, data).failure is None

    def credits_the_originator(message: bytes, sender):
        return device_alert.find_device_alert(message, fuzz_gbcs.RTDS_PPMID)

    monkeypatch.setattr(fuzz_gbcs, "find_device_alert", credits_the_originator)
    failure = run_input(fuzz_gbcs.TARGET, data).failure
    assert failure is not None and failure.signature == "property: an alert credited to a device other than the sender"


def test_negative_control_a_verifier_that_accepts_a_mis_signed_message_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    [mis_signed] = [seed for seed in fuzz_gbcs.seeds()
                    if run_input(fuzz_gbcs.TARGET, seed).outcomes[-1] == "finder: alert, signature invalid"][:1]
    monkeypatch.setattr(GbcsIdentity, "device_signature", lambda self, eui64, message: "valid")
    failure = run_input(fuzz_gbcs.TARGET, mis_signed).failure
    assert failure is not None and failure.signature == "property: a mis-signed message verified as the device's"


def test_negative_control_a_two_line_framing_error_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def two_lines(message: bytes):
        raise GbcsFramingError("first line\nsecond line")

    monkeypatch.setattr(fuzz_gbcs, "parse_message", two_lines)
    failure = run_input(fuzz_gbcs.TARGET, fuzz_gbcs.seeds()[0]).failure
    assert failure is not None and "multi-line message" in failure.signature
