"""Every input a fuzzer ever failed on, replayed on each test run, and the seed corpora's reach."""

from __future__ import annotations

from pathlib import Path

import fuzz_ota_file
import fuzz_zcl_ota
import pytest
from fuzz_engine import CRASHERS_ROOT, Target, run_input

TARGETS = {target.name: target for target in (fuzz_ota_file.TARGET, fuzz_zcl_ota.TARGET)}
CRASHERS = [
    pytest.param(name, path, id=f"{name}/{path.name}")
    for name in TARGETS
    for path in sorted((CRASHERS_ROOT / name).glob("*.bin"))
]


@pytest.mark.parametrize(("target_name", "path"), CRASHERS)
def test_crasher_no_longer_fails(target_name: str, path: Path) -> None:
    verdict = run_input(TARGETS[target_name], path.read_bytes())
    assert verdict.failure is None, f"{verdict.failure.signature}\n{verdict.failure.detail}"


def _outcomes(target: Target) -> set[str]:
    return {outcome for data in target.seeds() for outcome in run_input(target, data).outcomes}


def test_ota_seeds_are_valid_images_and_reach_every_admission_verdict() -> None:
    seeds = fuzz_ota_file.seeds()
    assert all(run_input(fuzz_ota_file.TARGET, data).outcomes[0] == "parse: accepted" for data in seeds)
    reached = _outcomes(fuzz_ota_file.TARGET)
    assert {"admit: admitted", "admit: rejected (cpl)", "admit: rejected (hardware-versions, cpl)"} <= reached
    assert "admit: rejected (signature, cpl)" in reached  # the malformed embedded signature


def test_zcl_seeds_reach_every_serving_path_of_the_real_store() -> None:
    reached = _outcomes(fuzz_zcl_ota.TARGET)
    assert {
        "query_next_image -> query_next_image_response SUCCESS",
        "query_next_image -> query_next_image_response NO_IMAGE_AVAILABLE",
        "image_block -> image_block_response SUCCESS",
        "image_block -> image_block_response WAIT_FOR_DATA",
        "image_block -> image_block_response ABORT",
        "image_block -> Default_Response INVALID_FIELD",
        "image_page -> image_block_response SUCCESS",
        "upgrade_end -> upgrade_end_response",
        "upgrade_end -> Default_Response SUCCESS",
        "manufacturer-specific command -> Default_Response UNSUP_MANUF_CLUSTER_COMMAND",
        "query_specific_file -> Default_Response UNSUP_CLUSTER_COMMAND",
        "no ZCL header -> no reply",
    } <= reached
