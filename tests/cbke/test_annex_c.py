"""The Smart Energy Annex C key establishment vectors, suites 1 and 2, end to end."""

from __future__ import annotations

import pytest

from hubfw.cbke.agreement import DeviceCredentials, KeyAgreement, Role
from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.ecmqv import shared_secret
from hubfw.cbke.ecqv import reconstruct_public_key
from hubfw.cbke.kdf import derive_session_keys
from hubfw.cbke.keys import KeyPair
from hubfw.cbke.suites import CryptoSuite
from hubfw.devices import parse_eui64
from tests.cbke.vectors import ANNEX_C_SUITE_1, ANNEX_C_SUITE_2, CERTICOM_RECONSTRUCTION, AgreementVector

VECTORS = [
    pytest.param(CryptoSuite.SUITE_1, ANNEX_C_SUITE_1, id="suite1-C.5"),
    pytest.param(CryptoSuite.SUITE_2, ANNEX_C_SUITE_2, id="suite2-C.6"),
]

h = bytes.fromhex


def _key(suite: CryptoSuite, hex_private: str) -> KeyPair:
    return KeyPair.from_bytes(suite, h(hex_private))


def _credentials(suite: CryptoSuite, v: AgreementVector, role: Role) -> DeviceCredentials:
    certificate, private = (
        (v.certificate_u, v.static_private_u) if role is Role.INITIATOR else (v.certificate_v, v.static_private_v)
    )
    ca_public_key = suite.curve.decode_point(h(v.ca_public_key))
    return DeviceCredentials(ImplicitCertificate.parse(h(certificate), suite), _key(suite, private), ca_public_key)


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_ecqv_reconstruction_gives_the_published_static_keys(suite: CryptoSuite, v: AgreementVector) -> None:
    ca = suite.curve.decode_point(h(v.ca_public_key))
    for certificate, private, public in (
        (v.certificate_u, v.static_private_u, v.static_public_u),
        (v.certificate_v, v.static_private_v, v.static_public_v),
    ):
        reconstructed = reconstruct_public_key(ImplicitCertificate.parse(h(certificate), suite), ca)
        assert reconstructed.encode() == h(public)
        assert _key(suite, private).public == reconstructed


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_ephemeral_keys_match_their_private_keys(suite: CryptoSuite, v: AgreementVector) -> None:
    assert _key(suite, v.ephemeral_private_u).public_bytes() == h(v.ephemeral_public_u)
    assert _key(suite, v.ephemeral_private_v).public_bytes() == h(v.ephemeral_public_v)


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_both_sides_compute_the_published_shared_secret(suite: CryptoSuite, v: AgreementVector) -> None:
    curve = suite.curve
    from_u = shared_secret(
        _key(suite, v.static_private_u),
        _key(suite, v.ephemeral_private_u),
        curve.decode_point(h(v.static_public_v)),
        curve.decode_point(h(v.ephemeral_public_v)),
    )
    from_v = shared_secret(
        _key(suite, v.static_private_v),
        _key(suite, v.ephemeral_private_v),
        curve.decode_point(h(v.static_public_u)),
        curve.decode_point(h(v.ephemeral_public_u)),
    )
    assert from_u == from_v == h(v.shared_secret)


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_kdf_gives_the_published_mac_key_and_link_key(suite: CryptoSuite, v: AgreementVector) -> None:
    keys = derive_session_keys(h(v.shared_secret))
    assert keys.mac_key == h(v.mac_key)
    assert keys.link_key == h(v.link_key)


@pytest.mark.parametrize(("suite", "v"), VECTORS)
def test_key_agreement_reproduces_annex_c_on_both_sides(suite: CryptoSuite, v: AgreementVector) -> None:
    initiator = KeyAgreement(_credentials(suite, v, Role.INITIATOR), Role.INITIATOR, _key(suite, v.ephemeral_private_u))
    responder = KeyAgreement(_credentials(suite, v, Role.RESPONDER), Role.RESPONDER, _key(suite, v.ephemeral_private_v))
    assert initiator.ephemeral_public_key == h(v.ephemeral_public_u)

    at_u = initiator.complete(h(v.certificate_v), h(v.ephemeral_public_v))
    at_v = responder.complete(h(v.certificate_u), h(v.ephemeral_public_u))

    assert at_u.mac_key == at_v.mac_key == h(v.mac_key)
    assert at_u.link_key == at_v.link_key == h(v.link_key)
    assert at_u.own_mac == at_v.expected_peer_mac == h(v.mac_u)
    assert at_v.own_mac == at_u.expected_peer_mac == h(v.mac_v)
    at_v.verify_peer_mac(h(v.mac_u))
    at_u.verify_peer_mac(h(v.mac_v))


def test_annex_c_certificates_parse_into_their_fields() -> None:
    suite1 = ImplicitCertificate.parse(h(ANNEX_C_SUITE_1.certificate_v))
    assert suite1.suite is CryptoSuite.SUITE_1
    assert suite1.subject == parse_eui64("0000000000000001")
    assert bytes(suite1.issuer)[::-1] == b"TESTSECA"
    assert suite1.profile_data == h("01090006000000000000")
    assert suite1.reconstruction_point == h(ANNEX_C_SUITE_1.certificate_v)[:22]
    assert suite1.valid_from is None and suite1.is_valid_at(0)

    suite2 = ImplicitCertificate.parse(h(ANNEX_C_SUITE_2.certificate_v))
    assert suite2.suite is CryptoSuite.SUITE_2
    assert suite2.subject == parse_eui64("0A0B0C0D0E0F1011")
    assert suite2.issuer == parse_eui64("1112131415161718")
    assert suite2.serial == 0x2622A505E8938F27
    assert suite2.valid_from == 0x5292A35B
    assert suite2.expires_at is None  # 0xFFFFFFFF: no expiry
    assert suite2.key_usage == 0x88
    assert suite2.reconstruction_point == h(ANNEX_C_SUITE_2.certificate_v)[37:]


@pytest.mark.parametrize("v", CERTICOM_RECONSTRUCTION, ids=["certicom-163-a", "certicom-163-b", "certicom-283"])
def test_certicom_test_ca_certificates_reconstruct_their_device_keys(v) -> None:
    certificate = ImplicitCertificate.parse(h(v.certificate))
    curve = certificate.suite.curve
    reconstructed = reconstruct_public_key(certificate, curve.decode_point(h(v.ca_public_key)))
    assert reconstructed.encode() == h(v.public_key)
    assert KeyPair.from_bytes(certificate.suite, h(v.private_key)).public == reconstructed


def test_suite_wire_sizes_match_the_key_establishment_cluster() -> None:
    sizes = {s: (s.bitmask, s.certificate_length, s.point_length, s.private_key_length) for s in CryptoSuite}
    assert sizes == {CryptoSuite.SUITE_1: (0x0001, 48, 22, 21), CryptoSuite.SUITE_2: (0x0002, 74, 37, 36)}
    for suite, v in ((CryptoSuite.SUITE_1, ANNEX_C_SUITE_1), (CryptoSuite.SUITE_2, ANNEX_C_SUITE_2)):
        assert len(h(v.certificate_u)) == suite.certificate_length
        assert len(h(v.ephemeral_public_u)) == suite.point_length
        assert len(h(v.shared_secret)) == suite.curve.field.byte_length
