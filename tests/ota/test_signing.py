"""Manufacturer signatures (embedded, detached, openssl-compatible), Zigbee suites, integrity code."""

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import zigpy.types as t
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.ota.aes_mmo import aes_mmo_hash
from hubfw.ota.image import (
    IMAGE_INTEGRITY_CODE_TAG,
    MANUFACTURER_SIGNATURE_TAG,
    UPGRADE_IMAGE_TAG,
    OtaImage,
    SubElement,
    build_image,
)
from hubfw.ota.integrity import check_integrity_code
from hubfw.ota.keys import (
    KeyFileError,
    SignatureEncodingError,
    decode_detached_signature,
    der_to_raw,
    key_fingerprint,
    load_private_key,
    load_public_key,
    verify_message,
    write_key_pair,
)
from hubfw.ota.signing import detached_signature, verify_signature
from hubfw.ota.status import Verdict
from tests.ota.strategies import assemble


def image_for(payload: bytes = b"manufacturer image", **options: object) -> OtaImage:
    return build_image(
        manufacturer_code=0x1234,
        image_type=1,
        file_version=0x20,
        payload=payload,
        min_hw_version=1,
        max_hw_version=3,
        **options,
    )


def test_embedded_signature_verifies_with_its_key(manufacturer_key) -> None:
    image = OtaImage.parse(image_for(sign_key=manufacturer_key).to_bytes())
    status = verify_signature(image, [manufacturer_key.public_key()])
    assert status.verdict is Verdict.VALID and status.valid
    assert status.source == "embedded"
    assert status.trusted_key == key_fingerprint(manufacturer_key.public_key())


def test_a_signature_made_with_one_key_fails_against_another(manufacturer_key, other_key) -> None:
    image = image_for(sign_key=manufacturer_key)
    status = verify_signature(image, [other_key.public_key()])
    assert status.verdict is Verdict.INVALID
    assert "does not verify against any of the 1 trusted key(s)" in status.detail


def test_any_trusted_key_may_verify(manufacturer_key, other_key) -> None:
    image = image_for(sign_key=manufacturer_key)
    status = verify_signature(image, [other_key.public_key(), manufacturer_key.public_key()])
    assert status.valid


def test_signature_covers_the_final_header_including_total_size(manufacturer_key) -> None:
    image = image_for(sign_key=manufacturer_key, integrity_code=True)
    signature = image.with_tag(MANUFACTURER_SIGNATURE_TAG)[0].data
    assert len(signature) == 64
    assert verify_message(manufacturer_key.public_key(), image.raw_header + image.manufacturer_image, signature)
    assert image.header.total_size == len(image.to_bytes())


@pytest.mark.parametrize("where", ["header", "payload"])
def test_tampering_with_header_or_manufacturer_image_breaks_the_signature(manufacturer_key, where) -> None:
    image = image_for(sign_key=manufacturer_key)
    if where == "header":
        tampered = OtaImage(replace(image.header, file_version=0x21), image.sub_elements)
    else:
        elements = (SubElement(UPGRADE_IMAGE_TAG, b"manufacturer imagE"), *image.sub_elements[1:])
        tampered = OtaImage(image.header, elements)
    assert verify_signature(tampered, [manufacturer_key.public_key()]).verdict is Verdict.INVALID


def test_signature_present_without_trust_anchor_is_unchecked_never_valid(manufacturer_key) -> None:
    status = verify_signature(image_for(sign_key=manufacturer_key), [])
    assert status.verdict is Verdict.UNCHECKED
    assert not status.valid


def test_unsigned_image_reports_absent(manufacturer_key) -> None:
    assert verify_signature(image_for(), [manufacturer_key.public_key()]).verdict is Verdict.ABSENT


def test_detached_der_signature_verifies_and_wrong_key_fails(manufacturer_key, other_key) -> None:
    image = image_for()
    signature = detached_signature(image, manufacturer_key)
    assert signature[0] == 0x30  # DER SEQUENCE
    ok = verify_signature(image, [manufacturer_key.public_key()], detached=signature)
    assert ok.valid and ok.source == "detached"
    assert verify_signature(image, [other_key.public_key()], detached=signature).verdict is Verdict.INVALID


def test_detached_raw_signature_is_accepted(manufacturer_key) -> None:
    image = image_for()
    raw = der_to_raw(detached_signature(image, manufacturer_key))
    assert verify_signature(image, [manufacturer_key.public_key()], detached=raw).valid


def test_malformed_detached_signature_is_invalid_with_a_reason(manufacturer_key) -> None:
    status = verify_signature(image_for(), [manufacturer_key.public_key()], detached=b"not a signature")
    assert status.verdict is Verdict.INVALID
    assert "neither DER nor 64-byte raw" in status.detail
    with pytest.raises(SignatureEncodingError):
        decode_detached_signature(b"\x30\x03\x02\x01\x01")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([SubElement(MANUFACTURER_SIGNATURE_TAG, bytes(64))] * 2, "2 manufacturer signature sub-elements"),
        ([SubElement(MANUFACTURER_SIGNATURE_TAG, bytes(10))], "is 10 bytes; want 64"),
    ],
)
def test_malformed_embedded_signatures_are_invalid(manufacturer_key, extra, message) -> None:
    image = image_for(extra_sub_elements=extra)
    status = verify_signature(image, [manufacturer_key.public_key()])
    assert status.verdict is Verdict.INVALID and message in status.detail


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_signatures_and_hubfw_signatures_interoperate(tmp_path: Path) -> None:
    private_path, public_path = write_key_pair(tmp_path)
    image = image_for(b"x" * 5000)
    message = tmp_path / "message.bin"
    message.write_bytes(image.signed_message)
    openssl_signature = tmp_path / "openssl.sig"
    subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", private_path, "-out", openssl_signature, message], check=True
    )
    public_key = load_public_key(public_path)
    assert verify_signature(image, [public_key], detached=openssl_signature.read_bytes()).valid
    hubfw_signature = tmp_path / "hubfw.sig"
    hubfw_signature.write_bytes(detached_signature(image, load_private_key(private_path)))
    subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", public_path, "-signature", hubfw_signature, message],
        check=True,
        capture_output=True,
    )


def test_zigbee_suite_signatures_are_reported_but_never_valid(manufacturer_key) -> None:
    signer = bytes.fromhex("f0debc0a006f0d00")
    suite1 = SubElement(0x0001, signer + bytes(42))
    suite2 = SubElement(0x0005, signer + bytes(72))
    broken = SubElement(0x0001, b"short")
    image = image_for(extra_sub_elements=[suite1, suite2, broken])
    status = verify_signature(image, [manufacturer_key.public_key()])
    assert status.verdict is Verdict.ABSENT
    found = status.zigbee_signatures
    assert [(z.suite, z.curve) for z in found] == [(1, "sect163k1"), (2, "sect283k1"), (1, "sect163k1")]
    assert found[0].signer == t.EUI64.deserialize(signer)[0]
    assert "present but unverifiable" in found[0].describe() and "binary curves" in found[0].describe()
    assert "malformed" in found[2].describe()
    assert all(z.to_json()["verdict"] == "unchecked" for z in found)


def test_key_pair_files(tmp_path: Path) -> None:
    private_path, public_path = write_key_pair(tmp_path / "keys")
    assert private_path.stat().st_mode & 0o777 == 0o600
    assert load_private_key(private_path).public_key() == load_public_key(public_path)
    assert load_public_key(private_path) == load_public_key(public_path)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_pair(tmp_path / "keys")
    before = private_path.read_bytes()
    write_key_pair(tmp_path / "keys", overwrite=True)
    assert private_path.read_bytes() != before


@pytest.mark.parametrize(
    ("content", "loader", "message"),
    [
        (None, load_public_key, "cannot read key file"),
        (b"garbage", load_public_key, "not a PEM public key"),
        (b"garbage", load_private_key, "not an unencrypted PEM private key"),
    ],
)
def test_bad_key_files_are_clear_errors(tmp_path: Path, content, loader, message) -> None:
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError, match=message):
        loader(path)


def test_non_p256_keys_are_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "p384.pem"
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="P-256"):
        load_public_key(path)


class TestIntegrityCode:
    def test_built_integrity_code_verifies(self, manufacturer_key) -> None:
        image = OtaImage.parse(image_for(b"p" * 10_000, sign_key=manufacturer_key, integrity_code=True).to_bytes())
        assert check_integrity_code(image).verdict is Verdict.VALID

    def test_integrity_code_covers_everything_before_its_sub_element(self) -> None:
        data = image_for(b"p" * 9000, integrity_code=True).to_bytes()
        assert data[-22:-16] == b"\x03\x00\x10\x00\x00\x00"
        assert data[-16:] == aes_mmo_hash(data[:-22])

    def test_any_flipped_bit_before_it_is_detected(self) -> None:
        data = bytearray(image_for(b"p" * 9000, integrity_code=True).to_bytes())
        data[1000] ^= 0x01
        status = check_integrity_code(OtaImage.parse(bytes(data)))
        assert status.verdict is Verdict.INVALID and "mismatch" in status.detail

    def test_absent(self) -> None:
        assert check_integrity_code(image_for()).verdict is Verdict.ABSENT

    @pytest.mark.parametrize(
        ("tail", "message"),
        [
            ([SubElement(IMAGE_INTEGRITY_CODE_TAG, bytes(16)), SubElement(0xF000, b"")], "not the last"),
            ([SubElement(IMAGE_INTEGRITY_CODE_TAG, bytes(15))], "is 15 bytes; want 16"),
            ([SubElement(IMAGE_INTEGRITY_CODE_TAG, bytes(16))] * 2, "2 image integrity code sub-elements"),
        ],
    )
    def test_misplaced_or_malformed_codes_are_invalid(self, tail, message) -> None:
        image = assemble(image_for().header, [SubElement(UPGRADE_IMAGE_TAG, b"x"), *tail])
        status = check_integrity_code(image)
        assert status.verdict is Verdict.INVALID and message in status.detail
