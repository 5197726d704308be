"""The hub with the simulated GB HAN devices (hubfw.sim.devices) on the virtual radio, on one virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hubfw.alerts import AlertCode
from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.service import Hub
from hubfw.radio import open_virtual_radio
from hubfw.sim.devices import SimulatedAir, ppmid
from tests.hub.helpers import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, make_ota_file

NEW_VERSION = 0x00000205


async def drive(hub: Hub, han: SimulatedAir, clock: VirtualClock, done: Callable[[], bool], steps: int = 5000) -> None:
    """Alternate devices and hub, jumping the shared clock to whichever deadline comes first."""
    for _ in range(steps):
        han.step()
        for _ in range(3):  # the radio hands frames on with call_soon and sends from tasks
            await asyncio.sleep(0)
        if done():
            return
        deadlines = [when for when in (han.next_deadline(), hub.server.next_deadline(), hub.store.next_deadline())
                     if when is not None]
        if deadlines and min(deadlines) > clock.now():
            await hub.advance(min(deadlines) - clock.now())
    raise AssertionError("the scenario did not finish")


async def test_a_simulated_ppmid_downloads_activates_and_reports_its_new_version(tmp_path: Path) -> None:
    clock = VirtualClock()
    han = SimulatedAir(clock)
    hub = Hub(tmp_path, lambda directory: open_virtual_radio(directory, han), clock)
    await hub.start()
    try:
        han.attach(hub.app)
        await hub.permit(254)
        device = ppmid("00:0d:6f:00:00:00:e0:01", 0xE001, manufacturer_code=MANUFACTURER, image_type=IMAGE_TYPE,
                       file_version=OLD_VERSION, hardware_version=2)
        han.add(device)
        await drive(hub, han, clock, lambda: device.identity.ieee in hub.app.devices)
        # the key it APS-encrypts its OTA traffic with, in the coordinator's key table as CBKE would leave one:
        # without it the hub sends the device nothing APS-encrypted, and the device takes nothing else
        await hub.app.install_link_key(device.identity.ieee, device.link_key)

        hub.distribute(make_ota_file(payload_size=20_000), [device.identity.ieee], DeviceType.PPMID)

        def activation_reported() -> bool:
            return any(alert.code is AlertCode.ACTIVATION for alert in read_alert_log(hub.alert_log.path))

        await drive(hub, han, clock, activation_reported)

        alerts = read_alert_log(hub.alert_log.path)
        assert [(a.code, a.entity, a.firmware_version) for a in alerts] == [
            (AlertCode.TRANSFER_SUCCESS, device.identity.ieee, NEW_VERSION),
            (AlertCode.ACTIVATION, device.identity.ieee, NEW_VERSION),
        ]
        assert hub.status()["images"] == []  # the only target finished: the block is free again
    finally:
        await hub.stop()
