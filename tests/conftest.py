"""Shared test configuration: hypothesis profiles (`ci` is what `make test` runs), and how the suite is spread over
pytest-xdist workers (`make test` runs `-n auto --dist loadfile`)."""

from __future__ import annotations

import os

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
