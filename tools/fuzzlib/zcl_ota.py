"""Fuzz target `zcl-ota`: the OTA server's ZCL decoder, fed the frames a hostile device might send.

The hub under test is the one `hubfw serve` runs: `HubCore` (store, OTA server) on an emulated
serial-NOR flash holding an ESME image (two targets) and a PPMID image, so QueryNextImage, ImageBlock,
ImagePage and UpgradeEnd all reach their serving paths. Each input is a short scenario, run on a
fresh fork of that flash so every input is reproducible on its own:

    byte 0            server configuration (index into CONFIGS, modulo)
    then per step     control byte, length byte, that many ZCL bytes (at most MAX_STEPS steps)
    control byte      bits 0-1 sender (ESME A, ESME B, PPMID, unknown device), bit 2 APS-encrypted,
                      bits 3-5 clock advance before the frame (ADVANCES), bit 6 run the hub's
                      due work (`run_due`) after it, bit 7 Home Automation profile instead of Smart Energy

Properties: `handle` and `run_due` never raise; every reply to a request is a well-formed ZCL frame
(zigpy's ZCLHeader and the OTA client command or Default Response schema parse all of it, and
re-encode it to the same bytes), sent back the way the request came, with the request's TSN, of a
kind ZCL allows for that request; a served block carries exactly the image's bytes at its offset,
no more than the request and the radio allow.

Run it with tools/fuzz.py (`python tools/fuzz.py zcl-ota --runs 100000`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, ImagePageCommand, QueryNextImageCommand

from fuzzlib.engine import PropertyViolation, Target, mutate_bytes
from fuzzlib.zcl import parse_strictly, parse_zcl
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import PROFILES
from hubfw.hub.core import CoreConfig, HubCore
from hubfw.ota.image import build_image
from hubfw.server import OtaServerConfig, ServedImage, max_block_data_size
from hubfw.server.ota import image_key
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import HOME_AUTOMATION_PROFILE, OTA_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import OtaCommand, OtaReply

Status = foundation.Status

ESME_A = parse_eui64("00:0d:6f:00:00:00:0a:01")
ESME_B = parse_eui64("00:0d:6f:00:00:00:0a:02")
PPMID = parse_eui64("00:0d:6f:00:00:00:0b:01")
STRANGER = parse_eui64("00:0d:6f:00:00:00:0c:01")
DEVICES = (ESME_A, ESME_B, PPMID, STRANGER)
CLIENT_EP, HUB_EP = 2, 1
ADVANCES = (0.0, 0.0, 0.2, 1.0, 61.0, 301.0, 86_401.0, 15 * 86_400.0)
"""Seconds the clock moves before a step: within a block period, past it, past the notify and idle
timers, past the 24-hour stall and the 14-day no-start rules."""
CONFIGS = (
    OtaServerConfig(),
    OtaServerConfig(
        max_concurrent_downloads=1, minimum_block_period_ms=500, busy_retry_seconds=1,
        allow_reinstall=True, allow_downgrade=True,
    ),
    OtaServerConfig(aps_max_payload=300, version_read_attempts=1, query_jitter=1),
)
MAX_STEPS = 8
MAX_LEN = 1 + MAX_STEPS * (2 + 255)

ESME_IMAGE = dict(manufacturer_code=0x1234, image_type=0x0201, file_version=0x20, min_hw_version=1, max_hw_version=3)
PPMID_IMAGE = dict(manufacturer_code=0x1234, image_type=0x0301, file_version=0x11)

_REPLIES_ALLOWED = {
    OtaCommand.query_next_image.id: OtaReply.query_next_image_response.id,
    OtaCommand.image_block.id: OtaReply.image_block_response.id,
    OtaCommand.image_page.id: OtaReply.image_block_response.id,
    OtaCommand.upgrade_end.id: OtaReply.upgrade_end_response.id,
}
_BLOCK_STATUSES = (Status.SUCCESS, Status.WAIT_FOR_DATA, Status.ABORT)
_CLIENT_COMMANDS = {command.id: command for command in OtaReply}
_SERVER_COMMANDS = {command.id: command for command in OtaCommand}
_DEFAULT_RESPONSE = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response]
_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes]


# ------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Step:
    device: int
    zcl: bytes
    encrypted: bool = True
    advance: int = 0
    tick: bool = False
    home_automation: bool = False

    def encode(self) -> bytes:
        control = self.device | self.encrypted << 2 | self.advance << 3 | self.tick << 6 | self.home_automation << 7
        return bytes([control, len(self.zcl)]) + self.zcl


def encode_scenario(config: int, steps: Sequence[Step]) -> bytes:
    return bytes([config]) + b"".join(step.encode() for step in steps)


def decode_scenario(data: bytes) -> tuple[int, list[Step]]:
    """Every byte string is a scenario: a short last step takes what is left."""
    config = data[0] % len(CONFIGS) if data else 0
    steps, offset = [], 1
    while offset < len(data) and len(steps) < MAX_STEPS:
        control = data[offset]
        length = data[offset + 1] if offset + 1 < len(data) else 0
        zcl = data[offset + 2 : offset + 2 + length]
        steps.append(
            Step(
                device=control & 0x03, zcl=zcl, encrypted=bool(control & 0x04), advance=control >> 3 & 0x07,
                tick=bool(control & 0x40), home_automation=bool(control & 0x80),
            )
        )
        offset += 2 + length
    return config, steps


# ------------------------------------------------------------------ the server under test


@dataclass(frozen=True)
class _Distributed:
    """A flash with both images distributed; every scenario runs on its own fork of it."""

    flash: NorFlash
    files: dict[tuple[int, int, int], bytes]


@cache
def _distributed() -> _Distributed:
    esme = build_image(**ESME_IMAGE, payload=random.Random(1).randbytes(700)).to_bytes()
    ppmid = build_image(**PPMID_IMAGE, payload=random.Random(2).randbytes(300)).to_bytes()
    flash = NorFlash(PROFILES["serial-nor"])
    core = HubCore.open(flash, VirtualClock())
    images = [
        core.distribute(esme, [ESME_A, ESME_B], DeviceType.ESME).image,
        core.distribute(ppmid, [PPMID], DeviceType.PPMID).image,
    ]
    return _Distributed(flash, {image_key(image): data for image, data in zip(images, (esme, ppmid), strict=True)})


def check_zcl_ota(data: bytes) -> list[str]:
    """Play the scenario against a fresh server; one outcome label per step."""
    config_index, steps = decode_scenario(data)
    config = CONFIGS[config_index]
    distributed = _distributed()
    flash = distributed.flash.fork()
    try:
        clock = VirtualClock()
        core = HubCore.open(flash, clock, CoreConfig(config), rng=random.Random(0))
        outcomes = []
        for step in steps:
            clock.advance(ADVANCES[step.advance])
            frame = IncomingFrame(
                source=DEVICES[step.device], nwk=0x1000 + step.device,
                profile=HOME_AUTOMATION_PROFILE if step.home_automation else SMART_ENERGY_PROFILE,
                src_ep=CLIENT_EP, dst_ep=HUB_EP, cluster=OTA_CLUSTER, zcl=step.zcl, aps_encrypted=step.encrypted,
            )
            offered = core.store.offer(frame.source)
            served = distributed.files.get(image_key(offered)) if offered is not None else None
            replies = core.handle(frame)
            outcomes.append(check_replies(frame, replies, offered, served, config))
            if step.tick:
                for frame_out in core.run_due():
                    check_unsolicited(frame_out)
        return outcomes
    finally:
        flash.close()


# ------------------------------------------------------------------ the oracle


def check_replies(
    request: IncomingFrame,
    replies: Sequence[OutgoingFrame],
    offered: ServedImage | None,
    served: bytes | None,
    config: OtaServerConfig,
) -> str:
    """Judge the server's answer to one request; returns 'request -> replies' for the statistics."""
    try:
        header, payload = foundation.ZCLHeader.deserialize(request.zcl)
    except ValueError:
        if replies:
            raise PropertyViolation("answered a frame with no ZCL header", request.zcl.hex()) from None
        return "no ZCL header -> no reply"
    kinds = sorted({_check_reply(request, header, payload, reply, offered, served, config) for reply in replies})
    return f"{_request_name(header)} -> {', '.join(kinds) or 'no reply'}"


def _request_name(header: foundation.ZCLHeader) -> str:
    control = header.frame_control
    if control.direction != foundation.Direction.Client_to_Server:
        return "server-to-client frame"
    if control.is_general:
        return f"general 0x{header.command_id:02X}"
    if control.is_manufacturer_specific:
        return "manufacturer-specific command"
    command = _SERVER_COMMANDS.get(header.command_id)
    return command.name if command is not None else f"cluster command 0x{header.command_id:02X}"


def _check_reply(
    request: IncomingFrame,
    header: foundation.ZCLHeader,
    payload: bytes,
    reply: OutgoingFrame,
    offered: ServedImage | None,
    served: bytes | None,
    config: OtaServerConfig,
) -> str:
    sent_back = (request.source, request.profile, request.dst_ep, request.src_ep, OTA_CLUSTER, request.aps_encrypted)
    if (reply.destination, reply.profile, reply.src_ep, reply.dst_ep, reply.cluster, reply.aps_encrypt) != sent_back:
        raise PropertyViolation("reply not sent back the way the request came", repr(reply))
    reply_header, reply_payload = _parse_server_frame(reply.zcl)
    if reply_header.tsn != header.tsn:
        raise PropertyViolation("reply TSN differs from the request's", f"{reply_header.tsn} != {header.tsn}")
    if reply_header.frame_control.is_general:
        if reply_header.command_id != foundation.GeneralCommand.Default_Response:
            raise PropertyViolation(
                "a request answered with a general command other than Default Response", reply.zcl.hex()
            )
        response = parse_strictly(_DEFAULT_RESPONSE.schema, reply_payload, "Default Response")
        if response.command_id != header.command_id:
            raise PropertyViolation(
                "Default Response names another command", f"{response.command_id} != {header.command_id}"
            )
        return f"Default_Response {response.status.name}"
    control = header.frame_control
    if not control.is_cluster:
        raise PropertyViolation(
            "a frame of a reserved ZCL frame type answered with a cluster command",
            f"frame type {int(control.frame_type)}: {request.zcl.hex()} -> {reply.zcl.hex()}",
        )
    if reply_header.command_id != _REPLIES_ALLOWED.get(header.command_id) or control.is_manufacturer_specific:
        raise PropertyViolation("a request answered with a command ZCL does not pair with it", reply.zcl.hex())
    command = _CLIENT_COMMANDS[reply_header.command_id]
    body = parse_strictly(command.schema, reply_payload, command.name)
    if command.id == OtaReply.query_next_image_response.id:
        _check_query_response(body, offered)
    elif command.id == OtaReply.image_block_response.id:
        _check_block_response(body, header.command_id, payload, offered, served, config, request.aps_encrypted)
    status = getattr(body, "status", None)
    return command.name if status is None else f"{command.name} {status.name}"


def _parse_server_frame(zcl: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    header, payload = parse_zcl(zcl)
    control = header.frame_control
    if control.direction != foundation.Direction.Server_to_Client or control.is_manufacturer_specific:
        raise PropertyViolation("server frame with the wrong direction or a manufacturer code", zcl.hex())
    return header, payload


def _check_query_response(body: foundation.CommandSchema, offered: ServedImage | None) -> None:
    fields = (body.manufacturer_code, body.image_type, body.file_version, body.image_size)
    if body.status != Status.SUCCESS:
        if any(field is not None for field in fields):
            raise PropertyViolation("QueryNextImageResponse carries image fields with a failure status", repr(body))
        return
    if offered is None or fields != (*image_key(offered), offered.total_size):
        raise PropertyViolation("QueryNextImageResponse offers an image that is not this device's", repr(body))


def _check_block_response(
    body: foundation.CommandSchema,
    request_command: int,
    request_payload: bytes,
    offered: ServedImage | None,
    served: bytes | None,
    config: OtaServerConfig,
    encrypted: bool,
) -> None:
    if body.status not in _BLOCK_STATUSES:
        raise PropertyViolation("ImageBlockResponse status outside SUCCESS/WAIT_FOR_DATA/ABORT", repr(body))
    if body.status != Status.SUCCESS:
        return
    named = (body.manufacturer_code, body.image_type, body.file_version)
    if offered is None or served is None or named != image_key(offered):
        raise PropertyViolation("block served from an image that is not this device's offer", repr(body))
    data, offset = bytes(body.image_data), body.file_offset
    if not 1 <= len(data) <= max_block_data_size(config.aps_max_payload, encrypted):
        raise PropertyViolation("block size outside 1..what one radio frame carries", f"{len(data)} bytes")
    if served[offset : offset + len(data)] != data:
        raise PropertyViolation("block bytes differ from the image's bytes at that offset", f"offset {offset}")
    _check_block_fits_request(request_command, request_payload, offset, len(data))


def _check_block_fits_request(command_id: int, payload: bytes, offset: int, size: int) -> None:
    """Where zigpy parses the request strictly, the block must lie where it asked, no larger than asked."""
    schema = ImageBlockCommand if command_id == OtaCommand.image_block.id else ImagePageCommand
    try:
        request, _ = schema.deserialize(payload)
    except (ValueError, KeyError):
        return  # a request the server tolerates but zigpy does not (a missing MinimumBlockPeriod)
    if size > request.maximum_data_size:
        raise PropertyViolation(
            "block larger than the request's maximum data size", f"{size} > {request.maximum_data_size}"
        )
    first = request.file_offset
    last = first if schema is ImageBlockCommand else first + request.page_size - 1
    if not first <= offset <= last or (schema is ImagePageCommand and offset + size > first + request.page_size):
        raise PropertyViolation("block outside the offset or page the request asked for", f"offset {offset}")


def check_unsolicited(frame: OutgoingFrame) -> None:
    """Timer work (ImageNotify, current_file_version reads) must be well-formed too."""
    if frame.destination not in DEVICES or frame.cluster != OTA_CLUSTER:
        raise PropertyViolation("unsolicited frame to an unknown device or cluster", repr(frame))
    header, payload = _parse_server_frame(frame.zcl)
    if header.frame_control.is_general and header.command_id == foundation.GeneralCommand.Read_Attributes:
        parse_strictly(_READ_ATTRIBUTES.schema, payload, "Read Attributes")
    elif header.frame_control.is_cluster and header.command_id == OtaReply.image_notify.id:
        parse_strictly(OtaReply.image_notify.schema, payload, "ImageNotify")
    else:
        raise PropertyViolation("unexpected unsolicited command", frame.zcl.hex())


# ------------------------------------------------------------------ seeds and mutation


def cluster_request(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    return foundation.ZCLHeader.cluster(tsn, command.id).serialize() + command.schema(**fields).serialize()


def version_report(tsn: int, version: int) -> bytes:
    """A Read Attributes Response with the client's current_file_version."""
    command = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp]
    value = foundation.TypeValue(type=foundation.DataTypeId.uint32, value=t.uint32_t(version))
    record = foundation.ReadAttributeRecord(attrid=0x0002, status=Status.SUCCESS, value=value)
    header = foundation.ZCLHeader.general(tsn, command.id)
    return header.serialize() + command.schema(status_records=[record]).serialize()


def seeds() -> list[bytes]:
    """Whole transfers and every request shape: with and without optional fields, good and bad."""
    esme = (ESME_IMAGE["manufacturer_code"], ESME_IMAGE["image_type"], ESME_IMAGE["file_version"])
    ppmid = (PPMID_IMAGE["manufacturer_code"], PPMID_IMAGE["image_type"], PPMID_IMAGE["file_version"])
    fc_block, fc_query = ImageBlockCommand.FieldControl, QueryNextImageCommand.FieldControl

    def query(tsn: int, key: tuple[int, int, int], hardware: int | None = None) -> bytes:
        extra = {} if hardware is None else {"hardware_version": hardware}
        control = fc_query(0) if hardware is None else fc_query.HardwareVersion
        return cluster_request(
            tsn, OtaCommand.query_next_image, field_control=control, manufacturer_code=key[0],
            image_type=key[1], current_file_version=key[2] - 1, **extra,
        )

    def block(tsn: int, key: tuple[int, int, int], offset: int, size: int = 64, **optional: object) -> bytes:
        control = fc_block(0)
        if "request_node_addr" in optional:
            control |= fc_block.RequestNodeAddr
        if "minimum_block_period" in optional:
            control |= fc_block.MinimumBlockPeriod
        return cluster_request(
            tsn, OtaCommand.image_block, field_control=control, manufacturer_code=key[0], image_type=key[1],
            file_version=key[2], file_offset=offset, maximum_data_size=size, **optional,
        )

    def page(tsn: int, key: tuple[int, int, int], offset: int, page_size: int, size: int = 48) -> bytes:
        return cluster_request(
            tsn, OtaCommand.image_page, field_control=0, manufacturer_code=key[0], image_type=key[1],
            file_version=key[2], file_offset=offset, maximum_data_size=size, page_size=page_size,
            response_spacing=50,
        )

    def end(tsn: int, key: tuple[int, int, int], status: Status = Status.SUCCESS) -> bytes:
        return cluster_request(
            tsn, OtaCommand.upgrade_end, status=status, manufacturer_code=key[0], image_type=key[1],
            file_version=key[2],
        )

    truncated_period = block(9, esme, 0, minimum_block_period=0)[:-2]
    to_client = foundation.Direction.Server_to_Client
    scenarios = [
        (0, [Step(0, query(1, esme))]),
        (0, [Step(0, query(1, esme, hardware=2)), Step(0, block(2, esme, 0)), Step(0, block(3, esme, 64)),
             Step(0, page(4, esme, 128, 600)), Step(0, end(5, esme), advance=3), Step(0, end(5, esme))]),
        (0, [Step(2, query(1, ppmid)), Step(2, page(2, ppmid, 0, 400)), Step(2, end(3, ppmid)),
             Step(2, b"", advance=4, tick=True), Step(2, version_report(4, ppmid[2]), advance=4, tick=True)]),
        (2, [Step(2, end(1, ppmid)), Step(2, b"", advance=4, tick=True), Step(2, version_report(2, 0x10)),
             Step(2, b"", advance=4, tick=True)]),
        (0, [Step(0, query(1, esme, hardware=7)), Step(3, query(2, esme)), Step(3, block(3, esme, 0))]),
        (0, [Step(0, block(1, esme, 0, request_node_addr=ESME_A)),
             Step(0, block(2, esme, 64, request_node_addr=ESME_A, minimum_block_period=100)),
             Step(0, truncated_period), Step(0, block(4, esme, 10_000)), Step(0, block(5, esme, 0, size=0))]),
        (0, [Step(1, end(1, esme, Status.ABORT)[:4]), Step(1, end(2, esme, Status.INVALID_IMAGE)),
             Step(1, end(3, ppmid))]),
        (1, [Step(0, block(1, esme, 0)), Step(0, block(2, esme, 64), advance=2), Step(1, block(3, esme, 0)),
             Step(0, block(4, esme, 64), advance=3), Step(1, page(5, esme, 0, 128), advance=5)]),
        (2, [Step(0, block(1, esme, 0, size=255), encrypted=False), Step(0, block(2, esme, 255, size=255)),
             Step(0, page(3, esme, 0, 0xFFFF, size=255), home_automation=True)]),
        (0, [Step(0, foundation.ZCLHeader.cluster(1, 0x01, manufacturer=0x1234).serialize()),
             Step(0, foundation.ZCLHeader.cluster(2, 0x08).serialize() + bytes(18)),
             Step(0, foundation.ZCLHeader.cluster(3, 0x01, direction=to_client).serialize()),
             Step(0, version_report(4, 1)), Step(0, b"\x01")]),
        (0, [Step(0, query(1, esme), advance=6), Step(2, query(2, ppmid), advance=7), Step(2, block(3, ppmid, 0))]),
    ]
    return [encode_scenario(config, steps) for config, steps in scenarios]


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Mostly mutate one step's ZCL bytes (keeping the framing), sometimes the scenario around it."""
    config, steps = decode_scenario(data)
    choice = rng.random()
    if not steps or choice < 0.1:
        return mutate_bytes(data, rng, pool, MAX_LEN)
    index = rng.randrange(len(steps))
    step = steps[index]
    if choice < 0.75:
        steps[index] = Step(
            step.device, mutate_bytes(step.zcl, rng, [], 255), step.encrypted, step.advance, step.tick,
            step.home_automation,
        )
    elif choice < 0.85:
        steps[index] = Step(
            rng.randrange(4), step.zcl, rng.random() < 0.5, rng.randrange(len(ADVANCES)), rng.random() < 0.3,
            rng.random() < 0.2,
        )
    elif choice < 0.9:
        donor = decode_scenario(rng.choice(pool))[1] if pool else []
        steps.insert(rng.randrange(len(steps) + 1), rng.choice(donor) if donor else step)
    elif choice < 0.95:
        del steps[index]
    else:
        config = rng.randrange(len(CONFIGS))
    return encode_scenario(config, steps[:MAX_STEPS])


TARGET = Target(
    name="zcl-ota",
    check=check_zcl_ota,
    seeds=seeds,
    mutate=mutate,
    max_len=MAX_LEN,
)
