"""Key establishment faults (hubfw.han.key_establishment.faults): the hub's server misbehaves on purpose for one
device, the simulated device's client refuses with the status SE owes, and the device's next attempt after a
one-shot fault succeeds. Every acting is in the device's fault history."""

from __future__ import annotations

import pytest

from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.han import (
    KeyEstablishmentClient,
    KeyEstablishmentConfig,
    KeyEstablishmentFailed,
    KeyEstablishmentServer,
    LinkKeyEstablished,
    TerminateStatus,
)
from hubfw.han.key_establishment.faults import FOREIGN_CA_ISSUER, foreign_certificate, mangled_certificate
from hubfw.hub.faults import Fault, FaultBook, FaultError, FaultKind
from tests.han.key_establishment.harness import HUB, ISSUER, METER, Air, Party, received, terminate_status

CONFIG = KeyEstablishmentConfig(ephemeral_data_generate_time=5, confirm_key_generate_time=7, timeout_margin=3)


@pytest.fixture
def book() -> FaultBook:
    return FaultBook()


@pytest.fixture
def server(hub: Party, clock: VirtualClock, book: FaultBook) -> KeyEstablishmentServer:
    return KeyEstablishmentServer({hub.credentials.suite: hub.credentials}, clock, CONFIG, faults=book)


def exchange(server: KeyEstablishmentServer, meter: Party, clock: VirtualClock) -> tuple[KeyEstablishmentClient, Air]:
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG, endpoint=9, hub_endpoint=1)
    air = Air(server, HUB, [])
    air.run(client, METER, client.start())
    return client, air


def acted(book: FaultBook) -> list[str]:
    return [entry["kind"] for entry in book.history.get(METER, []) if entry["event"] == "acted"]


def test_without_faults_the_exchange_succeeds(server: KeyEstablishmentServer, meter: Party,
                                              clock: VirtualClock, book: FaultBook) -> None:
    client, _ = exchange(server, meter, clock)
    assert isinstance(client.outcome, LinkKeyEstablished)
    assert book.history == {}


@pytest.mark.parametrize(("fault", "status"), [
    (Fault(FaultKind.CBKE_FOREIGN_CA), TerminateStatus.UNKNOWN_ISSUER),
    (Fault(FaultKind.CBKE_MANGLED_CERT, variant="issuer"), TerminateStatus.UNKNOWN_ISSUER),
    (Fault(FaultKind.CBKE_MANGLED_CERT, variant="subject"), TerminateStatus.INVALID_CERTIFICATE),
    (Fault(FaultKind.CBKE_MANGLED_CERT, variant="byte"), TerminateStatus.BAD_KEY_CONFIRM),
    (Fault(FaultKind.CBKE_BAD_MAC), TerminateStatus.BAD_KEY_CONFIRM),
], ids=["foreign-ca", "mangled-issuer", "mangled-subject", "mangled-byte", "bad-mac"])
def test_the_device_refuses_then_succeeds_once_the_fault_is_spent(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook, fault: Fault,
    status: TerminateStatus,
) -> None:
    book.set(METER, fault, clock.now())
    client, _ = exchange(server, meter, clock)
    assert isinstance(client.outcome, KeyEstablishmentFailed)
    assert client.outcome.status == status
    assert acted(book) == [fault.kind.value]
    assert book.listed() == {}  # one-shot: spent

    client, _ = exchange(server, meter, clock)
    assert isinstance(client.outcome, LinkKeyEstablished)
    assert acted(book) == [fault.kind.value]


def test_the_foreign_certificate_names_the_hub_and_another_issuer(hub: Party) -> None:
    own = hub.credentials.certificate
    foreign = foreign_certificate(own)
    assert foreign.subject == own.subject == HUB
    assert foreign.issuer == FOREIGN_CA_ISSUER != ISSUER
    assert foreign.suite is own.suite and foreign.encoded != own.encoded


@pytest.mark.parametrize("variant", ["byte", "subject", "issuer"])
def test_a_mangled_certificate_differs_in_one_bit_where_the_variant_says(hub: Party, variant: str) -> None:
    own = hub.credentials.certificate
    mangled = mangled_certificate(own, variant)
    assert sum(bin(a ^ b).count("1") for a, b in zip(mangled, own.encoded, strict=True)) == 1
    parsed = ImplicitCertificate.parse(mangled, own.suite)
    assert (parsed.subject != own.subject) == (variant == "subject")
    assert (parsed.issuer != own.issuer) == (variant == "issuer")


def test_bad_mac_leaves_the_hub_believing_and_the_device_refusing(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook
) -> None:
    book.set(METER, Fault(FaultKind.CBKE_BAD_MAC), clock.now())
    client, air = exchange(server, meter, clock)
    [event] = server.take_events()
    assert isinstance(event, LinkKeyEstablished)  # the hub's side checked out; only its MAC was wrong
    assert isinstance(client.outcome, KeyEstablishmentFailed)
    assert client.outcome.status == TerminateStatus.BAD_KEY_CONFIRM
    assert len(air.hub_replies) == 4  # three answers, and the Default Response to the device's Terminate


@pytest.mark.parametrize("name", [status.name for status in TerminateStatus] + ["no-resources", "6"])
def test_terminate_sends_the_chosen_status(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook, name: str
) -> None:
    book.set(METER, Fault(FaultKind.CBKE_TERMINATE, status=name), clock.now())
    client, air = exchange(server, meter, clock)
    expected = {"no-resources": TerminateStatus.NO_RESOURCES, "6": TerminateStatus.INVALID_CERTIFICATE}.get(
        name) or TerminateStatus[name]
    [reply] = air.hub_replies
    assert terminate_status(reply) == expected
    assert isinstance(client.outcome, KeyEstablishmentFailed) and client.outcome.status == expected
    [event] = server.take_events()
    assert isinstance(event, KeyEstablishmentFailed) and event.status == expected
    assert acted(book) == ["cbke-terminate"]


def test_terminate_status_names_are_checked() -> None:
    from hubfw.han.key_establishment.faults import terminate_status as status_of
    with pytest.raises(FaultError, match="UNKNOWN_ISSUER"):
        status_of(Fault(FaultKind.CBKE_TERMINATE, status="SUCCESS"))


def test_delay_puts_every_answer_of_the_exchange_late(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook
) -> None:
    book.set(METER, Fault(FaultKind.CBKE_DELAY, seconds=2), clock.now())
    client, air = exchange(server, meter, clock)  # the harness delivers at once: the frames carry the delay
    assert isinstance(client.outcome, LinkKeyEstablished)
    assert [frame.not_before for frame in air.hub_replies] == [clock.now() + 2] * 3
    assert acted(book) == ["cbke-delay"]
    client, air = exchange(server, meter, clock)
    assert [frame.not_before for frame in air.hub_replies] == [None] * 3


def test_a_delay_past_the_device_patience_makes_it_give_up(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook
) -> None:
    book.set(METER, Fault(FaultKind.CBKE_DELAY, seconds=30), clock.now())
    client = KeyEstablishmentClient(meter.credentials, HUB, clock, CONFIG, endpoint=9, hub_endpoint=1)
    [initiate] = client.start()
    [reply] = server.handle(received(initiate, METER))
    assert reply.not_before == clock.now() + 30
    clock.set(reply.not_before)  # the radio holds it back until then
    assert client.handle(received(reply, HUB)) == []
    assert isinstance(client.outcome, KeyEstablishmentFailed) and client.outcome.status is None
    assert "in time" in client.outcome.reason


def test_faults_of_another_device_do_not_act(
    server: KeyEstablishmentServer, meter: Party, clock: VirtualClock, book: FaultBook, suite: CryptoSuite
) -> None:
    book.set(HUB, Fault(FaultKind.CBKE_FOREIGN_CA), clock.now())
    client, _ = exchange(server, meter, clock)
    assert isinstance(client.outcome, LinkKeyEstablished)
    assert book.listed() == {HUB: [Fault(FaultKind.CBKE_FOREIGN_CA)]}
