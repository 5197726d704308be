"""Shared test configuration: hypothesis profiles (`ci` is what `make test` runs), and how the suite is spread over
pytest-xdist workers (`make test` runs `-n auto --dist loadfile`)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "nightly", max_examples=5000, stateful_step_count=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

RUN_FIRST = (
    "tests/sim/test_demo.py",
    "tests/conformance/test_conformance.py",
    "tests/capture/test_tshark.py",
    "tests/tools/benchmark/",
    "tests/conformance/test_serving_hub.py",
    "tests/hil/test_hil_sim_scenarios.py",
    "tests/store/test_machine.py",
    "tests/hub/test_keys_export.py",
    "tests/store/test_torture.py",
    "tests/conformance/",
    "tests/radio/test_incoming_fragments.py",
    "tests/tools/fuzz/test_short_run.py",
    "tests/hil/",
)
"""The test files that take the longest, longest first. `make test` hands whole files to the xdist workers
(`--dist loadfile`: a module-scoped fixture such as the demo run is set up once) in collection order
(`--no-loadscope-reorder`); these go first, so that no worker starts a long file while the other has nothing left
to do. Only the order changes: a stale entry, or a slow file missing here, costs some wall time and nothing else."""


def _rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(RUN_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(RUN_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a run in one process keeps the collection order
        items.sort(key=_rank)  # stable: files stay whole, and in collection order within a rank


DEMO_TIMEOUT = 600


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One `hubfw demo --json --state DIR --capture DIR/demo.pcap --plots DIR/plots` (EZSP v13) for the whole run:
    its directory and the JSON it printed. Under xdist the workers share it: the first to take the lock runs it, the
    others read what it left (the demo takes half a minute; tests/sim/test_demo.py and tests/capture/test_tshark.py
    both read it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the directory the workers' base temps share
    directory = root / "shared-demo"
    with (root / "shared-demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        printed = directory / "demo.json"
        if not printed.exists():
            directory.mkdir(exist_ok=True)
            run = subprocess.run(
                [sys.executable, "-m", "hubfw", "demo", "--json", "--state", str(directory), "--capture",
                 str(directory / "demo.pcap"), "--plots", str(directory / "plots")],
                cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=DEMO_TIMEOUT,
                check=False)
            assert run.returncode == 0, run.stderr[-2000:]
            json.loads(run.stdout)  # one JSON object, before it is kept
            printed.write_text(run.stdout)
        return directory, json.loads(printed.read_text())
