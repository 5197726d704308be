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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, KeyAgreementResult, Role
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.errors import CbkeError
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import Clock
from hubfw.han.ke_checks import Refusal, decode_or_refuse, require_length, status_for, vet_peer_certificate
from hubfw.han.ke_config import KeyEstablishmentConfig, KeyEstablishmentConfigError
from hubfw.han.ke_events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.ke_wire import (
    KEY_ESTABLISHMENT_SUITE_ATTRIBUTE,
    KEY_ESTABLISHMENT_SUITE_TYPE,
    MAC_LENGTH,
    KeRequest,
    KeResponse,
    Received,
    TerminateStatus,
    decode,
    encode,
    receive,
    suite_from_wire,
    suites_bitmask,
)
from hubfw.han.zcl import attribute_record, requested_attribute_ids, unsupported_attribute
from hubfw.server.frames import IncomingFrame, OutgoingFrame

Status = foundation.Status
EphemeralKeySource = Callable[[CryptoSuite], KeyPair]


@dataclass
class _Session:
    """One device's exchange: the step it owes us next and when we stop waiting for it."""

    agreement: KeyAgreement
    peer_certificate: ImplicitCertificate
    confirm_key_generate_time: int
    expecting: foundation.ZCLCommandDef
    deadline: float
    result: KeyAgreementResult | None = None


class KeyEstablishmentServer:
    """The hub's CBKE responder for every joining device; `handle` returns the frames to send and
    `take_events` the exchanges that ended since the last call."""

    def __init__(
        self,
        credentials_by_suite: Mapping[CryptoSuite, DeviceCredentials],
        clock: Clock,
        config: KeyEstablishmentConfig | None = None,
        *,
        ephemeral_keys: EphemeralKeySource = KeyPair.generate,
    ) -> None:
        if not credentials_by_suite:
            raise KeyEstablishmentConfigError("the Key Establishment server needs credentials for suite 1 or 2")
        for suite, credentials in credentials_by_suite.items():
            if credentials.suite is not suite:
                raise KeyEstablishmentConfigError(
                    f"credentials given for suite {int(suite)} hold a suite {int(credentials.suite)} certificate"
                )
        if len({credentials.eui64 for credentials in credentials_by_suite.values()}) != 1:
            raise KeyEstablishmentConfigError("the hub's certificates of the two suites name different EUI-64s")
        self._credentials = dict(credentials_by_suite)
        self._clock = clock
        self._config = config or KeyEstablishmentConfig()
        self._ephemeral_keys = ephemeral_keys
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
        return suites_bitmask(self._credentials)

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
        if header.is_general:
            if header.command_id == foundation.GeneralCommand.Read_Attributes:
                return self._read_attributes_response(received)
            return []
        if header.is_manufacturer_specific:
            return received.default_response(Status.UNSUP_MANUF_CLUSTER_COMMAND)
        handler = self._handlers.get(header.command_id)
        if handler is None:
            return received.default_response(Status.UNSUP_CLUSTER_COMMAND)
        try:
            return handler(received)
        except Refusal as failure:
            return [self._terminate(received, failure)]

    def tick(self) -> None:
        """Drop the sessions whose device stayed silent past its announced generate time and the margin."""
        now = self._clock.now()
        for eui64, session in list(self._sessions.items()):
            if session.deadline <= now:
                del self._sessions[eui64]
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
        self._sessions.pop(source, None)  # a new Initiate abandons the device's earlier exchange
        request = decode_or_refuse(KeRequest.initiate, received.payload)
        if len(self._sessions) >= self._config.max_sessions:
            raise Refusal(TerminateStatus.NO_RESOURCES, f"{len(self._sessions)} exchanges already running")
        suite = suite_from_wire(request.key_establishment_suite)
        credentials = self._credentials.get(suite) if suite is not None else None
        if credentials is None:
            raise Refusal(
                TerminateStatus.UNSUPPORTED_SUITE,
                f"suite field {request.key_establishment_suite:#06x}, the hub supports {self.supported_suites:#06x}",
            )
        agreement = KeyAgreement(credentials, Role.RESPONDER, self._ephemeral_keys(credentials.suite))
        now = self._clock.now()
        validity_time = now if self._config.check_certificate_validity else None
        certificate = vet_peer_certificate(agreement, request.identity, source, validity_time)
        self._sessions[source] = _Session(
            agreement=agreement,
            peer_certificate=certificate,
            confirm_key_generate_time=request.confirm_key_generate_time,
            expecting=KeRequest.ephemeral_data,
            deadline=now + request.ephemeral_data_generate_time + self._config.timeout_margin,
        )
        zcl = encode(
            received.header.tsn,
            KeResponse.initiate,
            key_establishment_suite=credentials.suite.bitmask,
            ephemeral_data_generate_time=self._config.ephemeral_data_generate_time,
            confirm_key_generate_time=self._config.confirm_key_generate_time,
            identity=t.Bytes(credentials.certificate.encoded),
        )
        return [received.reply(zcl)]

    def _on_ephemeral_data(self, received: Received) -> list[OutgoingFrame]:
        session = self._session_expecting(received, KeRequest.ephemeral_data)
        suite = session.agreement.credentials.suite
        body = decode_or_refuse(KeRequest.ephemeral_data, received.payload)
        data = require_length(f"suite {suite.value} ephemeral data", body.ephemeral_data, suite.point_length)
        try:
            session.result = session.agreement.complete(session.peer_certificate, data)
        except CbkeError as error:
            raise Refusal(TerminateStatus.BAD_MESSAGE, str(error)) from error
        session.expecting = KeRequest.confirm_key
        session.deadline = self._clock.now() + session.confirm_key_generate_time + self._config.timeout_margin
        own_point = t.Bytes(session.agreement.ephemeral_public_key)
        zcl = encode(received.header.tsn, KeResponse.ephemeral_data, ephemeral_data=own_point)
        return [received.reply(zcl)]

    def _on_confirm_key(self, received: Received) -> list[OutgoingFrame]:
        session = self._session_expecting(received, KeRequest.confirm_key)
        body = decode_or_refuse(KeRequest.confirm_key, received.payload)
        mac = require_length("a Confirm Key MAC", body.mac, MAC_LENGTH)
        result = session.result
        assert result is not None  # set before the session expects confirm_key
        try:
            result.verify_peer_mac(mac)
        except CbkeError as error:
            raise Refusal(status_for(error), str(error)) from error
        source = received.frame.source
        del self._sessions[source]
        self._events.append(LinkKeyEstablished(source, result.link_key, session.agreement.credentials.suite))
        return [received.reply(encode(received.header.tsn, KeResponse.confirm_key, mac=t.Bytes(result.own_mac)))]

    def _on_terminate(self, received: Received) -> list[OutgoingFrame]:
        source = received.frame.source
        had_session = self._sessions.pop(source, None) is not None
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

    def _session_expecting(self, received: Received, command: foundation.ZCLCommandDef) -> _Session:
        session = self._sessions.get(received.frame.source)
        if session is None:
            raise Refusal(TerminateStatus.BAD_MESSAGE, f"{command.name} without a key establishment in progress")
        if session.expecting is not command:
            raise Refusal(TerminateStatus.BAD_MESSAGE, f"{command.name} while expecting {session.expecting.name}")
        return session

    def _terminate(self, received: Received, failure: Refusal) -> OutgoingFrame:
        """End the device's exchange: forget the session, record why, tell the device when to retry."""
        source = received.frame.source
        self._sessions.pop(source, None)
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
