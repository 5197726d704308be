"""The Key Establishment server on the NCP engine, transport-free: the agreement is asked for as work, the
exchange waits until `resume` brings the keys, and every way it ends without a key releases the NCP's
temporary data. The 'NCP' here is host arithmetic with the hub's credentials, its link key withheld."""

from __future__ import annotations

import dataclasses

import pytest

from hubfw.cbke.errors import CbkeError
from hubfw.clock import VirtualClock
from hubfw.han import (
    KeRequest,
    KeResponse,
    KeyEstablishmentClient,
    KeyEstablishmentConfig,
    KeyEstablishmentFailed,
    KeyEstablishmentServer,
    LinkKeyEstablished,
    TerminateStatus,
)
from hubfw.han.key_establishment.engine import AgreementRequest, ConfirmKeys, HostEngine, NcpEngine, ReleaseAgreement
from hubfw.han.key_establishment.wire import receive
from hubfw.zigbee.aps import OutgoingFrame
from tests.han.key_establishment.harness import GAS_METER, HUB, METER, Party, received, terminate_status

CONFIG = KeyEstablishmentConfig(ephemeral_data_generate_time=8, timeout_margin=5, max_sessions=4)


@pytest.fixture
def engine(hub: Party) -> NcpEngine:
    return NcpEngine({hub.credentials.suite: hub.credentials.certificate})


@pytest.fixture
def server(engine: NcpEngine, clock: VirtualClock) -> KeyEstablishmentServer:
    return KeyEstablishmentServer(engine, clock, CONFIG)


def ncp_keys(hub: Party, request: AgreementRequest) -> ConfirmKeys:
    """What the NCP's library answers: the keys of the agreement, without the link key it keeps."""
    return dataclasses.replace(HostEngine({hub.credentials.suite: hub.credentials}).agree(request), link_key=None)


def command_of(frame: OutgoingFrame) -> int:
    parsed = receive(received(frame, frame.destination))
    assert parsed is not None
    return parsed.header.command_id


def to_ephemeral_data(server: KeyEstablishmentServer, client: KeyEstablishmentClient, sender=METER) -> list:
    """Initiate, then the device's Ephemeral Data Request handed to the server; the server's answer to it."""
    [initiate_response] = server.handle(received(client.start()[0], sender))
    [ephemeral_request] = client.handle(received(initiate_response, HUB))
    return server.handle(received(ephemeral_request, sender))


def test_the_exchange_waits_for_the_ncp_and_ends_with_a_key_the_host_never_sees(
        hub: Party, meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock) -> None:
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG)

    assert to_ephemeral_data(server, client) == []  # nothing to send until the NCP has computed
    [request] = engine.take_work()
    assert isinstance(request, AgreementRequest) and request.peer == METER
    [ephemeral_response] = server.resume(request, ncp_keys(hub, request))
    [confirm_request] = client.handle(received(ephemeral_response, HUB))
    [confirm_response] = server.handle(received(confirm_request, METER))
    client.handle(received(confirm_response, HUB))

    assert command_of(confirm_response) == KeResponse.confirm_key.id
    assert isinstance(client.outcome, LinkKeyEstablished)
    [established] = server.take_events()
    assert (established.eui64, established.key, established.suite) == (METER, None, meter.credentials.suite)
    assert engine.take_work() == []  # no release: the hub has the NCP store the key


def test_the_ncp_engine_runs_one_exchange_at_a_time(
        meter: Party, gas_meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock
) -> None:
    to_ephemeral_data(server, KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG))
    second = KeyEstablishmentClient(gas_meter.credentials, HUB, clock, CONFIG)

    [refusal] = server.handle(received(second.start()[0], GAS_METER))

    assert terminate_status(refusal) == TerminateStatus.NO_RESOURCES
    assert server.active_sessions() == {METER}


def test_a_wrong_confirm_mac_gets_bad_key_confirm_and_releases_the_agreement(
        hub: Party, meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock) -> None:
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG)
    to_ephemeral_data(server, client)
    [request] = engine.take_work()
    [ephemeral_response] = server.resume(request, ncp_keys(hub, request))
    [confirm_request] = client.handle(received(ephemeral_response, HUB))
    tampered = dataclasses.replace(confirm_request, zcl=confirm_request.zcl[:-1] + bytes([confirm_request.zcl[-1] ^ 1]))

    [reply] = server.handle(received(tampered, METER))

    assert terminate_status(reply) == TerminateStatus.BAD_KEY_CONFIRM
    assert engine.take_work() == [ReleaseAgreement(meter.credentials.suite)]
    [failed] = server.take_events()
    assert isinstance(failed, KeyEstablishmentFailed) and failed.status == TerminateStatus.BAD_KEY_CONFIRM


@pytest.mark.parametrize(("error", "status"), [
    (CbkeError("the library refused the certificate"), TerminateStatus.BAD_MESSAGE),
    (TimeoutError("no calculateSmacsHandler"), TerminateStatus.NO_RESOURCES),
], ids=["refused-data", "ncp-failure"])
def test_an_agreement_the_ncp_cannot_compute_ends_in_a_terminate(
        meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock,
        error: Exception, status: TerminateStatus) -> None:
    to_ephemeral_data(server, KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG))
    [request] = engine.take_work()

    [reply] = server.resume(request, error)

    assert terminate_status(reply) == status
    assert engine.take_work() == [ReleaseAgreement(meter.credentials.suite)]
    assert server.active_sessions() == frozenset()


def test_an_ncp_silent_past_the_announced_time_ends_the_exchange_and_its_late_answer_is_dropped(
        hub: Party, meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock) -> None:
    to_ephemeral_data(server, KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG))
    [request] = engine.take_work()
    assert server.next_deadline() == clock.now() + CONFIG.ephemeral_data_generate_time + CONFIG.timeout_margin

    clock.advance(CONFIG.ephemeral_data_generate_time + CONFIG.timeout_margin)
    server.tick()

    [failed] = server.take_events()
    assert isinstance(failed, KeyEstablishmentFailed) and failed.status is None
    assert "not computed in time" in failed.reason
    assert engine.take_work() == [ReleaseAgreement(meter.credentials.suite)]
    assert server.resume(request, ncp_keys(hub, request)) == []


def test_a_step_while_the_ncp_computes_is_out_of_sequence(
        meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock) -> None:
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG)
    [initiate_response] = server.handle(received(client.start()[0], METER))
    [ephemeral_request] = client.handle(received(initiate_response, HUB))
    server.handle(received(ephemeral_request, METER))
    engine.take_work()

    [reply] = server.handle(received(ephemeral_request, METER))  # a repeat while the NCP computes

    assert terminate_status(reply) == TerminateStatus.BAD_MESSAGE
    assert engine.take_work() == [ReleaseAgreement(meter.credentials.suite)]


def test_a_new_initiate_abandons_the_agreement_in_progress_and_its_late_answer_is_dropped(
        hub: Party, meter: Party, engine: NcpEngine, server: KeyEstablishmentServer, clock: VirtualClock) -> None:
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG)
    to_ephemeral_data(server, client)
    [first] = engine.take_work()

    to_ephemeral_data(server, client)
    release, second = engine.take_work()

    assert release == ReleaseAgreement(meter.credentials.suite) and second is not first
    assert server.resume(first, ncp_keys(hub, first)) == []
    [ephemeral_response] = server.resume(second, ncp_keys(hub, second))
    [confirm_request] = client.handle(received(ephemeral_response, HUB))
    assert command_of(confirm_request) == KeRequest.confirm_key.id
