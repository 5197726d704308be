"""Every input a fuzzer ever failed on, replayed on each test run, and the seed corpora's reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzlib import gbcs as fuzz_gbcs
from fuzzlib import ota_file as fuzz_ota_file
from fuzzlib import zcl_han as fuzz_zcl_han
from fuzzlib import zcl_ota as fuzz_zcl_ota
from fuzzlib.engine import CRASHERS_ROOT, Target, run_input

TARGETS = {target.name: target for target in (fuzz_ota_file.TARGET, fuzz_zcl_ota.TARGET, fuzz_zcl_han.TARGET,
                                                  fuzz_gbcs.TARGET)}
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


def test_han_seeds_reach_every_cluster_and_the_whole_tunnel_and_key_exchange() -> None:
    reached = _outcomes(fuzz_zcl_han.TARGET)
    assert {
        "0800 cluster 0x00 -> initiate_key_establishment_response",
        "0800 cluster 0x02 -> confirm_key_data_response, hub request_tunnel",  # GBCS 10.2.2.1: the hub asks at once
        "0800 cluster 0x00 -> terminate_key_establishment UNKNOWN_ISSUER",
        "0800 cluster 0x00 -> terminate_key_establishment NO_RESOURCES",
        "0704 cluster 0x00 -> request_tunnel_response SUCCESS",
        "0704 cluster 0x00 -> hub transfer_data, request_tunnel_response SUCCESS",
        "0704 cluster 0x00 -> Default_Response NOT_AUTHORIZED",
        "0704 cluster 0x02 -> Default_Response SUCCESS, hub transfer_data",
        "0704 cluster 0x02 -> transfer_data_error WRONG_DEVICE",
        "0704 cluster 0x06 -> supported_tunnel_protocols_response",
        "0000 general 0x00 -> Read_Attributes_rsp",
        "000A general 0x00 -> Read_Attributes_rsp",
        "0702 general to client 0x00 -> Read_Attributes_rsp",
        "send_gbcs -> queued",
        "not for this endpoint -> no reply",
        "not ZCL -> no reply",
    } <= reached
