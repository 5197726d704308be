"""A short, seeded, dependency-free fuzz run of each target inside `make test` (the long runs are
`tools/fuzz.py <target> --runs 100000`)."""

from __future__ import annotations

import pytest
from fuzzlib import gbcs as fuzz_gbcs
from fuzzlib import ota_file as fuzz_ota_file
from fuzzlib import zcl_han as fuzz_zcl_han
from fuzzlib import zcl_ota as fuzz_zcl_ota
from fuzzlib.engine import Session, Target, fuzz_with_mutator

RUNS = {"ota-file": 4000, "zcl-ota": 1200, "zcl-han": 800, "gbcs": 3000}
SEED = 20261121


@pytest.mark.parametrize(
    "target", [fuzz_ota_file.TARGET, fuzz_zcl_ota.TARGET, fuzz_zcl_han.TARGET, fuzz_gbcs.TARGET],
    ids=lambda target: target.name
)
def test_short_fuzz_run_finds_no_failure(target: Target) -> None:
    session = Session(target, crashers=None, minimize_runs=200)
    stats = fuzz_with_mutator(session, RUNS[target.name], SEED, target.seeds())
    assert stats.inputs == RUNS[target.name]
    failures = [f"{signature}\n{found.failure.detail}" for signature, found in stats.failures.items()]
    assert not failures, "\n\n".join(failures)
