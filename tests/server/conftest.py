"""Fixtures for the OTA server tests (the bench itself lives in ota_bench.py)."""

import pytest

from tests.server.rig import Bench, make_bench


@pytest.fixture
def bench() -> Bench:
    return make_bench()
