"""hubfw as its own test CA: issue ECQV certificates, then run key agreements between the holders."""

from __future__ import annotations

import dataclasses

import pytest

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, Role
from hubfw.cbke.certificates import ImplicitCertificate, build_suite1, build_suite2
from hubfw.cbke.ecqv import CertificateAuthority, reconstruct_private_key, reconstruct_public_key
from hubfw.cbke.errors import (
    BadCertificateError,
    InvalidKeyError,
    InvalidPointError,
    IssuerMismatchError,
    KeyConfirmationError,
)
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64

SUITES = [pytest.param(CryptoSuite.SUITE_1, id="suite1"), pytest.param(CryptoSuite.SUITE_2, id="suite2")]
HUB = parse_eui64("00:0d:6f:00:00:00:00:01")
METER = parse_eui64("00:0d:6f:00:00:00:00:02")
ISSUER = parse_eui64("48:55:42:46:57:43:41:31")
OTHER_ISSUER = parse_eui64("48:55:42:46:57:43:41:32")
JAN_2026 = 1_767_225_600
YEAR = 365 * 86400


@pytest.fixture(scope="module", params=SUITES)
def ca(request: pytest.FixtureRequest) -> CertificateAuthority:
    return CertificateAuthority.generate(request.param, ISSUER)


def credentials(ca: CertificateAuthority, subject, **validity: int) -> DeviceCredentials:
    certificate, key = ca.issue_key_pair(subject, **validity)
    return DeviceCredentials(certificate, key, ca.public_key)


@pytest.fixture(scope="module")
def hub(ca: CertificateAuthority) -> DeviceCredentials:
    return credentials(ca, HUB, valid_from=JAN_2026, valid_to=YEAR)


@pytest.fixture(scope="module")
def meter(ca: CertificateAuthority) -> DeviceCredentials:
    return credentials(ca, METER, valid_from=JAN_2026, valid_to=YEAR)


def test_issued_certificate_carries_subject_issuer_and_a_working_key(ca: CertificateAuthority, hub) -> None:
    certificate = hub.certificate
    assert certificate.suite is ca.suite
    assert len(certificate.encoded) == ca.suite.certificate_length
    assert certificate.subject == HUB and certificate.issuer == ISSUER
    assert ImplicitCertificate.parse(certificate.encoded) == certificate
    assert reconstruct_public_key(certificate, ca.public_key) == hub.static_key.public
    if ca.suite is CryptoSuite.SUITE_2:
        assert certificate.valid_from == JAN_2026
        assert certificate.expires_at == JAN_2026 + YEAR


def test_issue_then_agree_round_trip(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    initiator = KeyAgreement(meter, Role.INITIATOR)
    responder = KeyAgreement(hub, Role.RESPONDER)

    at_meter = initiator.complete(hub.certificate.encoded, responder.ephemeral_public_key, peer_eui64=HUB)
    at_hub = responder.complete(meter.certificate, initiator.ephemeral_public_key, peer_eui64=METER, now=JAN_2026)

    assert at_meter.link_key == at_hub.link_key
    assert at_meter.mac_key == at_hub.mac_key
    assert at_meter.own_mac != at_hub.own_mac  # MACU and MACV differ by tag and order
    at_hub.verify_peer_mac(at_meter.own_mac)
    at_meter.verify_peer_mac(at_hub.own_mac)


def test_fresh_ephemeral_keys_give_fresh_link_keys(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    responder_key = KeyPair.generate(hub.suite).public_bytes()
    first = KeyAgreement(meter, Role.INITIATOR).complete(hub.certificate, responder_key)
    second = KeyAgreement(meter, Role.INITIATOR).complete(hub.certificate, responder_key)
    assert first.link_key != second.link_key


def test_wrong_confirm_key_mac_is_detected(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    result = KeyAgreement(hub, Role.RESPONDER).complete(meter.certificate, KeyPair.generate(hub.suite).public_bytes())
    forged = bytes([result.expected_peer_mac[0] ^ 1]) + result.expected_peer_mac[1:]
    with pytest.raises(KeyConfirmationError, match="does not match"):
        result.verify_peer_mac(forged)


def test_mismatched_issuer_is_detected(ca: CertificateAuthority, hub: DeviceCredentials) -> None:
    stranger = credentials(CertificateAuthority.generate(ca.suite, OTHER_ISSUER), METER)
    agreement = KeyAgreement(hub, Role.RESPONDER)
    with pytest.raises(IssuerMismatchError, match="issued by 48:55:42:46:57:43:41:32"):
        agreement.complete(stranger.certificate, KeyPair.generate(ca.suite).public_bytes())


def test_certificate_from_an_impostor_ca_fails_key_confirmation(ca: CertificateAuthority, hub) -> None:
    """Same issuer ID, different CA key: the implicit certificate yields a key nobody holds."""
    impostor = credentials(CertificateAuthority.generate(ca.suite, ISSUER), METER)
    initiator = KeyAgreement(impostor, Role.INITIATOR)
    responder = KeyAgreement(hub, Role.RESPONDER)
    at_impostor = initiator.complete(hub.certificate, responder.ephemeral_public_key)
    at_hub = responder.complete(impostor.certificate, initiator.ephemeral_public_key)
    assert at_impostor.link_key != at_hub.link_key
    with pytest.raises(KeyConfirmationError):
        at_hub.verify_peer_mac(at_impostor.own_mac)


def test_invalid_ephemeral_point_is_rejected(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    curve = hub.suite.curve
    off_curve = next(
        candidate
        for x in range(1, 64)
        if not _decodes(curve, candidate := b"\x02" + x.to_bytes(curve.point_length - 1, "big"))
    )
    agreement = KeyAgreement(hub, Role.RESPONDER)
    with pytest.raises(InvalidPointError, match="not the x of any curve point"):
        agreement.complete(meter.certificate, off_curve)
    with pytest.raises(InvalidPointError, match="bytes"):
        agreement.complete(meter.certificate, off_curve[:-1])


def _decodes(curve, data: bytes) -> bool:
    try:
        curve.decode_point(data)
    except InvalidPointError:
        return False
    return True


def test_peer_certificate_checks(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    agreement = KeyAgreement(hub, Role.RESPONDER)
    length = hub.suite.certificate_length
    with pytest.raises(BadCertificateError, match="but the peer is"):
        agreement.check_peer_certificate(meter.certificate.encoded, peer_eui64=HUB)
    with pytest.raises(BadCertificateError, match=f"{length} bytes, got {length - 1}"):
        agreement.check_peer_certificate(meter.certificate.encoded[:-1])
    with pytest.raises(BadCertificateError, match=f"we use suite {hub.suite.value}"):
        agreement.check_peer_certificate(_other_suite_certificate(hub.suite))


def _other_suite_certificate(suite: CryptoSuite) -> ImplicitCertificate:
    if suite is CryptoSuite.SUITE_1:
        return build_suite2(CryptoSuite.SUITE_2.curve.generator.encode(), METER, ISSUER, serial=1, valid_from=0)
    return build_suite1(CryptoSuite.SUITE_1.curve.generator.encode(), METER, ISSUER)


def test_suite2_validity_period_is_enforced() -> None:
    ca = CertificateAuthority.generate(CryptoSuite.SUITE_2, ISSUER)
    hub, meter = (credentials(ca, subject, valid_from=JAN_2026, valid_to=86400) for subject in (HUB, METER))
    agreement = KeyAgreement(hub, Role.RESPONDER)
    agreement.check_peer_certificate(meter.certificate, now=JAN_2026 + 86400)
    for outside in (JAN_2026 - 1, JAN_2026 + 86401):
        with pytest.raises(BadCertificateError, match="not valid at"):
            agreement.check_peer_certificate(meter.certificate, now=outside)


def test_bad_certificate_point_is_reported_as_a_bad_certificate(ca: CertificateAuthority, hub) -> None:
    encoded = bytearray(hub.certificate.encoded)
    point_start = 0 if ca.suite is CryptoSuite.SUITE_1 else 37
    encoded[point_start] = 0x04
    broken = ImplicitCertificate.parse(bytes(encoded))
    with pytest.raises(BadCertificateError, match="bad reconstruction point"):
        reconstruct_public_key(broken, ca.public_key)


def test_suite2_header_fields_are_checked() -> None:
    point = CryptoSuite.SUITE_2.curve.generator.encode()
    good = build_suite2(point, METER, ISSUER, serial=1, valid_from=JAN_2026).encoded
    for offset, value, message in ((0, 1, "type"), (9, 0x0C, "curve"), (10, 0x01, "hash"), (36, 0x80, "key usage")):
        mangled = good[:offset] + bytes([value]) + good[offset + 1 :]
        with pytest.raises(BadCertificateError, match=message):
            ImplicitCertificate.parse(mangled)
    with pytest.raises(BadCertificateError, match="48 .suite 1. or 74 .suite 2."):
        ImplicitCertificate.parse(good + b"\x00")
    with pytest.raises(BadCertificateError, match="out of range"):
        build_suite2(point, METER, ISSUER, serial=1 << 64, valid_from=JAN_2026)


def test_wrong_reconstruction_data_is_refused(ca: CertificateAuthority) -> None:
    request = KeyPair.generate(ca.suite)
    issued = ca.issue(METER, request.public)
    key = reconstruct_private_key(issued.certificate, request, issued.reconstruction_data, ca.public_key)
    assert key.public == reconstruct_public_key(issued.certificate, ca.public_key)
    with pytest.raises(InvalidKeyError, match="does not fit"):
        reconstruct_private_key(issued.certificate, request, issued.reconstruction_data + 1, ca.public_key)


def test_credentials_refuse_a_foreign_private_key(hub: DeviceCredentials, meter: DeviceCredentials) -> None:
    with pytest.raises(InvalidKeyError, match="does not belong"):
        DeviceCredentials(hub.certificate, meter.static_key, hub.ca_public_key)
    with pytest.raises(InvalidKeyError):
        dataclasses.replace(hub, static_key=KeyPair.generate(hub.suite))
