"""The Tunneling cluster client: one GB-HRGP tunnel to one Tunneling server, frames in, frames out.

GBCS gives the client role to both ends, each for its own kind of tunnel (section 10.2.2; Silicon Labs'
Comms Hub Function plugin, `comms-hub-function.c` and `tunnel-manager.c`):
- the hub is the client of the tunnel it opens to an ESME, HCALCS or PPMID after key establishment; GBCS
  messages then travel as they are (`headers=False`; `hubfw.han.tunneling.requester` drives it);
- a sleepy GSME is the client of the tunnel it opens to the hub, and puts a GBCS tunnel command in front of
  every message: it PUTs its own and GETs those the hub holds for it (`headers=True`, the simulated GSME).

Either way the client sends RequestTunnel (GB-HRGP, no manufacturer code, no flow control, its
MaximumIncomingTransferSize), cuts what it sends to the server's MaximumIncomingTransferSize, and joins what
the server sends into whole GBCS messages for `take_messages`. Answers to the server's commands go back in
kind (its TSN, its endpoints). See `hubfw.han.tunneling.wire` for the commands and their sources.
"""

from __future__ import annotations

import enum

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.errors import HubfwError
from hubfw.han.tunneling.stream import (
    TunnelOverflowError,
    TunnelReassembler,
    TunnelStreamError,
    TunnelUnit,
    tunnel_payloads,
)
from hubfw.han.tunneling.wire import (
    GB_HRGP_PROTOCOL,
    NO_MANUFACTURER,
    GbcsTunnelCommand,
    TransferDataStatus,
    TunnelRequest,
    TunnelResponse,
    TunnelStatus,
)
from hubfw.han.zcl import HanRequest, encode, parse
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TUNNELING_CLUSTER
from hubfw.zigbee.zcl import decode

DEFAULT_MAX_INCOMING_TRANSFER_SIZE = 1500
"""GBCS 10.2.2 (quoted in `tunnel-manager.c`): every RequestTunnel and RequestTunnelResponse carries 1500."""
_DEFAULT_RESPONSE = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response]
Status = foundation.Status


class TunnelClientError(HubfwError):
    """The client was asked for something it cannot do in its state."""


class TunnelState(enum.Enum):
    CLOSED = "closed"
    REQUESTED = "requested"
    OPEN = "open"


class TunnelClient:
    """One GB-HRGP tunnel to the Tunneling server of `server` (the hub, for a GSME; a device, for the hub)."""

    def __init__(
        self,
        server: t.EUI64,
        *,
        endpoint: int = 1,
        server_endpoint: int = 1,
        profile: int = SMART_ENERGY_PROFILE,
        max_incoming_transfer_size: int = DEFAULT_MAX_INCOMING_TRANSFER_SIZE,
        max_message_size: int = 16384,
        headers: bool = True,
    ) -> None:
        self.server = server
        self._endpoint = endpoint
        self.server_endpoint = server_endpoint
        self._profile = profile
        self._max_incoming = max_incoming_transfer_size
        self.headers = headers
        """GBCS tunnel commands (GET / GET-RESPONSE / PUT) in front of the messages: a GSME's tunnel."""
        self._min_transfer = 2 if headers else 1
        """The least a server's TransferData must take: a PUT and one octet, or one octet."""
        self._inbound = TunnelReassembler(max_message_size, headers=headers)
        self._tsn = 0
        self.state = TunnelState.CLOSED
        self.tunnel_id: int | None = None
        self.server_max_transfer: int | None = None
        """The server's MaximumIncomingTransferSize, from its RequestTunnelResponse."""
        self.refusal: TunnelStatus | TransferDataStatus | foundation.Status | None = None
        """Why the server refused the last RequestTunnel (a tunnel status, or the status of a Default Response
        such as NOT_AUTHORIZED), or the last TransferDataError it sent."""
        self.closed_because: str | None = None
        """Why the open tunnel last closed."""
        self.remaining: int | None = None
        """Messages the server still held after its last GET-RESPONSE."""
        self._messages: list[bytes] = []

    @property
    def is_open(self) -> bool:
        return self.state is TunnelState.OPEN

    @property
    def receiving(self) -> bool:
        """A message from the server has begun and not yet ended."""
        return self._inbound.pending

    # ---------------------------------------------------------------- outputs

    def request(self) -> OutgoingFrame:
        """RequestTunnel: GB-HRGP, no manufacturer code, no flow control (GBCS 10.2.2)."""
        self.state = TunnelState.REQUESTED
        self.refusal = None
        return self._frame(
            TunnelRequest.request_tunnel,
            protocol_id=GB_HRGP_PROTOCOL,
            manufacturer_code=NO_MANUFACTURER,
            flow_control_support=t.Bool.false,
            maximum_incoming_transfer_size=self._max_incoming,
        )

    def send(self, message: bytes) -> list[OutgoingFrame]:
        """One GBCS message (a PUT on a GSME's tunnel), in as many TransferData as the server's maximum needs."""
        if not message:
            raise TunnelClientError("cannot send an empty GBCS message")
        return self._transfer(TunnelUnit(GbcsTunnelCommand.PUT if self.headers else None, message))

    def get(self) -> list[OutgoingFrame]:
        """TransferData GET: ask the server for the next message it holds for us (a GSME's tunnel only)."""
        if not self.headers:
            raise TunnelClientError("GET exists only on a tunnel with GBCS tunnel commands (a GSME's)")
        return self._transfer(TunnelUnit(GbcsTunnelCommand.GET))

    def close(self) -> OutgoingFrame:
        """CloseTunnel."""
        tunnel_id = self._open_tunnel_id()
        self._closed("closed by this end")
        return self._frame(TunnelRequest.close_tunnel, tunnel_id=tunnel_id)

    def take_messages(self) -> list[bytes]:
        """The whole GBCS messages the server sent since the last call, oldest first."""
        messages, self._messages = self._messages, []
        return messages

    # ----------------------------------------------------------------- inputs

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to a Tunneling frame from the server. Never raises for what the server sent."""
        if frame.cluster != TUNNELING_CLUSTER or frame.source != self.server:
            return []
        request = parse(frame)
        if request is None or request.header.client_to_server:
            return []
        if request.header.is_general:
            self._on_general(request.header.command_id, request.payload)
            return []
        command_id = request.header.command_id
        try:
            if command_id == TunnelResponse.request_tunnel.id:
                self._on_request_tunnel_response(decode(TunnelResponse.request_tunnel, request.payload))
            elif command_id == TunnelResponse.transfer_data.id:
                return self._on_transfer_data(request, decode(TunnelResponse.transfer_data, request.payload))
            elif command_id == TunnelResponse.transfer_data_error.id:
                self._on_transfer_data_error(decode(TunnelResponse.transfer_data_error, request.payload))
            elif command_id == TunnelResponse.closure_notification.id:
                if decode(TunnelResponse.closure_notification, request.payload).tunnel_id == self.tunnel_id:
                    self._closed("the server closed it (TunnelClosureNotification)")
        except ValueError:
            return []
        return []

    def _on_general(self, command_id: int, payload: bytes) -> None:
        """A Default Response refusing our RequestTunnel (NOT_AUTHORIZED before CBKE, UNSUPPORTED_CLUSTER from
        a device without a Tunneling server) ends it."""
        if command_id != foundation.GeneralCommand.Default_Response or self.state is not TunnelState.REQUESTED:
            return
        try:
            body = decode(_DEFAULT_RESPONSE, payload)
        except ValueError:
            return
        if body.command_id == TunnelRequest.request_tunnel.id and body.status != Status.SUCCESS:
            self.refusal = body.status
            self._closed(None)

    def _on_request_tunnel_response(self, body: foundation.CommandSchema) -> None:
        """The answer to our RequestTunnel. A late one (to a request sent again after a silence) counts as
        well, and a new tunnel id while open means the server replaced the tunnel. A server that takes too
        little in one TransferData to carry anything refuses in effect (`refusal` DATA_OVERFLOW)."""
        if self.state is TunnelState.CLOSED:
            return
        if body.tunnel_status != TunnelStatus.SUCCESS or body.maximum_incoming_transfer_size < self._min_transfer:
            if self.state is TunnelState.REQUESTED:
                self.refusal = (body.tunnel_status if body.tunnel_status != TunnelStatus.SUCCESS
                                else TransferDataStatus.DATA_OVERFLOW)
                self._closed(None)
            return
        if self.tunnel_id != body.tunnel_id:
            self._inbound.reset()
        self.state = TunnelState.OPEN
        self.tunnel_id = int(body.tunnel_id)
        self.server_max_transfer = int(body.maximum_incoming_transfer_size)

    def _on_transfer_data(self, request: HanRequest, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        if not self.is_open or body.tunnel_id != self.tunnel_id:
            return [self._transfer_data_error(request, body.tunnel_id, TransferDataStatus.NO_SUCH_TUNNEL)]
        try:
            unit = self._inbound.feed(bytes(body.data), self._max_incoming)
        except TunnelOverflowError:
            return [self._transfer_data_error(request, body.tunnel_id, TransferDataStatus.DATA_OVERFLOW)]
        except TunnelStreamError:
            return request.default_response(Status.INVALID_FIELD)
        if unit is not None:
            if unit.command is GbcsTunnelCommand.GET_RESPONSE:
                self.remaining = unit.remaining
            if unit.message and unit.command is not GbcsTunnelCommand.GET:
                self._messages.append(unit.message)
        return request.default_response(Status.SUCCESS)

    def _on_transfer_data_error(self, body: foundation.CommandSchema) -> None:
        """NO_SUCH_TUNNEL or WRONG_DEVICE for our tunnel: the server no longer has it (it restarted, or
        closed it idle), so it is closed here too and may be requested again."""
        self.refusal = body.status
        if body.tunnel_id == self.tunnel_id and body.status != TransferDataStatus.DATA_OVERFLOW:
            self._closed(f"the server no longer has it ({body.status.name})")

    def _transfer_data_error(self, request: HanRequest, tunnel_id: int, status: TransferDataStatus) -> OutgoingFrame:
        zcl = encode(request.header.tsn, TunnelRequest.transfer_data_error, tunnel_id=tunnel_id, status=status)
        return request.reply(zcl)

    # ---------------------------------------------------------------- helpers

    def _transfer(self, unit: TunnelUnit) -> list[OutgoingFrame]:
        tunnel_id = self._open_tunnel_id()
        assert self.server_max_transfer is not None
        return [
            self._frame(TunnelRequest.transfer_data, tunnel_id=tunnel_id, data=t.Bytes(payload))
            for payload in tunnel_payloads(unit, self.server_max_transfer)
        ]

    def _open_tunnel_id(self) -> int:
        if not self.is_open or self.tunnel_id is None:
            raise TunnelClientError(f"no open tunnel to {self.server}")
        return self.tunnel_id

    def _closed(self, reason: str | None) -> None:
        if self.state is TunnelState.OPEN:
            self.closed_because = reason
        self.state = TunnelState.CLOSED
        self.tunnel_id = None
        self._inbound.reset()

    def _frame(self, command: foundation.ZCLCommandDef, **fields: object) -> OutgoingFrame:
        self._tsn = (self._tsn + 1) % 256
        return OutgoingFrame(
            destination=self.server,
            profile=self._profile,
            src_ep=self._endpoint,
            dst_ep=self.server_endpoint,
            cluster=TUNNELING_CLUSTER,
            zcl=encode(self._tsn, command, **fields),
            aps_encrypt=True,
        )
