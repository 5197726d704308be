"""Client quirks the hub must cope with, each against the real OTA server and image store."""

import pytest
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand

from hubfw.alerts import AlertCode, TransferResponse
from hubfw.ota.keys import new_private_key
from hubfw.sim.devices import SILABS_PAGE_SIZE, BlockPeriodUnit, Phase, PowerCut, esme, hcalcs, ppmid
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, NEW_VERSION, OLD_VERSION, eui, make_hub, ota_file

Status = foundation.Status
IDENTITY = {"manufacturer_code": MANUFACTURER, "image_type": IMAGE_TYPE, "file_version": OLD_VERSION}
ZCL_HEADER_SIZE = 3


def test_silicon_labs_page_requests_fetch_1024_byte_pages():
    device = ppmid(eui(1), 0x1001, page_size=SILABS_PAGE_SIZE, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(5000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION, within=3600)

    assert device.completed_image == ota
    assert device.sent("image_block") == []
    pages = [entry.command for entry in device.sent("image_page")]
    assert [page.file_offset for page in pages] == list(range(0, len(ota), SILABS_PAGE_SIZE))
    assert {page.page_size for page in pages} == {SILABS_PAGE_SIZE}
    assert len(device.received("image_block_response")) > len(pages)  # several blocks answer each page


@pytest.mark.parametrize("unit, period", [(BlockPeriodUnit.MILLISECONDS, 0.5), (BlockPeriodUnit.SECONDS, 500.0)])
def test_minimum_block_period_is_honoured_in_the_unit_the_device_reads(unit, period):
    device = esme(eui(2), 0x1002, block_period_unit=unit, block_delay=0.0, **IDENTITY)
    hub = make_hub([device], minimum_block_period_ms=500)
    ota = ota_file(1000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=30 * 86_400)

    assert device.completed_image == ota
    waits = [e for e in device.received("image_block_response") if e.command.status == Status.WAIT_FOR_DATA]
    assert len(waits) == 1  # told once, then never asks too early again
    requests = device.sent("image_block")
    after_wait = [e for e in requests if e.at > waits[0].at]
    gaps = [later.at - earlier.at for earlier, later in zip(after_wait, after_wait[1:])]
    assert gaps and min(gaps) == pytest.approx(period)
    assert all(e.command.minimum_block_period == 500 for e in after_wait)  # it tells the server what it uses


def test_block_requests_announcing_an_absent_minimum_block_period_are_still_served():
    device = hcalcs(eui(3), 0x1003, announces_absent_block_period=True, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(2000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=3600)

    assert device.completed_image == ota
    requests = device.sent("image_block")
    assert requests
    for entry in requests:
        assert entry.command is None  # zigpy itself cannot parse the lie
        body = entry.payload[ZCL_HEADER_SIZE:]
        assert body[0] & ImageBlockCommand.FieldControl.MinimumBlockPeriod
        assert len(body) == 14  # field control, manufacturer, type, version, offset, max size: no period


def test_power_cut_mid_transfer_resumes_from_the_held_offset():
    cut_at = 2000
    device = ppmid(eui(4), 0x1004, power_cuts=(PowerCut(at_offset=cut_at, off_for=3600),), **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(5000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: not device.powered, within=3600)
    held = len(device.download)
    assert cut_at <= held < cut_at + device.behaviour.max_data_size
    assert device.download == ota[:held]

    hub.radio.run_until(lambda: device.current_file_version == NEW_VERSION, within=2 * 86_400)

    assert device.completed_image == ota
    sent = sent_after_power_on(device)
    assert [entry.what for entry in sent[:2]] == ["query_next_image", "image_block"]
    offsets = [entry.command.file_offset for entry in sent if entry.what == "image_block"]
    assert offsets[0] == held and offsets == sorted(offsets)
    assert hub.alert_codes(device.ieee)[0] is AlertCode.TRANSFER_SUCCESS


def test_manual_power_cycle_keeps_the_download_area():
    device = esme(eui(5), 0x1005, **IDENTITY)
    hub = make_hub([device])
    ota = ota_file(5000)
    hub.distribute(ota, [device])
    hub.radio.run_until(lambda: len(device.download) >= 1000, within=3600)
    device.power_off(hub.clock.now())
    held = device.download
    hub.radio.run_for(600)
    assert device.download == held
    device.power_on(hub.clock.now())
    hub.radio.run_until(lambda: device.phase is Phase.WAITING_TO_UPGRADE, within=3600)
    assert device.completed_image == ota
    first_block = next(entry for entry in sent_after_power_on(device) if entry.what == "image_block")
    assert first_block.command.file_offset == len(held)


def sent_after_power_on(device):
    powered_on = next(index for index, entry in enumerate(device.log) if entry.what.startswith("power on"))
    return [entry for entry in device.log[powered_on:] if entry.kind == "tx"]


def test_bad_signature_is_reported_as_invalid_image_and_nothing_is_activated():
    trusted, impostor = new_private_key(), new_private_key()
    device = ppmid(eui(6), 0x1006, trust_anchors=(trusted.public_key(),), **IDENTITY)
    hub = make_hub([device])
    hub.distribute(ota_file(3000, sign_key=impostor), [device])
    hub.radio.run_until(lambda: bool(device.sent("upgrade_end")), within=3600)
    hub.radio.run_for(600)

    assert [e.command.status for e in device.sent("upgrade_end")] == [Status.INVALID_IMAGE]
    assert device.current_file_version == OLD_VERSION and device.raised_alerts == []
    assert device.download == b"" and device.completed_image is None
    assert any("signature does not verify" in note for note in device.notes())
    [alert] = hub.alerts(device.ieee)
    assert (alert.code, alert.transfer_response) == (AlertCode.TRANSFER_FAILURE, TransferResponse.FILE_TRANSFER_FAILURE)


def test_a_device_that_rejects_the_image_says_invalid_image():
    device = hcalcs(eui(7), 0x1007, rejects_image=True, **IDENTITY)
    hub = make_hub([device])
    hub.distribute(ota_file(1500), [device])
    hub.radio.run_until(lambda: bool(device.sent("upgrade_end")), within=3600)
    hub.radio.run_for(60)
    assert [e.command.status for e in device.sent("upgrade_end")] == [Status.INVALID_IMAGE]
    assert device.phase is Phase.IDLE
    assert hub.alerts(device.ieee)[0].transfer_response is TransferResponse.FILE_TRANSFER_FAILURE


def test_hardware_version_out_of_range_gets_no_image():
    device = ppmid(eui(8), 0x1008, hardware_version=7, **IDENTITY)
    hub = make_hub([device])
    hub.distribute(ota_file(1500, min_hw_version=2, max_hw_version=3), [device])
    hub.radio.run_until(lambda: bool(device.received("query_next_image_response")), within=3600)
    hub.radio.run_for(600)

    assert device.sent("query_next_image")[0].command.hardware_version == 7
    assert [e.command.status for e in device.received("query_next_image_response")] == [Status.NO_IMAGE_AVAILABLE]
    assert device.sent("image_block") == [] and device.phase is Phase.IDLE
    [alert] = hub.alerts(device.ieee)
    assert alert.transfer_response is TransferResponse.HARDWARE_VERSION_MISMATCH
