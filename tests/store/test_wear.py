"""End of life: on flash past its endurance the store fails with one clear line and never serves
wrong bytes; what it already holds stays served and owed alerts stay owed."""

from __future__ import annotations

import dataclasses

import pytest

from hubfw.devices import DeviceType
from hubfw.flash.device import WearOutMode
from hubfw.store.errors import StoreError
from tests.store.helpers import SMALL_IMAGE, SMALL_NOR, eui, ota_file, targets

SHORT_LIVED = dataclasses.replace(SMALL_NOR, name="short-lived", endurance=4)


@pytest.mark.parametrize("wear_out", list(WearOutMode))
def test_a_worn_out_store_fails_cleanly_and_serves_nothing_wrong(make_hub, wear_out):
    hub = make_hub(SHORT_LIVED, max_image_size=SMALL_IMAGE, wear_out=wear_out)
    ppmid = hub.store.distribute(ota_file(0x300, SMALL_IMAGE), targets(DeviceType.PPMID, 50))  # stays all along
    failures, version = [], 0x400
    for _ in range(40):
        version += 1
        data = ota_file(version, SMALL_IMAGE)
        try:
            esme = hub.store.distribute(data, targets(DeviceType.ESME, 1))
            assert hub.store.read(esme.image_id, 0, SMALL_IMAGE) == data
            hub.store.note_end(eui(1), esme.image_id, 0)
            hub.store.acknowledge([a.alert_id for a in hub.store.pending_alerts()])
        except StoreError as exc:
            message = str(exc)
            assert message and "\n" not in message
            failures.append(message)
        if hub.store.offer(eui(50)) is not None:
            assert hub.store.read(ppmid.image_id, 0, SMALL_IMAGE) == ota_file(0x300, SMALL_IMAGE)
    assert failures, "the ESME block should have worn out"
    assert any("worn out" in message or "did not verify" in message for message in failures)
    assert hub.flash.stats.bad_sectors
    store = hub.reboot()
    offered = store.offer(eui(50))
    assert offered is None or store.read(offered.image_id, 0, SMALL_IMAGE) == ota_file(0x300, SMALL_IMAGE)
    for block in store.status().blocks:
        if block.image is not None:
            image = block.image.image
            assert store.read(image.image_id, 0, image.total_size) in (
                ota_file(image.file_version, SMALL_IMAGE),)
