"""The GB devices' Smart Energy session against the hub's real HAN and OTA servers (radio-free, virtual time):
Match_Desc, CBKE in both suites, the link key on every frame, Time, the tunnel and its 0x8F8B, the
notification flags, and the quirks that make key establishment fail."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.alerts import AlertCode
from hubfw.cbke import CryptoSuite
from hubfw.devices import DeviceType
from hubfw.gbcs.alert_message import DEFAULT_ACB_ID
from hubfw.gbcs.device_keys import device_ds_key, load_device_keys
from hubfw.gbcs.framing import CraFlag, GeneralSigning, general_signing
from hubfw.gbcs.signing import verify
from hubfw.han import KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.han.events import DeviceAlertReceived, GbcsMessageReceived, TunnelOpened, TunnelRequestFailed
from hubfw.han.tunneling.wire import TunnelRequest, TunnelResponse
from hubfw.ota.keys import new_private_key, public_pem
from hubfw.sim.devices import esme, gb_session, gsme, hcalcs, ppmid
from hubfw.sim.devices.gb_session import GbHanSettings, SessionState
from hubfw.zigbee.aps import ApsFrame
from hubfw.zigbee.zcl import TO_CLIENT, cluster_command
from tests.sim.devices.gb_rig import FOREIGN_ISSUER, SE_ENDPOINT, GbRig, TestCa, make_gb_hub
from tests.sim.devices.rig import HUB_IEEE, IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, ota_file

INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION,
            "install_code": INSTALL_CODE}
HOUR = 3600.0


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa()


def gb_ppmid(ca: TestCa, n: int, suite: CryptoSuite = CryptoSuite.SUITE_2, **options: object):
    ieee = eui(n)
    session = options.pop("gb", None) or gb_session(DeviceType.PPMID, ca.issue(ieee, suite), notification_poll=600.0)
    return ppmid(ieee, 0x4000 + n, gb=session, **IDENTITY, **options)


ca_free_key = new_private_key().public_key()
"""A key that signed nothing: a negative control for the devices' signatures."""


def test_each_simulated_device_has_its_own_ds_key_or_the_one_it_is_given(ca: TestCa, tmp_path: Path) -> None:
    first, second = gb_ppmid(ca, 20), gb_ppmid(ca, 21)
    assert _public(first.ds_key) != _public(second.ds_key)
    given = new_private_key()
    assert ppmid(eui(22), 0x4022, ds_key=given, **IDENTITY).ds_key is given
    from_gb = new_private_key()
    session = gb_session(DeviceType.PPMID, ca.issue(eui(23), CryptoSuite.SUITE_2), ds_key=from_gb)
    assert ppmid(eui(23), 0x4023, gb=session, **IDENTITY).ds_key is from_gb
    kept = ppmid(eui(24), 0x4024, keys_dir=tmp_path, **IDENTITY)
    again = ppmid(eui(24), 0x4024, keys_dir=tmp_path, **IDENTITY)
    assert _public(kept.ds_key) == _public(again.ds_key) == _public(device_ds_key(tmp_path, eui(24)))
    assert _public(load_device_keys(tmp_path)[eui(24)]) == _public(kept.ds_key)


def test_the_originator_counter_only_increases_even_when_the_clock_goes_back(ca: TestCa) -> None:
    device = gb_ppmid(ca, 25)
    counters = [device.next_originator_counter(now) for now in (1000.0, 1000.0, 999.0, 2000.5, 10.0)]
    assert counters == [1_000_000, 1_000_001, 1_000_002, 2_000_500, 2_000_501]


def _public(key) -> bytes:
    return public_pem(key.public_key() if hasattr(key, "private_bytes") else key)


def secured(hub: GbRig, device) -> None:
    hub.radio.run_until(lambda: device.gb.state is SessionState.SECURED and device.gb.tunnel_open, within=HOUR)


def test_a_ppmid_finds_the_se_endpoint_runs_cbke_reads_time_and_opens_its_tunnel(ca: TestCa) -> None:
    device = gb_ppmid(ca, 1, query_interval=None)
    hub = make_gb_hub(ca, [device])
    secured(hub, device)

    assert device.gb.hub.se_endpoint == SE_ENDPOINT and device.gb.hub.ieee == HUB_IEEE
    [established] = [e for e in hub.radio.events if isinstance(e, LinkKeyEstablished)]
    assert established.suite is CryptoSuite.SUITE_2 and device.link_key == t.KeyData(established.key)
    assert device.link_key != device.join_key
    hub.radio.run_until(lambda: device.gb.hub.time_offset is not None, within=60)
    assert device.gb.hub.time_offset == pytest.approx(0, abs=1)
    assert device.gb.hub.time_status == 0b1001  # Master | Superseding
    assert hub.han_server.tunnel_id(device.ieee) is not None
    after_key = [f for f in hub.radio.uplinked if f.profile == 0x0109 and f.cluster != 0x0800
                 and f.src_ieee == device.ieee]
    assert after_key and all(f.aps_encrypted and f.link_key == device.link_key for f in after_key)
    assert all(not f.aps_encrypted for f in hub.radio.uplinked if f.cluster == 0x0800)  # NWK security only


def test_suite_1_is_selectable_per_device(ca: TestCa) -> None:
    ieee = eui(2)
    device = hcalcs(ieee, 0x4002, gb=GbHanSettings(ca.issue(ieee, CryptoSuite.SUITE_1)), query_interval=None,
                    **IDENTITY)
    hub = make_gb_hub(ca, [device])
    hub.radio.run_until(lambda: device.gb.state is SessionState.SECURED, within=HOUR)
    assert device.gb.suite is CryptoSuite.SUITE_1
    assert hub.han_server.key_established(ieee) is CryptoSuite.SUITE_1


def test_the_ppmid_downloads_under_its_cbke_key_and_puts_its_0x8f8b_through_the_tunnel(ca: TestCa) -> None:
    device = gb_ppmid(ca, 3)
    hub = make_gb_hub(ca, [device])
    secured(hub, device)
    hub.distribute(ota_file(3000), [device])
    hub.radio.run_until(lambda: any(isinstance(e, DeviceAlertReceived) for e in hub.radio.events), within=HOUR)

    [alert_event] = [e for e in hub.radio.events if isinstance(e, DeviceAlertReceived)]
    assert alert_event.eui64 == device.ieee and alert_event.alert is not None
    assert (alert_event.alert.code, alert_event.alert.firmware_version) == (AlertCode.ACTIVATION, NEW_VERSION)
    assert alert_event.alert.source == "tunnel"
    # the PPMID's own RTDS-form 0x012B message, verbatim, signed with its DS key, to the RTDS access control broker
    [raised] = device.raised_alerts
    assert alert_event.raw == alert_event.alert.message == raised.message
    signed = GeneralSigning.parse(alert_event.raw)
    assert (signed.message_code, signed.originator, signed.target) == (
        0x012B, bytes(device.ieee)[::-1], bytes(DEFAULT_ACB_ID)[::-1])
    assert signed.originator_counter == raised.counter == device.originator_counter > 0
    assert verify(alert_event.raw, device.ds_key.public_key()) and not verify(alert_event.raw, ca_free_key)
    blocks = [f for f in hub.radio.uplinked if f.cluster == Ota.cluster_id and f.src_ieee == device.ieee]
    assert blocks and all(f.link_key == device.link_key for f in blocks)
    assert all(f.dst_ep == SE_ENDPOINT for f in blocks)


def test_a_flagged_image_is_queried_for_without_any_image_notify(ca: TestCa) -> None:
    device = gb_ppmid(ca, 4, query_interval=None)
    hub = make_gb_hub(ca, [device])
    secured(hub, device)
    hub.store.distribute(ota_file(2000), [(device.ieee, device.identity.device_type)])  # no ImageNotify sent
    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION, within=2 * HOUR)
    assert device.received("image_notify") == []
    assert "hub flags a new OTA image" in device.notes()


def test_a_foreign_ca_gets_unknown_issuer_and_the_device_tries_again_later(ca: TestCa) -> None:
    ieee = eui(5)
    foreign = TestCa(FOREIGN_ISSUER).issue(ieee)
    device = gb_ppmid(ca, 5, gb=GbHanSettings(foreign, serves_tunnel=True, retry_after=600.0), query_interval=None)
    hub = make_gb_hub(ca, [device])
    hub.radio.run_until(lambda: device.gb.ke_outcomes, within=HOUR)

    [outcome] = device.gb.ke_outcomes
    assert isinstance(outcome, KeyEstablishmentFailed) and outcome.status is TerminateStatus.UNKNOWN_ISSUER
    [hub_side] = [e for e in hub.radio.events if isinstance(e, KeyEstablishmentFailed)]
    assert hub_side.status is TerminateStatus.UNKNOWN_ISSUER
    assert device.gb.state is SessionState.UNSECURED and device.gb.link_key is None
    hub.radio.run_until(lambda: len(device.gb.ke_outcomes) == 2, within=HOUR)  # after the retry wait
    assert not device.gb.tunnel_open and hub.han_server.tunnel_id(ieee) is None


def test_a_wrong_confirm_mac_gets_bad_key_confirm(ca: TestCa) -> None:
    ieee = eui(6)
    device = gb_ppmid(ca, 6, gb=GbHanSettings(ca.issue(ieee), corrupts_confirm_mac=True), query_interval=None)
    hub = make_gb_hub(ca, [device])
    hub.radio.run_until(lambda: device.gb.ke_outcomes, within=HOUR)

    [hub_side] = [e for e in hub.radio.events if isinstance(e, KeyEstablishmentFailed)]
    assert hub_side.eui64 == ieee and hub_side.status is TerminateStatus.BAD_KEY_CONFIRM
    [outcome] = device.gb.ke_outcomes
    assert isinstance(outcome, KeyEstablishmentFailed) and outcome.status is TerminateStatus.BAD_KEY_CONFIRM
    assert ieee not in hub.radio.keyed and device.link_key == device.join_key


def test_after_cbke_an_unencrypted_ota_frame_is_refused_not_authorized_and_a_wrong_key_is_not_heard(
        ca: TestCa) -> None:
    device = gb_ppmid(ca, 7, query_interval=None)
    hub = make_gb_hub(ca, [device])
    secured(hub, device)
    notify = cluster_command(0x42, Ota.ClientCommandDefs.image_notify, TO_CLIENT, payload_type=0, query_jitter=100)
    plain = ApsFrame(HUB_IEEE, t.NWK(0), device.ieee, device.nwk, 0x0109, Ota.cluster_id, SE_ENDPOINT, 1, notify)
    sent_before = len(hub.radio.uplinked)
    assert hub.han.deliver(plain)
    hub.han.step()

    [answer] = [f for f in hub.radio.uplinked[sent_before:] if f.cluster == Ota.cluster_id]
    header, body = foundation.ZCLHeader.deserialize(answer.payload)
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
    response, _ = schema.deserialize(body)
    assert (header.tsn, response.command_id, response.status) == (0x42, 0x00, foundation.Status.NOT_AUTHORIZED)
    assert answer.aps_encrypted and answer.link_key == device.link_key
    hub.radio.run_for(HOUR)
    assert device.sent("query_next_image") == []  # the notify was otherwise ignored

    wrong_key = dataclasses.replace(plain, aps_encrypted=True, link_key=device.join_key)
    assert hub.han.deliver(wrong_key) is False  # it cannot open it: no APS ACK


def test_gbcs_messages_bigger_than_an_aps_payload_cross_the_tunnel_both_ways(ca: TestCa) -> None:
    device = gb_ppmid(ca, 8, query_interval=None)
    hub = make_gb_hub(ca, [device])
    secured(hub, device)
    to_device = general_signing(CraFlag.COMMAND, 1, bytes(8), bytes(device.ieee)[::-1], 0x0001, bytes(range(256)))
    from_device = general_signing(CraFlag.RESPONSE, 2, bytes(device.ieee)[::-1], bytes(8), 0x0001,
                                  bytes(range(255, -1, -1)))

    hub.radio.send(hub.han_server.send_gbcs(device.ieee, to_device))
    hub.radio.run_until(lambda: device.gb.gbcs_received, within=60)
    assert device.gb.gbcs_received == [to_device]

    device.gb.queue_gbcs(from_device, hub.clock.now())
    hub.radio.run_until(lambda: any(isinstance(e, GbcsMessageReceived) for e in hub.radio.events), within=60)
    received = [e.message for e in hub.radio.events if isinstance(e, GbcsMessageReceived)]
    assert received == [from_device]
    fragments = [f for f in hub.radio.uplinked if f.cluster == 0x0704 and f.fragment is not None]
    assert [f.fragment for f in fragments] == [(index, len(fragments)) for index in range(len(fragments))]
    assert len(fragments) == -(-sum(len(f.payload) for f in fragments) // 71) > 1


def test_the_hub_requests_the_tunnels_of_the_ppmid_hcalcs_and_esme_and_the_gsme_requests_its_own(ca: TestCa) -> None:
    """GBCS 10.2.2.1 on the radio-free rig: right after each Confirm Key Response the hub sends a RequestTunnel
    to the device (the three mains devices accept it); the sleepy GSME has no Tunneling server, answers
    UNSUPPORTED_CLUSTER, requests its own tunnel, and the hub never asks it again."""
    kinds = {DeviceType.PPMID: ppmid, DeviceType.HCALCS: hcalcs, DeviceType.ESME: esme, DeviceType.GSME: gsme}
    devices = {kind: make(eui(0x20 + n), 0x4020 + n, gb=gb_session(kind, ca.issue(eui(0x20 + n))),
                          query_interval=None, **IDENTITY)
               for n, (kind, make) in enumerate(kinds.items())}
    hub = make_gb_hub(ca, list(devices.values()))
    hub.radio.run_until(lambda: all(d.gb.state is SessionState.SECURED and d.gb.tunnel_open
                                    for d in devices.values()), within=HOUR)
    hub.radio.run_for(2 * HOUR)

    opened = {e.eui64: e.opened_by for e in hub.radio.events if isinstance(e, TunnelOpened)}
    hub_opened = {devices[kind].ieee: "hub" for kind in (DeviceType.PPMID, DeviceType.HCALCS, DeviceType.ESME)}
    assert opened == hub_opened | {devices[DeviceType.GSME].ieee: "device"}
    views = {kind: hub.core.require_han().device_view(device.ieee) for kind, device in devices.items()}
    assert {kind: (view["tunnel"], view["tunnel_opened_by"]) for kind, view in views.items()} == {
        DeviceType.PPMID: ("open", "hub"), DeviceType.HCALCS: ("open", "hub"), DeviceType.ESME: ("open", "hub"),
        DeviceType.GSME: ("open", "device")}

    def to(device) -> list:
        return [f for f in hub.radio.downlinked if f.destination == device.ieee and f.cluster in (0x0800, 0x0704)]

    for kind in (DeviceType.PPMID, DeviceType.HCALCS, DeviceType.ESME):
        sent = to(devices[kind])
        confirm = next(i for i, f in enumerate(sent) if f.cluster == 0x0800 and f.zcl[2] == 0x02)  # ConfirmKeyResponse
        request = sent[confirm + 1]
        assert (request.cluster, request.zcl[0], request.zcl[2]) == (0x0704, 0x01, TunnelRequest.request_tunnel.id)
        assert request.zcl[3:] == bytes.fromhex("06ffff00dc05") and request.dst_ep == devices[kind].endpoint
    gsme_requests = [f for f in to(devices[DeviceType.GSME]) if f.zcl[0] & 0x08 == 0]
    assert len(gsme_requests) <= 1
    assert not [e for e in hub.radio.events if isinstance(e, TunnelRequestFailed)
                and e.eui64 == devices[DeviceType.GSME].ieee and e.retry_at is not None]
    gsme_own = [f for f in hub.radio.uplinked if f.src_ieee == devices[DeviceType.GSME].ieee and f.cluster == 0x0704
                and f.payload[2] == TunnelRequest.request_tunnel.id and f.payload[0] & 0x08 == 0]
    assert gsme_own  # it asked the hub for its tunnel itself


def test_a_hcalcs_sends_through_the_hubs_tunnel_without_a_header(ca: TestCa) -> None:
    ieee = eui(0x30)
    device = hcalcs(ieee, 0x4030, gb=gb_session(DeviceType.HCALCS, ca.issue(ieee)), query_interval=None, **IDENTITY)
    hub = make_gb_hub(ca, [device])
    hub.radio.run_until(lambda: device.gb.tunnel_open, within=HOUR)
    response = general_signing(CraFlag.RESPONSE, 3, bytes(ieee)[::-1], bytes(8), 0x0001, b"ok")
    device.gb.queue_gbcs(response, hub.clock.now())
    hub.radio.run_until(lambda: any(isinstance(e, GbcsMessageReceived) for e in hub.radio.events), within=60)

    [sent] = [f for f in hub.radio.uplinked if f.src_ieee == ieee and f.cluster == 0x0704
              and f.payload[0] & 0x08 and f.payload[2] == TunnelResponse.transfer_data.id]
    assert sent.payload[5:] == response  # tunnel id, then the GBCS message itself: no PUT octet
    assert [e.message for e in hub.radio.events if isinstance(e, GbcsMessageReceived)] == [response]


def test_a_sleepy_device_without_a_tunneling_server_stops_the_hubs_requests(ca: TestCa) -> None:
    """Negative control: a GSME that does not request its own tunnel gets the hub's RequestTunnels only until it
    answers one (at a poll) with UNSUPPORTED_CLUSTER; after that the hub never asks again."""
    ieee = eui(0x31)
    device = gsme(ieee, 0x4031, gb=gb_session(DeviceType.GSME, ca.issue(ieee), opens_tunnel=False),
                  query_interval=None, **IDENTITY)
    hub = make_gb_hub(ca, [device])
    hub.radio.run_until(lambda: any(isinstance(e, TunnelRequestFailed) and e.retry_at is None
                                    for e in hub.radio.events), within=4 * HOUR)

    def requests() -> list:
        return [f for f in hub.radio.downlinked if f.destination == ieee and f.cluster == 0x0704]

    sent = len(requests())
    hub.radio.run_for(2 * 86_400.0)

    assert "no Tunneling server here: UNSUPPORTED_CLUSTER" in device.notes()
    assert len(requests()) == sent and all(f.zcl[2] == TunnelRequest.request_tunnel.id for f in requests())
    assert hub.core.require_han().device_view(ieee)["tunnel"] is None
    assert hub.core.require_han().server.next_deadline() is None
