"""The hub core opens GBCS tunnels (GBCS 10.2.2.1): after a device's link key is installed, and again at boot for
every device its link-key records name; not to a device the store knows as a GSME; only under the link key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zigpy.types as t

from hubfw.cbke import CryptoSuite
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import get_profile
from hubfw.han import KeyEstablishmentServer
from hubfw.han.tunneling.wire import TunnelRequest, TunnelResponse
from hubfw.han.zcl import encode
from hubfw.hub.core import CoreConfig, HanSetup, HubCore
from hubfw.hub.link_keys import LinkKeyRegistry, LinkKeyRegistryError
from hubfw.ota.image import build_image
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE, TUNNELING_CLUSTER
from tests.sim.devices.gb_rig import TestCa
from tests.sim.devices.rig import HUB_IEEE

SE_ENDPOINT = 3
PPMID = parse_eui64("00:0d:6f:00:00:00:00:01")
OLD_RECORD = parse_eui64("00:0d:6f:00:00:00:00:02")
METER = parse_eui64("00:0d:6f:00:00:00:00:03")


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa()


def boot(ca: TestCa, flash: NorFlash, keys: Path, clock: VirtualClock) -> HubCore:
    credentials = {suite: ca.issue(HUB_IEEE, suite) for suite in CryptoSuite}
    han = HanSetup(KeyEstablishmentServer(credentials, clock), LinkKeyRegistry(keys))
    config = CoreConfig(OtaServerConfig(server_endpoint=SE_ENDPOINT))
    return HubCore.open(flash, clock, config, han=han)


def requests_in(frames: list[OutgoingFrame]) -> dict[t.EUI64, int]:
    """Device → endpoint of each RequestTunnel among `frames`."""
    return {frame.destination: frame.dst_ep for frame in frames
            if frame.cluster == TUNNELING_CLUSTER and frame.zcl[0] == 0x01
            and frame.zcl[2] == TunnelRequest.request_tunnel.id}


def test_at_boot_the_hub_requests_the_tunnel_of_every_keyed_device_again(ca: TestCa, tmp_path: Path) -> None:
    clock, flash, keys = VirtualClock(), NorFlash(get_profile("serial-nor")), tmp_path / "link_keys.json"
    first = LinkKeyRegistry(keys)
    first.record(PPMID, CryptoSuite.SUITE_2, clock.now(), endpoint=7)
    first.record(OLD_RECORD, CryptoSuite.SUITE_2, clock.now())  # written before endpoints were kept
    assert json.loads(keys.read_text())["devices"][str(PPMID)]["endpoint"] == 7

    core = boot(ca, flash, keys, clock)
    started = core.start()
    assert requests_in(started) == {PPMID: 7}
    [request] = [frame for frame in started if frame.destination == PPMID]
    assert (request.src_ep, request.profile, request.aps_encrypt) == (SE_ENDPOINT, SMART_ENERGY_PROFILE, True)
    assert request.zcl[3:] == bytes.fromhex("06ffff00dc05")

    # the device whose record has no endpoint gets its request once it speaks Smart Energy under its key
    unencrypted = IncomingFrame(OLD_RECORD, 0x2222, SMART_ENERGY_PROFILE, 4, SE_ENDPOINT, 0x0019, b"\x01\x01\x01", False)
    assert requests_in(core.handle(unencrypted)) == {}
    query = IncomingFrame(OLD_RECORD, 0x2222, SMART_ENERGY_PROFILE, 4, SE_ENDPOINT, 0x0019,
                          bytes.fromhex("01050100341201010000010000"), True)
    assert requests_in(core.handle(query)) == {OLD_RECORD: 4}
    assert requests_in(core.handle(query)) == {}  # once


def test_a_device_the_store_knows_as_a_gsme_gets_no_request(ca: TestCa, tmp_path: Path) -> None:
    clock, flash, keys = VirtualClock(), NorFlash(get_profile("serial-nor")), tmp_path / "link_keys.json"
    LinkKeyRegistry(keys).record(METER, CryptoSuite.SUITE_2, clock.now(), endpoint=1)
    core = boot(ca, flash, keys, clock)
    gas_image = build_image(manufacturer_code=0x1234, image_type=0x0103, file_version=2, payload=b"g" * 64)
    core.distribute(gas_image.to_bytes(), [METER], DeviceType.GSME)

    restarted = boot(ca, flash, keys, clock)
    assert requests_in(restarted.start()) == {}


def test_answers_to_the_hubs_client_need_the_link_key(ca: TestCa, tmp_path: Path) -> None:
    """Negative control: a device's Tunneling server frames reach the hub's client only APS-encrypted from a
    keyed device; anything else is dropped, not even NO_SUCH_TUNNEL goes back."""
    clock, flash, keys = VirtualClock(), NorFlash(get_profile("serial-nor")), tmp_path / "link_keys.json"
    LinkKeyRegistry(keys).record(PPMID, CryptoSuite.SUITE_2, clock.now(), endpoint=7)
    core = boot(ca, flash, keys, clock)
    [request] = core.start()
    answer = encode(request.zcl[1], TunnelResponse.request_tunnel, tunnel_id=5, tunnel_status=0,
                    maximum_incoming_transfer_size=1500)
    stray = encode(9, TunnelResponse.transfer_data, tunnel_id=5, data=t.Bytes(b"\xdf"))

    def frame(source: t.EUI64, zcl: bytes, encrypted: bool) -> IncomingFrame:
        return IncomingFrame(source, 0x1111, SMART_ENERGY_PROFILE, 7, SE_ENDPOINT, TUNNELING_CLUSTER, zcl, encrypted)

    for source, encrypted in ((PPMID, False), (METER, True)):  # unencrypted; from a device without a key
        assert core.handle(frame(source, answer, encrypted)) == []
        assert core.handle(frame(source, stray, encrypted)) == []
    assert core.require_han().server.tunnel_id(PPMID) is None

    core.handle(frame(PPMID, answer, True))
    assert core.require_han().server.tunnel_id(PPMID) == 5
    assert core.require_han().device_view(PPMID)["tunnel_opened_by"] == "hub"


def test_a_record_with_an_impossible_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    keys = tmp_path / "link_keys.json"
    LinkKeyRegistry(keys).record(PPMID, CryptoSuite.SUITE_2, 0.0, endpoint=7)
    record = json.loads(keys.read_text())
    record["devices"][str(PPMID)]["endpoint"] = 0
    keys.write_text(json.dumps(record))
    with pytest.raises(LinkKeyRegistryError, match="endpoint 0 is not an application endpoint"):
        LinkKeyRegistry(keys)
