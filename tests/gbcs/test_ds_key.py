"""The CH's Digital Signing key: made once in the state directory, or given; `hubfw gbcs ch-key` shows it."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.cli.main import main
from hubfw.clock import VirtualClock
from hubfw.gbcs.ds_key import DS_KEY_FILE, DS_PUBLIC_KEY_FILE, ch_ds_key
from hubfw.gbcs.framing import CraFlag, GeneralSigning
from hubfw.gbcs.signing import sign, verify
from hubfw.hub.service import Hub, HubConfig
from hubfw.ota.keys import load_private_key, public_pem, write_private_key
from tests.gbcs.rtds import ACB, CH
from tests.hub.helpers import open_virtual_radio
from tests.hub.ota_client import OtaHan


def _public(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_first_start_makes_a_private_test_key_and_keeps_it(tmp_path: Path) -> None:
    key = ch_ds_key(tmp_path)
    assert stat.S_IMODE((tmp_path / DS_KEY_FILE).stat().st_mode) == 0o600
    assert _public(ch_ds_key(tmp_path)) == _public(key)
    assert (tmp_path / DS_PUBLIC_KEY_FILE).read_bytes() == public_pem(key.public_key())


def test_negative_control_another_state_directory_has_another_key(tmp_path: Path) -> None:
    assert _public(ch_ds_key(tmp_path / "a")) != _public(ch_ds_key(tmp_path / "b"))


def test_a_given_key_is_the_one_used_and_shown(tmp_path: Path) -> None:
    own = ch_ds_key(tmp_path)
    given = ec.generate_private_key(ec.SECP256R1())
    assert ch_ds_key(tmp_path, given) is given
    assert (tmp_path / DS_PUBLIC_KEY_FILE).read_bytes() == public_pem(given.public_key())
    assert _public(ch_ds_key(tmp_path)) == _public(own)  # the state's own key is kept for a start without one


def test_ch_key_prints_the_public_key_the_hub_signs_with(tmp_path: Path) -> None:
    key = ch_ds_key(tmp_path)
    result = CliRunner().invoke(main, ["gbcs", "ch-key", "--state", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = serialization.load_pem_public_key(result.output.encode())
    signed = sign(GeneralSigning(CraFlag.ALERT, 1, CH, ACB, 0x0128, b"\x30\x00"), key)
    assert verify(signed, shown)  # type: ignore[arg-type]
    assert "PRIVATE" not in result.output


def test_ch_key_without_a_key_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["gbcs", "ch-key", "--state", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"hubfw: error: no CH Digital Signing key in {tmp_path} (the hub makes one when it first starts: "
        "hubfw serve --state DIR)"]


async def test_the_hub_keeps_its_key_across_restarts_and_takes_a_given_one(tmp_path: Path) -> None:
    han, state = OtaHan(), tmp_path / "state"

    async def started(config: HubConfig | None = None) -> ec.EllipticCurvePrivateKey:
        hub = Hub(state, lambda directory: open_virtual_radio(directory, han), VirtualClock(), config)
        await hub.start()
        await hub.stop()
        assert hub.ds_key is not None
        return hub.ds_key

    first = await started()
    assert _public(await started()) == _public(first)
    given = tmp_path / "ds.pem"
    write_private_key(given, ec.generate_private_key(ec.SECP256R1()))
    result = CliRunner().invoke(main, ["serve", "--radio", "virtual", "--state", str(state), "--ds-key",
                                       str(tmp_path / "missing.pem")])
    assert result.exit_code == 1 and "missing.pem" in result.output  # refused before the hub starts
    key = load_private_key(given)
    assert _public(await started(HubConfig(ds_key=key))) == _public(key)
