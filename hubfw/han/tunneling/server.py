"""The Tunneling cluster server: GB-HRGP tunnels, one per client, and a GBCS message queue per client.

Two ends run it (GBCS 10.2.2; Silicon Labs' Comms Hub Function plugin, `comms-hub-function.c`):
- the hub, for the tunnel a sleepy GSME requests (`headers=True`): a GBCS tunnel command goes in front of
  every message. The device PUTs its GBCS messages; it GETs its next queued one and the hub answers with
  GET-RESPONSE (the number of messages still queued after this one, then the message, or nothing when the
  queue is empty). The hub PUTs queued messages itself to a device that has never sent GET (one that
  listens; a device that polls with GET may be asleep, so its messages wait for its next GET);
- a simulated ESME, HCALCS or PPMID, for the tunnel the hub requests after key establishment
  (`headers=False`): GBCS messages travel as they are, both ways, and queued ones go out as soon as the
  tunnel is open.
Each complete message received becomes `GbcsMessageReceived`, and an alert inside also `DeviceAlertReceived`.

A client opens its tunnel with RequestTunnel (GB-HRGP, no manufacturer code, no flow control); the answer
carries the tunnel id and how much one TransferData to the server may hold. Errors (SE D.6): TransferData
for an unknown tunnel → TransferDataError NO_SUCH_TUNNEL; for another client's tunnel → WRONG_DEVICE;
longer than the announced maximum, or a message longer than the server reassembles → DATA_OVERFLOW.
RequestTunnel for another protocol → PROTOCOL_NOT_SUPPORTED; asking for flow control →
FLOW_CONTROL_NOT_SUPPORTED; beyond `max_tunnels` → NO_MORE_TUNNEL_IDS. A second RequestTunnel from a client
replaces its tunnel. A tunnel idle for CloseTunnelTimeout seconds is closed with a TunnelClosureNotification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.clock import Clock, iso_utc
from hubfw.han.config import HanConfig
from hubfw.han.events import TunnelClosed, TunnelEvent, TunnelOpened, message_events
from hubfw.han.tunneling.outbox import Outbox, TunnelError
from hubfw.han.tunneling.stream import (
    TunnelOverflowError,
    TunnelReassembler,
    TunnelStreamError,
    TunnelUnit,
    tunnel_payloads,
)
from hubfw.han.tunneling.wire import (
    CLOSE_TUNNEL_TIMEOUT_ATTRIBUTE,
    GB_HRGP_PROTOCOL,
    NO_MANUFACTURER,
    GbcsTunnelCommand,
    TransferDataStatus,
    TunnelRequest,
    TunnelResponse,
    TunnelStatus,
    gb_hrgp_protocols,
)
from hubfw.han.zcl import HanRequest, encode
from hubfw.hub.faults import Fault, FaultBook, FaultError, FaultKind
from hubfw.zigbee.aps import OutgoingFrame
from hubfw.zigbee.ids import TUNNELING_CLUSTER
from hubfw.zigbee.zcl import attribute_record, decode, unsupported_attribute

Status = foundation.Status
NO_TUNNEL_ID = 0xFFFF
"""Tunnel id of a refused RequestTunnel."""
_Handler = Callable[[HanRequest, foundation.CommandSchema], list[OutgoingFrame]]
"""A command's handler, given the command already decoded (a payload that does not decode is MALFORMED_COMMAND)."""
_MIN_CLIENT_TRANSFER_SIZE = 3
"""The smallest TransferData a device must accept: a GET-RESPONSE head and one message octet."""

__all__ = ["NO_TUNNEL_ID", "TunnelError", "TunnelServer", "refusal_status"]


def refusal_status(fault: Fault) -> TunnelStatus:
    """The RequestTunnelResponse status of a TUNNEL_REFUSE fault: its `status` by name (BUSY,
    NO_MORE_TUNNEL_IDS, PROTOCOL_NOT_SUPPORTED, FLOW_CONTROL_NOT_SUPPORTED), NO_MORE_TUNNEL_IDS by default.
    SE's Tunneling cluster has no NO_RESOURCES status (D.6.2.4.1); NO_MORE_TUNNEL_IDS is its "no resources
    for another tunnel", and BUSY what Silicon Labs' tunneling-server test toggle answers
    (`emberAfPluginTunnelingServerToggleBusyCommand`)."""
    if fault.status is None:
        return TunnelStatus.NO_MORE_TUNNEL_IDS
    refusals = [status for status in TunnelStatus if status is not TunnelStatus.SUCCESS]
    try:
        status = TunnelStatus[fault.status.strip().upper().replace("-", "_")]
    except KeyError:
        status = TunnelStatus.SUCCESS
    if status is TunnelStatus.SUCCESS:
        raise FaultError(f"fault {fault.kind.value}: status is one of {', '.join(s.name for s in refusals)}, "
                         f"not {fault.status!r}")
    return status


@dataclass
class _Tunnel:
    """One open tunnel: whom it belongs to, how to reach it, how much it takes, its inbound stream."""

    tunnel_id: int
    eui64: t.EUI64
    profile: int
    client_ep: int
    server_ep: int
    client_max_transfer: int
    opened_at: float
    last_activity: float
    inbound: TunnelReassembler

    def frame(self, zcl: bytes) -> OutgoingFrame:
        return OutgoingFrame(self.eui64, self.profile, self.server_ep, self.client_ep, TUNNELING_CLUSTER, zcl,
                             aps_encrypt=True)


class TunnelServer:
    """GB-HRGP tunnels to every client; `handle`, `tick` and `send` return the frames to send."""

    def __init__(self, clock: Clock, config: HanConfig, may_open: Callable[[t.EUI64], bool], *,
                 outbox: Outbox | None = None, headers: bool = True) -> None:
        self._clock = clock
        self._config = config
        self._may_open = may_open
        self._headers = headers
        self._outbox = outbox or Outbox(config.max_queued_messages)
        self._tunnels: dict[int, _Tunnel] = {}
        self._by_device: dict[t.EUI64, _Tunnel] = {}
        self._polls: set[t.EUI64] = set()
        """Clients that have sent GET: their messages wait for their next GET."""
        self._next_id = 0
        self._tsn = 0
        self._events: list[TunnelEvent] = []
        self.faults: FaultBook | None = None
        """Faults set per device (TUNNEL_REFUSE, TUNNEL_CLOSE_MID), when this is the hub's server."""
        self._handlers: dict[int, tuple[foundation.ZCLCommandDef, _Handler]] = {
            command.id: (command, handler) for command, handler in (
                (TunnelRequest.request_tunnel, self._on_request_tunnel),
                (TunnelRequest.close_tunnel, self._on_close_tunnel),
                (TunnelRequest.transfer_data, self._on_transfer_data),
                (TunnelRequest.transfer_data_error, self._on_transfer_data_error),
                (TunnelRequest.get_supported_protocols, self._on_get_supported_protocols),
            )
        }

    # ----------------------------------------------------------------- inputs

    def handle(self, request: HanRequest) -> list[OutgoingFrame]:
        """A cluster command from a device (client to server). Never raises for what the device sent."""
        known = self._handlers.get(request.header.command_id)
        if known is None:  # AckTransferData and ReadyData belong to flow control, which GBCS does not use
            return request.default_response(Status.UNSUP_CLUSTER_COMMAND)
        command, handler = known
        try:
            body = decode(command, request.payload)
        except ValueError:
            return request.default_response(Status.MALFORMED_COMMAND)
        return handler(request, body)

    def tick(self) -> list[OutgoingFrame]:
        """Close the tunnels idle for CloseTunnelTimeout, telling their devices."""
        now = self._clock.now()
        frames = []
        for tunnel in list(self._tunnels.values()):
            if tunnel.last_activity + self._config.close_tunnel_timeout <= now:
                self._close(tunnel, f"idle for {self._config.close_tunnel_timeout} s")
                zcl = encode(self._next_tsn(), TunnelResponse.closure_notification, tunnel_id=tunnel.tunnel_id)
                frames.append(tunnel.frame(zcl))
        return frames

    def next_deadline(self) -> float | None:
        return min((tunnel.last_activity + self._config.close_tunnel_timeout for tunnel in self._tunnels.values()),
                   default=None)

    def send(self, eui64: t.EUI64, message: bytes) -> list[OutgoingFrame]:
        """Queue a GBCS message for `eui64` and send what its tunnel takes now (`push`). Raises TunnelError
        for bytes that are not one whole GBCS message, or a full queue."""
        self._outbox.put(eui64, message)
        return self.push(eui64)

    def push(self, eui64: t.EUI64) -> list[OutgoingFrame]:
        """Send `eui64` its queued messages if its tunnel is open and it does not poll (a polling client
        gets them one per GET; one without a tunnel at its next tunnel)."""
        tunnel = self._by_device.get(eui64)
        if tunnel is None or eui64 in self._polls:
            return []
        command = GbcsTunnelCommand.PUT if self._headers else None
        return [frame for message in self._outbox.take_all(eui64)
                for frame in self._transfer(tunnel, TunnelUnit(command, message))]

    def take_events(self) -> list[TunnelEvent]:
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------- views

    def tunnel_id(self, eui64: t.EUI64) -> int | None:
        tunnel = self._by_device.get(eui64)
        return None if tunnel is None else tunnel.tunnel_id

    def tunnels(self) -> list[dict]:
        """Open tunnels, JSON-able, for `hubfw devices` and status."""
        return [{
            "eui64": str(tunnel.eui64),
            "tunnel_id": tunnel.tunnel_id,
            "opened_by": "device",
            "opened_at": iso_utc(tunnel.opened_at),
            "last_activity": iso_utc(tunnel.last_activity),
            "queued_messages": self._outbox.count(tunnel.eui64),
            "polls": tunnel.eui64 in self._polls,
        } for tunnel in sorted(self._tunnels.values(), key=lambda tunnel: tunnel.tunnel_id)]

    def attribute_record(self, attribute_id: int) -> foundation.ReadAttributeRecord:
        if attribute_id == CLOSE_TUNNEL_TIMEOUT_ATTRIBUTE:
            return attribute_record(attribute_id, foundation.DataTypeId.uint16,
                                    t.uint16_t(self._config.close_tunnel_timeout))
        return unsupported_attribute(attribute_id)

    # ------------------------------------------------------------- commands

    def _on_request_tunnel(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        source = request.source
        if not self._may_open(source):
            return request.default_response(Status.NOT_AUTHORIZED)
        if body.maximum_incoming_transfer_size < _MIN_CLIENT_TRANSFER_SIZE:
            return request.default_response(Status.INVALID_FIELD)
        if body.protocol_id != GB_HRGP_PROTOCOL or body.manufacturer_code != NO_MANUFACTURER:
            return [self._tunnel_response(request, TunnelStatus.PROTOCOL_NOT_SUPPORTED)]
        if body.flow_control_support:
            return [self._tunnel_response(request, TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED)]
        refuse = self._take_fault(source, FaultKind.TUNNEL_REFUSE)
        if refuse is not None:
            return [self._tunnel_response(request, refusal_status(refuse))]
        old = self._by_device.get(source)
        if old is not None:
            self._close(old, "replaced by a new RequestTunnel")
        if len(self._tunnels) >= self._config.max_tunnels:
            return [self._tunnel_response(request, TunnelStatus.NO_MORE_TUNNEL_IDS)]
        now = self._clock.now()
        tunnel = _Tunnel(
            tunnel_id=self._allocate_id(),
            eui64=source,
            profile=request.frame.profile,
            client_ep=request.frame.src_ep,
            server_ep=request.frame.dst_ep,
            client_max_transfer=int(body.maximum_incoming_transfer_size),
            opened_at=now,
            last_activity=now,
            inbound=TunnelReassembler(self._config.max_message_size, headers=self._headers),
        )
        self._tunnels[tunnel.tunnel_id] = tunnel
        self._by_device[source] = tunnel
        self._events.append(TunnelOpened(source, tunnel.tunnel_id, "device"))
        return [self._tunnel_response(request, TunnelStatus.SUCCESS, tunnel.tunnel_id), *self.push(source)]

    def _on_close_tunnel(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        tunnel = self._tunnels.get(body.tunnel_id)
        if tunnel is None or tunnel.eui64 != request.source:
            return request.default_response(Status.NOT_FOUND)
        self._close(tunnel, "closed by the device")
        return request.default_response(Status.SUCCESS)

    def _on_transfer_data(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        tunnel = self._tunnels.get(body.tunnel_id)
        if tunnel is None:
            return [self._transfer_data_error(request, body.tunnel_id, TransferDataStatus.NO_SUCH_TUNNEL)]
        if tunnel.eui64 != request.source:
            return [self._transfer_data_error(request, body.tunnel_id, TransferDataStatus.WRONG_DEVICE)]
        now = self._clock.now()
        tunnel.last_activity = now
        try:
            unit = tunnel.inbound.feed(bytes(body.data), self._config.max_incoming_transfer_size)
        except TunnelOverflowError:
            return [self._transfer_data_error(request, body.tunnel_id, TransferDataStatus.DATA_OVERFLOW)]
        except TunnelStreamError:
            return request.default_response(Status.INVALID_FIELD)
        if unit is None:
            if self._take_fault(tunnel.eui64, FaultKind.TUNNEL_CLOSE_MID) is not None:
                return [*request.default_response(Status.SUCCESS), *self._close_mid_message(tunnel)]
            return request.default_response(Status.SUCCESS)
        if unit.command is GbcsTunnelCommand.GET:
            self._polls.add(tunnel.eui64)
            return [*request.default_response(Status.SUCCESS), *self._get_response(tunnel)]
        if unit.command in (GbcsTunnelCommand.PUT, None):
            self._events.extend(message_events(tunnel.eui64, unit.message, now))
            return request.default_response(Status.SUCCESS)
        return request.default_response(Status.INVALID_FIELD)  # GET-RESPONSE only goes hub to device

    def _on_transfer_data_error(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        """The device could not take our TransferData: nothing to redo, GBCS retries at its own level."""
        return request.default_response(Status.SUCCESS)

    def _on_get_supported_protocols(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        protocols = gb_hrgp_protocols()[body.protocol_offset:]
        zcl = encode(request.header.tsn, TunnelResponse.supported_protocols, protocol_list_complete=True,
                     protocols=protocols)
        return [request.reply(zcl)]

    # ---------------------------------------------------------------- helpers

    def _take_fault(self, eui64: t.EUI64, kind: FaultKind) -> Fault | None:
        if self.faults is None:
            return None
        return self.faults.take(eui64, (kind,), self._clock.now(), cluster="tunneling")

    def _close_mid_message(self, tunnel: _Tunnel) -> list[OutgoingFrame]:
        """TUNNEL_CLOSE_MID: drop the partial message and close the tunnel as an idle one is closed (SE D.6:
        TunnelClosureNotification to the client); the device must request a new tunnel and send again."""
        tunnel.inbound.reset()
        self._close(tunnel, f"closed in the middle of a message (fault {FaultKind.TUNNEL_CLOSE_MID.value})")
        zcl = encode(self._next_tsn(), TunnelResponse.closure_notification, tunnel_id=tunnel.tunnel_id)
        return [tunnel.frame(zcl)]

    def _get_response(self, tunnel: _Tunnel) -> list[OutgoingFrame]:
        message = self._outbox.take(tunnel.eui64) or b""
        unit = TunnelUnit(GbcsTunnelCommand.GET_RESPONSE, message, remaining=self._outbox.count(tunnel.eui64))
        return self._transfer(tunnel, unit)

    def _transfer(self, tunnel: _Tunnel, unit: TunnelUnit) -> list[OutgoingFrame]:
        """TransferData frames carrying `unit`, cut to the device's maximum (queued messages are whole GBCS
        messages, so they can always be cut)."""
        tunnel.last_activity = self._clock.now()
        return [
            tunnel.frame(encode(self._next_tsn(), TunnelResponse.transfer_data, tunnel_id=tunnel.tunnel_id,
                                data=t.Bytes(payload)))
            for payload in tunnel_payloads(unit, tunnel.client_max_transfer)
        ]

    def _close(self, tunnel: _Tunnel, reason: str) -> None:
        del self._tunnels[tunnel.tunnel_id]
        del self._by_device[tunnel.eui64]
        self._events.append(TunnelClosed(tunnel.eui64, tunnel.tunnel_id, reason, "device"))

    def _tunnel_response(self, request: HanRequest, status: TunnelStatus,
                         tunnel_id: int = NO_TUNNEL_ID) -> OutgoingFrame:
        zcl = encode(request.header.tsn, TunnelResponse.request_tunnel, tunnel_id=tunnel_id, tunnel_status=status,
                     maximum_incoming_transfer_size=self._config.max_incoming_transfer_size)
        return request.reply(zcl)

    def _transfer_data_error(self, request: HanRequest, tunnel_id: int, status: TransferDataStatus) -> OutgoingFrame:
        zcl = encode(request.header.tsn, TunnelResponse.transfer_data_error, tunnel_id=tunnel_id, status=status)
        return request.reply(zcl)

    def _allocate_id(self) -> int:
        while self._next_id in self._tunnels or self._next_id == NO_TUNNEL_ID:
            self._next_id = (self._next_id + 1) % NO_TUNNEL_ID
        tunnel_id = self._next_id
        self._next_id = (self._next_id + 1) % NO_TUNNEL_ID
        return tunnel_id

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn
