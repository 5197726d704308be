"""The Smart Energy Annex C key establishment vectors, run through the cluster's frames end to end:
with the published keys on both sides, the MACs on the air and the link key are the published ones."""

from __future__ import annotations

import pytest

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.han import KeRequest, KeResponse, KeyEstablishmentClient, KeyEstablishmentServer, LinkKeyEstablished
from hubfw.han.key_establishment.wire import receive
from hubfw.zigbee.zcl import decode
from tests.cbke.vectors import (  # the vectors live with the crypto tests
    ANNEX_C_SUITE_1,
    ANNEX_C_SUITE_2,
    AgreementVector,
)
from tests.han.key_establishment.harness import received

VECTORS = [
    pytest.param(CryptoSuite.SUITE_1, ANNEX_C_SUITE_1, id="suite1-C.5"),
    pytest.param(CryptoSuite.SUITE_2, ANNEX_C_SUITE_2, id="suite2-C.6"),
]
h = bytes.fromhex


def _credentials(suite: CryptoSuite, certificate: str, private: str, ca: str) -> DeviceCredentials:
    return DeviceCredentials(
        ImplicitCertificate.parse(h(certificate), suite),
        KeyPair.from_bytes(suite, h(private)),
        suite.curve.decode_point(h(ca)),
    )


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_exchange_with_the_annex_c_keys_gives_the_published_macs_and_link_key(
    suite: CryptoSuite, v: AgreementVector
) -> None:
    device = _credentials(suite, v.certificate_u, v.static_private_u, v.ca_public_key)
    hub = _credentials(suite, v.certificate_v, v.static_private_v, v.ca_public_key)
    clock = VirtualClock()
    server = KeyEstablishmentServer(
        {suite: hub}, clock, ephemeral_keys=lambda s: KeyPair.from_bytes(s, h(v.ephemeral_private_v))
    )
    client = KeyEstablishmentClient(
        device, hub.eui64, clock, ephemeral_keys=lambda s: KeyPair.from_bytes(s, h(v.ephemeral_private_u))
    )

    on_air: dict[str, bytes] = {}
    [step] = client.start()
    while step is not None:
        request = receive(received(step, device.eui64))
        [reply] = server.handle(received(step, device.eui64))
        response = receive(received(reply, hub.eui64))
        if request.header.command_id == KeRequest.ephemeral_data.id:
            on_air["QEU"] = bytes(decode(KeRequest.ephemeral_data, request.payload).ephemeral_data)
            on_air["QEV"] = bytes(decode(KeResponse.ephemeral_data, response.payload).ephemeral_data)
        if request.header.command_id == KeRequest.confirm_key.id:
            on_air["MACU"] = bytes(decode(KeRequest.confirm_key, request.payload).mac)
            on_air["MACV"] = bytes(decode(KeResponse.confirm_key, response.payload).mac)
        [step] = client.handle(received(reply, hub.eui64)) or [None]

    assert on_air == {
        "QEU": h(v.ephemeral_public_u),
        "QEV": h(v.ephemeral_public_v),
        "MACU": h(v.mac_u),
        "MACV": h(v.mac_v),
    }
    [event] = server.take_events()
    assert isinstance(event, LinkKeyEstablished) and event.eui64 == device.eui64
    assert event.key == h(v.link_key) == client.outcome.key
