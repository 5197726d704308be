"""What a GB HAN device does with its Communications Hub besides OTA: the Smart Energy session.

After joining with its install code a GB device finds the hub's Smart Energy endpoint with a ZDO
Match_Desc_req for the Key Establishment server (it does not assume an endpoint number), runs CBKE as
the initiator with `hubfw.han.KeyEstablishmentClient` and from then on secures its Smart Energy
traffic with the link key that produced. With the key it reads the hub's Time (keeping the offset to
its own clock), and its OTA client starts. The GBCS tunnel runs as GBCS 10.2.2 has it: an ESME, HCALCS
or PPMID is a Tunneling server that accepts the tunnel the hub requests after CBKE and sends its GBCS
messages through it as they are; a GSME requests a tunnel to the hub itself and PUTs its messages (GET /
GET-RESPONSE / PUT). A device that serves no Tunneling cluster answers the hub's RequestTunnel with
UNSUPPORTED_CLUSTER. A PPMID also polls the Metering FunctionalNotificationFlags. A device whose key
establishment fails carries on without the key (its OTA client still asks; a hub serving Smart Energy
only under CBKE keys refuses it) and tries again later.

Like `OtaClientDevice`, a session reads no clock: every input carries `now` and returns the frames to
send. The device owns the session and routes to it the frames of the clusters it speaks.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Time

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.han import KeyEstablishmentClient, KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.han.config import HanConfig
from hubfw.han.events import GbcsMessageReceived, TunnelClosed, TunnelOpened
from hubfw.han.key_establishment.wire import KeRequest
from hubfw.han.tunneling.client import TunnelClient, TunnelState
from hubfw.han.tunneling.server import TunnelServer
from hubfw.han.zcl import HanRequest, parse
from hubfw.sim.devices import zcl, zdo
from hubfw.sim.devices.behaviour import DeviceConfigError
from hubfw.zigbee.aps import ApsFrame, IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import (
    KEY_ESTABLISHMENT_CLUSTER,
    METERING_CLUSTER,
    TIME_CLUSTER,
    TUNNELING_CLUSTER,
    ZDO_ENDPOINT,
    ZDO_PROFILE,
)
from hubfw.zigbee.zcl import read_attributes

COORDINATOR_NWK = t.NWK(0x0000)
BROADCAST_IEEE = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
ZIGBEE_EPOCH = 946_684_800
"""Unix time of 2000-01-01 00:00 UTC, where ZCL's UTCTime counts from."""
FUNCTIONAL_NOTIFICATION_FLAGS = 0x0000
"""Metering FunctionalNotificationFlags (SE 1.4 Notification Attribute Set); bit 0 = new OTA firmware."""
NEW_OTA_FIRMWARE = 0x0000_0001
MAX_KE_BACKOFF = 86_400.0
"""A device refused again and again still tries its key establishment once a day."""
ACTIVATIONS = ("zcl", "gbcs")
"""`GbHanSettings.activation`: by the ZCL UpgradeEndResponse, or only by GBCS CS06."""
MAC_FLIP = 0x01
"""XORed into the last byte of the Confirm Key MAC by the wrong-MAC quirk."""


class SessionState(enum.Enum):
    DISCOVERING = "discovering"
    ESTABLISHING = "establishing"
    SECURED = "secured"
    """CBKE gave the device its link key."""
    UNSECURED = "unsecured"
    """No CBKE key: the device never does CBKE, or its last exchange failed (it will try again)."""


@dataclass(frozen=True)
class GbHanSettings:
    """One device's Smart Energy session: its CBKE credentials and what it does once it has a key."""

    credentials: DeviceCredentials | None
    """From the CA the hub trusts (or, for the foreign-CA quirk, from another); None: the device never does CBKE."""
    corrupts_confirm_mac: bool = False
    """Quirk: the Confirm Key MAC it sends is wrong (the hub answers BAD_KEY_CONFIRM)."""
    opens_tunnel: bool = False
    """Request a GBCS tunnel to the hub and PUT its GBCS messages through it (a GSME, GBCS 10.2.2)."""
    serves_tunnel: bool = False
    """Be the Tunneling server of the tunnel the hub requests after CBKE, and send its GBCS messages (a PPMID's
    0x8F8B) through it without a tunnel header (an ESME, HCALCS or PPMID, GBCS 10.2.2.1)."""
    notification_poll: float | None = None
    """Seconds between reads of the hub's Metering FunctionalNotificationFlags; None: never reads them."""
    request_timeout: float = 15.0
    retry_after: float = 60.0
    """Seconds before an unanswered discovery or RequestTunnel is sent again, and before the first new CBKE
    after a failed one; each further failure doubles the wait (up to `MAX_KE_BACKOFF`)."""
    ds_key: ec.EllipticCurvePrivateKey | None = field(default=None, compare=False, repr=False)
    """The device's GBCS Digital Signing key (it signs the GBCS messages it sends, a PPMID's 0x8F8B): the bench's
    key for it (`hubfw.gbcs.device_keys.device_ds_key`), or None for the device's own fresh key."""
    ka_key: ec.EllipticCurvePrivateKey | None = field(default=None, compare=False, repr=False)
    """The device's GBCS Key Agreement key (with the ACB's it checks the MAC of a CS06 or CS08 and MACs a CS08
    response): the bench's key for it (`hubfw.gbcs.device_keys.device_ka_key`); None: the device takes no GBCS
    commands."""
    gbcs_keys: GbcsKeys | Path | None = field(default=None, compare=False, repr=False)
    """The bench key set (`hubfw gbcs keys new`) whose ACB KA key and supplier DS key the device trusts, or its
    directory (read at the first command); None: it takes no GBCS commands (a CS06 or CS08 is discarded, noted)."""
    activation: str = "zcl"
    """How the device is told to activate a downloaded image: "zcl", as a plain Zigbee device, by the hub's
    UpgradeEndResponse; "gbcs", only by a GBCS CS06 through its tunnel (an UpgradeEndResponse naming an upgrade
    time earns NOT_AUTHORIZED, as Silicon Labs' OTA client set to wait for out-of-band activation answers). Either way a device
    with a tunnel and keys answers CS06 and CS08."""

    @property
    def uses_tunnel(self) -> bool:
        """The device talks GBCS with the hub through a tunnel, whoever opens it."""
        return self.opens_tunnel or self.serves_tunnel

    def __post_init__(self) -> None:
        periods = [self.request_timeout, self.retry_after]
        if self.notification_poll is not None:
            periods.append(self.notification_poll)
        if min(periods) <= 0:
            raise DeviceConfigError("bad GB HAN session: timeouts and poll intervals must be positive")
        if self.activation not in ACTIVATIONS:
            raise DeviceConfigError(f"bad GB HAN session: activation {self.activation!r} (want one of "
                                    f"{', '.join(ACTIVATIONS)})")
        if self.activation == "gbcs" and not self.uses_tunnel:
            raise DeviceConfigError("bad GB HAN session: a device activated by GBCS CS06 needs its tunnel")
        if self.opens_tunnel and self.serves_tunnel:
            raise DeviceConfigError("bad GB HAN session: a device either opens its tunnel (a GSME) or serves the "
                                    "hub's (an ESME, HCALCS or PPMID), not both")


class DeviceLink(Protocol):
    """What the session needs of the device that owns it."""

    @property
    def ieee(self) -> t.EUI64: ...

    @property
    def nwk(self) -> t.NWK: ...

    @property
    def endpoint(self) -> int: ...

    @property
    def profile(self) -> int: ...

    def next_tsn(self) -> int: ...

    def next_aps_counter(self) -> int: ...

    def note(self, now: float, what: str) -> None: ...

    def gbcs_message(self, message: bytes, now: float) -> None:
        """A whole GBCS message the hub sent through the tunnel (a CS06 or CS08 for the device to answer)."""


@dataclass
class _Request:
    """One repeating request: when it is next sent and the TSN of the copy awaiting its answer."""

    due: float | None = None
    tsn: int | None = None


class _CallTime:
    """The `Clock` the KE client reads: the time of the session call in progress."""

    def __init__(self) -> None:
        self.at = 0.0

    def now(self) -> float:
        return self.at


@dataclass
class HubView:
    """What the device learnt about its hub: where its Smart Energy endpoint is and what time it keeps."""

    ieee: t.EUI64 = BROADCAST_IEEE
    se_endpoint: int | None = None
    time_offset: float | None = None
    """Hub UTC minus the device's own clock, from the last Time read."""
    time_status: int | None = None
    notification_flags: int | None = None


class GbHanSession:
    """One device's Smart Energy session with its hub (see the module docstring)."""

    def __init__(self, device: DeviceLink, settings: GbHanSettings, join_key: t.KeyData, rng: random.Random) -> None:
        self.device = device
        self.settings = settings
        self.join_key = join_key
        self.link_key: t.KeyData | None = None
        """The CBKE link key once established (the device's frames go under it from then on)."""
        self.suite: CryptoSuite | None = None
        self.hub = HubView()
        self.state = SessionState.DISCOVERING
        self.ke_outcomes: list[LinkKeyEstablished | KeyEstablishmentFailed] = []
        self._rng = rng
        self._call_time = _CallTime()
        self._ke: KeyEstablishmentClient | None = None
        self._discovery = _Request()
        self._ke_retry: float | None = None
        self._time = _Request()
        self._flags = _Request()
        self._image_flagged = False
        self._tunnel: TunnelClient | None = None
        """The tunnel this device requested (opens_tunnel)."""
        self._tunnel_server: TunnelServer | None = None
        """The Tunneling server the hub's tunnel comes to (serves_tunnel)."""
        self._tunnel_request = _Request()
        self._outbox: list[bytes] = []
        self._outbox_due: float | None = None
        self.gbcs_received: list[bytes] = []
        """Whole GBCS messages the hub sent through the tunnel, oldest first."""

    # ------------------------------------------------------------------ what the device asks

    @property
    def current_key(self) -> t.KeyData:
        """The key the device's APS-secured frames travel under: CBKE's once established, else its join key."""
        return self.link_key or self.join_key

    @property
    def settled(self) -> bool:
        """The device has its key, or will not get one soon: the OTA client may start. A hub that was only
        busy (NO_RESOURCES) or silent is asked again first."""
        if self.state is SessionState.SECURED:
            return True
        last = self.ke_outcomes[-1] if self.ke_outcomes else None
        transient = isinstance(last, KeyEstablishmentFailed) and last.status in (None, TerminateStatus.NO_RESOURCES)
        return self.state is SessionState.UNSECURED and not transient

    def takes(self, frame: ApsFrame) -> bool:
        """The frame is the session's: a Match_Desc answer, or a cluster it speaks on its endpoint."""
        if frame.profile == ZDO_PROFILE:
            return frame.cluster == zdo_t.ZDOCmd.Match_Desc_rsp
        return frame.dst_ep == self.device.endpoint and frame.cluster in (
            KEY_ESTABLISHMENT_CLUSTER, TIME_CLUSTER, METERING_CLUSTER, TUNNELING_CLUSTER)

    def accepts_key(self, frame: ApsFrame) -> bool:
        """Whether the device can open an APS-secured frame: it must be under the device's key. While a key
        establishment runs, its frames may come under the key being agreed (the hub installs it as it answers)."""
        if not frame.aps_encrypted or frame.link_key is None or frame.link_key == self.current_key:
            return True
        return frame.cluster == KEY_ESTABLISHMENT_CLUSTER and self.state is SessionState.ESTABLISHING

    @property
    def awaiting_answer(self) -> bool:
        """A request of the session's is out (a sleepy device polls its parent fast until the answer is in)."""
        requests = (self._discovery, self._time, self._flags)
        tunnel_requested = self._tunnel is not None and self._tunnel.state is TunnelState.REQUESTED
        ke_running = self._ke is not None and self._ke.in_progress
        return ke_running or tunnel_requested or any(request.tsn is not None for request in requests)

    @property
    def tunnel_open(self) -> bool:
        """A tunnel to the hub is open: the one this device requested, or the one the hub requested."""
        if self._tunnel_server is not None:
            return self._tunnel_server.tunnel_id(self.hub.ieee) is not None
        return self._tunnel is not None and self._tunnel.is_open

    def queue_gbcs(self, message: bytes, now: float) -> None:
        """PUT a GBCS message through the tunnel from `now` if it is open, else once it opens."""
        self._outbox.append(message)
        if self._outbox_due is None:
            self._outbox_due = now

    def take_image_flag(self) -> bool:
        """True once after the hub's notification flags said a new OTA image waits."""
        flagged, self._image_flagged = self._image_flagged, False
        return flagged

    # ------------------------------------------------------------------ inputs

    def on_join(self, now: float) -> None:
        self.state = SessionState.DISCOVERING
        self._discovery.due = now

    def on_frame(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        self._call_time.at = now
        if frame.cluster == zdo_t.ZDOCmd.Match_Desc_rsp:
            return self._on_match_descriptor(frame, now)
        if frame.cluster == KEY_ESTABLISHMENT_CLUSTER:
            return self._on_key_establishment(frame, now)
        if self.state is not SessionState.SECURED or not frame.aps_encrypted:
            self.device.note(now, f"session ignored cluster 0x{frame.cluster:04X} outside the CBKE key")
            return []
        if frame.cluster == TUNNELING_CLUSTER:
            return self._on_tunnel(frame, now)
        answer = zcl.parse_read_attributes_response(frame.payload)
        if answer is None:
            return []
        tsn, values = answer
        if frame.cluster == TIME_CLUSTER and tsn == self._time.tsn:
            return self._on_time(values, now)
        if frame.cluster == METERING_CLUSTER and tsn == self._flags.tsn:
            return self._on_notification_flags(values, now)
        return []

    def tick(self, now: float) -> list[ApsFrame]:
        self._call_time.at = now
        out: list[ApsFrame] = []
        if _due(self._discovery, now):
            out += self._discover(now)
        if self._ke is not None and self._ke.in_progress:
            self._ke.tick()
            self._after_ke(now)
        if self._ke_retry is not None and now >= self._ke_retry:
            self._ke_retry = None
            out += self._start_ke(now)
        if _due(self._time, now):
            time_attributes = [Time.AttributeDefs.time.id, Time.AttributeDefs.time_status.id]
            out += self._read(self._time, TIME_CLUSTER, time_attributes, now, self.settings.request_timeout)
        if _due(self._tunnel_request, now):
            out += self._open_tunnel(now)
        if self._tunnel_server is not None:
            out += self._to_air(self._tunnel_server.tick())
            self._tunnel_server_events(now)
        if self._outbox_due is not None and now >= self._outbox_due:
            out += self._flush(now)
        if _due(self._flags, now):
            assert self.settings.notification_poll is not None
            timeout = min(self.settings.request_timeout, self.settings.notification_poll)
            out += self._read(self._flags, METERING_CLUSTER, [FUNCTIONAL_NOTIFICATION_FLAGS], now, timeout,
                              foundation.Direction.Server_to_Client)
        return out

    def next_deadline(self) -> float | None:
        times = [self._discovery.due, self._ke_retry, self._time.due, self._flags.due, self._tunnel_request.due,
                 None if self._ke is None else self._ke.next_deadline(),
                 None if self._tunnel_server is None else self._tunnel_server.next_deadline(),
                 self._outbox_due if self.tunnel_open or self._tunnel_server is not None else None]
        return min((time for time in times if time is not None), default=None)

    # ------------------------------------------------------------------ discovery and CBKE

    def _discover(self, now: float) -> list[ApsFrame]:
        """Ask every rx-on node which endpoint serves Key Establishment on the Smart Energy profile."""
        tsn = self.device.next_tsn()
        self._discovery.tsn, self._discovery.due = tsn, now + self.settings.retry_after
        payload = zdo.match_descriptor_request(tsn, self.device.profile, [KEY_ESTABLISHMENT_CLUSTER])
        self.device.note(now, "Match_Desc_req for the Smart Energy Key Establishment server")
        return [ApsFrame(src_ieee=self.device.ieee, src_nwk=self.device.nwk, dst_ieee=BROADCAST_IEEE,
                         dst_nwk=t.NWK(zdo.RX_ON_WHEN_IDLE), profile=ZDO_PROFILE,
                         cluster=zdo_t.ZDOCmd.Match_Desc_req, src_ep=ZDO_ENDPOINT, dst_ep=ZDO_ENDPOINT,
                         payload=payload, aps_counter=self.device.next_aps_counter())]

    def _on_match_descriptor(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        answer = zdo.parse_match_descriptor_response(frame.payload)
        if (answer is None or answer[0] != self._discovery.tsn or not answer[1] or frame.src_nwk != COORDINATOR_NWK
                or self.state is not SessionState.DISCOVERING):
            return []
        self._discovery = _Request()
        self.hub.ieee, self.hub.se_endpoint = frame.src_ieee, answer[1][0]
        self.device.note(now, f"hub {frame.src_ieee} serves Smart Energy on endpoint {self.hub.se_endpoint}")
        return self._start_ke(now)

    def _start_ke(self, now: float) -> list[ApsFrame]:
        credentials = self.settings.credentials
        if credentials is None:
            self.state = SessionState.UNSECURED
            self.device.note(now, "this device does not do CBKE")
            return []
        assert self.hub.se_endpoint is not None
        self._ke = KeyEstablishmentClient(credentials, self.hub.ieee, self._call_time, endpoint=self.device.endpoint,
                                          hub_endpoint=self.hub.se_endpoint, profile=self.device.profile,
                                          ephemeral_keys=self._ephemeral_key)
        self.state = SessionState.ESTABLISHING
        self.device.note(now, f"CBKE suite {credentials.suite.value} with the trust centre")
        return self._to_air(self._ke.start())

    def _on_key_establishment(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        if self._ke is None:
            return []
        out = self._to_air(self._ke.handle(_incoming(frame)))
        self._after_ke(now)
        return out

    def _after_ke(self, now: float) -> None:
        """Adopt the key, or plan the next attempt, when the exchange has just ended."""
        assert self._ke is not None
        outcome = self._ke.outcome
        if outcome is None or self.state is not SessionState.ESTABLISHING:
            return
        self.ke_outcomes.append(outcome)
        if isinstance(outcome, LinkKeyEstablished):
            self.link_key, self.suite = t.KeyData(outcome.key), outcome.suite
            self.state = SessionState.SECURED
            self.device.note(now, f"CBKE suite {outcome.suite.value} link key established")
            self._time.due = now
            if self.settings.notification_poll is not None:
                self._flags.due = now
            if self.settings.opens_tunnel:
                assert self.hub.se_endpoint is not None  # discovered before CBKE began
                self._tunnel = TunnelClient(self.hub.ieee, endpoint=self.device.endpoint,
                                            server_endpoint=self.hub.se_endpoint, profile=self.device.profile)
                self._tunnel_request.due = now
            elif self.settings.serves_tunnel and self._tunnel_server is None:
                self._tunnel_server = TunnelServer(self._call_time, HanConfig(), self._may_open_tunnel, headers=False)
            return
        status = "no answer" if outcome.status is None else outcome.status.name
        self.state = SessionState.UNSECURED
        failures = sum(isinstance(earlier, KeyEstablishmentFailed) for earlier in self.ke_outcomes)
        backoff = min(MAX_KE_BACKOFF, self.settings.retry_after * 2 ** (failures - 1))
        self._ke_retry = now + max(backoff, outcome.wait_time)
        self.device.note(now, f"CBKE failed ({status}): {outcome.reason}")

    def _ephemeral_key(self, suite: CryptoSuite) -> KeyPair:
        """Ephemeral keys from the device's seeded generator, so a run repeats exactly."""
        return KeyPair(suite, 1 + self._rng.randrange(suite.curve.order - 1))

    def _to_air(self, frames: list[OutgoingFrame]) -> list[ApsFrame]:
        out = []
        for frame in frames:
            payload = frame.zcl
            if self.settings.corrupts_confirm_mac and _is_confirm_key_request(payload):
                payload = payload[:-1] + bytes([payload[-1] ^ MAC_FLIP])
            out.append(self._to_hub(frame.cluster, payload, encrypted=frame.aps_encrypt, dst_ep=frame.dst_ep))
        return out

    # ------------------------------------------------------------------ the GBCS tunnel

    def _open_tunnel(self, now: float) -> list[ApsFrame]:
        """RequestTunnel, repeated until the hub opens one (it refuses devices without a CBKE key)."""
        assert self._tunnel is not None
        self._tunnel_request.due = now + self.settings.retry_after
        self.device.note(now, "RequestTunnel (GB-HRGP)")
        return self._to_air([self._tunnel.request()])

    def _on_tunnel(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        request = parse(_incoming(frame))
        if request is not None and request.header.client_to_server:
            return self._on_tunnel_request(request, now)
        if self._tunnel is None:
            return []
        was_open = self._tunnel.is_open
        out = self._to_air(self._tunnel.handle(_incoming(frame)))
        for message in self._tunnel.take_messages():
            self.gbcs_received.append(message)
            self.device.gbcs_message(message, now)
        if self._tunnel.is_open and not was_open:
            self._tunnel_request = _Request()
            self.device.note(now, f"tunnel {self._tunnel.tunnel_id} open")
            out += self._flush(now)
        elif self._tunnel.state is TunnelState.CLOSED and self._tunnel_request.due is None:
            refusal = self._tunnel.refusal
            self.device.note(now, "tunnel closed" if refusal is None else f"tunnel refused: {refusal.name}")
            self._tunnel_request.due = now + self.settings.retry_after
        return out

    def _on_tunnel_request(self, request: HanRequest, now: float) -> list[ApsFrame]:
        """What the hub's Tunneling client sends this device's server: its RequestTunnel, TransferData and
        the rest. A device that serves no Tunneling cluster says so (a global command it ignores)."""
        if request.header.is_general:
            return []
        if self._tunnel_server is None:
            self.device.note(now, "no Tunneling server here: UNSUPPORTED_CLUSTER")
            return self._to_air(request.default_response(foundation.Status.UNSUPPORTED_CLUSTER))
        out = self._to_air(self._tunnel_server.handle(request))
        self._tunnel_server_events(now)
        return out

    def _tunnel_server_events(self, now: float) -> None:
        assert self._tunnel_server is not None
        for event in self._tunnel_server.take_events():
            if isinstance(event, GbcsMessageReceived):
                self.gbcs_received.append(event.message)
                self.device.gbcs_message(event.message, now)
            elif isinstance(event, TunnelOpened):
                self.device.note(now, f"the hub opened tunnel {event.tunnel_id}")
            elif isinstance(event, TunnelClosed):
                self.device.note(now, f"tunnel {event.tunnel_id} closed: {event.reason}")

    def _may_open_tunnel(self, eui64: t.EUI64) -> bool:
        """Only the hub, and only under the CBKE key, gets a tunnel."""
        return eui64 == self.hub.ieee and self.state is SessionState.SECURED

    def _flush(self, now: float) -> list[ApsFrame]:
        """Send what waits: PUT into the tunnel this device opened, or to the hub's tunnel (queued by its server
        until the hub opens one)."""
        if self._tunnel_server is not None:
            messages, self._outbox, self._outbox_due = self._outbox, [], None
            for message in messages:
                self.device.note(now, f"sent a {len(message)}-octet GBCS message through the hub's tunnel")
            return [frame for message in messages
                    for frame in self._to_air(self._tunnel_server.send(self.hub.ieee, message))]
        if self._tunnel is None or not self._tunnel.is_open:
            return []
        messages, self._outbox, self._outbox_due = self._outbox, [], None
        for message in messages:
            self.device.note(now, f"PUT a {len(message)}-octet GBCS message through the tunnel")
        return [frame for message in messages for frame in self._to_air(self._tunnel.send(message))]

    # ------------------------------------------------------------------ reads under the key

    def _read(self, request: _Request, cluster: int, attribute_ids: list[int], now: float, timeout: float,
              direction: foundation.Direction = foundation.Direction.Client_to_Server) -> list[ApsFrame]:
        """Read the hub's attributes; the notification flags are its Metering *client*'s (SE 1.2+), which a
        Read Attributes in the server-to-client direction addresses."""
        request.tsn, request.due = self.device.next_tsn(), now + timeout
        return [self._to_hub(cluster, read_attributes(request.tsn, attribute_ids, direction))]

    def _on_time(self, values: dict[int, Any], now: float) -> list[ApsFrame]:
        utc = values.get(Time.AttributeDefs.time.id)
        if utc is None:
            return []
        self._time = _Request()
        self.hub.time_offset = ZIGBEE_EPOCH + int(utc) - now
        status = values.get(Time.AttributeDefs.time_status.id)
        self.hub.time_status = None if status is None else int(status)
        self.device.note(now, f"hub time read: offset {self.hub.time_offset:+.0f} s, status {self.hub.time_status}")
        return []

    def _on_notification_flags(self, values: dict[int, Any], now: float) -> list[ApsFrame]:
        flags = values.get(FUNCTIONAL_NOTIFICATION_FLAGS)
        if flags is None:
            return []
        assert self.settings.notification_poll is not None
        self._flags = _Request(due=now + self.settings.notification_poll)
        self.hub.notification_flags = int(flags)
        if self.hub.notification_flags & NEW_OTA_FIRMWARE:
            self.device.note(now, "hub flags a new OTA image")
            self._image_flagged = True
        return []

    def _to_hub(self, cluster: int, payload: bytes, *, encrypted: bool = True, dst_ep: int | None = None) -> ApsFrame:
        assert self.hub.se_endpoint is not None
        return ApsFrame(src_ieee=self.device.ieee, src_nwk=self.device.nwk, dst_ieee=self.hub.ieee,
                        dst_nwk=COORDINATOR_NWK, profile=self.device.profile, cluster=cluster,
                        src_ep=self.device.endpoint, dst_ep=self.hub.se_endpoint if dst_ep is None else dst_ep,
                        payload=payload, aps_encrypted=encrypted, aps_counter=self.device.next_aps_counter())


def _incoming(frame: ApsFrame) -> IncomingFrame:
    """A received APS frame as the device-side cores (KE and tunnel clients) take it."""
    return IncomingFrame(source=frame.src_ieee, nwk=int(frame.src_nwk), profile=frame.profile, src_ep=frame.src_ep,
                         dst_ep=frame.dst_ep, cluster=frame.cluster, zcl=frame.payload,
                         aps_encrypted=frame.aps_encrypted)


def _due(request: _Request, now: float) -> bool:
    return request.due is not None and now >= request.due


def _is_confirm_key_request(zcl_frame: bytes) -> bool:
    """A client-to-server Key Establishment Confirm Key Request (cluster command, no manufacturer code)."""
    return len(zcl_frame) >= 3 and zcl_frame[0] & 0x0F == 0x01 and zcl_frame[2] == KeRequest.confirm_key.id
