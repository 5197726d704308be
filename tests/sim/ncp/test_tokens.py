"""The NCP's persisted tokens: round trips, fresh identities and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.sim.ncp.network import NcpStateError, NetworkTokens, TokenStore

METER = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")


def formed_tokens(ieee: t.EUI64) -> NetworkTokens:
    tokens = NetworkTokens(ieee=ieee, formed=True, pan_id=0x1A62, channel=15, channel_mask=1 << 15,
                           extended_pan_id=t.EUI64.convert("dd:dd:dd:dd:dd:dd:dd:01"),
                           network_key=t.KeyData(bytes(range(16))), network_key_frame_counter=4242,
                           security_bitmask=0x0384)
    tokens.set_link_key(METER, t.KeyData(b"K" * 16))
    tokens.devices[METER] = t.NWK(0x4D2A)
    return tokens


def test_tokens_survive_a_save_and_load(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    tokens = formed_tokens(t.EUI64.convert("00:0d:6f:ff:fe:00:00:01"))
    store.save(tokens)
    assert store.load(None) == tokens
    assert store.load(tokens.ieee) == tokens


def test_a_token_file_with_the_join_keys_of_earlier_simulators_loads_without_them(tmp_path: Path) -> None:
    """EmberZNet keeps no per-device join key: the install-code key was a transient key, long gone."""
    store = TokenStore(tmp_path)
    tokens = formed_tokens(t.EUI64.convert("00:0d:6f:ff:fe:00:00:01"))
    older = tokens.to_json() | {"join_keys": {str(METER): bytes(b"ZigBeeAlliance09").hex()}}
    store.path.write_text(json.dumps(older))
    assert store.load(None) == tokens
    assert "join_keys" not in tokens.to_json()


def test_a_device_s_table_key_is_its_key_table_entry() -> None:
    tokens = formed_tokens(t.EUI64.convert("00:0d:6f:ff:fe:00:00:01"))
    assert tokens.table_key_for(METER) == t.KeyData(b"K" * 16)
    tokens.key_table.clear()
    assert tokens.table_key_for(METER) is None


def test_a_fresh_ncp_gets_a_silicon_labs_eui64_and_no_network(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path).load(None)
    assert str(tokens.ieee).startswith("00:0d:6f:")
    assert not tokens.formed


def test_forgetting_the_network_keeps_the_node_identity() -> None:
    tokens = formed_tokens(METER)
    tokens.forget_network()
    assert tokens == NetworkTokens(ieee=METER)


def test_address_helpers() -> None:
    tokens = formed_tokens(t.EUI64.convert("00:0d:6f:ff:fe:00:00:01"))
    assert tokens.nwk_for(METER) == 0x4D2A and tokens.ieee_for(0x4D2A) == METER
    assert tokens.ieee_for(0x1234) is None


def test_a_corrupt_token_file_is_reported_in_one_line_and_left_alone(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.path.write_text('{"ieee": "00:0d:6f"')
    with pytest.raises(NcpStateError) as error:
        store.load(None)
    assert str(store.path) in str(error.value) and "\n" not in str(error.value)
    assert store.path.read_text() == '{"ieee": "00:0d:6f"'


def test_tokens_of_another_ncp_are_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.save(formed_tokens(t.EUI64.convert("00:0d:6f:ff:fe:00:00:01")))
    with pytest.raises(NcpStateError, match="belong to NCP 00:0d:6f:ff:fe:00:00:01"):
        store.load(METER)
