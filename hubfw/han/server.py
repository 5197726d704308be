"""The hub's Smart Energy endpoint beside OTA: Basic, Time, Metering, Tunneling and Key Establishment.

One entry point for every non-OTA SE frame, transport-free and clock-driven like `hubfw.server`:
`handle` a received frame, `tick` for timeouts, `send_gbcs` to queue a message for a device,
`request_tunnel` to open the hub's tunnel to a device; each returns the frames to send, and `take_events`
what happened. Key Establishment is the existing `KeyEstablishmentServer`; its replies stay unencrypted
(the device has no link key yet), every other frame this endpoint sends is APS-encrypted.

Tunneling runs both ways round (GBCS 10.2.2): the endpoint is the Tunneling server of the tunnel a GSME
requests (`TunnelServer`, GET / GET-RESPONSE / PUT) and the Tunneling client of the tunnels the hub requests
from ESMEs, HCALCSs and PPMIDs (`TunnelRequester`, messages as they are). A GBCS message for a device waits
in one queue until whichever of its tunnels is open takes it. A device that requests a tunnel itself gets
no more requests from the hub.

Frames this endpoint does not serve get the ZCL answer a server owes (and never an exception):
manufacturer-specific commands → UNSUP_MANUF_CLUSTER/GENERAL_COMMAND; cluster commands of Basic, Time
or Metering and global commands other than Read Attributes → UNSUP_CLUSTER/GENERAL_COMMAND; frames in
the server-to-client direction (answers to the hub) are dropped, except a Metering read of the
client's notification attributes and what a device's Tunneling server sends the hub's tunnel client;
frames that are not ZCL at all are dropped, and a Default Response is never answered (ZCL never answers
one, manufacturer-specific or not). When the hub runs Key Establishment, Tunneling frames from a device
without a CBKE link key, or not APS-encrypted, are refused with NOT_AUTHORIZED
(`HanConfig.require_key_establishment`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.han.attributes import basic_records, functional_notification_flags, metering_records, time_records
from hubfw.han.config import HanConfig
from hubfw.han.events import HanEvent, LinkKeyEstablished, TunnelOpened
from hubfw.han.key_establishment.engine import AgreementRequest, ConfirmKeys
from hubfw.han.key_establishment.server import KeyEstablishmentServer
from hubfw.han.tunneling.outbox import Outbox
from hubfw.han.tunneling.requester import TunnelRequester
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.zcl import HanRequest, parse, requested_attribute_ids
from hubfw.hub.faults import FaultBook
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import (
    BASIC_CLUSTER,
    KEY_ESTABLISHMENT_CLUSTER,
    METERING_CLUSTER,
    SMART_ENERGY_PROFILE,
    TIME_CLUSTER,
    TUNNELING_CLUSTER,
)

Status = foundation.Status
_READ_ATTRIBUTES = foundation.GeneralCommand.Read_Attributes


class HanServer:
    """The hub's Smart Energy endpoint (all but OTA) for every device on the HAN."""

    SERVED_CLUSTERS: frozenset[int] = frozenset(
        {BASIC_CLUSTER, TIME_CLUSTER, METERING_CLUSTER, TUNNELING_CLUSTER, KEY_ESTABLISHMENT_CLUSTER}
    )

    def __init__(
        self,
        clock: Clock,
        *,
        se_endpoint: int,
        key_establishment: KeyEstablishmentServer | None,
        image_waiting: Callable[[t.EUI64], bool],
        config: HanConfig | None = None,
        faults: FaultBook | None = None,
    ) -> None:
        self._clock = clock
        self._se_endpoint = se_endpoint
        self._key_establishment = key_establishment
        self._image_waiting = image_waiting
        self._config = config or HanConfig()
        self._zone = self._config.zone
        self._established: dict[t.EUI64, CryptoSuite] = {}
        self._events: list[HanEvent] = []
        self._outbox = Outbox(self._config.max_queued_messages)
        self._tunnels = TunnelServer(clock, self._config, self._may_open_tunnel, outbox=self._outbox)
        self._requester = TunnelRequester(clock, self._config, self._outbox, se_endpoint)
        self._faults: FaultBook | None = None
        if faults is not None:  # else a book the Key Establishment server was built with stays
            self.faults = faults

    @property
    def faults(self) -> FaultBook | None:
        """The faults the hub injects per device (key establishment and tunnels; hubfw.hub.faults), or None."""
        return self._faults

    @faults.setter
    def faults(self, book: FaultBook | None) -> None:
        self._faults = book
        if self._key_establishment is not None:
            self._key_establishment.faults = book
        self._tunnels.faults = book
        self._requester.faults = book

    # ----------------------------------------------------------------- inputs

    def handles(self, frame: IncomingFrame) -> bool:
        """The frame is for this endpoint: Smart Energy profile, a served cluster, our endpoint."""
        return (
            frame.profile == SMART_ENERGY_PROFILE
            and frame.cluster in self.SERVED_CLUSTERS
            and frame.dst_ep == self._se_endpoint
        )

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to one received frame. Never raises for what the device sent."""
        if not self.handles(frame):
            return []
        return self._dispatch(frame) + self._collect_tunnel_events()

    def tick(self) -> list[OutgoingFrame]:
        """Expire silent key establishments and idle tunnels; send the hub's RequestTunnels that fell due."""
        if self._key_establishment is not None:
            self._key_establishment.tick()
            self._collect_key_establishment_events()
        frames = self._tunnels.tick() + self._requester.tick()
        return frames + self._collect_tunnel_events()

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do."""
        deadlines = [self._tunnels.next_deadline(), self._requester.next_deadline()]
        if self._key_establishment is not None:
            deadlines.append(self._key_establishment.next_deadline())
        return min((deadline for deadline in deadlines if deadline is not None), default=None)

    def resume_key_establishment(
        self, request: AgreementRequest, outcome: ConfirmKeys | Exception
    ) -> list[OutgoingFrame]:
        """The NCP's late answer to a key agreement (`KeyEstablishmentServer.resume`)."""
        if self._key_establishment is None:
            return []
        frames = self._key_establishment.resume(request, outcome)
        self._collect_key_establishment_events()
        return frames

    def send_gbcs(self, eui64: t.EUI64, message: bytes) -> list[OutgoingFrame]:
        """Queue a GBCS message for `eui64` and send what its tunnel can take now (the hub's tunnel to it, or
        the one it opened). Raises TunnelError for a message that is not one whole GBCS message, or a full queue."""
        self._outbox.put(eui64, message)
        return self._requester.flush(eui64) or self._tunnels.push(eui64)

    def request_tunnel(self, eui64: t.EUI64, endpoint: int) -> list[OutgoingFrame]:
        """Send `eui64` the hub's RequestTunnel now, to its Smart Energy `endpoint`, and keep its tunnel open
        from then on (`hubfw.han.tunneling.requester`); nothing for a device that opened its own tunnel."""
        return self._requester.request(eui64, endpoint) + self._collect_tunnel_events()

    def take_events(self) -> list[HanEvent]:
        """What happened since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------- views

    def key_established(self, eui64: t.EUI64) -> CryptoSuite | None:
        """The suite of the CBKE link key `eui64` last established with the hub, if any."""
        return self._established.get(eui64)

    def tunnels(self) -> list[dict]:
        """Open GBCS tunnels, JSON-able, each with who opened it (`"opened_by"`: "hub" or "device")."""
        return self._requester.tunnels() + self._tunnels.tunnels()

    def tunnel_id(self, eui64: t.EUI64) -> int | None:
        """The id of `eui64`'s open tunnel, None when it has none."""
        found = self._requester.tunnel_id(eui64)
        return self._tunnels.tunnel_id(eui64) if found is None else found

    # ---------------------------------------------------------------- helpers

    def _dispatch(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        if frame.cluster == KEY_ESTABLISHMENT_CLUSTER:
            return self._key_establishment_frame(frame)
        request = parse(frame)
        if request is None:
            return []
        header = request.header
        if header.is_manufacturer_specific:
            if not header.client_to_server or header.is_default_response:
                return []
            status = Status.UNSUP_MANUF_GENERAL_COMMAND if header.is_general else Status.UNSUP_MANUF_CLUSTER_COMMAND
            return request.default_response(status)
        if frame.cluster == TUNNELING_CLUSTER and not header.client_to_server:
            return self._tunnel_client_frame(request)
        if header.is_general:
            return self._general_command(request)
        if not header.client_to_server:
            return []
        if frame.cluster == TUNNELING_CLUSTER:
            refusal = self._tunnel_refusal(request)
            return refusal if refusal is not None else self._tunnels.handle(request)
        return request.default_response(Status.UNSUP_CLUSTER_COMMAND)

    def _tunnel_client_frame(self, request: HanRequest) -> list[OutgoingFrame]:
        """What a device's Tunneling server sends the hub's client: its cluster commands, and a Default
        Response (to the hub's RequestTunnel); other global commands in that direction are not served."""
        header = request.header
        if header.is_general and not header.is_default_response:
            return []
        if self._key_required() and not request.frame.aps_encrypted:
            return []
        return self._requester.handle(request)

    def _key_establishment_frame(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        if self._key_establishment is None:  # no credentials: say so, as Key Establishment does, unencrypted
            request = parse(frame)
            if request is None or not request.header.client_to_server or request.header.is_general:
                return []
            refusal = request.default_response(Status.UNSUPPORTED_CLUSTER)
            return [replace(reply, aps_encrypt=False) for reply in refusal]
        frames = self._key_establishment.handle(frame)
        self._collect_key_establishment_events()
        return frames

    def _collect_tunnel_events(self) -> list[OutgoingFrame]:
        """Take both tunnel roles' events; a device that opened its own tunnel gets no more hub requests."""
        frames = []
        for event in self._tunnels.take_events():
            if isinstance(event, TunnelOpened):  # the hub's own tunnel to it closes first
                frames += self._requester.leave_to_device(event.eui64)
                self._events.extend(self._requester.take_events())
            self._events.append(event)
        self._events.extend(self._requester.take_events())
        return frames

    def _collect_key_establishment_events(self) -> None:
        assert self._key_establishment is not None
        for event in self._key_establishment.take_events():
            if isinstance(event, LinkKeyEstablished):
                self._established[event.eui64] = event.suite
            self._events.append(event)

    def _general_command(self, request: HanRequest) -> list[OutgoingFrame]:
        header = request.header
        if header.command_id != _READ_ATTRIBUTES:
            if not header.client_to_server or header.is_default_response:
                return []
            return request.default_response(Status.UNSUP_GENERAL_COMMAND)
        client_attributes = not header.client_to_server
        if client_attributes and request.frame.cluster != METERING_CLUSTER:
            return []
        try:
            attribute_ids = requested_attribute_ids(request)
        except ValueError:
            return request.default_response(Status.MALFORMED_COMMAND)
        return [request.read_attributes_response(self._records(request, attribute_ids, client_attributes))]

    def _records(self, request: HanRequest, attribute_ids: list[int],
                 client_attributes: bool) -> list[foundation.ReadAttributeRecord]:
        cluster = request.frame.cluster
        if cluster == BASIC_CLUSTER:
            return basic_records(self._config, attribute_ids)
        if cluster == TIME_CLUSTER:
            return time_records(self._zone, self._clock.now(), attribute_ids)
        if cluster == METERING_CLUSTER:
            source = request.source
            flags = functional_notification_flags(
                new_ota_firmware=self._image_waiting(source),
                tunnel_message_pending=self._outbox.count(source) > 0,
            )
            return metering_records(flags, attribute_ids, client_attributes=client_attributes)
        return [self._tunnels.attribute_record(attribute_id) for attribute_id in attribute_ids]

    def _key_required(self) -> bool:
        return self._key_establishment is not None and self._config.require_key_establishment

    def _may_open_tunnel(self, eui64: t.EUI64) -> bool:
        return not self._key_required() or eui64 in self._established

    def _tunnel_refusal(self, request: HanRequest) -> list[OutgoingFrame] | None:
        """NOT_AUTHORIZED for a tunnel frame that arrived without APS encryption where a key is required."""
        if self._key_required() and not request.frame.aps_encrypted:
            return request.default_response(Status.NOT_AUTHORIZED)
        return None
