"""Fuzz target `zcl-han`: the hub's Smart Energy endpoint under the frames hostile devices send.

The hub under test is the one `hubfw serve` runs: `HubCore` with its HAN servers (Basic, Time,
Metering, Tunneling and a real suite-1 `KeyEstablishmentServer`, with the GBCS tunnel behind it), the
hub's CBKE rule and the OTA server on a small flash holding an image for the PPMID. Four senders: two ESMEs and a PPMID holding
certificates from the hub's CA, and a stranger whose certificate comes from another CA. A scenario
starts from a hub on which some of the three certified senders already hold a CBKE link key (real
`KeyEstablishmentClient` exchanges run once per configuration and key set, then the hub is copied for
each input, so every input is reproducible on its own and costs no key agreement unless it runs one).
Credentials and ephemeral keys are fixed, so recorded Key Establishment frames replay the same exchange.

    byte 0            bits 0-1 configuration (index into CONFIGS, modulo), bits 2-4 which of ESME A,
                      ESME B and PPMID start with a link key
    then per step     control byte, route byte, length byte, that many payload bytes (MAX_STEPS steps)
    control byte      bits 0-1 sender (ESME A, ESME B, PPMID, stranger), bit 2 APS-encrypted,
                      bits 3-5 clock advance before the step (ADVANCES), bit 6 run `run_due` after it,
                      bit 7 Home Automation profile instead of Smart Energy
    route byte        bits 0-2 cluster (CLUSTERS), bit 3 to another endpoint than the hub's SE one,
                      bit 4 the hub queues the payload as a GBCS message for the sender (`send_gbcs`)
                      instead of receiving it as ZCL

Properties: `handle`, `run_due` and `send_gbcs` never raise (but TunnelError or HubError, with a clean
one-line message); a frame the endpoint does not serve gets no reply (OTA frames go to the OTA server,
whose own fuzz target is `zcl-ota`: here they need only go back the way they came); where the hub
requires CBKE, a sender without a link key or encryption gets NOT_AUTHORIZED (unencrypted: it holds no
key) and nothing else; every other reply is a well-formed ZCL frame
(zigpy's ZCLHeader and the command's zigpy schema parse all of it), goes back to the sender's endpoint
on the request's profile and cluster, carries the request's TSN (hub-initiated tunnel TransferData
aside, which must use the sender's open tunnel and fit the size it announced) and is of a kind the
request allows (never a Default Response to a Default Response, nor standard attributes for a
manufacturer-specific read; a server-to-client TransferData, for the hub's Tunneling client, may get
TransferDataError); Key Establishment
replies are never APS-encrypted and all others are; each `GbcsMessageReceived` is exactly what its
sender PUT through its own open tunnel in consecutive TransferData payloads, none reported twice, only
from a sender holding a link key where the hub requires one; only certified senders establish keys;
open tunnels, queued messages and key establishment sessions stay within their configured bounds;
after `run_due`, `next_deadline` is never in the past.

Run it with tools/fuzz.py (`python tools/fuzz.py zcl-han --runs 100000`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import foundation

from fuzzlib.engine import PropertyViolation, Target, judge_rejection, mutate_bytes
from fuzzlib.zcl import parse_strictly, parse_zcl
from fuzzlib.zcl_ota import check_unsolicited
from hubfw.alerts import activation_alert
from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import FlashProfile
from hubfw.gbcs.alert_message import activation_message
from hubfw.gbcs.framing import CraFlag, general_signing
from hubfw.han import (
    DeviceAlertReceived,
    GbcsMessageReceived,
    HanConfig,
    HanEvent,
    HanServer,
    KeyEstablishmentClient,
    KeyEstablishmentConfig,
    KeyEstablishmentServer,
    LinkKeyEstablished,
    TunnelError,
    TunnelOpened,
)
from hubfw.han.key_establishment.wire import KeRequest, KeResponse
from hubfw.han.tunneling.stream import TunnelUnit, tunnel_payloads
from hubfw.han.tunneling.wire import (
    GB_HRGP_PROTOCOL,
    NO_MANUFACTURER,
    GbcsTunnelCommand,
    TunnelRequest,
    TunnelResponse,
)
from hubfw.hub.core import CoreConfig, HanSetup, HubCore, HubError, KeyInstall
from hubfw.hub.han import OPEN_WITHOUT_KEY
from hubfw.hub.link_keys import LinkKeyRegistry
from hubfw.ota.image import build_image
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import (
    BASIC_CLUSTER,
    HOME_AUTOMATION_PROFILE,
    KEY_ESTABLISHMENT_CLUSTER,
    METERING_CLUSTER,
    OTA_CLUSTER,
    SMART_ENERGY_PROFILE,
    TIME_CLUSTER,
    TUNNELING_CLUSTER,
)

Status = foundation.Status
General = foundation.GeneralCommand

HUB = parse_eui64("00:0d:6f:00:00:00:00:01")
ESME_A = parse_eui64("00:0d:6f:00:00:00:0a:01")
ESME_B = parse_eui64("00:0d:6f:00:00:00:0a:02")
PPMID = parse_eui64("00:0d:6f:00:00:00:0b:01")
STRANGER = parse_eui64("00:0d:6f:00:00:00:0c:01")
SENDERS = (ESME_A, ESME_B, PPMID, STRANGER)
CERTIFIED = SENDERS[:3]
ISSUER = parse_eui64("48:55:42:46:57:43:41:31")
FOREIGN_ISSUER = parse_eui64("48:55:42:46:57:43:41:32")
HUB_EP, CLIENT_EP, OTHER_EP = 0x7B, 2, 1
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SUITE = CryptoSuite.SUITE_1
"""Suite 1 only: its key agreement costs a third of suite 2's, and the state machine is the same."""
ADVANCES = (0.0, 0.0, 1.0, 15.0, 25.0, 61.0, 301.0, 65_536.0)
"""Seconds the clock moves before a step: none, within and past a Key Establishment step's deadline
(announced generate time plus margin), past the short tunnel timeouts and past SE's default one."""
CLUSTERS = (BASIC_CLUSTER, TIME_CLUSTER, METERING_CLUSTER, TUNNELING_CLUSTER, TUNNELING_CLUSTER,
            KEY_ESTABLISHMENT_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, OTA_CLUSTER)
"""Tunneling and Key Establishment twice (they hold the state); OTA goes to the OTA server."""


@dataclass(frozen=True)
class Configuration:
    han: HanConfig
    """Its `require_key_establishment` is the hub's CBKE rule (`HanSetup.require_cbke`): off is the hub's
    `--allow-without-cbke`."""
    key_establishment: KeyEstablishmentConfig

    @property
    def require_cbke(self) -> bool:
        return self.han.require_key_establishment


CONFIGS = (
    Configuration(HanConfig(), KeyEstablishmentConfig()),
    Configuration(
        HanConfig(close_tunnel_timeout=60, max_incoming_transfer_size=32, max_message_size=64, max_tunnels=2,
                  max_queued_messages=2),
        KeyEstablishmentConfig(max_sessions=1, timeout_margin=0.0),
    ),
    Configuration(HanConfig(require_key_establishment=False, close_tunnel_timeout=300), KeyEstablishmentConfig()),
)
FLASH = FlashProfile(
    name="fuzz-nor", size=64 * 1024, sector_size=1024, page_size=256, block_size=None, endurance=100_000,
    program_unit=1, max_writes_per_unit=None, page_program_s=(0.0004, 0.003), sector_erase_s=(0.045, 0.4),
    block_erase_s=None,
)
"""A small part (copied for every input) that holds the PPMID's image."""
MAX_IMAGE = 16 * 1024
MAX_STEPS = 10
MAX_LEN = 1 + MAX_STEPS * (3 + 255)

_DEFAULT_RESPONSE = foundation.GENERAL_COMMANDS[General.Default_Response]
_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[General.Read_Attributes]
_READ_ATTRIBUTES_RSP = foundation.GENERAL_COMMANDS[General.Read_Attributes_rsp]
_ANSWERS = {
    TUNNELING_CLUSTER: {
        TunnelRequest.request_tunnel.id: (TunnelResponse.request_tunnel,),
        TunnelRequest.transfer_data.id: (TunnelResponse.transfer_data_error,),
        TunnelRequest.get_supported_protocols.id: (TunnelResponse.supported_protocols,),
    },
    KEY_ESTABLISHMENT_CLUSTER: {
        request.id: (response, KeResponse.terminate)
        for request, response in zip(
            (KeRequest.initiate, KeRequest.ephemeral_data, KeRequest.confirm_key),
            (KeResponse.initiate, KeResponse.ephemeral_data, KeResponse.confirm_key),
            strict=True,
        )
    },
}
"""The cluster commands that may answer a client-to-server cluster command, with its TSN."""
_CLIENT_ANSWERS = {
    TUNNELING_CLUSTER: {TunnelResponse.transfer_data.id: (TunnelRequest.transfer_data_error,)},
}
"""The cluster commands the hub's Tunneling client may answer a server-to-client command with, with its TSN: a
TransferData into a tunnel the hub does not hold gets NO_SUCH_TUNNEL."""
_PUSHES_AFTER = (TunnelRequest.request_tunnel.id, TunnelRequest.transfer_data.id)
"""Requests after which the hub may send its own TransferData (queued messages, a GET-RESPONSE)."""


# ------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Step:
    device: int
    cluster: int
    payload: bytes
    encrypted: bool = True
    advance: int = 0
    tick: bool = False
    home_automation: bool = False
    other_endpoint: bool = False
    send_gbcs: bool = False

    def encode(self) -> bytes:
        control = self.device | self.encrypted << 2 | self.advance << 3 | self.tick << 6 | self.home_automation << 7
        route = self.cluster | self.other_endpoint << 3 | self.send_gbcs << 4
        return bytes([control, route, len(self.payload)]) + self.payload


def encode_scenario(config: int, keyed: int, steps: Sequence[Step]) -> bytes:
    return bytes([config | keyed << 2]) + b"".join(step.encode() for step in steps)


def decode_scenario(data: bytes) -> tuple[int, int, list[Step]]:
    """(configuration, keyed senders bitmask, steps); every byte string is a scenario."""
    head = data[0] if data else 0
    steps, offset = [], 1
    while offset < len(data) and len(steps) < MAX_STEPS:
        control = data[offset]
        route = data[offset + 1] if offset + 1 < len(data) else 0
        length = data[offset + 2] if offset + 2 < len(data) else 0
        steps.append(
            Step(
                device=control & 0x03, cluster=route & 0x07, payload=data[offset + 3 : offset + 3 + length],
                encrypted=bool(control & 0x04), advance=control >> 3 & 0x07, tick=bool(control & 0x40),
                home_automation=bool(control & 0x80), other_endpoint=bool(route & 0x08),
                send_gbcs=bool(route & 0x10),
            )
        )
        offset += 3 + length
    return (head & 0x03) % len(CONFIGS), head >> 2 & 0x07, steps


# ------------------------------------------------------------------ credentials and the server


class _SeededSecrets:
    """A seeded source of randomness for hubfw.cbke's key and certificate issuing: the same credentials in
    every process, so a saved input replays the same exchange."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def randbits(self, bits: int) -> int:
        return self._rng.getrandbits(bits)

    def randbelow(self, limit: int) -> int:
        return self._rng.randrange(limit)


def _fixed_key(seed: int) -> KeyPair:
    return KeyPair(SUITE, 1 + random.Random(seed).randrange(SUITE.curve.order - 1))


@dataclass(frozen=True)
class Credentials:
    hub: DeviceCredentials
    devices: dict[t.EUI64, DeviceCredentials]
    hub_ephemeral: KeyPair
    device_ephemeral: KeyPair


@cache
def credentials() -> Credentials:
    """The hub's and every sender's suite-1 credentials; the stranger's CA is not the hub's."""
    own, foreign = CertificateAuthority(ISSUER, _fixed_key(1)), CertificateAuthority(FOREIGN_ISSUER, _fixed_key(2))

    def issue(ca: CertificateAuthority, subject: t.EUI64, seed: int) -> DeviceCredentials:
        certificate, key = ca.issue_key_pair(subject, randomness=_SeededSecrets(seed))
        return DeviceCredentials(certificate, key, ca.public_key)

    devices = {eui64: issue(own, eui64, 10 + index) for index, eui64 in enumerate(CERTIFIED)}
    devices[STRANGER] = issue(foreign, STRANGER, 20)
    return Credentials(issue(own, HUB, 3), devices, _fixed_key(4), _fixed_key(5))


def client(sender: t.EUI64, clock: VirtualClock) -> KeyEstablishmentClient:
    """The sender's CBKE initiator, with its fixed ephemeral key."""
    creds = credentials()
    return KeyEstablishmentClient(creds.devices[sender], HUB, clock, endpoint=CLIENT_EP, hub_endpoint=HUB_EP,
                                  ephemeral_keys=lambda suite: creds.device_ephemeral)


def to_hub(frame: OutgoingFrame, sender: t.EUI64) -> IncomingFrame:
    return IncomingFrame(sender, 0x1000, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster, frame.zcl,
                         frame.aps_encrypt)


def to_device(frame: OutgoingFrame) -> IncomingFrame:
    return IncomingFrame(HUB, 0x0000, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster, frame.zcl,
                         frame.aps_encrypt)


def key_exchange(world: World, sender: t.EUI64) -> list[bytes]:
    """Run a real CBKE exchange between the sender's client and the hub; the ZCL frames the client sent."""
    return [frame.zcl for frame in _exchange(world, sender)[0]]


def key_exchange_replies(world: World, sender: t.EUI64) -> list[OutgoingFrame]:
    """Every frame the hub sends while the sender runs a whole CBKE exchange with it."""
    return _exchange(world, sender)[1]


def _exchange(world: World, sender: t.EUI64) -> tuple[list[OutgoingFrame], list[OutgoingFrame]]:
    """(what the sender's client sent, what the hub sent) in a whole, successful CBKE exchange."""
    initiator = client(sender, world.clock)
    pending, sent, received = initiator.start(), [], []
    while pending:
        frame = pending.pop(0)
        sent.append(frame)
        replies = hub_receives(world, to_hub(frame, sender))
        received += replies
        for reply in replies:
            pending.extend(initiator.handle(to_device(reply)))
    if not isinstance(initiator.outcome, LinkKeyEstablished):
        raise RuntimeError(f"the fuzz harness could not establish a key for {sender}: {initiator.outcome}")
    return sent, received


def hub_receives(world: World, frame: IncomingFrame) -> list[OutgoingFrame]:
    """What the radio adapter does with a frame: the core answers, and a new link key goes into the NCP
    (here at once) before the frames that waited for it go out."""
    return world.core.handle(frame) + hub_did_ncp_work(world)


def hub_did_ncp_work(world: World) -> list[OutgoingFrame]:
    frames = []
    for work in world.core.take_ncp_work():
        if not isinstance(work, KeyInstall):
            raise PropertyViolation("NCP CBKE library work from a hub that computes keys itself", repr(work))
        frames += world.core.keys_installed(work, {})
    return frames


class HanEvents(list[HanEvent]):
    """The HAN events the core acted on since the oracle last looked: the core's observer (a list, so a
    copied world's core reports into the copied world's list)."""

    def __call__(self, event: HanEvent) -> None:
        self.append(event)

    def take(self) -> list[HanEvent]:
        taken = list(self)
        self.clear()
        return taken


@dataclass
class World:
    """One scenario's hub, its clock and Key Establishment server, and what the oracle remembers."""

    clock: VirtualClock
    flash: NorFlash
    core: HubCore
    key_establishment: KeyEstablishmentServer
    configuration: Configuration
    events: HanEvents
    chunks: dict[t.EUI64, list[tuple[int, bytes]]] = field(default_factory=dict)
    """Every TransferData payload each sender sent into its own open tunnel: (tunnel id, data)."""
    reported: dict[t.EUI64, int] = field(default_factory=dict)
    """How many of a sender's chunks already went into reported messages."""
    device_max: dict[t.EUI64, int] = field(default_factory=dict)
    """The MaximumIncomingTransferSize each sender announced in the RequestTunnel that opened its tunnel."""

    @property
    def server(self) -> HanServer:
        return self.core.require_han().server

    @property
    def keys(self) -> LinkKeyRegistry:
        return self.core.require_han().keys


def _new_world(config_index: int) -> World:
    configuration = CONFIGS[config_index]
    creds = credentials()
    clock = VirtualClock(START)
    key_establishment = KeyEstablishmentServer({SUITE: creds.hub}, clock, configuration.key_establishment,
                                               ephemeral_keys=lambda suite: creds.hub_ephemeral)
    han = HanSetup(key_establishment, LinkKeyRegistry(None), require_cbke=configuration.require_cbke,
                   config=configuration.han)
    events = HanEvents()
    flash = NorFlash(FLASH)
    core = HubCore.open(flash, clock, CoreConfig(OtaServerConfig(server_endpoint=HUB_EP), max_image_size=MAX_IMAGE), han=han,
                        rng=random.Random(0), observe_han=events)
    core.distribute(ppmid_image(), [PPMID], DeviceType.PPMID)  # Metering's image-waiting flag: the PPMID's only
    return World(clock, flash, core, key_establishment, configuration, events)


@cache
def ppmid_image() -> bytes:
    return build_image(manufacturer_code=0x1234, image_type=0x0101, file_version=2, payload=bytes(64)).to_bytes()


@cache
def _keyed_template(config_index: int, keyed: int) -> World:
    """A server on which the senders in `keyed` hold link keys, built once by real exchanges."""
    world = _new_world(config_index)
    for index, sender in enumerate(CERTIFIED):
        if keyed >> index & 1:
            key_exchange(world, sender)
    world.events.take()
    return world


def fresh_world(config_index: int, keyed: int) -> World:
    """A private copy of the template (its clock back at START): inputs never share state."""
    template = _keyed_template(config_index, keyed)
    clock = VirtualClock(START)
    shared = credentials().hub  # immutable and large: shared, not copied
    flash = template.flash.fork()  # a flash is copied by forking (close it when done)
    return copy.deepcopy(template, {id(template.clock): clock, id(shared): shared, id(template.flash): flash})


# ------------------------------------------------------------------ running a scenario


def check_zcl_han(data: bytes) -> list[str]:
    """Play the scenario against a fresh server; one outcome label per step."""
    config_index, keyed, steps = decode_scenario(data)
    world = fresh_world(config_index, keyed)
    try:
        outcomes = []
        for step in steps:
            world.clock.advance(ADVANCES[step.advance])
            sender = SENDERS[step.device]
            if step.send_gbcs:
                outcomes.append(_send_gbcs(world, sender, step.payload))
            else:
                outcomes.append(_receive(world, step))
            if step.tick:
                check_tick(world, world.core.run_due())
            check_bounds(world)
        return outcomes
    finally:
        world.flash.close()


def _frame(step: Step) -> IncomingFrame:
    return IncomingFrame(
        source=SENDERS[step.device], nwk=0x1000 + step.device,
        profile=HOME_AUTOMATION_PROFILE if step.home_automation else SMART_ENERGY_PROFILE,
        src_ep=CLIENT_EP, dst_ep=OTHER_EP if step.other_endpoint else HUB_EP, cluster=CLUSTERS[step.cluster],
        zcl=step.payload, aps_encrypted=step.encrypted,
    )


def _receive(world: World, step: Step) -> str:
    frame = _frame(step)
    tunnel_before = world.server.tunnel_id(frame.source)
    replies = hub_receives(world, frame)
    check_events(world, world.events.take(), frame, tunnel_before)
    return check_replies(world, frame, replies)


def _send_gbcs(world: World, sender: t.EUI64, message: bytes) -> str:
    try:
        frames = world.core.send_gbcs(sender, message)
    except (TunnelError, HubError) as exc:
        return "send_gbcs: " + judge_rejection(exc, "send_gbcs")
    for frame in frames:
        _check_push(world, frame, sender, frame.profile)
    check_events(world, world.events.take(), None, None)
    return f"send_gbcs -> {len(frames) and 'sent' or 'queued'}"


# ------------------------------------------------------------------ the oracle: replies


def check_replies(world: World, request: IncomingFrame, replies: Sequence[OutgoingFrame]) -> str:
    """Judge the hub's answer to one frame; returns 'cluster request -> replies' for the statistics."""
    if request.cluster == OTA_CLUSTER:
        return _check_ota_replies(world, request, replies)
    served = (request.profile == SMART_ENERGY_PROFILE and request.dst_ep == HUB_EP
              and request.cluster in HanServer.SERVED_CLUSTERS)
    if not served:
        if replies:
            raise PropertyViolation("answered a frame the SE endpoint does not serve", repr(replies[0]))
        return "not for this endpoint -> no reply"
    try:
        header, _ = foundation.ZCLHeader.deserialize(request.zcl)
    except ValueError:
        header = None
    if header is None or not (header.frame_control.is_general or header.frame_control.is_cluster):
        if replies:
            raise PropertyViolation("answered a frame that is not ZCL", request.zcl.hex())
        return "not ZCL -> no reply"
    if _refused(world, request):
        return f"{request.cluster:04X} {_request_name(header)} -> {_check_refusal(request, header, replies)}"
    kinds = sorted({_check_reply(world, request, header, reply) for reply in replies})
    return f"{request.cluster:04X} {_request_name(header)} -> {', '.join(kinds) or 'no reply'}"


def _refused(world: World, request: IncomingFrame) -> bool:
    """The hub's CBKE rule (hubfw.hub.han) turns this Smart Energy frame away."""
    return (world.configuration.require_cbke and request.profile == SMART_ENERGY_PROFILE
            and request.cluster not in OPEN_WITHOUT_KEY and not _key_allows(world, request))


def _check_refusal(request: IncomingFrame, header: foundation.ZCLHeader, replies: Sequence[OutgoingFrame]) -> str:
    """A refused command gets one Default Response NOT_AUTHORIZED, sent back unencrypted (the sender holds no
    key); a refused response or Default Response gets nothing."""
    is_command = header.direction == foundation.Direction.Client_to_Server and not (
        header.frame_control.is_general and header.command_id == General.Default_Response)
    if not is_command:
        if replies:
            raise PropertyViolation("answered a refused response", repr(replies[0]))
        return "refused -> no reply"
    if len(replies) != 1:
        raise PropertyViolation("a refused command not answered by exactly one Default Response", repr(replies))
    [reply] = replies
    back = (request.source, request.profile, request.dst_ep, request.src_ep, request.cluster, False)
    if (reply.destination, reply.profile, reply.src_ep, reply.dst_ep, reply.cluster, reply.aps_encrypt) != back:
        raise PropertyViolation("refusal not sent back unencrypted the way the request came", repr(reply))
    reply_header, payload = parse_frame(reply.zcl)
    response = parse_strictly(_DEFAULT_RESPONSE.schema, payload, "Default Response")
    if not (reply_header.frame_control.is_general and reply_header.command_id == General.Default_Response
            and reply_header.tsn == header.tsn and response.command_id == header.command_id
            and response.status == Status.NOT_AUTHORIZED):
        raise PropertyViolation("a refused command answered other than Default Response NOT_AUTHORIZED", reply.zcl.hex())
    return "Default_Response NOT_AUTHORIZED"


def _check_ota_replies(world: World, request: IncomingFrame, replies: Sequence[OutgoingFrame]) -> str:
    """OTA frames are the OTA server's (judged by `zcl-ota`); here: back the way they came, or refused."""
    try:
        header, _ = foundation.ZCLHeader.deserialize(request.zcl)
    except ValueError:
        header = None
    is_zcl = header is not None and (header.frame_control.is_general or header.frame_control.is_cluster)
    if is_zcl and _refused(world, request):
        return f"OTA {_request_name(header)} -> {_check_refusal(request, header, replies)}"
    back = (request.source, request.profile, request.dst_ep, request.src_ep, OTA_CLUSTER)
    for reply in replies:
        if (reply.destination, reply.profile, reply.src_ep, reply.dst_ep, reply.cluster) != back:
            raise PropertyViolation("OTA reply not sent back the way the request came", repr(reply))
        parse_zcl(reply.zcl)
    return f"OTA -> {len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"


def _request_name(header: foundation.ZCLHeader) -> str:
    control = header.frame_control
    kind = "general" if control.is_general else "cluster"
    direction = "" if header.direction == foundation.Direction.Client_to_Server else " to client"
    manufacturer = " manufacturer" if control.is_manufacturer_specific else ""
    return f"{kind}{manufacturer}{direction} 0x{header.command_id:02X}"


def _check_reply(world: World, request: IncomingFrame, header: foundation.ZCLHeader, reply: OutgoingFrame) -> str:
    if _is_hub_tunnel_request(reply):
        if request.cluster != KEY_ESTABLISHMENT_CLUSTER or request.source not in world.keys:
            raise PropertyViolation("hub RequestTunnel after a frame that established no key", reply.zcl.hex())
        return _check_hub_tunnel_request(world, reply)
    encrypted = request.cluster != KEY_ESTABLISHMENT_CLUSTER
    sent_back = (request.source, request.profile, request.dst_ep, request.src_ep, request.cluster, encrypted)
    if (reply.destination, reply.profile, reply.src_ep, reply.dst_ep, reply.cluster, reply.aps_encrypt) != sent_back:
        raise PropertyViolation("reply not sent back the way the request came, or encrypted wrongly", repr(reply))
    reply_header, payload = parse_frame(reply.zcl)
    if reply_header.direction == header.direction:
        raise PropertyViolation("reply in the request's own direction", reply.zcl.hex())
    reply_control = reply_header.frame_control
    hub_transfer = reply_control.is_cluster and reply_header.command_id == TunnelResponse.transfer_data.id
    if hub_transfer and request.cluster == TUNNELING_CLUSTER:
        if _client_command(header) not in _PUSHES_AFTER:
            raise PropertyViolation("hub TransferData after a request that cannot cause one", reply.zcl.hex())
        _check_push(world, reply, request.source, request.profile)
        return "hub transfer_data"
    if reply_header.tsn != header.tsn:
        raise PropertyViolation("reply TSN differs from the request's", f"{reply_header.tsn} != {header.tsn}")
    if reply_control.is_general:
        return _check_general_reply(header, reply_header, payload)
    allowed = (_ANSWERS.get(request.cluster, {}).get(_client_command(header), ())
               or _CLIENT_ANSWERS.get(request.cluster, {}).get(
                   _client_command(header, foundation.Direction.Server_to_Client), ()))
    command = next((command for command in allowed if command.id == reply_header.command_id), None)
    if command is None:
        raise PropertyViolation("a request answered with a cluster command that does not pair with it",
                                f"{request.cluster:04X} {request.zcl.hex()} -> {reply.zcl.hex()}")
    body = parse_strictly(command.schema, payload, command.name)
    status = getattr(body, "tunnel_status", getattr(body, "status_code", getattr(body, "status", None)))
    return command.name if status is None else f"{command.name} {status.name}"


def _is_hub_tunnel_request(frame: OutgoingFrame) -> bool:
    """The hub as the Tunneling client: a client-to-server RequestTunnel it sends on its own."""
    if frame.cluster != TUNNELING_CLUSTER:
        return False
    try:
        header, _ = foundation.ZCLHeader.deserialize(frame.zcl)
    except ValueError:
        return False
    return _client_command(header) == TunnelRequest.request_tunnel.id


def _check_hub_tunnel_request(world: World, frame: OutgoingFrame) -> str:
    """GBCS 10.2.2.1: only to a device holding a link key, encrypted, from the SE endpoint, asking for GB-HRGP
    (protocol 6, manufacturer 0xFFFF) without flow control, taking the transfers the hub takes (1500 octets
    unless configured otherwise)."""
    route = (frame.profile, frame.src_ep, frame.dst_ep, frame.aps_encrypt)
    if frame.destination not in world.keys or route != (SMART_ENERGY_PROFILE, HUB_EP, CLIENT_EP, True):
        raise PropertyViolation("hub RequestTunnel to a device without a key, or not encrypted to its endpoint",
                                repr(frame))
    _, payload = parse_frame(frame.zcl)
    body = parse_strictly(TunnelRequest.request_tunnel.schema, payload, "RequestTunnel")
    asked = (body.protocol_id, body.manufacturer_code, bool(body.flow_control_support),
             body.maximum_incoming_transfer_size)
    if asked != (GB_HRGP_PROTOCOL, NO_MANUFACTURER, False, world.configuration.han.max_incoming_transfer_size):
        raise PropertyViolation("hub RequestTunnel with other fields than GBCS 10.2.2 gives", frame.zcl.hex())
    return "hub request_tunnel"


def _client_command(header: foundation.ZCLHeader,
                    direction: foundation.Direction = foundation.Direction.Client_to_Server) -> int | None:
    """The command id of a standard cluster command a client sends (or, given Server_to_Client, a server);
    None for any other frame."""
    control = header.frame_control
    if control.is_cluster and not control.is_manufacturer_specific and header.direction == direction:
        return int(header.command_id)
    return None


def _check_general_reply(header: foundation.ZCLHeader, reply_header: foundation.ZCLHeader, payload: bytes) -> str:
    command_id = reply_header.command_id
    if command_id == General.Read_Attributes_rsp:
        if not header.frame_control.is_general or header.command_id != General.Read_Attributes:
            raise PropertyViolation("Read Attributes Response to something else than Read Attributes",
                                    f"command 0x{header.command_id:02X}")
        if header.frame_control.is_manufacturer_specific:
            raise PropertyViolation("standard attributes returned for a manufacturer-specific Read Attributes",
                                    payload.hex())
        parse_strictly(_READ_ATTRIBUTES_RSP.schema, payload, "Read Attributes Response")
        return "Read_Attributes_rsp"
    if command_id != General.Default_Response:
        raise PropertyViolation("a request answered with a general command other than Default Response or "
                                "Read Attributes Response", f"0x{command_id:02X}")
    if header.frame_control.is_general and header.command_id == General.Default_Response:
        raise PropertyViolation("a Default Response answered with a Default Response", payload.hex())
    response = parse_strictly(_DEFAULT_RESPONSE.schema, payload, "Default Response")
    if response.command_id != header.command_id:
        raise PropertyViolation("Default Response names another command",
                                f"{response.command_id} != {header.command_id}")
    if response.status == Status.SUCCESS and header.frame_control.disable_default_response:
        raise PropertyViolation("SUCCESS Default Response to a request that disabled it", payload.hex())
    return f"Default_Response {response.status.name}"


def _check_push(world: World, frame: OutgoingFrame, device: t.EUI64, profile: int) -> None:
    """A TransferData the hub sends on its own must go, encrypted, into the device's open tunnel."""
    route = (frame.destination, frame.profile, frame.src_ep, frame.dst_ep, frame.cluster, frame.aps_encrypt)
    if route != (device, profile, HUB_EP, CLIENT_EP, TUNNELING_CLUSTER, True):
        raise PropertyViolation("hub TransferData not sent, encrypted, to the device's tunnel", repr(frame))
    header, payload = parse_frame(frame.zcl)
    if not header.frame_control.is_cluster or header.command_id != TunnelResponse.transfer_data.id:
        raise PropertyViolation("hub sent a tunnel frame other than TransferData", frame.zcl.hex())
    body = parse_strictly(TunnelResponse.transfer_data.schema, payload, "TransferData")
    if body.tunnel_id != world.server.tunnel_id(device):
        raise PropertyViolation("hub TransferData into a tunnel the device does not hold", f"{body.tunnel_id}")
    if not 1 <= len(body.data) <= world.device_max.get(device, 0):
        raise PropertyViolation("hub TransferData larger than the device announced it takes", f"{len(body.data)}")


def parse_frame(zcl: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    header, payload = parse_zcl(zcl)
    control = header.frame_control
    if control.is_manufacturer_specific or not (control.is_general or control.is_cluster):
        raise PropertyViolation("server frame with a manufacturer code or a reserved frame type", zcl.hex())
    return header, payload


# ------------------------------------------------------------------ the oracle: state


def check_events(world: World, events: Sequence[HanEvent], request: IncomingFrame | None,
                 tunnel_before: int | None) -> None:
    """What the hub reports must follow from what this step's sender did."""
    if request is not None and request.cluster == TUNNELING_CLUSTER:
        _record_chunk(world, request, tunnel_before)
    previous: HanEvent | None = None
    for event in events:
        if isinstance(event, GbcsMessageReceived):
            _check_message(world, event, request)
        elif isinstance(event, DeviceAlertReceived):
            if not isinstance(previous, GbcsMessageReceived) or (previous.eui64, previous.message) != (
                event.eui64, event.raw
            ):
                raise PropertyViolation("alert reported without its GBCS message", repr(event))
            if event.alert is not None and event.alert.entity != event.eui64:
                raise PropertyViolation("alert credited to a device other than its sender", repr(event))
        elif isinstance(event, TunnelOpened):
            if request is None or event.eui64 != request.source or not _key_allows(world, request):
                raise PropertyViolation("tunnel opened for a sender that did not ask or holds no key", repr(event))
            world.device_max[event.eui64] = _announced_maximum(request)
        elif isinstance(event, LinkKeyEstablished):
            if request is None or event.eui64 != request.source or event.eui64 not in CERTIFIED:
                raise PropertyViolation("link key established with a sender the hub's CA did not certify",
                                        repr(event.eui64))
        previous = event


def _announced_maximum(request: IncomingFrame) -> int:
    """What a RequestTunnel that opened a tunnel announced (zigpy parses it; 0 when it cannot)."""
    try:
        _, payload = foundation.ZCLHeader.deserialize(request.zcl)
        body, _ = TunnelRequest.request_tunnel.schema.deserialize(payload)
    except (ValueError, KeyError):
        return 0
    return int(body.maximum_incoming_transfer_size)


def _key_allows(world: World, request: IncomingFrame) -> bool:
    if not world.configuration.require_cbke:
        return True
    return request.aps_encrypted and request.source in world.keys


def _record_chunk(world: World, request: IncomingFrame, tunnel_id: int | None) -> None:
    """Keep the data of a TransferData the sender put into its own open tunnel."""
    try:
        header, payload = foundation.ZCLHeader.deserialize(request.zcl)
        body, _ = TunnelRequest.transfer_data.schema.deserialize(payload)
    except (ValueError, KeyError):
        return
    if _client_command(header) == TunnelRequest.transfer_data.id and body.tunnel_id == tunnel_id:
        world.chunks.setdefault(request.source, []).append((tunnel_id, bytes(body.data)))


def _check_message(world: World, event: GbcsMessageReceived, request: IncomingFrame | None) -> None:
    """The message is a run of the sender's own chunks in one tunnel, PUT first, ending with this one,
    none of them used by an earlier message."""
    if request is None or event.eui64 != request.source or event.time != world.clock.now():
        raise PropertyViolation("GBCS message reported for another sender or at another time", repr(event))
    if not _key_allows(world, request):
        raise PropertyViolation("GBCS message accepted from a sender without a link key or encryption",
                                repr(event.eui64))
    chunks = world.chunks.get(event.eui64, [])
    used = world.reported.get(event.eui64, 0)
    if len(chunks) <= used:
        raise PropertyViolation("GBCS message reported without a TransferData from its sender", repr(event))
    tunnel_id = chunks[-1][0]
    for first in range(len(chunks) - 1, used - 1, -1):
        if chunks[first][0] != tunnel_id:
            break
        data = b"".join(chunk for _, chunk in chunks[first:])
        if data[:1] == bytes([GbcsTunnelCommand.PUT]) and data[1:] == event.message:
            world.reported[event.eui64] = len(chunks)
            return
    raise PropertyViolation("GBCS message reported that its sender did not PUT (mixed, altered or repeated)",
                            event.message.hex())


def check_tick(world: World, frames: Sequence[OutgoingFrame]) -> None:
    """Timer work only closes tunnels, telling their devices, asks keyed devices again for the tunnel the
    hub opens (GBCS 10.2.2), and re-sends the PPMID's ImageNotify; nothing it expires is left overdue."""
    for frame in frames:
        if frame.cluster == OTA_CLUSTER and frame.destination == PPMID:
            check_unsolicited(frame)
            continue
        if _is_hub_tunnel_request(frame):
            _check_hub_tunnel_request(world, frame)
            continue
        if frame.destination not in SENDERS or frame.cluster != TUNNELING_CLUSTER or not frame.aps_encrypt:
            raise PropertyViolation("tick sent a frame to an unknown device, cluster, or unencrypted", repr(frame))
        header, payload = parse_frame(frame.zcl)
        if not header.frame_control.is_cluster or header.command_id != TunnelResponse.closure_notification.id:
            raise PropertyViolation("tick sent something else than a TunnelClosureNotification", frame.zcl.hex())
        parse_strictly(TunnelResponse.closure_notification.schema, payload, "TunnelClosureNotification")
    check_events(world, world.events.take(), None, None)
    deadline = world.core.next_deadline()
    if deadline is not None and deadline <= world.clock.now():
        raise PropertyViolation("next_deadline in the past after tick", f"{deadline} <= {world.clock.now()}")


def check_bounds(world: World) -> None:
    han = world.configuration.han
    tunnels = world.server.tunnels()
    if len(tunnels) > han.max_tunnels:
        raise PropertyViolation("more tunnels open than max_tunnels", f"{len(tunnels)}")
    if any(tunnel["queued_messages"] > han.max_queued_messages for tunnel in tunnels):
        raise PropertyViolation("a GBCS queue longer than max_queued_messages", repr(tunnels))
    sessions = len(world.key_establishment.active_sessions())
    if sessions > world.configuration.key_establishment.max_sessions:
        raise PropertyViolation("more key establishment sessions than max_sessions", f"{sessions}")


# ------------------------------------------------------------------ seeds and mutation


def cluster_request(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> bytes:
    return foundation.ZCLHeader.cluster(tsn, command.id).serialize() + command.schema(**fields).serialize()


def read_attributes(tsn: int, attribute_ids: list[int], *, to_client: bool = False) -> bytes:
    direction = foundation.Direction.Server_to_Client if to_client else foundation.Direction.Client_to_Server
    header = foundation.ZCLHeader.general(tsn, General.Read_Attributes, direction=direction)
    return header.serialize() + _READ_ATTRIBUTES.schema(attribute_ids=attribute_ids).serialize()


def request_tunnel(tsn: int, maximum: int = 1500, protocol: int = 6, flow_control: bool = False) -> bytes:
    return cluster_request(tsn, TunnelRequest.request_tunnel, protocol_id=protocol, manufacturer_code=0xFFFF,
                           flow_control_support=flow_control, maximum_incoming_transfer_size=maximum)


def transfer(tsn: int, tunnel_id: int, data: bytes) -> bytes:
    return cluster_request(tsn, TunnelRequest.transfer_data, tunnel_id=tunnel_id, data=t.Bytes(data))


def puts(tsn: int, tunnel_id: int, message: bytes, max_size: int) -> list[bytes]:
    """The TransferData frames that PUT `message` in payloads of at most `max_size` octets."""
    payloads = tunnel_payloads(TunnelUnit(GbcsTunnelCommand.PUT, message), max_size)
    return [transfer(tsn + index, tunnel_id, payload) for index, payload in enumerate(payloads)]


def gbcs_message(counter: int, content: bytes) -> bytes:
    return general_signing(CraFlag.COMMAND, counter, bytes(8), bytes(8), 0x0001, content)


def recorded_exchange(sender: t.EUI64) -> list[bytes]:
    """The ZCL frames the sender's client sends in a successful exchange with a fresh hub."""
    return key_exchange(_new_world(0), sender)


PPMID_DS_KEY = ec.derive_private_key(0x8F8B, ec.SECP256R1())
"""The PPMID's Digital Signing key: its 0x8F8B seed is signed as a real PPMID's is."""


def seeds() -> list[bytes]:
    """Whole exchanges, tunnels and reads: every request shape, valid and not, from each kind of sender."""
    ke, tunnel, basic, time_, metering = 5, 3, 0, 1, 2
    exchange = recorded_exchange(ESME_A)
    stranger = client(STRANGER, VirtualClock(START)).start()[0].zcl
    suite2 = cluster_request(1, KeRequest.initiate, key_establishment_suite=2, ephemeral_data_generate_time=10,
                             confirm_key_generate_time=10, identity=t.Bytes(bytes(74)))
    terminate = cluster_request(9, KeRequest.terminate, status_code=3, wait_time=10, key_establishment_suite=1)
    small, large = gbcs_message(1, bytes(range(20))), gbcs_message(2, bytes(200))
    first, second = puts(2, 0, small, 32), puts(2, 1, gbcs_message(3, b"B"), 32)
    alert = activation_message(activation_alert(7, PPMID, 0x10, START), 7, key=PPMID_DS_KEY)  # the RTDS 0x012B form
    get = transfer(5, 0, bytes([GbcsTunnelCommand.GET]))
    header_only = foundation.ZCLHeader.cluster
    scenarios = [
        (0, 0, [Step(0, ke, zcl, encrypted=False) for zcl in exchange]
         + [Step(0, tunnel, request_tunnel(4)), *(Step(0, tunnel, zcl) for zcl in puts(5, 0, small, 1500)),
            Step(0, tunnel, get), Step(0, tunnel, cluster_request(8, TunnelRequest.close_tunnel, tunnel_id=0))]),
        (1, 0b011, [Step(0, tunnel, request_tunnel(1, maximum=16)), Step(1, tunnel, request_tunnel(1)),
                    Step(0, tunnel, first[0]), Step(1, tunnel, second[0]), Step(0, tunnel, first[1]),
                    Step(1, tunnel, first[1]),
                    Step(1, tunnel, transfer(9, 1, bytes([3]) + small[:20])), Step(0, tunnel, transfer(9, 0, b"\x03")),
                    Step(2, tunnel, request_tunnel(1)), Step(0, tunnel, get, advance=5, tick=True)]),
        (0, 0b111, [Step(2, tunnel, alert, send_gbcs=True), Step(2, tunnel, large, send_gbcs=True),
                    Step(2, tunnel, request_tunnel(1, maximum=40)), *(Step(2, tunnel, zcl) for zcl in
                                                                       puts(2, 0, alert, 1500)),
                    Step(1, tunnel, request_tunnel(3)), Step(1, tunnel, transfer(4, 1, b"\x01")),
                    Step(1, tunnel, small, send_gbcs=True), Step(1, tunnel, transfer(5, 1, b"\x01"))]),
        (2, 0, [Step(3, tunnel, request_tunnel(1), encrypted=False), *(Step(3, tunnel, zcl) for zcl in
                                                                      puts(2, 0, large, 100)),
                Step(3, tunnel, cluster_request(9, TunnelRequest.get_supported_protocols, protocol_offset=0)),
                Step(3, tunnel, cluster_request(9, TunnelRequest.transfer_data_error, tunnel_id=0, status=2)),
                Step(3, tunnel, cluster_request(9, TunnelRequest.ack_transfer_data, tunnel_id=0, octets_left=1))]),
        (0, 0b111, [Step(0, basic, read_attributes(1, [0x0000, 0x0004, 0x0005, 0x0007, 0x4000])),
                Step(1, time_, read_attributes(2, [0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0007]),
                     advance=7),
                Step(2, metering, read_attributes(3, [0x0000, 0x0300, 0x0306])),
                Step(2, metering, read_attributes(4, [0x0000], to_client=True)),
                Step(0, tunnel, read_attributes(5, [0x0000, 0x0001])), Step(0, ke, read_attributes(6, [0x0000])),
                Step(0, basic, header_only(7, 0x00).serialize()),
                Step(0, time_, foundation.ZCLHeader.general(8, General.Write_Attributes).serialize())]),
        (1, 0, [Step(3, ke, stranger, encrypted=False), Step(1, ke, suite2, encrypted=False),
                Step(2, ke, exchange[1], encrypted=False), Step(0, ke, exchange[0], encrypted=False),
                Step(1, ke, exchange[0], encrypted=False), Step(0, ke, exchange[1], advance=4, tick=True),
                Step(0, ke, terminate, encrypted=False), Step(0, ke, header_only(9, 0x07).serialize())]),
        (0, 0b001, [Step(0, tunnel, request_tunnel(1), encrypted=False), Step(1, tunnel, request_tunnel(1)),
                    Step(0, tunnel, request_tunnel(2, protocol=1)),
                    Step(0, tunnel, request_tunnel(3, flow_control=True)),
                    Step(0, tunnel, request_tunnel(4, maximum=2)),
                    Step(0, tunnel, request_tunnel(5), home_automation=True),
                    Step(0, tunnel, request_tunnel(6), other_endpoint=True), Step(0, 7, request_tunnel(7)),
                    Step(0, tunnel, header_only(8, 0x00, manufacturer=0x1234).serialize()),
                    Step(0, tunnel, b"\x01")]),
        (2, 0b100, [Step(2, tunnel, request_tunnel(1)), Step(2, tunnel, transfer(2, 0, b"\x03\x60\x00")),
                    Step(2, tunnel, transfer(3, 0, b"\x02\x00")), Step(2, tunnel, transfer(4, 7, b"\x03abc")),
                    Step(2, tunnel, transfer(5, 0, b"\x03plain")), Step(2, tunnel, b"", advance=6, tick=True),
                    Step(2, tunnel, transfer(6, 0, b"\x01"), advance=7, tick=True)]),
    ]
    return [encode_scenario(config, keyed, steps) for config, keyed, steps in scenarios]


def mutate(data: bytes, rng: random.Random, pool: Sequence[bytes]) -> bytes:
    """Mostly mutate one step's payload (keeping the framing), sometimes the scenario around it."""
    config, keyed, steps = decode_scenario(data)
    choice = rng.random()
    if not steps or choice < 0.1:
        return mutate_bytes(data, rng, pool, MAX_LEN)
    index = rng.randrange(len(steps))
    step = steps[index]
    if choice < 0.75:
        steps[index] = Step(step.device, step.cluster, mutate_bytes(step.payload, rng, [], 255), step.encrypted,
                            step.advance, step.tick, step.home_automation, step.other_endpoint, step.send_gbcs)
    elif choice < 0.85:
        cluster = rng.randrange(len(CLUSTERS)) if rng.random() < 0.2 else step.cluster
        steps[index] = Step(rng.randrange(4), cluster, step.payload, rng.random() < 0.7,
                            rng.randrange(len(ADVANCES)), rng.random() < 0.3, rng.random() < 0.1,
                            rng.random() < 0.1, step.send_gbcs)
    elif choice < 0.9:
        donor = decode_scenario(rng.choice(pool))[2] if pool else []
        steps.insert(rng.randrange(len(steps) + 1), rng.choice(donor) if donor else step)
    elif choice < 0.95:
        del steps[index]
    else:
        config, keyed = rng.randrange(len(CONFIGS)), rng.randrange(8)
    return encode_scenario(config, keyed, steps[:MAX_STEPS])


TARGET = Target(
    name="zcl-han",
    check=check_zcl_han,
    seeds=seeds,
    mutate=mutate,
    max_len=MAX_LEN,
)
