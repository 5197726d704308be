"""The hub's Key Establishment cluster server (SE 1.x CBKE responder): ZCL bytes and time in, frames and
outcomes out.

The joining device initiates; the hub answers each step and keeps one session per device:
Initiate Request → Initiate Response (our certificate), Ephemeral Data Request → Ephemeral Data Response,
Confirm Key Request → Confirm Key Response, then `LinkKeyEstablished`. Every failure is answered with
Terminate Key Establishment and ends the session:
- the hub already runs `max_sessions` exchanges: NO_RESOURCES (with the longer busy wait time);
- the requested suite is not exactly one suite the hub holds credentials for: UNSUPPORTED_SUITE;
- a frame too short for its command, a certificate, point or MAC of the wrong length for the suite, an
  invalid ephemeral point, or a step out of sequence (no session, wrong step): BAD_MESSAGE;
- the certificate's issuer differs from the hub certificate's issuer: UNKNOWN_ISSUER;
- the certificate is malformed for its suite, its reconstruction point is not on the curve, its
  subject is not the sender's EUI-64, or (suite 2) it is outside its validity period: INVALID_CERTIFICATE;
- the device's MAC does not match: BAD_KEY_CONFIRM.
A device that falls silent longer than the generate time it announced (plus a margin) loses its session
without a frame. A new Initiate from a device abandons its earlier exchange. Terminate is sent with the
KeyEstablishmentSuite attribute value, so a device refused for its suite learns what the hub supports.

The arithmetic is the engine's (hubfw.han.key_establishment.engine): on the host by default, or the NCP's CBKE library,
whose answer arrives later: the Ephemeral Data Response then goes out from `resume` (NO_RESOURCES when the
NCP fails, or stays silent past the generate time we announced plus the margin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.errors import CbkeError
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.han.key_establishment.checks import (
    Refusal,
    decode_or_refuse,
    require_length,
    status_for,
    vet_peer_certificate,
)
from hubfw.han.key_establishment.config import KeyEstablishmentConfig
from hubfw.han.key_establishment.engine import (
    AgreementRequest,
    ConfirmKeys,
    EphemeralKeySource,
    HostEngine,
    KeyAgreementEngine,
)
from hubfw.han.key_establishment.events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.key_establishment.faults import (
    CERTIFICATE_KINDS,
    mangled_mac,
    presented_certificate,
    terminate_status,
)
from hubfw.han.key_establishment.wire import (
    KEY_ESTABLISHMENT_SUITE_ATTRIBUTE,
    KEY_ESTABLISHMENT_SUITE_TYPE,
    MAC_LENGTH,
    KeRequest,
    KeResponse,
    Received,
    TerminateStatus,
    receive,
    suite_from_wire,
    suites_bitmask,
)
from hubfw.han.zcl import encode, requested_attribute_ids
from hubfw.hub.faults import Fault, FaultBook, FaultError, FaultKind
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.zcl import attribute_record, decode, unsupported_attribute

Status = foundation.Status


@dataclass
class _Session:
    """One device's exchange: the step it owes us next and when we stop waiting for it."""

    peer_certificate: ImplicitCertificate
    confirm_key_generate_time: int
    expecting: foundation.ZCLCommandDef
    deadline: float
    agreement: AgreementRequest | None = None
    """What the engine was asked, once the device's Ephemeral Data arrived."""
    awaiting_keys: Received | None = None
    """The Ephemeral Data Request whose answer waits for the engine's `resume`."""
    keys: ConfirmKeys | None = None
    delay: float = 0.0
    """Seconds every answer of this exchange goes out late (a CBKE_DELAY fault)."""

    @property
    def suite(self) -> CryptoSuite:
        return self.peer_certificate.suite


class KeyEstablishmentServer:
    """The hub's CBKE responder for every joining device; `handle` returns the frames to send and
    `take_events` the exchanges that ended since the last call.

    `credentials` are the hub's own per suite (host-side crypto, `ephemeral_keys` its ephemeral key
    source), or the `KeyAgreementEngine` to use instead."""

    def __init__(
        self,
        credentials: Mapping[CryptoSuite, DeviceCredentials] | KeyAgreementEngine,
        clock: Clock,
        config: KeyEstablishmentConfig | None = None,
        *,
        ephemeral_keys: EphemeralKeySource = KeyPair.generate,
        faults: FaultBook | None = None,
    ) -> None:
        self.faults = faults
        """Faults set per device (hubfw.han.key_establishment.faults); None: the hub behaves."""
        self._engine = credentials if isinstance(credentials, KeyAgreementEngine) else HostEngine(
            credentials, ephemeral_keys
        )
        self._clock = clock
        self._config = config or KeyEstablishmentConfig()
        self._max_sessions = min(self._config.max_sessions, self._engine.max_sessions or self._config.max_sessions)
        self._sessions: dict[t.EUI64, _Session] = {}
        self._events: list[KeyEstablishmentEvent] = []
        self._handlers: dict[int, Callable[[Received], list[OutgoingFrame]]] = {
            KeRequest.initiate.id: self._on_initiate,
            KeRequest.ephemeral_data.id: self._on_ephemeral_data,
            KeRequest.confirm_key.id: self._on_confirm_key,
            KeRequest.terminate.id: self._on_terminate,
        }

    @property
    def supported_suites(self) -> int:
        """The KeyEstablishmentSuite attribute: a bit per suite the hub holds credentials for."""
        return suites_bitmask(self._engine.certificates)

    def active_sessions(self) -> frozenset[t.EUI64]:
        """Devices with an exchange in progress."""
        return frozenset(self._sessions)

    # ----------------------------------------------------------------- inputs

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to one received frame of cluster 0x0800. Never raises for what the device sent."""
        received = receive(frame)
        if received is None or not received.header.client_to_server:
            return []
        self.tick()  # a stale session must not hold a slot or accept a late step
        header = received.header
        if header.is_general:  # the cluster has no manufacturer-specific attributes to read
            if header.command_id == foundation.GeneralCommand.Read_Attributes and not header.is_manufacturer_specific:
                return self._read_attributes_response(received)
            return []
        if header.is_manufacturer_specific:
            return received.default_response(Status.UNSUP_MANUF_CLUSTER_COMMAND)
        handler = self._handlers.get(header.command_id)
        if handler is None:
            return received.default_response(Status.UNSUP_CLUSTER_COMMAND)
        try:
            return handler(received)
        except _FaultRefusal as failure:
            return [self._late(self._terminate(received, failure), failure.delay)]
        except Refusal as failure:
            session = self._sessions.get(received.frame.source)
            return [self._late(self._terminate(received, failure), 0.0 if session is None else session.delay)]

    def resume(self, request: AgreementRequest, outcome: ConfirmKeys | Exception) -> list[OutgoingFrame]:
        """The engine's late answer to `request` (or why it has none): the Ephemeral Data Response, or a
        Terminate. An answer for an exchange that has ended meanwhile is dropped."""
        session = self._sessions.get(request.peer)
        if session is None or session.agreement is not request or session.awaiting_keys is None:
            return []
        received, session.awaiting_keys = session.awaiting_keys, None
        if isinstance(outcome, Exception):
            return [self._terminate(received, _agreement_refusal(outcome))]
        return self._ephemeral_data_response(received, session, outcome)

    def tick(self) -> None:
        """Drop the sessions whose device stayed silent past its announced generate time and the margin
        (or whose engine did not answer within the generate time we announced and the margin)."""
        now = self._clock.now()
        for eui64, session in list(self._sessions.items()):
            if session.deadline <= now:
                self._end_session(eui64)
                if session.awaiting_keys is not None:
                    reason = f"the key agreement with {eui64} was not computed in time"
                else:
                    reason = f"no {session.expecting.name} from {eui64} in time"
                self._events.append(KeyEstablishmentFailed(eui64, None, reason))

    def next_deadline(self) -> float | None:
        """When `tick` next has a session to expire, so the hub can sleep until then."""
        return min((session.deadline for session in self._sessions.values()), default=None)

    def take_events(self) -> list[KeyEstablishmentEvent]:
        """The outcomes since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------- commands

    def _on_initiate(self, received: Received) -> list[OutgoingFrame]:
        source = received.frame.source
        self._end_session(source)  # a new Initiate abandons the device's earlier exchange
        request = decode_or_refuse(KeRequest.initiate, received.payload)
        if len(self._sessions) >= self._max_sessions:
            raise Refusal(TerminateStatus.NO_RESOURCES, f"{len(self._sessions)} exchanges already running")
        suite = suite_from_wire(request.key_establishment_suite)
        own_certificate = self._engine.certificates.get(suite) if suite is not None else None
        if own_certificate is None:
            raise Refusal(
                TerminateStatus.UNSUPPORTED_SUITE,
                f"suite field {request.key_establishment_suite:#06x}, the hub supports {self.supported_suites:#06x}",
            )
        now = self._clock.now()
        delay = self._take_delay(source)
        terminate = self._take(source, FaultKind.CBKE_TERMINATE)
        if terminate is not None:
            raise _FaultRefusal(_fault_status(terminate), f"fault {terminate.kind.value}", delay)
        validity_time = now if self._config.check_certificate_validity else None
        certificate = vet_peer_certificate(own_certificate, request.identity, source, validity_time)
        self._sessions[source] = _Session(
            peer_certificate=certificate,
            confirm_key_generate_time=request.confirm_key_generate_time,
            expecting=KeRequest.ephemeral_data,
            deadline=now + delay + request.ephemeral_data_generate_time + self._config.timeout_margin,
            delay=delay,
        )
        certificate_fault = self._take(source, *CERTIFICATE_KINDS)
        zcl = encode(
            received.header.tsn,
            KeResponse.initiate,
            key_establishment_suite=own_certificate.suite.bitmask,
            ephemeral_data_generate_time=self._config.ephemeral_data_generate_time,
            confirm_key_generate_time=self._config.confirm_key_generate_time,
            identity=t.Bytes(presented_certificate(own_certificate, certificate_fault)),
        )
        return [self._late(received.reply(zcl), delay)]

    def _on_ephemeral_data(self, received: Received) -> list[OutgoingFrame]:
        session = self._session_expecting(received, KeRequest.ephemeral_data)
        suite = session.suite
        body = decode_or_refuse(KeRequest.ephemeral_data, received.payload)
        data = require_length(f"suite {suite.value} ephemeral data", body.ephemeral_data, suite.point_length)
        session.agreement = AgreementRequest(received.frame.source, session.peer_certificate, data)
        try:
            keys = self._engine.agree(session.agreement)
        except CbkeError as error:
            raise _agreement_refusal(error) from error
        if keys is None:  # the engine answers later, through `resume`, within the time we announced
            session.awaiting_keys = received
            session.deadline = (
                self._clock.now() + self._config.ephemeral_data_generate_time + self._config.timeout_margin
            )
            return []
        return self._ephemeral_data_response(received, session, keys)

    def _ephemeral_data_response(
        self, received: Received, session: _Session, keys: ConfirmKeys
    ) -> list[OutgoingFrame]:
        session.keys = keys
        session.expecting = KeRequest.confirm_key
        session.deadline = (
            self._clock.now() + session.delay + session.confirm_key_generate_time + self._config.timeout_margin
        )
        own_point = t.Bytes(keys.ephemeral_public_key)
        zcl = encode(received.header.tsn, KeResponse.ephemeral_data, ephemeral_data=own_point)
        return [self._late(received.reply(zcl), session.delay)]

    def _on_confirm_key(self, received: Received) -> list[OutgoingFrame]:
        session = self._session_expecting(received, KeRequest.confirm_key)
        body = decode_or_refuse(KeRequest.confirm_key, received.payload)
        mac = require_length("a Confirm Key MAC", body.mac, MAC_LENGTH)
        keys = session.keys
        assert keys is not None  # set before the session expects confirm_key
        source = received.frame.source
        try:
            keys.verify_initiator_mac(mac, source)
        except CbkeError as error:
            raise Refusal(status_for(error), str(error)) from error
        del self._sessions[source]  # no release: the hub stores the key (the NCP's own, or this one)
        self._events.append(LinkKeyEstablished(source, keys.link_key, session.suite, received.frame.src_ep))
        mac_fault = self._take(source, FaultKind.CBKE_BAD_MAC)
        mac = keys.responder_mac if mac_fault is None else mangled_mac(keys.responder_mac)
        return [self._late(received.reply(encode(received.header.tsn, KeResponse.confirm_key, mac=t.Bytes(mac))),
                           session.delay)]

    def _on_terminate(self, received: Received) -> list[OutgoingFrame]:
        source = received.frame.source
        had_session = self._end_session(source) is not None
        try:
            request = decode(KeRequest.terminate, received.payload)
        except ValueError:
            return received.default_response(Status.MALFORMED_COMMAND)
        if had_session:
            status = request.status_code
            self._events.append(
                KeyEstablishmentFailed(source, status, f"{source} terminated: {status.name}", request.wait_time)
            )
        return received.default_response(Status.SUCCESS)

    # ---------------------------------------------------------------- helpers

    def _take(self, eui64: t.EUI64, *kinds: FaultKind) -> Fault | None:
        """The fault of `kinds` set for `eui64` that acts now (spent and recorded by the book), if any."""
        if self.faults is None:
            return None
        return self.faults.take(eui64, kinds, self._clock.now(), cluster="key-establishment")

    def _take_delay(self, eui64: t.EUI64) -> float:
        fault = self._take(eui64, FaultKind.CBKE_DELAY)
        return 0.0 if fault is None else float(fault.seconds or 0.0)

    def _late(self, frame: OutgoingFrame, delay: float) -> OutgoingFrame:
        return frame if delay <= 0 else replace(frame, not_before=self._clock.now() + delay)

    def _session_expecting(self, received: Received, command: foundation.ZCLCommandDef) -> _Session:
        session = self._sessions.get(received.frame.source)
        if session is None:
            raise Refusal(TerminateStatus.BAD_MESSAGE, f"{command.name} without a key establishment in progress")
        if session.awaiting_keys is not None:
            raise Refusal(TerminateStatus.BAD_MESSAGE, f"{command.name} while the hub computes its ephemeral data")
        if session.expecting is not command:
            raise Refusal(TerminateStatus.BAD_MESSAGE, f"{command.name} while expecting {session.expecting.name}")
        return session

    def _end_session(self, eui64: t.EUI64) -> _Session | None:
        """Forget a device's exchange that ends without a key; the engine drops what it kept for it."""
        session = self._sessions.pop(eui64, None)
        if session is not None and session.agreement is not None:
            self._engine.release(session.suite)
        return session

    def _terminate(self, received: Received, failure: Refusal) -> OutgoingFrame:
        """End the device's exchange: forget the session, record why, tell the device when to retry."""
        source = received.frame.source
        self._end_session(source)
        self._events.append(KeyEstablishmentFailed(source, failure.status, failure.reason))
        wait = (
            self._config.busy_wait_time
            if failure.status == TerminateStatus.NO_RESOURCES
            else self._config.terminate_wait_time
        )
        zcl = encode(
            received.header.tsn,
            KeResponse.terminate,
            status_code=failure.status,
            wait_time=wait,
            key_establishment_suite=self.supported_suites,
        )
        return received.reply(zcl)

    def _read_attributes_response(self, received: Received) -> list[OutgoingFrame]:
        try:
            attribute_ids = requested_attribute_ids(received)
        except ValueError:
            return received.default_response(Status.MALFORMED_COMMAND)
        return [received.read_attributes_response(self._attribute_record(i) for i in attribute_ids)]

    def _attribute_record(self, attribute_id: int) -> foundation.ReadAttributeRecord:
        if attribute_id != KEY_ESTABLISHMENT_SUITE_ATTRIBUTE:
            return unsupported_attribute(attribute_id)
        return attribute_record(attribute_id, KEY_ESTABLISHMENT_SUITE_TYPE, t.enum16(self.supported_suites))


class _FaultRefusal(Refusal):
    """A Terminate the hub sends because a CBKE_TERMINATE fault says so (late by `delay` seconds)."""

    def __init__(self, status: TerminateStatus, reason: str, delay: float) -> None:
        super().__init__(status, reason)
        self.delay = delay


def _fault_status(fault: Fault) -> TerminateStatus:
    try:
        return terminate_status(fault)
    except FaultError:
        return TerminateStatus.BAD_MESSAGE


def _agreement_refusal(error: Exception) -> Refusal:
    """A key agreement that could not be computed: the device's data was unusable (BAD_MESSAGE), or the
    NCP computing it failed (NO_RESOURCES: the device may try again later)."""
    if isinstance(error, CbkeError):
        return Refusal(TerminateStatus.BAD_MESSAGE, str(error))
    return Refusal(TerminateStatus.NO_RESOURCES, f"the NCP could not compute the key agreement: {error}")
