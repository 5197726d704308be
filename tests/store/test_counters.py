"""Originator counters (assigned by replay, kept by ALERT COUNTER and OWED ALERT records) and the device
messages of tunnel 0x8F8B alerts (DEVICE ACTIVATION records)."""

from __future__ import annotations

import pytest

from hubfw.alerts import ActivationOutcome, AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.flash.device import CutMode, PowerCut
from hubfw.store.errors import StoreError
from hubfw.store.layout import alert_slots
from hubfw.store.model import StoreModel, activation_alert_id, transfer_alert_id
from hubfw.store.records import (
    MAX_DEVICE_MESSAGE,
    AckRecord,
    ActivationRecord,
    AlertCounterRecord,
    AlertRecord,
    CommitRecord,
    CountersRecord,
    DeviceActivationRecord,
    ImageRecord,
    OwedAlertRecord,
    TerminalRecord,
)
from hubfw.store.state import Block, StoredImage, TargetProgress
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR, eui, ota_file, targets

T0 = 1_767_225_600.0
MESSAGE = bytes(range(256)) + bytes(range(44))  # 300 bytes: longer than a page of either test part


def counters(alerts) -> list[tuple[int, int]]:
    return [(alert.alert_id, alert.counter) for alert in alerts]


def replay(records) -> StoreModel:
    model = StoreModel()
    for record in records:
        model.apply(record)
    return model


def test_a_log_of_the_previous_release_gets_counters_in_journal_order():
    """Old snapshots (type 5 ALERT) and appended TERMINAL / type 7 ACTIVATION records: every alert the
    replay sees takes the next counter in journal order, acknowledged ones included."""
    image = StoredImage(4, Block.GSME, DeviceType.PPMID, 0x1234, 1, 0x300, 100, None, None, bytes(32), bytes(32), T0)
    old = [
        CountersRecord(5, 2),
        ImageRecord(image, (TargetProgress(eui(1)), TargetProgress(eui(2)), TargetProgress(eui(3))), True),
        AlertRecord(TransferAlert(transfer_alert_id(3, 0), AlertCode.TRANSFER_SUCCESS, eui(9), 0x200,
                                  TransferResponse.SUCCESS, T0)),
        AlertRecord(TransferAlert(activation_alert_id(1), AlertCode.ACTIVATION, eui(8), 0x200, None, T0,
                                  source="tunnel")),
        TerminalRecord(T0 + 1, ((4, 2, TransferResponse.FILE_TRANSFER_FAILURE), (4, 0, TransferResponse.SUCCESS))),
        ActivationRecord(activation_alert_id(2), eui(1), 0x300, T0 + 2),
        AckRecord((transfer_alert_id(3, 0),)),
        TerminalRecord(T0 + 3, ((4, 0, TransferResponse.IMAGE_DISCARDED), (4, 1, TransferResponse.IMAGE_DISCARDED))),
    ]
    model = replay(old)
    assert counters(model.alerts.values()) == [
        (activation_alert_id(1), 2), (transfer_alert_id(4, 2), 3), (transfer_alert_id(4, 0), 4),
        (activation_alert_id(2), 5), (transfer_alert_id(4, 1), 6),  # (4, 0) was terminal already: no counter
    ]
    assert model.next_alert_counter == 7
    assert model.alerts[activation_alert_id(1)].outcome is ActivationOutcome.SUCCESS
    # Compacted, the same state replays with the same counters (no reassignment), and the next one kept.
    snapshot = model.snapshot_records()
    assert [type(r) for r in snapshot[:2]] == [CountersRecord, AlertCounterRecord]
    assert not any(isinstance(r, AlertRecord) for r in snapshot)
    again = replay(snapshot)
    assert again.durable_summary() == model.durable_summary()
    assert replay([*snapshot, AckRecord(tuple(model.alerts))]).snapshot_records()[1] == AlertCounterRecord(7)


def test_replay_never_lowers_the_next_counter():
    model = replay([AlertCounterRecord(50), AlertCounterRecord(3),
                    OwedAlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 1, None, T0, counter=20))])
    assert model.next_alert_counter == 50
    assert replay([OwedAlertRecord(TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 1, None, T0, counter=20)),
                   AlertCounterRecord(3)]).next_alert_counter == 21


def test_counters_follow_owe_order_and_survive_reboots_and_compactions(make_hub):
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    image = hub.store.distribute(ota_file(0x300, size=SMALL_IMAGE), targets(DeviceType.PPMID, 1, 2, 3))
    hub.store.note_end(eui(2), image.image_id, 0)
    first = hub.store.note_activation(eui(7), 0x300)
    hub.store.note_end(eui(1), image.image_id, 0x95)
    assert counters(hub.store.pending_alerts()) == [
        (transfer_alert_id(image.image_id, 1), 1), (first.alert_id, 2), (transfer_alert_id(image.image_id, 0), 3),
    ]
    hub.store.acknowledge([first.alert_id, transfer_alert_id(image.image_id, 0)])
    pending = hub.store.pending_alerts()
    sequence = hub.store.status().metadata_sequence
    for n in range(400):  # fill the region: compactions copy the owed alert with its counter
        hub.store.note_progress(eui(3), image.image_id, 1 + n)
        hub.clock.advance(700)
    assert hub.store.status().metadata_sequence > sequence
    assert hub.reboot().pending_alerts() == pending
    assert hub.store.note_activation(eui(8), 0x300).counter == 4  # acknowledged counters are not reused


def test_a_compaction_with_nothing_owed_keeps_the_next_counter(make_hub):
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    alerts = [hub.store.note_activation(eui(n), 0x300) for n in range(1, 4)]
    hub.store.acknowledge(alert.alert_id for alert in alerts)
    hub.flash.schedule_cut(hub.flash.operations, CutMode.DURING)
    with pytest.raises(PowerCut):
        hub.store.note_activation(eui(9), 0x300)  # torn: consumes nothing; the next open compacts
    sequence = hub.store.status().metadata_sequence
    hub.reboot()
    assert hub.store.status().metadata_sequence == sequence + 1 and hub.store.pending_alerts() == []
    assert hub.store.note_activation(eui(9), 0x300).counter == 4
    assert hub.reboot().pending_alerts()[0].counter == 4


def test_a_device_activation_keeps_its_message_and_outcome_byte_for_byte(make_hub):
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    alert = hub.store.note_activation(eui(1), 0x301, source="tunnel", outcome=ActivationOutcome.FAILURE,
                                      message=MESSAGE)
    assert (alert.source, alert.outcome, alert.message, alert.counter) == (
        "tunnel", ActivationOutcome.FAILURE, MESSAGE, 1)
    # A repeat (from either side, with another message) is the same alert: the first message is kept.
    assert hub.store.note_activation(eui(1), 0x301, source="tunnel", message=b"\x01" * 40) == alert
    assert hub.store.note_activation(eui(1), 0x301) == alert
    hub.flash.schedule_cut(hub.flash.operations, CutMode.DURING)
    with pytest.raises(PowerCut):
        hub.store.note_activation(eui(2), 0x302)  # torn: the next open compacts, copying the message
    assert hub.reboot().pending_alerts() == [alert]
    hub_alert = hub.store.note_activation(eui(2), 0x302)
    assert (hub_alert.message, hub_alert.outcome, hub_alert.counter) == (None, ActivationOutcome.SUCCESS, 2)
    assert hub.reboot().pending_alerts() == [alert, hub_alert]


@pytest.mark.parametrize(("message", "error"), [
    (b"\xdd" * (MAX_DEVICE_MESSAGE + 1), rf"^the device's GBCS message is {MAX_DEVICE_MESSAGE + 1} bytes; "
                                         rf"the store keeps 1 to {MAX_DEVICE_MESSAGE}$"),
    (b"", r"^the device's GBCS message is 0 bytes; the store keeps 1 to 512$"),
])
def test_a_device_message_out_of_bounds_is_refused_in_one_line_and_writes_nothing(hub, message, error):
    operations = hub.flash.operations
    with pytest.raises(StoreError, match=error):
        hub.store.note_activation(eui(1), 0x301, source="tunnel", message=message)
    assert hub.flash.operations == operations and hub.store.pending_alerts() == []
    assert hub.store.note_activation(eui(1), 0x301, source="tunnel",  # the control: the maximum is kept
                                     message=message[:MAX_DEVICE_MESSAGE] or b"\x01").counter == 1


def test_an_unknown_activation_outcome_is_refused(hub):
    with pytest.raises(StoreError, match=r"^activation outcome must be 0 \(success\) or 1 \(failure\), not 2$"):
        hub.store.note_activation(eui(1), 0x301, outcome=2)


def test_device_messages_take_journal_slots_so_a_full_journal_still_compacts(make_hub):
    hub = make_hub(SMALL_NOR, max_image_size=SMALL_IMAGE)
    layout = hub.store.layout
    limits = layout.limits
    big = TransferAlert(0x1FF, AlertCode.ACTIVATION, eui(1), 1, None, T0, "tunnel",
                        message=b"\xdd" * MAX_DEVICE_MESSAGE)
    slots = alert_slots(big, layout.page_size, layout.program_unit)
    assert slots > 1
    owed = []
    for n in range(limits.owed_alerts // slots):
        owed.append(hub.store.note_activation(eui(n + 1), 0x300, source="tunnel", message=bytes([n]) * 512))
    with pytest.raises(StoreError, match="alert journal is full"):
        for n in range(limits.owed_alerts):
            owed.append(hub.store.note_activation(eui(100 + n), 0x300, source="tunnel", message=b"\xee" * 512))
    assert hub.reboot().pending_alerts() == owed
    hub.store._log.compact(hub.store._model.snapshot_records())  # the worst case fits half a region
    assert hub.store.status().metadata_used <= layout.region_size // 2
    assert hub.reboot().pending_alerts() == owed


def test_deliberately_forgetting_the_alert_counter_record_is_caught(make_hub):
    """The negative control for the snapshot's ALERT COUNTER: without it an emptied journal restarts at 1."""
    model = replay([ActivationRecord(activation_alert_id(1), eui(1), 1, T0)])
    model.apply(AckRecord((activation_alert_id(1),)))
    without = [r for r in model.snapshot_records() if not isinstance(r, AlertCounterRecord)]
    assert replay(without).next_alert_counter == 1 != replay(model.snapshot_records()).next_alert_counter == 2


def test_device_activation_record_replays_like_an_activation_with_its_message():
    record = DeviceActivationRecord(activation_alert_id(3), eui(4), 0x305, T0, "tunnel", ActivationOutcome.FAILURE,
                                    MESSAGE)
    model = replay([AlertCounterRecord(9), record, CommitRecord(1)])
    assert model.alerts[record.alert_id] == TransferAlert(
        record.alert_id, AlertCode.ACTIVATION, eui(4), 0x305, None, T0, "tunnel", ActivationOutcome.FAILURE,
        counter=9, message=MESSAGE)
    assert (model.next_activation, model.next_alert_counter) == (4, 10)
