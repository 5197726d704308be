"""The device side of Key Establishment (the CBKE initiator), for simulated meters and PPMIDs.

It drives one exchange with the trust centre through the same frames the hub's server handles:
Initiate Request, Ephemeral Data Request, Confirm Key Request, checking each response as SE 1.x asks
of a joining device (the hub certificate's issuer is our CA, its subject the trust centre's EUI-64;
the hub's MAC matches) and terminating with the status a failed check earns. The outcome is the
same event the server emits, naming the trust centre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, KeyAgreementResult, Role
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
from hubfw.han.key_establishment.events import KeyEstablishmentEvent, KeyEstablishmentFailed, LinkKeyEstablished
from hubfw.han.key_establishment.wire import MAC_LENGTH, KeRequest, KeResponse, Received, TerminateStatus, receive
from hubfw.han.zcl import encode
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import KEY_ESTABLISHMENT_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import decode


@dataclass
class _Exchange:
    """The exchange in progress: the response we wait for and until when."""

    agreement: KeyAgreement
    expecting: foundation.ZCLCommandDef
    deadline: float
    hub_certificate: ImplicitCertificate | None = None
    hub_confirm_key_generate_time: int = 0
    result: KeyAgreementResult | None = None


class KeyEstablishmentClient:
    """One device's CBKE initiator towards the trust centre; `outcome` is set when the exchange ends."""

    def __init__(
        self,
        credentials: DeviceCredentials,
        trust_center: t.EUI64,
        clock: Clock,
        config: KeyEstablishmentConfig | None = None,
        *,
        endpoint: int = 1,
        hub_endpoint: int = 1,
        profile: int = SMART_ENERGY_PROFILE,
        ephemeral_keys: Callable[[CryptoSuite], KeyPair] = KeyPair.generate,
    ) -> None:
        self._credentials = credentials
        self._trust_center = trust_center
        self._clock = clock
        self._config = config or KeyEstablishmentConfig()
        self._endpoint = endpoint
        self._hub_endpoint = hub_endpoint
        self._profile = profile
        self._ephemeral_keys = ephemeral_keys
        self._tsn = 0
        self._exchange: _Exchange | None = None
        self.outcome: KeyEstablishmentEvent | None = None

    @property
    def in_progress(self) -> bool:
        """An exchange is running (started and not yet ended)."""
        return self._exchange is not None

    def start(self) -> list[OutgoingFrame]:
        """Begin (or restart) key establishment: the Initiate Key Establishment Request."""
        suite = self._credentials.suite
        self.outcome = None
        self._exchange = _Exchange(
            agreement=KeyAgreement(self._credentials, Role.INITIATOR, self._ephemeral_keys(suite)),
            expecting=KeResponse.initiate,
            deadline=self._clock.now() + self._config.timeout_margin,
        )
        zcl = encode(
            self._next_tsn(),
            KeRequest.initiate,
            key_establishment_suite=suite.bitmask,
            ephemeral_data_generate_time=self._config.ephemeral_data_generate_time,
            confirm_key_generate_time=self._config.confirm_key_generate_time,
            identity=t.Bytes(self._credentials.certificate.encoded),
        )
        return [self._to_hub(zcl)]

    def handle(self, frame: IncomingFrame) -> list[OutgoingFrame]:
        """React to a frame from the trust centre. Never raises for what the hub sent."""
        received = receive(frame)
        if (
            received is None
            or received.frame.source != self._trust_center
            or received.header.client_to_server
            or received.header.is_general
            or received.header.is_manufacturer_specific
        ):
            return []
        self.tick()
        exchange = self._exchange
        if exchange is None:
            return []
        if received.header.command_id == KeResponse.terminate.id:
            self._on_terminate(received)
            return []
        try:
            if received.header.command_id != exchange.expecting.id:
                command_id = received.header.command_id
                reason = f"command {command_id:#04x} while expecting {exchange.expecting.name}"
                raise Refusal(TerminateStatus.BAD_MESSAGE, reason)
            return self._step(exchange, received)
        except Refusal as refusal:
            return [self._fail(refusal)]

    def tick(self) -> None:
        """Give up when the hub stayed silent past the generate time it announced and the margin."""
        exchange = self._exchange
        if exchange is not None and exchange.deadline <= self._clock.now():
            self._finish(KeyEstablishmentFailed(self._trust_center, None, f"no {exchange.expecting.name} in time"))

    def next_deadline(self) -> float | None:
        """When `tick` may give up on the hub."""
        return self._exchange.deadline if self._exchange is not None else None

    # ------------------------------------------------------------------ steps

    def _step(self, exchange: _Exchange, received: Received) -> list[OutgoingFrame]:
        if exchange.expecting is KeResponse.initiate:
            return self._on_initiate_response(exchange, received)
        if exchange.expecting is KeResponse.ephemeral_data:
            return self._on_ephemeral_data_response(exchange, received)
        return self._on_confirm_key_response(exchange, received)

    def _on_initiate_response(self, exchange: _Exchange, received: Received) -> list[OutgoingFrame]:
        now = self._clock.now()
        response = decode_or_refuse(KeResponse.initiate, received.payload)
        if response.key_establishment_suite != self._credentials.suite.bitmask:
            raise Refusal(
                TerminateStatus.UNSUPPORTED_SUITE,
                f"hub answered with suite field {response.key_establishment_suite:#06x}",
            )
        exchange.hub_certificate = vet_peer_certificate(
            self._credentials.certificate, response.identity, self._trust_center, now
        )
        exchange.hub_confirm_key_generate_time = response.confirm_key_generate_time
        exchange.expecting = KeResponse.ephemeral_data
        exchange.deadline = now + response.ephemeral_data_generate_time + self._config.timeout_margin
        own_point = t.Bytes(exchange.agreement.ephemeral_public_key)
        return [self._to_hub(encode(self._next_tsn(), KeRequest.ephemeral_data, ephemeral_data=own_point))]

    def _on_ephemeral_data_response(self, exchange: _Exchange, received: Received) -> list[OutgoingFrame]:
        suite = self._credentials.suite
        body = decode_or_refuse(KeResponse.ephemeral_data, received.payload)
        data = require_length(f"suite {suite.value} ephemeral data", body.ephemeral_data, suite.point_length)
        assert exchange.hub_certificate is not None  # vetted in the Initiate step
        try:
            result = exchange.agreement.complete(exchange.hub_certificate, data)
        except CbkeError as error:
            raise Refusal(TerminateStatus.BAD_MESSAGE, str(error)) from error
        exchange.result = result
        exchange.expecting = KeResponse.confirm_key
        exchange.deadline = self._clock.now() + exchange.hub_confirm_key_generate_time + self._config.timeout_margin
        return [self._to_hub(encode(self._next_tsn(), KeRequest.confirm_key, mac=t.Bytes(result.own_mac)))]

    def _on_confirm_key_response(self, exchange: _Exchange, received: Received) -> list[OutgoingFrame]:
        body = decode_or_refuse(KeResponse.confirm_key, received.payload)
        mac = require_length("a Confirm Key MAC", body.mac, MAC_LENGTH)
        result = exchange.result
        assert result is not None  # derived in the Ephemeral Data step
        try:
            result.verify_peer_mac(mac)
        except CbkeError as error:
            raise Refusal(status_for(error), str(error)) from error
        self._finish(LinkKeyEstablished(self._trust_center, result.link_key, self._credentials.suite))
        return []

    def _on_terminate(self, received: Received) -> None:
        try:
            body = decode(KeResponse.terminate, received.payload)
        except ValueError:
            self._finish(KeyEstablishmentFailed(self._trust_center, TerminateStatus.BAD_MESSAGE, "truncated Terminate"))
            return
        status = body.status_code
        self._finish(KeyEstablishmentFailed(self._trust_center, status, f"hub terminated: {status.name}",
                                            body.wait_time))

    def _fail(self, refusal: Refusal) -> OutgoingFrame:
        self._finish(KeyEstablishmentFailed(self._trust_center, refusal.status, refusal.reason))
        zcl = encode(
            self._next_tsn(),
            KeRequest.terminate,
            status_code=refusal.status,
            wait_time=self._config.terminate_wait_time,
            key_establishment_suite=self._credentials.suite.bitmask,
        )
        return self._to_hub(zcl)

    def _finish(self, outcome: KeyEstablishmentEvent) -> None:
        self._exchange = None
        self.outcome = outcome

    def _to_hub(self, zcl: bytes) -> OutgoingFrame:
        return OutgoingFrame(
            destination=self._trust_center,
            profile=self._profile,
            src_ep=self._endpoint,
            dst_ep=self._hub_endpoint,
            cluster=KEY_ESTABLISHMENT_CLUSTER,
            zcl=zcl,
            aps_encrypt=False,
        )

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn
