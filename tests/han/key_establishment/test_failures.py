"""Every way a key establishment fails ends in the right Terminate status, and never in a key."""

from __future__ import annotations

import dataclasses

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.ecqv import CertificateAuthority
from hubfw.cbke.suites import CryptoSuite
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
from hubfw.han.key_establishment.wire import receive
from hubfw.han.zcl import encode
from hubfw.zigbee.aps import OutgoingFrame
from tests.han.key_establishment.harness import (
    FOREIGN_ISSUER,
    GAS_METER,
    HUB,
    METER,
    YEAR,
    Air,
    Party,
    make_party,
    received,
    terminate_of,
    terminate_status,
)

CONFIG = KeyEstablishmentConfig(terminate_wait_time=12, busy_wait_time=40, max_sessions=1)


@pytest.fixture
def server(hub: Party, clock: VirtualClock) -> KeyEstablishmentServer:
    return KeyEstablishmentServer({hub.credentials.suite: hub.credentials}, clock, CONFIG)


@pytest.fixture(scope="session")
def foreign_meter(suite: CryptoSuite) -> Party:
    return make_party(CertificateAuthority.generate(suite, FOREIGN_ISSUER), METER)


def client_for(party: Party, clock: VirtualClock) -> KeyEstablishmentClient:
    return KeyEstablishmentClient(party.credentials, HUB, clock, CONFIG)


def request(tsn: int, command: foundation.ZCLCommandDef, **fields: object) -> OutgoingFrame:
    return OutgoingFrame(HUB, 0x0109, 1, 1, 0x0800, encode(tsn, command, **fields), aps_encrypt=False)


def initiate(party: Party, *, suite_field: int | None = None, identity: bytes | None = None) -> OutgoingFrame:
    credentials = party.credentials
    return request(
        7, KeRequest.initiate,
        key_establishment_suite=credentials.suite.bitmask if suite_field is None else suite_field,
        ephemeral_data_generate_time=5,
        confirm_key_generate_time=5,
        identity=t.Bytes(credentials.certificate.encoded if identity is None else identity),
    )


def only_reply(server: KeyEstablishmentServer, frame: OutgoingFrame, source: t.EUI64) -> OutgoingFrame:
    [reply] = server.handle(received(frame, source))
    return reply


def assert_refused(server: KeyEstablishmentServer, reply: OutgoingFrame, device: t.EUI64,
                   status: TerminateStatus) -> None:
    """The hub terminated with `status`, its wait time and suites, and kept neither a session nor a key."""
    terminate = terminate_of(reply)
    assert terminate is not None and terminate.status_code == status
    expected_wait = CONFIG.busy_wait_time if status == TerminateStatus.NO_RESOURCES else CONFIG.terminate_wait_time
    assert terminate.wait_time == expected_wait
    assert terminate.key_establishment_suite == server.supported_suites
    assert device not in server.active_sessions()
    events = server.take_events()
    assert not any(isinstance(event, LinkKeyEstablished) for event in events)
    assert any(isinstance(event, KeyEstablishmentFailed) and event.status == status for event in events)


def test_device_of_a_foreign_ca_gets_unknown_issuer(
    server: KeyEstablishmentServer, foreign_meter: Party, clock: VirtualClock
) -> None:
    client = client_for(foreign_meter, clock)
    air = Air(server, HUB, [])
    air.run(client, METER, client.start())

    [reply] = air.hub_replies
    assert_refused(server, reply, METER, TerminateStatus.UNKNOWN_ISSUER)
    assert isinstance(client.outcome, KeyEstablishmentFailed)
    assert client.outcome.status == TerminateStatus.UNKNOWN_ISSUER and client.outcome.wait_time == 12


def test_wrong_confirm_mac_gets_bad_key_confirm(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock
) -> None:
    def corrupt_mac(frame: OutgoingFrame) -> OutgoingFrame:
        if frame.zcl[2] == KeRequest.confirm_key.id:
            return dataclasses.replace(frame, zcl=frame.zcl[:-1] + bytes([frame.zcl[-1] ^ 0x01]))
        return frame

    client = client_for(meter, clock)
    air = Air(server, HUB, [])
    air.run(client, METER, client.start(), tamper=corrupt_mac)

    assert_refused(server, air.hub_replies[-1], METER, TerminateStatus.BAD_KEY_CONFIRM)
    assert isinstance(client.outcome, KeyEstablishmentFailed)
    assert client.outcome.status == TerminateStatus.BAD_KEY_CONFIRM


def test_client_terminates_on_a_wrong_hub_mac(server: KeyEstablishmentServer, meter: Party,
                                              clock: VirtualClock) -> None:
    client = client_for(meter, clock)
    [initiate_request] = client.start()
    [ephemeral] = client.handle(received(only_reply(server, initiate_request, METER), HUB))
    [confirm] = client.handle(received(only_reply(server, ephemeral, METER), HUB))
    hub_confirm = only_reply(server, confirm, METER)
    corrupted = dataclasses.replace(hub_confirm, zcl=hub_confirm.zcl[:-1] + bytes([hub_confirm.zcl[-1] ^ 0x80]))

    [terminate] = client.handle(received(corrupted, HUB))
    parsed = receive(received(terminate, METER))
    assert parsed.header.command_id == KeRequest.terminate.id
    assert parsed.payload[0] == TerminateStatus.BAD_KEY_CONFIRM
    assert isinstance(client.outcome, KeyEstablishmentFailed)
    assert client.outcome.status == TerminateStatus.BAD_KEY_CONFIRM


@pytest.mark.parametrize("length", [0, 3, 14], ids=["empty", "short", "short-certificate"])
def test_truncated_initiate_gets_bad_message(server: KeyEstablishmentServer, suite: CryptoSuite, length: int) -> None:
    payload = (suite.bitmask.to_bytes(2, "little") + b"\x05\x05" + bytes(10))[:length]
    zcl = foundation.ZCLHeader.cluster(3, KeRequest.initiate.id).serialize() + payload
    frame = OutgoingFrame(HUB, 0x0109, 1, 1, 0x0800, zcl, aps_encrypt=False)
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.BAD_MESSAGE)


def test_certificate_of_the_other_suite_length_gets_bad_message(
    server: KeyEstablishmentServer, meter: Party, suite: CryptoSuite
) -> None:
    other = next(s for s in CryptoSuite if s is not suite)
    frame = initiate(meter, identity=bytes(other.certificate_length))
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.BAD_MESSAGE)


@pytest.mark.parametrize("fault", ["short-point", "bad-point", "short-mac", "out-of-order"])
def test_malformed_later_steps_get_bad_message(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, suite: CryptoSuite, fault: str
) -> None:
    client = client_for(meter, clock)
    [first] = client.start()
    client.handle(received(only_reply(server, first, METER), HUB))
    if fault == "short-point":
        frame = request(8, KeRequest.ephemeral_data, ephemeral_data=t.Bytes(bytes(suite.point_length - 1)))
    elif fault == "bad-point":
        frame = request(8, KeRequest.ephemeral_data, ephemeral_data=t.Bytes(b"\x05" * suite.point_length))
    elif fault == "short-mac":  # a Confirm Key before Ephemeral Data is out of order too; make the MAC short anyway
        frame = request(8, KeRequest.confirm_key, mac=t.Bytes(bytes(15)))
    else:
        frame = request(8, KeRequest.confirm_key, mac=t.Bytes(bytes(16)))
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.BAD_MESSAGE)


def test_short_mac_after_ephemeral_data_gets_bad_message(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock
) -> None:
    client = client_for(meter, clock)
    [first] = client.start()
    [second] = client.handle(received(only_reply(server, first, METER), HUB))
    [confirm] = client.handle(received(only_reply(server, second, METER), HUB))
    short = dataclasses.replace(confirm, zcl=confirm.zcl[:-1])
    assert_refused(server, only_reply(server, short, METER), METER, TerminateStatus.BAD_MESSAGE)


def test_step_without_an_exchange_gets_bad_message(server: KeyEstablishmentServer, suite: CryptoSuite) -> None:
    frame = request(8, KeRequest.ephemeral_data, ephemeral_data=t.Bytes(bytes(suite.point_length)))
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.BAD_MESSAGE)


@pytest.mark.parametrize("suite_field", [0x0000, 0x0003, 0x0004, 0x8000])
def test_unknown_or_ambiguous_suite_gets_unsupported_suite(
    server: KeyEstablishmentServer, meter: Party, suite_field: int
) -> None:
    frame = initiate(meter, suite_field=suite_field)
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.UNSUPPORTED_SUITE)


def test_suite_the_hub_has_no_credentials_for_gets_unsupported_suite(
    server: KeyEstablishmentServer, meter: Party, suite: CryptoSuite
) -> None:
    other = next(s for s in CryptoSuite if s is not suite)
    frame = initiate(meter, suite_field=other.bitmask, identity=bytes(other.certificate_length))
    assert_refused(server, only_reply(server, frame, METER), METER, TerminateStatus.UNSUPPORTED_SUITE)


def test_certificate_of_another_device_gets_invalid_certificate(
    server: KeyEstablishmentServer, meter: Party
) -> None:
    """SE 1.2: the initiator's certificate subject must be the sender's own EUI-64."""
    reply = only_reply(server, initiate(meter), GAS_METER)
    assert_refused(server, reply, GAS_METER, TerminateStatus.INVALID_CERTIFICATE)


def test_certificate_outside_its_validity_gets_invalid_certificate_in_suite_2(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, suite: CryptoSuite
) -> None:
    clock.advance(2 * YEAR)
    reply = only_reply(server, initiate(meter), METER)
    if suite is CryptoSuite.SUITE_1:  # suite 1 certificates carry no validity period
        assert terminate_status(reply) is None
    else:
        assert_refused(server, reply, METER, TerminateStatus.INVALID_CERTIFICATE)


def test_corrupt_suite_2_certificate_gets_invalid_certificate(
    server: KeyEstablishmentServer, meter: Party, suite: CryptoSuite
) -> None:
    encoded = bytearray(meter.credentials.certificate.encoded)
    if suite is CryptoSuite.SUITE_2:
        encoded[9] = 0x0E  # curve id other than sect283k1
    else:
        encoded[0] = 0x07  # reconstruction point with an impossible prefix
    reply = only_reply(server, initiate(meter, identity=bytes(encoded)), METER)
    assert_refused(server, reply, METER, TerminateStatus.INVALID_CERTIFICATE)


def test_busy_hub_answers_no_resources_with_the_busy_wait(
    server: KeyEstablishmentServer, meter: Party, gas_meter: Party
) -> None:
    assert terminate_status(only_reply(server, initiate(meter), METER)) is None  # holds the only slot
    server.take_events()
    reply = only_reply(server, initiate(gas_meter), GAS_METER)
    assert_refused(server, reply, GAS_METER, TerminateStatus.NO_RESOURCES)
    assert server.active_sessions() == {METER}


def test_device_terminate_ends_its_exchange(server: KeyEstablishmentServer, meter: Party) -> None:
    only_reply(server, initiate(meter), METER)
    frame = request(9, KeRequest.terminate, status_code=TerminateStatus.BAD_KEY_CONFIRM, wait_time=3,
                    key_establishment_suite=1)
    [default_response] = server.handle(received(frame, METER))  # requests enable the Default Response
    assert receive(received(default_response, METER)).header.is_general
    assert server.active_sessions() == frozenset()
    [event] = server.take_events()
    assert isinstance(event, KeyEstablishmentFailed)
    assert (event.status, event.wait_time) == (TerminateStatus.BAD_KEY_CONFIRM, 3)


@pytest.mark.parametrize(("zcl", "status"), [
    (bytes([0x01, 0x05, 0x09]), foundation.Status.UNSUP_CLUSTER_COMMAND),
    (bytes([0x05, 0x34, 0x12, 0x05, 0x00]), foundation.Status.UNSUP_MANUF_CLUSTER_COMMAND),
    (bytes([0x00, 0x06, 0x00, 0x00]), foundation.Status.MALFORMED_COMMAND),  # Read Attributes, half an id
], ids=["unknown-command", "manufacturer-specific", "truncated-read-attributes"])
def test_other_commands_get_a_default_response(server: KeyEstablishmentServer, zcl: bytes,
                                               status: foundation.Status) -> None:
    frame = OutgoingFrame(HUB, 0x0109, 1, 1, 0x0800, zcl, aps_encrypt=False)
    parsed = receive(received(only_reply(server, frame, METER), METER))
    assert parsed.header.is_general and parsed.header.command_id == foundation.GeneralCommand.Default_Response
    response, _ = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema.deserialize(
        parsed.payload
    )
    assert response.status == status


def test_client_refuses_a_hub_certificate_from_a_foreign_ca(meter: Party, foreign_meter: Party,
                                                            clock: VirtualClock, suite: CryptoSuite) -> None:
    rogue_hub = make_party(CertificateAuthority.generate(suite, FOREIGN_ISSUER), HUB)
    assert client_terminates(meter, rogue_hub, clock) == TerminateStatus.UNKNOWN_ISSUER


def test_client_refuses_a_hub_certificate_not_for_the_trust_centre(meter: Party, gas_meter: Party,
                                                                   clock: VirtualClock) -> None:
    assert client_terminates(meter, gas_meter, clock) == TerminateStatus.INVALID_CERTIFICATE


def client_terminates(device: Party, claimed_hub: Party, clock: VirtualClock) -> TerminateStatus:
    """Feed `device`'s client an Initiate Response carrying `claimed_hub`'s certificate; its Terminate status."""
    client = client_for(device, clock)
    client.start()
    response = encode(1, KeResponse.initiate, key_establishment_suite=device.credentials.suite.bitmask,
                      ephemeral_data_generate_time=5, confirm_key_generate_time=5,
                      identity=t.Bytes(claimed_hub.credentials.certificate.encoded))
    frame = OutgoingFrame(device.eui64, 0x0109, 1, 1, 0x0800, response, aps_encrypt=False)
    [terminate] = client.handle(received(frame, HUB))
    parsed = receive(received(terminate, device.eui64))
    assert parsed.header.client_to_server and parsed.header.command_id == KeRequest.terminate.id
    assert isinstance(client.outcome, KeyEstablishmentFailed) and not client.in_progress
    return TerminateStatus(parsed.payload[0])
