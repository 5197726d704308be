"""Each device kind through a whole firmware transfer against the real OTA server and image store, and what
each kind brings to a GB HAN: its Smart Energy session defaults and an install code zigpy accepts."""

import pytest
from zigpy.util import convert_install_code
from zigpy.zcl import foundation

from hubfw.alerts import AlertCode
from hubfw.devices import DeviceType
from hubfw.ota.keys import new_private_key
from hubfw.sim.devices import DeviceConfigError, Phase, esme, gb_session, gsme, hcalcs, install_code_for, ppmid
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, make_hub, ota_file

Status = foundation.Status
IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}


def test_ppmid_downloads_verifies_activates_at_once_and_raises_8f8b():
    key = new_private_key()
    device = ppmid(eui(1), 0x1001, trust_anchors=(key.public_key(),), **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(5000, sign_key=key)
    hub.distribute(ota, [device])

    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION, within=3600)

    assert device.completed_image == ota
    assert [entry.command.status for entry in device.sent("upgrade_end")] == [Status.SUCCESS]
    assert [(a.code, a.firmware_version, a.source) for a in device.raised_alerts] == [
        (AlertCode.ACTIVATION, NEW_VERSION, "tunnel")
    ]
    hub.radio.run_for(120)  # the hub reads current_file_version after its version_read_delay
    assert hub.alert_codes(device.ieee) == [AlertCode.TRANSFER_SUCCESS, AlertCode.ACTIVATION]
    assert hub.alerts(device.ieee)[-1].firmware_version == NEW_VERSION


def test_hcalcs_waits_for_activation_until_the_hub_activates_it():
    device = hcalcs(eui(2), 0x1002, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(4000)
    image = hub.distribute(ota, [device])
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=3600)
    assert device.completed_image == ota
    assert device.received("upgrade_end_response")[-1].command.upgrade_time == 0xFFFFFFFF

    hub.radio.run_for(3 * 86_400)
    assert device.phase is Phase.WAITING_TO_UPGRADE and device.current_file_version == OLD_VERSION

    hub.radio.send(hub.server.activate(device.ieee, image.manufacturer_image_sha256))
    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION, within=60)
    assert device.raised_alerts == []  # only a PPMID raises 0x8F8B
    assert hub.alert_codes(device.ieee) == [AlertCode.TRANSFER_SUCCESS]


def test_four_esmes_download_one_image_in_parallel():
    devices = [esme(eui(10 + n), 0x2000 + n, **IDENTITY) for n in range(4)]
    hub = make_hub(devices)
    ota = ota_file(6000)
    hub.distribute(ota, devices)
    hub.radio.run_until(lambda: all(d.phase is Phase.WAITING_TO_UPGRADE for d in devices), within=3600)

    assert all(device.completed_image == ota for device in devices)
    spans = [(d.sent("image_block")[0].at, d.sent("image_block")[-1].at) for d in devices]
    assert max(start for start, _ in spans) < min(end for _, end in spans), "downloads overlapped"
    waits = [e for d in devices for e in d.received("image_block_response")
             if e.command.status == Status.WAIT_FOR_DATA]
    assert waits == []  # four at once is within the hub's limit
    assert all(hub.alert_codes(d.ieee) == [AlertCode.TRANSFER_SUCCESS] for d in devices)


def test_gsme_is_sleepy_and_slow_but_gets_there():
    device = gsme(eui(20), 0x3001, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(8000)
    notified_at = hub.clock.now()
    hub.distribute(ota, [device])
    took = hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=2 * 86_400)

    assert device.completed_image == ota
    behaviour = device.behaviour
    blocks = device.sent("image_block")
    assert all(len(e.command.image_data) <= 40 for e in device.received("image_block_response"))
    gaps = [later.at - earlier.at for earlier, later in zip(blocks, blocks[1:])]
    assert min(gaps) >= behaviour.block_delay
    assert took >= len(blocks) * behaviour.block_delay
    # The notify waited at the parent until the device's next long poll.
    first_query = device.sent("query_next_image")[0].at
    poll = behaviour.sleepy.long_poll
    assert notified_at < first_query <= notified_at + poll + behaviour.notify_delay


def test_gb_sessions_by_kind_and_install_codes_that_zigpy_accepts():
    ppmid_session = gb_session(DeviceType.PPMID, None)
    assert ppmid_session.serves_tunnel and not ppmid_session.opens_tunnel
    assert ppmid_session.notification_poll is not None
    for kind in (DeviceType.HCALCS, DeviceType.ESME):  # GBCS 10.2.2.1: the hub requests their tunnels
        assert gb_session(kind, None).serves_tunnel
    meter_session = gb_session(DeviceType.GSME, None, corrupts_confirm_mac=True)
    assert meter_session.opens_tunnel and not meter_session.serves_tunnel and meter_session.corrupts_confirm_mac
    with pytest.raises(DeviceConfigError, match="must be positive"):
        gb_session(DeviceType.HCALCS, None, notification_poll=0.0)
    with pytest.raises(DeviceConfigError, match="not both"):
        gb_session(DeviceType.PPMID, None, opens_tunnel=True)

    code = install_code_for(eui(7))
    assert len(code) == 18 and convert_install_code(code)  # the CRC checks out
    assert install_code_for(eui(7)) == code != install_code_for(eui(8))
    with pytest.raises(DeviceConfigError, match="Invalid install code CRC"):
        ppmid(eui(7), 0x1007, install_code=code[:-1] + bytes([code[-1] ^ 1]), **IDENTITY)
