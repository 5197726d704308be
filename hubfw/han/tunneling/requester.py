"""The hub's Tunneling client: the tunnels GBCS has the hub open to ESMEs, HCALCSs and PPMIDs.

GBCS 10.2.2.1, as Silicon Labs' Comms Hub Function plugin quotes it (`comms-hub-function.c`,
`emberAfPluginKeyEstablishmentEventCallback`): "When a Communications Hub has successfully established a
shared secret key using CBKE with a Device of type ESME, HCALCS or PPMID, the CHF shall send a
RequestTunnel command to the Device". The device is the Tunneling server of that tunnel, and GBCS messages
travel through it as they are, both ways, with no GBCS tunnel header (only a GSME's own tunnel to the hub
has GET / GET-RESPONSE / PUT; `hubfw.han.tunneling.server`).

What the hub sends and how it keeps the tunnel (checked against `tunnel-manager.c` and the Tunneling
client plugin `tunneling-client.c` of the same SDK, and the field layout of Wireshark's ZCL SE dissector,
`packet-zbee-zcl-se.c`, `dissect_zcl_tun_request_tunnel`):
- RequestTunnel (client to server, command 0x00): ProtocolID 6 (GB-HRGP), ManufacturerCode 0xFFFF,
  FlowControlSupport false, MaximumIncomingTransferSize 1500 (GBCS 10.2.2 quoted in `tunnel-manager.c`:
  "GBCS_TUNNELING_PROTOCOL_ID 0x06", "MANUFACTURER_CODE 0xFFFF", "FLOW_CONTROL_SUPPORT false", and 1500 "in
  any RequestTunnelResponse command and any RequestTunnel command"), APS-encrypted under the device's link
  key, from the hub's Smart Energy endpoint to the endpoint the device ran key establishment from;
- no answer within `tunnel_response_timeout` (the SDK client waits 5 s), a refusal in RequestTunnelResponse
  or a failing Default Response: the hub asks again after `tunnel_retry_after`, doubling per failure up to
  `tunnel_max_backoff`; BUSY waits at least 3 minutes ("Per GBCS send another request 3 minutes from
  now", `handleRequestTunnelFailure`). A late answer to an earlier request still opens the tunnel;
- a Default Response UNSUPPORTED_CLUSTER or UNSUP_CLUSTER_COMMAND says the device has no Tunneling server
  (a GSME): the hub stops asking until the device establishes a new key or the hub restarts;
- TunnelClosureNotification, or a TransferDataError NO_SUCH_TUNNEL / WRONG_DEVICE for the hub's tunnel
  (the device forgot it): the hub requests a new one at once (`emberAfPluginTunnelingClientDataErrorCallback`
  does the same for NO_SUCH_TUNNEL);
- a device that requests a tunnel to the hub itself is a GSME: the hub leaves the tunnel to it.

Messages queued for the device (`hubfw.han.tunneling.outbox`) go into the tunnel as soon as it is open,
cut to the device's MaximumIncomingTransferSize; what the device sends is reassembled into whole GBCS
messages and reported as `GbcsMessageReceived` (and `DeviceAlertReceived` for an alert inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.clock import Clock, iso_utc
from hubfw.han.config import HanConfig
from hubfw.han.events import TunnelClosed, TunnelEvent, TunnelOpened, TunnelRequestFailed, message_events
from hubfw.han.tunneling.client import TunnelClient, TunnelState
from hubfw.han.tunneling.outbox import Outbox
from hubfw.han.tunneling.wire import TransferDataStatus, TunnelRequest, TunnelResponse, TunnelStatus
from hubfw.han.zcl import HanRequest, encode
from hubfw.hub.faults import Fault, FaultBook, FaultKind
from hubfw.zigbee.aps import OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import decode

Status = foundation.Status
BUSY_RETRY = 180.0
"""Seconds at least between a BUSY answer and the next RequestTunnel (GBCS, per `tunnel-manager.c`)."""
NO_TUNNELING_SERVER = frozenset({Status.UNSUPPORTED_CLUSTER, Status.UNSUP_CLUSTER_COMMAND})
"""Default Response statuses that say the device serves no Tunneling cluster."""


@dataclass
class _Peer:
    """The hub's tunnel to one device, and when it next asks for one."""

    client: TunnelClient
    due: float | None = None
    """When the next RequestTunnel goes out; None while one is out, the tunnel is open, or the hub gave up."""
    answer_by: float | None = None
    """When the RequestTunnel that is out counts as unanswered."""
    failures: int = 0
    opened_at: float = 0.0
    last_activity: float = 0.0


class TunnelRequester:
    """The tunnels the hub opens; `request`, `handle`, `tick` and `flush` return the frames to send."""

    def __init__(self, clock: Clock, config: HanConfig, outbox: Outbox, hub_endpoint: int) -> None:
        self._clock = clock
        self._config = config
        self._outbox = outbox
        self._hub_endpoint = hub_endpoint
        self._peers: dict[t.EUI64, _Peer] = {}
        self._device_opened: set[t.EUI64] = set()
        """Devices that requested a tunnel to the hub themselves (GSMEs): the hub does not request one."""
        self._events: list[TunnelEvent] = []
        self.faults: FaultBook | None = None
        """Faults set per device (TUNNEL_NEVER, TUNNEL_CLOSE_MID)."""

    # ----------------------------------------------------------------- inputs

    def request(self, eui64: t.EUI64, endpoint: int, profile: int = SMART_ENERGY_PROFILE) -> list[OutgoingFrame]:
        """Send `eui64` a RequestTunnel now, on a fresh tunnel (after each key establishment, and at boot for
        every device holding a key); nothing for a device that opens its own tunnel to the hub."""
        if eui64 in self._device_opened:
            return []
        old = self._peers.pop(eui64, None)
        if old is not None and old.client.tunnel_id is not None:
            self._closed(eui64, old.client.tunnel_id, "replaced by a new RequestTunnel")
        client = TunnelClient(eui64, endpoint=self._hub_endpoint, server_endpoint=endpoint, profile=profile,
                              max_incoming_transfer_size=self._config.max_incoming_transfer_size,
                              max_message_size=self._config.max_message_size, headers=False)
        peer = _Peer(client)
        self._peers[eui64] = peer
        return self._send_request(peer)

    def leave_to_device(self, eui64: t.EUI64) -> list[OutgoingFrame]:
        """`eui64` requested a tunnel to the hub itself (the GSME arrangement): stop requesting one, and close
        the hub's if it has one."""
        self._device_opened.add(eui64)
        peer = self._peers.pop(eui64, None)
        if peer is None or peer.client.tunnel_id is None:
            return []
        self._closed(eui64, peer.client.tunnel_id, "the device opens its own tunnel")
        return [peer.client.close()]

    def handle(self, request: HanRequest) -> list[OutgoingFrame]:
        """A Tunneling frame a device's server sent the hub (server to client: a cluster command or a Default
        Response). Never raises for what the device sent."""
        peer = self._peers.get(request.source)
        if peer is None:
            return self._stranger(request)
        before = (peer.client.state, peer.client.tunnel_id)
        frames = peer.client.handle(request.frame)
        if peer.client.receiving and self._take_fault(request.source, FaultKind.TUNNEL_CLOSE_MID) is not None:
            frames.append(peer.client.close())  # the partial message goes with the tunnel
            peer.client.closed_because = f"closed in the middle of a message (fault {FaultKind.TUNNEL_CLOSE_MID.value})"
        return frames + self._after(peer, *before)

    def tick(self) -> list[OutgoingFrame]:
        """RequestTunnels that fell due, and requests that went unanswered."""
        now = self._clock.now()
        frames = []
        for peer in list(self._peers.values()):
            if peer.answer_by is not None and peer.answer_by <= now:
                peer.answer_by = None
                self._failed(peer, f"no answer within {self._config.tunnel_response_timeout:g} s")
            if peer.due is not None and peer.due <= now:
                frames += self._send_request(peer)
        return frames

    def next_deadline(self) -> float | None:
        times = [when for peer in self._peers.values() for when in (peer.due, peer.answer_by) if when is not None]
        return min(times, default=None)

    def flush(self, eui64: t.EUI64) -> list[OutgoingFrame]:
        """Send `eui64` what waits for it in the outbox, if the hub's tunnel to it is open."""
        peer = self._peers.get(eui64)
        if peer is None or not peer.client.is_open:
            return []
        peer.last_activity = self._clock.now()
        return [frame for message in self._outbox.take_all(eui64) for frame in peer.client.send(message)]

    def take_events(self) -> list[TunnelEvent]:
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------- views

    def tunnel_id(self, eui64: t.EUI64) -> int | None:
        peer = self._peers.get(eui64)
        return None if peer is None else peer.client.tunnel_id

    def tunnels(self) -> list[dict]:
        """The hub's open tunnels, JSON-able, in the form of `TunnelServer.tunnels`."""
        return [{
            "eui64": str(eui64),
            "tunnel_id": peer.client.tunnel_id,
            "opened_by": "hub",
            "opened_at": iso_utc(peer.opened_at),
            "last_activity": iso_utc(peer.last_activity),
            "queued_messages": self._outbox.count(eui64),
            "polls": False,
        } for eui64, peer in sorted(self._peers.items(), key=lambda item: str(item[0])) if peer.client.is_open]

    # ---------------------------------------------------------------- helpers

    def _send_request(self, peer: _Peer) -> list[OutgoingFrame]:
        """RequestTunnel; with TUNNEL_NEVER set it is not sent, and counts as a request that went unanswered
        (the hub asks again per its retry rules, and again does not send while the fault lasts)."""
        peer.due = None
        peer.answer_by = self._clock.now() + self._config.tunnel_response_timeout
        frame = peer.client.request()
        if self._take_fault(peer.client.server, FaultKind.TUNNEL_NEVER) is not None:
            return []
        return [frame]

    def _take_fault(self, eui64: t.EUI64, kind: FaultKind) -> Fault | None:
        if self.faults is None:
            return None
        return self.faults.take(eui64, (kind,), self._clock.now(), cluster="tunneling")

    def _after(self, peer: _Peer, before: TunnelState, tunnel_id: int | None) -> list[OutgoingFrame]:
        """Report what the device's frame did to the tunnel (in state `before`, with `tunnel_id`), and act on it."""
        now = self._clock.now()
        client = peer.client
        frames: list[OutgoingFrame] = []
        for message in client.take_messages():
            self._events.extend(message_events(client.server, message, now))
        if client.is_open:
            peer.last_activity = now
            if before is not TunnelState.OPEN:
                peer.due, peer.answer_by, peer.failures, peer.opened_at = None, None, 0, now
                assert client.tunnel_id is not None
                self._events.append(TunnelOpened(client.server, client.tunnel_id, "hub"))
                frames += self.flush(client.server)
        elif before is TunnelState.OPEN:
            assert tunnel_id is not None
            self._closed(client.server, tunnel_id, client.closed_because or "closed")
            frames += self._send_request(peer)
        elif before is TunnelState.REQUESTED and client.state is TunnelState.CLOSED:
            peer.answer_by = None
            self._failed(peer, _refusal_text(client.refusal))
        return frames

    def _failed(self, peer: _Peer, reason: str) -> None:
        """The request got no tunnel: plan the next one (or none, for a device without a Tunneling server)."""
        peer.failures += 1
        refusal = peer.client.refusal
        if refusal in NO_TUNNELING_SERVER:
            peer.due = None
        else:
            wait = min(self._config.tunnel_max_backoff, self._config.tunnel_retry_after * 2 ** (peer.failures - 1))
            if refusal == TunnelStatus.BUSY:
                wait = max(wait, BUSY_RETRY)
            peer.due = self._clock.now() + wait
        self._events.append(TunnelRequestFailed(peer.client.server, reason, peer.due))

    def _closed(self, eui64: t.EUI64, tunnel_id: int, reason: str) -> None:
        self._events.append(TunnelClosed(eui64, tunnel_id, reason, "hub"))

    def _stranger(self, request: HanRequest) -> list[OutgoingFrame]:
        """TransferData from a device the hub holds no tunnel to (one from before a restart): NO_SUCH_TUNNEL, so
        its server lets the old tunnel go. Anything else from it is an answer to nothing."""
        header = request.header
        if header.is_general or header.command_id != TunnelResponse.transfer_data.id:
            return []
        try:
            body = decode(TunnelResponse.transfer_data, request.payload)
        except ValueError:
            return request.default_response(Status.MALFORMED_COMMAND)
        zcl = encode(header.tsn, TunnelRequest.transfer_data_error, tunnel_id=body.tunnel_id,
                     status=TransferDataStatus.NO_SUCH_TUNNEL)
        return [request.reply(zcl)]


def _refusal_text(refusal: object) -> str:
    if isinstance(refusal, TunnelStatus):
        return f"RequestTunnelResponse {refusal.name}"
    if isinstance(refusal, foundation.Status):
        return f"Default Response {refusal.name}"
    if isinstance(refusal, TransferDataStatus):
        return f"the device's maximum transfer size cannot carry a message ({refusal.name})"
    return "refused"
