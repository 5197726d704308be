"""The fuzzers' judges must be able to fail: each property, broken on purpose, is caught."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fuzzlib import ota_file as fuzz_ota_file
from fuzzlib import zcl_ota as fuzz_zcl_ota
from fuzzlib.engine import (
    PropertyViolation,
    Session,
    Target,
    judge_rejection,
    message_kind,
    minimize,
    mutate_bytes,
    run_input,
)
from fuzzlib.zcl_ota import Step, check_replies, cluster_request, decode_scenario, encode_scenario
from zigpy.zcl import foundation

from hubfw.devices import DeviceType
from hubfw.ota.image import ImageFormatError, OtaImage
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import OTA_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import TO_CLIENT, OtaCommand, OtaReply, cluster_command, default_response

Status = foundation.Status
TOOLS = Path(fuzz_ota_file.__file__).parents[1]


# ------------------------------------------------------------------ the engine


def test_an_escaping_exception_is_a_crash_named_by_type_and_place(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_parse(data: bytes) -> OtaImage:
        return [][len(data)]

    monkeypatch.setattr(fuzz_ota_file.OtaImage, "parse", broken_parse)
    failure = run_input(fuzz_ota_file.TARGET, b"\x1e\xf1\xee\x0b").failure
    assert failure is not None
    assert failure.signature.startswith("IndexError at ") and "broken_parse" in failure.signature
    assert "IndexError" in failure.detail


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("", "empty message"),
        ("first line\nsecond line", "multi-line message"),
        ("Error in path (parsing) -> magic", "leaked library internals"),
    ],
)
def test_an_unclean_rejection_is_a_property_violation(message: str, kind: str) -> None:
    with pytest.raises(PropertyViolation, match=kind):
        judge_rejection(ImageFormatError(message), "OtaImage.parse")


def test_rejections_of_one_kind_count_together() -> None:
    first = ImageFormatError("sub-element #0 (tag 0x0000) at offset 56 claims 900 bytes but only 12 remain")
    second = ImageFormatError("sub-element #3 (tag 0xF000) at offset 80 claims 7 bytes but only 2 remain")
    assert message_kind(first) == message_kind(second)
    expected = "ImageFormatError: sub-element ## (tag 0x#) at offset # claims # bytes but only # remain"
    assert message_kind(first) == expected


def test_a_parser_that_does_not_round_trip_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    valid = fuzz_ota_file.seeds()[0]
    monkeypatch.setattr(fuzz_ota_file.OtaImage, "to_bytes", lambda image: b"")
    failure = run_input(fuzz_ota_file.TARGET, valid).failure
    assert failure is not None
    assert failure.signature == "property: to_bytes() differs from the input the parser accepted"


def _fails_on_ff(data: bytes) -> list[str]:
    if b"\xff" in data:
        raise KeyError("ff")
    return ["fine"]


FF_TARGET = Target("ff", _fails_on_ff, lambda: [b"abc"], lambda data, rng, pool: data, max_len=64)


def test_minimize_keeps_only_what_the_failure_needs() -> None:
    signature = run_input(FF_TARGET, b"abc\xffdef" * 3).failure.signature
    assert minimize(FF_TARGET, b"abc\xffdef" * 3, signature, max_runs=500) == b"\xff"


def test_a_session_saves_each_new_failure_once_minimised(tmp_path: Path) -> None:
    session = Session(FF_TARGET, tmp_path)
    for data in (b"ok", b"x\xffy", b"\xff\xff", b"fine"):
        session.execute(data)
    assert session.stats.inputs == 4 and session.stats.outcomes["fine"] == 2
    (found,) = session.stats.failures.values()
    assert found.inputs == 2
    assert [path.read_bytes() for path in tmp_path.iterdir()] == [b"\xff"]


def test_mutation_is_reproducible_from_the_seed_and_bounded() -> None:
    pool = fuzz_ota_file.seeds()
    first = [mutate_bytes(pool[0], random.Random(7), pool, 100) for _ in range(3)]
    again = [mutate_bytes(pool[0], random.Random(7), pool, 100) for _ in range(3)]
    assert first == again and all(len(data) <= 100 for data in first)


# ------------------------------------------------------------------ the ZCL oracle

KEY = (0x1234, 0x0201, 0x20)
SERVED = bytes(range(256)) * 4


@dataclass(frozen=True)
class Offer:
    image_id: int = 1
    device_type: DeviceType = DeviceType.ESME
    manufacturer_code: int = KEY[0]
    image_type: int = KEY[1]
    file_version: int = KEY[2]
    total_size: int = len(SERVED)
    manufacturer_image_sha256: bytes = bytes(32)


def _block_request(tsn: int = 5, offset: int = 64, size: int = 40) -> IncomingFrame:
    zcl = cluster_request(
        tsn, OtaCommand.image_block, field_control=0, manufacturer_code=KEY[0], image_type=KEY[1],
        file_version=KEY[2], file_offset=offset, maximum_data_size=size,
    )
    return IncomingFrame(fuzz_zcl_ota.ESME_A, 0x1001, SMART_ENERGY_PROFILE, 2, 1, OTA_CLUSTER, zcl, True)


def _reply(request: IncomingFrame, zcl: bytes, **changes: object) -> OutgoingFrame:
    fields = dict(
        destination=request.source, profile=request.profile, src_ep=request.dst_ep, dst_ep=request.src_ep,
        cluster=OTA_CLUSTER, zcl=zcl, aps_encrypt=request.aps_encrypted,
    )
    return OutgoingFrame(**{**fields, **changes})


def _block(tsn: int, offset: int, data: bytes) -> bytes:
    return cluster_command(
        tsn, OtaReply.image_block_response, TO_CLIENT, status=Status.SUCCESS, manufacturer_code=KEY[0],
        image_type=KEY[1], file_version=KEY[2], file_offset=offset, image_data=data,
    )


def _judge(request: IncomingFrame, *replies: OutgoingFrame) -> str:
    return check_replies(request, replies, Offer(), SERVED, OtaServerConfig())


def test_a_correct_block_response_passes() -> None:
    request = _block_request()
    assert _judge(request, _reply(request, _block(5, 64, SERVED[64:104]))) == (
        "image_block -> image_block_response SUCCESS"
    )


@pytest.mark.parametrize(
    ("reply_zcl", "changes", "violation"),
    [
        (_block(6, 64, SERVED[64:104]), {}, "TSN differs"),
        (_block(5, 64, bytes(40)), {}, "bytes differ from the image"),
        (_block(5, 64, SERVED[64:114]), {}, "larger than the request's maximum"),
        (_block(5, 65, SERVED[65:105]), {}, "outside the offset"),
        (_block(5, 64, SERVED[64:104]), {"dst_ep": 9}, "not sent back the way"),
        (_block(5, 64, SERVED[64:104]), {"aps_encrypt": False}, "not sent back the way"),
        (_block(5, 64, SERVED[64:104]) + b"\x00", {}, "not canonically encoded"),
        (_block(5, 64, SERVED[64:104])[:-1], {}, "does not parse"),
        (b"\x19\x05", {}, "not ZCL"),
        (cluster_command(5, OtaReply.upgrade_end_response, TO_CLIENT, manufacturer_code=1, image_type=1, file_version=1,
                         current_time=0, upgrade_time=0), {}, "does not pair"),
        (default_response(5, OtaCommand.query_next_image.id, Status.SUCCESS), {}, "names another command"),
        (cluster_command(5, OtaReply.image_block_response, TO_CLIENT, status=Status.FAILURE), {}, "status outside"),
    ],
)
def test_a_broken_reply_is_a_property_violation(reply_zcl: bytes, changes: dict, violation: str) -> None:
    request = _block_request()
    with pytest.raises(PropertyViolation, match=violation):
        _judge(request, _reply(request, reply_zcl, **changes))


def test_answering_a_frame_without_a_zcl_header_is_a_violation() -> None:
    request = IncomingFrame(fuzz_zcl_ota.ESME_A, 0x1001, SMART_ENERGY_PROFILE, 2, 1, OTA_CLUSTER, b"\x01", True)
    assert _judge(request) == "no ZCL header -> no reply"
    with pytest.raises(PropertyViolation, match="no ZCL header"):
        _judge(request, _reply(request, default_response(0, 0, Status.MALFORMED_COMMAND)))


def test_a_query_response_must_offer_this_devices_image() -> None:
    zcl = cluster_request(1, OtaCommand.query_next_image, field_control=0, manufacturer_code=KEY[0],
                          image_type=KEY[1], current_file_version=1)
    request = IncomingFrame(fuzz_zcl_ota.ESME_A, 0x1001, SMART_ENERGY_PROFILE, 2, 1, OTA_CLUSTER, zcl, True)
    wrong_size = cluster_command(1, OtaReply.query_next_image_response, TO_CLIENT, status=Status.SUCCESS,
                                 manufacturer_code=KEY[0], image_type=KEY[1], file_version=KEY[2], image_size=10)
    with pytest.raises(PropertyViolation, match="not this device's"):
        _judge(request, _reply(request, wrong_size))


def test_scenarios_round_trip_through_their_encoding() -> None:
    steps = [Step(0, b"\x01\x02\x01"), Step(3, b"", encrypted=False, advance=7, tick=True, home_automation=True)]
    assert decode_scenario(encode_scenario(2, steps)) == (2, steps)
    assert decode_scenario(b"") == (0, [])
    assert decode_scenario(b"\x05\x01\x09\xaa") == (2, [Step(1, b"\xaa", encrypted=False)])


# ------------------------------------------------------------------ the command line


def test_the_tool_runs_a_bounded_fuzz_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TOOLS / "fuzz.py"), "ota-file", "--runs", "300", "--engine", "mutate", "--no-save"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs run: 300 in" in result.stdout
    assert "unique failures: 0 (0 failing inputs)" in result.stdout
    assert "parse: ImageFormatError" in result.stdout


def test_the_tool_replays_an_input_and_shows_its_verdict(tmp_path: Path) -> None:
    seed = tmp_path / "seed.bin"
    seed.write_bytes(fuzz_ota_file.seeds()[0])
    result = subprocess.run(
        [sys.executable, str(TOOLS / "fuzz.py"), "ota-file", "--replay", str(seed)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{seed}: ok" in result.stdout and "parse: accepted" in result.stdout
