"""The GB devices' Smart Energy session against the hub's real HAN and OTA servers (radio-free, virtual time):
Match_Desc, CBKE in both suites, the link key on every frame, Time, the tunnel and its 0x8F8B, the
notification flags, and the quirks that make key establishment fail."""

from __future__ import annotations

import dataclasses

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.alerts import AlertCode
from hubfw.cbke import CryptoSuite
from hubfw.han import KeyEstablishmentFailed, LinkKeyEstablished, TerminateStatus
from hubfw.han.events import DeviceAlertReceived, GbcsMessageReceived
from hubfw.han.gbcs import CraFlag, general_signing
from hubfw.sim.devices import hcalcs, ppmid
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
    session = options.pop("gb", None) or GbHanSettings(ca.issue(ieee, suite), opens_tunnel=True,
                                                        notification_poll=600.0)
    return ppmid(ieee, 0x4000 + n, gb=session, **IDENTITY, **options)


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
    device = gb_ppmid(ca, 5, gb=GbHanSettings(foreign, opens_tunnel=True, retry_after=600.0), query_interval=None)
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
