"""Key Establishment client ↔ hub server: successful exchanges, attributes, timeouts, concurrency."""

from __future__ import annotations

import pytest
from zigpy.zcl import foundation

from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.han import (
    KeResponse,
    KeyEstablishmentClient,
    KeyEstablishmentConfig,
    KeyEstablishmentConfigError,
    KeyEstablishmentFailed,
    KeyEstablishmentServer,
    LinkKeyEstablished,
)
from hubfw.han.key_establishment.wire import receive
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import KEY_ESTABLISHMENT_CLUSTER, SMART_ENERGY_PROFILE
from hubfw.zigbee.zcl import decode
from tests.han.key_establishment.harness import HUB, ISSUER, METER, Air, Party, make_party, received

CONFIG = KeyEstablishmentConfig(ephemeral_data_generate_time=5, confirm_key_generate_time=7, timeout_margin=3)


@pytest.fixture
def server(hub: Party, clock: VirtualClock) -> KeyEstablishmentServer:
    return KeyEstablishmentServer({hub.credentials.suite: hub.credentials}, clock, CONFIG)


def client_for(party: Party, clock: VirtualClock) -> KeyEstablishmentClient:
    return KeyEstablishmentClient(party.credentials, HUB, clock, CONFIG, endpoint=9, hub_endpoint=1)


def test_full_exchange_gives_both_sides_the_same_link_key(
    suite: CryptoSuite, server: KeyEstablishmentServer, meter: Party, clock: VirtualClock
) -> None:
    client = client_for(meter, clock)
    air = Air(server, HUB, [])
    air.run(client, METER, client.start())

    [at_hub] = server.take_events()
    assert isinstance(at_hub, LinkKeyEstablished) and isinstance(client.outcome, LinkKeyEstablished)
    assert at_hub.eui64 == METER and client.outcome.eui64 == HUB
    assert at_hub.suite is suite and client.outcome.suite is suite
    assert at_hub.key == client.outcome.key and len(at_hub.key) == 16
    assert [reply_command(frame) for frame in air.hub_replies] == [0x00, 0x01, 0x02]
    assert all(frame.dst_ep == 9 and frame.src_ep == 1 and not frame.aps_encrypt for frame in air.hub_replies)
    assert server.active_sessions() == frozenset() and server.next_deadline() is None


def test_initiate_response_carries_the_hub_certificate_and_its_generate_times(
    server: KeyEstablishmentServer, hub: Party, meter: Party, clock: VirtualClock
) -> None:
    [initiate] = client_for(meter, clock).start()
    [reply] = server.handle(received(initiate, METER))
    parsed = receive(received(reply, HUB))
    assert parsed is not None and not parsed.header.client_to_server
    assert parsed.header.command_id == KeResponse.initiate.id
    body = decode(KeResponse.initiate, parsed.payload)
    assert body.key_establishment_suite == hub.credentials.suite.bitmask
    assert (body.ephemeral_data_generate_time, body.confirm_key_generate_time) == (5, 7)
    assert bytes(body.identity) == hub.credentials.certificate.encoded


def test_two_devices_exchange_keys_concurrently(
    server: KeyEstablishmentServer, meter: Party, gas_meter: Party, clock: VirtualClock
) -> None:
    electric, gas = client_for(meter, clock), client_for(gas_meter, clock)
    pending = {METER: electric.start(), gas_meter.eui64: gas.start()}
    clients = {METER: electric, gas_meter.eui64: gas}
    while any(pending.values()):  # interleave: one frame from each device in turn
        for eui64, frames in pending.items():
            if frames:
                replies = server.handle(received(frames.pop(0), eui64))
                for reply in replies:
                    frames.extend(clients[eui64].handle(received(reply, HUB)))
        if len(server.active_sessions()) == 2:
            assert server.next_deadline() is not None

    events = {event.eui64: event for event in server.take_events()}
    assert set(events) == {METER, gas_meter.eui64}
    assert events[METER].key == electric.outcome.key
    assert events[gas_meter.eui64].key == gas.outcome.key
    assert electric.outcome.key != gas.outcome.key


def test_silent_device_loses_its_session_after_its_generate_time_and_margin(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock
) -> None:
    client = client_for(meter, clock)
    [initiate] = client.start()
    [initiate_response] = server.handle(received(initiate, METER))
    [ephemeral] = client.handle(received(initiate_response, HUB))
    assert server.next_deadline() == clock.now() + CONFIG.ephemeral_data_generate_time + CONFIG.timeout_margin

    clock.advance(CONFIG.ephemeral_data_generate_time + CONFIG.timeout_margin - 0.5)
    server.tick()
    assert server.active_sessions() == {METER}
    clock.advance(0.5)
    server.tick()
    assert server.active_sessions() == frozenset() and server.next_deadline() is None
    [event] = server.take_events()
    assert isinstance(event, KeyEstablishmentFailed) and event.status is None and event.eui64 == METER

    [late] = server.handle(received(ephemeral, METER))  # the late step finds no exchange
    assert reply_command(late) == KeResponse.terminate.id


def test_confirm_key_deadline_uses_the_device_confirm_time(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock
) -> None:
    client = client_for(meter, clock)
    [initiate] = client.start()
    [reply] = server.handle(received(initiate, METER))
    [ephemeral] = client.handle(received(reply, HUB))
    clock.advance(4)
    server.handle(received(ephemeral, METER))
    assert server.next_deadline() == clock.now() + CONFIG.confirm_key_generate_time + CONFIG.timeout_margin


def test_client_gives_up_when_the_hub_is_silent(meter: Party, clock: VirtualClock) -> None:
    client = client_for(meter, clock)
    client.start()
    assert client.in_progress and client.next_deadline() == clock.now() + CONFIG.timeout_margin
    clock.advance(CONFIG.timeout_margin)
    client.tick()
    assert not client.in_progress
    assert isinstance(client.outcome, KeyEstablishmentFailed) and client.outcome.status is None


def test_read_attributes_reports_the_supported_suites(
    server: KeyEstablishmentServer, hub: Party
) -> None:
    header = foundation.ZCLHeader.general(0x42, foundation.GeneralCommand.Read_Attributes)
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
    zcl = header.serialize() + schema(attribute_ids=[0x0000, 0x0001]).serialize()
    frame = IncomingFrame(METER, 0x1234, SMART_ENERGY_PROFILE, 9, 1, KEY_ESTABLISHMENT_CLUSTER, zcl, False)
    [reply] = server.handle(frame)

    parsed = receive(received(reply, HUB))
    assert parsed is not None and parsed.header.is_general and parsed.header.tsn == 0x42
    assert parsed.header.command_id == foundation.GeneralCommand.Read_Attributes_rsp
    response, _ = foundation.ReadAttributesResponse.deserialize(parsed.payload)
    suites, unknown = response.status_records
    assert suites.status == foundation.Status.SUCCESS
    assert suites.value.type == foundation.DataTypeId.enum16
    assert suites.value.value == hub.credentials.suite.bitmask
    assert unknown.status == foundation.Status.UNSUPPORTED_ATTRIBUTE


def test_server_with_both_suites_answers_each_in_its_own(suite: CryptoSuite, hub: Party, meter: Party,
                                                        clock: VirtualClock) -> None:
    other_suite = next(other for other in CryptoSuite if other is not suite)
    other_hub = make_party(CertificateAuthority.generate(other_suite, ISSUER), HUB)
    server = KeyEstablishmentServer({suite: hub.credentials, other_suite: other_hub.credentials}, clock, CONFIG)
    assert server.supported_suites == 0x0003
    client = client_for(meter, clock)
    Air(server, HUB, []).run(client, METER, client.start())
    assert isinstance(client.outcome, LinkKeyEstablished) and client.outcome.suite is suite


def test_server_refuses_credentials_filed_under_the_wrong_suite(hub: Party, suite: CryptoSuite,
                                                                clock: VirtualClock) -> None:
    other_suite = next(other for other in CryptoSuite if other is not suite)
    with pytest.raises(KeyEstablishmentConfigError, match="credentials given for suite"):
        KeyEstablishmentServer({other_suite: hub.credentials}, clock)
    with pytest.raises(KeyEstablishmentConfigError, match="needs credentials"):
        KeyEstablishmentServer({}, clock)


def test_config_rejects_values_the_fields_cannot_carry() -> None:
    with pytest.raises(KeyEstablishmentConfigError, match="terminate_wait_time must be 0..255"):
        KeyEstablishmentConfig(terminate_wait_time=256)
    with pytest.raises(KeyEstablishmentConfigError, match="max_sessions"):
        KeyEstablishmentConfig(max_sessions=0)


def reply_command(frame) -> int:
    parsed = receive(received(frame, HUB))
    assert parsed is not None and not parsed.header.is_general
    return parsed.header.command_id
