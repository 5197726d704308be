"""A hub restart (the core's own boot on the same flash) between recording a success and the device hearing the
answer must not make it discard the image."""

import pytest
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.alerts import AlertCode, AlertError, TransferAlert, activation_alert
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType, parse_eui64
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import get_profile
from hubfw.gbcs.alert_message import GbcsIdentity, activation_message
from hubfw.gbcs.device_alert import find_device_alert
from hubfw.gbcs.signing import verify
from hubfw.hub.core import TEST_CH_ID, CoreConfig, HubCore
from hubfw.ota.image import build_image
from hubfw.ota.keys import new_private_key
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.zcl import OtaCommand, OtaReply

DEVICE = parse_eui64("00:0d:6f:00:00:00:00:01")


def upgrade_end_success() -> bytes:
    header = foundation.ZCLHeader.cluster(9, OtaCommand.upgrade_end.id)
    body = OtaCommand.upgrade_end.schema(status=foundation.Status.SUCCESS, manufacturer_code=0x1234,
                                         image_type=0x0301, file_version=0x200)
    return header.serialize() + body.serialize()


def answer(core: HubCore) -> tuple[int, object]:
    frame = IncomingFrame(DEVICE, 0x1234, 0x0109, 1, 1, Ota.cluster_id, upgrade_end_success(), True)
    [reply] = core.handle(frame)
    header, body = foundation.ZCLHeader.deserialize(reply.zcl)
    return header.command_id, body


def test_a_repeated_success_after_a_restart_gets_the_same_answer_not_abort() -> None:
    clock = VirtualClock()
    flash = NorFlash(get_profile("serial-nor"))
    core = HubCore.open(flash, clock)
    ota = build_image(manufacturer_code=0x1234, image_type=0x0301, file_version=0x200, payload=b"x" * 100).to_bytes()
    image = core.distribute(ota, [DEVICE], DeviceType.PPMID).image
    core.store.note_progress(DEVICE, image.image_id, len(ota))
    first = answer(core)
    assert first[0] == OtaReply.upgrade_end_response.id

    restarted = HubCore.open(flash, clock)  # the device never heard `first`
    restarted.start()
    again = answer(restarted)

    assert again == first  # UpgradeEndResponse, upgrade time 0 for a PPMID — not Default Response ABORT
    terminal = [a for a in restarted.take_alerts() if a.code is AlertCode.TRANSFER_SUCCESS]
    assert len(terminal) == 1  # answering again records nothing new


def test_an_alert_handed_over_again_after_a_restart_is_the_same_gbcs_message() -> None:
    """Consumers de-duplicate by alert_id; GBCS receivers by originator counter. Both hold only if the message
    handed over again after a crash is the same, byte for byte (same counter from the store, RFC 6979 signature)."""
    clock, flash = VirtualClock(), NorFlash(get_profile("serial-nor"))
    config = CoreConfig(gbcs=GbcsIdentity(TEST_CH_ID, new_private_key()))
    core = HubCore.open(flash, clock, config)
    ota = build_image(manufacturer_code=0x1234, image_type=0x0301, file_version=0x200, payload=b"x" * 100).to_bytes()
    image = core.distribute(ota, [DEVICE], DeviceType.PPMID).image
    core.store.note_progress(DEVICE, image.image_id, len(ota))
    answer(core)
    [first] = core.take_alerts()  # handed over, never acknowledged: the hub dies here

    restarted = HubCore.open(flash, clock, config)
    [again] = restarted.take_alerts()
    assert again.message == first.message and again.counter == first.counter == 1
    assert verify(again.message, config.gbcs.key.public_key())

    other_key = CoreConfig(gbcs=GbcsIdentity(TEST_CH_ID, new_private_key()))  # negative control: another CH key
    assert HubCore.open(flash, clock, other_key).take_alerts()[0].message != first.message


def test_a_ppmids_0x8f8b_arriving_seconds_after_its_execution_time_keeps_that_time() -> None:
    """The alert the hub relays carries the PPMID's message verbatim, so its time must be the executionDateTime in
    that message, not when the message arrived (else the record's `der` and `gbcs` disagree and the alert log
    refuses its own line)."""
    clock, flash = VirtualClock(), NorFlash(get_profile("serial-nor"))
    core = HubCore.open(flash, clock)
    executed = clock.now()
    alert = activation_alert(0, DEVICE, 0x200, executed)
    message = activation_message(alert, 5000, key=new_private_key())
    clock.advance(7)  # the last fragment arrives seven seconds later
    found = find_device_alert(message, DEVICE)
    assert found is not None and found.alert is not None
    core.store.note_activation(DEVICE, 0x200, source="tunnel", outcome=found.alert.outcome,
                               message=found.alert.message, time=found.alert.time)
    [delivered] = core.take_alerts()
    assert delivered.time == executed and delivered.message == message
    assert TransferAlert.from_json(delivered.to_json()).message == message  # the log reads its own line back

    late = HubCore.open(NorFlash(get_profile("serial-nor")), clock)  # negative control: dated on arrival
    late.store.note_activation(DEVICE, 0x200, source="tunnel", outcome=found.alert.outcome,
                               message=found.alert.message)
    with pytest.raises(AlertError, match="does not carry"):
        TransferAlert.from_json(late.take_alerts()[0].to_json())
