"""The device side of the GBCS tunnel (Tunneling cluster client), for simulated PPMIDs and meters.

It opens a GB-HRGP tunnel to the hub's Smart Energy endpoint, PUTs GBCS messages (cut to the hub's
MaximumIncomingTransferSize), GETs queued ones, and reassembles what the hub sends — PUT or
GET-RESPONSE — into whole GBCS messages for `take_messages`. Frames in, frames out, like
`KeyEstablishmentClient`; see `hubfw.han.tunneling.wire` for the commands and their sources.
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
from hubfw.han.zcl import encode, parse
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TUNNELING_CLUSTER
from hubfw.zigbee.zcl import decode

DEFAULT_MAX_INCOMING_TRANSFER_SIZE = 1500
_DEFAULT_RESPONSE = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response]


class TunnelClientError(HubfwError):
    """The device asked its tunnel for something it cannot do in its state."""


class TunnelState(enum.Enum):
    CLOSED = "closed"
    REQUESTED = "requested"
    OPEN = "open"


class TunnelClient:
    """One device's GB-HRGP tunnel to the hub."""

    def __init__(
        self,
        hub: t.EUI64,
        *,
        endpoint: int = 1,
        hub_endpoint: int = 1,
        profile: int = SMART_ENERGY_PROFILE,
        max_incoming_transfer_size: int = DEFAULT_MAX_INCOMING_TRANSFER_SIZE,
        max_message_size: int = 16384,
    ) -> None:
        self._hub = hub
        self._endpoint = endpoint
        self._hub_endpoint = hub_endpoint
        self._profile = profile
        self._max_incoming = max_incoming_transfer_size
        self._inbound = TunnelReassembler(max_message_size)
        self._tsn = 0
        self.state = TunnelState.CLOSED
        self.tunnel_id: int | None = None
        self.hub_max_transfer: int | None = None
        """The hub's MaximumIncomingTransferSize, from its RequestTunnelResponse."""
        self.refusal: TunnelStatus | TransferDataStatus | foundation.Status | None = None
        """Why the hub refused the last RequestTunnel (a tunnel status, or the status of a Default Response
        such as NOT_AUTHORIZED), or the last TransferDataError it sent."""
        self.remaining: int | None = None
        """Messages the hub still held after its last GET-RESPONSE."""
        self._messages: list[bytes] = []

    @property
    def is_open(self) -> bool:
        return self.state is TunnelState.OPEN

    # ---------------------------------------------------------------- outputs

    def request(self) -> OutgoingFrame:
        """RequestTunnel: GB-HRGP, no manufacturer code, no flow control."""
        self.state = TunnelState.REQUESTED
        self.refusal = None
        return self._frame(
            TunnelRequest.request_tunnel,
            protocol_id=GB_HRGP_PROTOCOL,
            manufacturer_code=NO_MANUFACTURER,
            flow_control_support=t.Bool.false,
            maximum_incoming_transfer_size=self._max_incoming,
        )

    def put(self, message: bytes) -> list[OutgoingFrame]:
        """TransferData PUT of one GBCS message, in as many TransferData as the hub's maximum needs."""
        if not message:
            raise TunnelClientError("cannot PUT an empty GBCS message")
        return self._transfer(TunnelUnit(GbcsTunnelCommand.PUT, message))

    def get(self) -> list[OutgoingFrame]:
        """TransferData GET: ask the hub for the next message it holds for this device."""
        return self._transfer(TunnelUnit(GbcsTunnelCommand.GET))

    def close(self) -> OutgoingFrame:
        """CloseTunnel."""
        tunnel_id = self._open_tunnel_id()
        self._closed()
        return self._frame(TunnelRequest.close_tunnel, tunnel_id=tunnel_id)

    def take_messages(self) -> list[bytes]:
        """The whole GBCS messages the hub sent since the last call, oldest first."""
        messages, self._messages = self._messages, []
        return messages

    # ----------------------------------------------------------------- inputs

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to a Tunneling frame from the hub. Never raises for what the hub sent."""
        if frame.cluster != TUNNELING_CLUSTER or frame.source != self._hub:
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
                return self._on_transfer_data(decode(TunnelResponse.transfer_data, request.payload))
            elif command_id == TunnelResponse.transfer_data_error.id:
                self._on_transfer_data_error(decode(TunnelResponse.transfer_data_error, request.payload))
            elif command_id == TunnelResponse.closure_notification.id:
                if decode(TunnelResponse.closure_notification, request.payload).tunnel_id == self.tunnel_id:
                    self._closed()
        except ValueError:
            return []
        return []

    def _on_general(self, command_id: int, payload: bytes) -> None:
        """A Default Response refusing our RequestTunnel (the hub's NOT_AUTHORIZED before CBKE) ends it."""
        if command_id != foundation.GeneralCommand.Default_Response or self.state is not TunnelState.REQUESTED:
            return
        try:
            body = decode(_DEFAULT_RESPONSE, payload)
        except ValueError:
            return
        if body.command_id == TunnelRequest.request_tunnel.id and body.status != foundation.Status.SUCCESS:
            self.refusal = body.status
            self._closed()

    def _on_request_tunnel_response(self, body: foundation.CommandSchema) -> None:
        if self.state is not TunnelState.REQUESTED:
            return
        if body.tunnel_status != TunnelStatus.SUCCESS:
            self.refusal = body.tunnel_status
            self._closed()
            return
        self.state = TunnelState.OPEN
        self.tunnel_id = int(body.tunnel_id)
        self.hub_max_transfer = int(body.maximum_incoming_transfer_size)

    def _on_transfer_data(self, body: foundation.CommandSchema) -> list[OutgoingFrame]:
        if not self.is_open or body.tunnel_id != self.tunnel_id:
            return [self._transfer_data_error(body.tunnel_id, TransferDataStatus.NO_SUCH_TUNNEL)]
        if len(body.data) > self._max_incoming:
            self._inbound.reset()
            return [self._transfer_data_error(body.tunnel_id, TransferDataStatus.DATA_OVERFLOW)]
        try:
            unit = self._inbound.feed(bytes(body.data))
        except TunnelOverflowError:
            return [self._transfer_data_error(body.tunnel_id, TransferDataStatus.DATA_OVERFLOW)]
        except TunnelStreamError:
            return []
        if unit is not None:
            if unit.command is GbcsTunnelCommand.GET_RESPONSE:
                self.remaining = unit.remaining
            if unit.message and unit.command is not GbcsTunnelCommand.GET:
                self._messages.append(unit.message)
        return []

    def _on_transfer_data_error(self, body: foundation.CommandSchema) -> None:
        """NO_SUCH_TUNNEL or WRONG_DEVICE for our tunnel: the hub no longer has it (it restarted, or
        closed it idle), so it is closed here too and the device may request a new one."""
        self.refusal = body.status
        if body.tunnel_id == self.tunnel_id and body.status != TransferDataStatus.DATA_OVERFLOW:
            self._closed()

    def _transfer_data_error(self, tunnel_id: int, status: TransferDataStatus) -> OutgoingFrame:
        return self._frame(TunnelRequest.transfer_data_error, tunnel_id=tunnel_id, status=status)

    # ---------------------------------------------------------------- helpers

    def _transfer(self, unit: TunnelUnit) -> list[OutgoingFrame]:
        tunnel_id = self._open_tunnel_id()
        assert self.hub_max_transfer is not None
        return [
            self._frame(TunnelRequest.transfer_data, tunnel_id=tunnel_id, data=t.Bytes(payload))
            for payload in tunnel_payloads(unit, self.hub_max_transfer)
        ]

    def _open_tunnel_id(self) -> int:
        if not self.is_open or self.tunnel_id is None:
            raise TunnelClientError(f"no open tunnel to {self._hub}")
        return self.tunnel_id

    def _closed(self) -> None:
        self.state = TunnelState.CLOSED
        self.tunnel_id = None
        self._inbound.reset()

    def _frame(self, command: foundation.ZCLCommandDef, **fields: object) -> OutgoingFrame:
        self._tsn = (self._tsn + 1) % 256
        return OutgoingFrame(
            destination=self._hub,
            profile=self._profile,
            src_ep=self._endpoint,
            dst_ep=self._hub_endpoint,
            cluster=TUNNELING_CLUSTER,
            zcl=encode(self._tsn, command, **fields),
            aps_encrypt=True,
        )
