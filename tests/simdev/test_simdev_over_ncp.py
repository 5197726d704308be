"""Simulated devices on the simulated NCP under real time, with unmodified bellows + zigpy as the hub's radio."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import zigpy.config
from bellows.zigbee.application import ControllerApplication
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from hubfw.clock import SystemClock
from hubfw.server.frames import read_attributes
from hubfw.sim import SimulatedNcp
from hubfw.sim.devices import SimulatedHan, ppmid
from simdev_bench import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui

WAIT = 30  # seconds; generous for a loaded machine, never reached when things work
OTA = Ota.cluster_id


class Messages:
    """zigpy's handle_message events for the OTA cluster, as a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple] = asyncio.Queue()

    def handle_message(self, device, profile, cluster, src_ep, dst_ep, data, *args) -> None:
        if cluster == OTA:
            self.queue.put_nowait((device.ieee, profile, data))


@pytest.mark.hil
async def test_a_device_joins_queries_and_answers_over_the_simulated_ncp(tmp_path: Path) -> None:
    device = ppmid(eui(1), 0x3A01, query_jitter=1.0, query_interval=3600.0, manufacturer_code=MANUFACTURER,
                   image_type=IMAGE_TYPE, file_version=OLD_VERSION)
    han = SimulatedHan(SystemClock(), [device])
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    await ncp.start()
    config = {zigpy.config.CONF_DEVICE: {"path": ncp.port, "baudrate": 115200, "flow_control": "software"},
              zigpy.config.CONF_DATABASE: str(tmp_path / "zigbee.db"),
              zigpy.config.CONF_NWK: {zigpy.config.CONF_NWK_CHANNEL: 15},
              zigpy.config.CONF_WATCHDOG_ENABLED: False, zigpy.config.CONF_NWK_BACKUP_ENABLED: False,
              zigpy.config.CONF_TOPO_SCAN_ENABLED: False}
    app = await asyncio.wait_for(ControllerApplication.new(config=config, auto_form=True), 60)
    driver = None
    try:
        messages = Messages()
        app.add_listener(messages)
        await app.permit(60)
        driver = asyncio.create_task(han.run(ncp))

        ieee, profile, data = await asyncio.wait_for(messages.queue.get(), WAIT)
        header, body = foundation.ZCLHeader.deserialize(data)
        assert (ieee, profile, header.command_id) == (device.ieee, 0x0109, Ota.ServerCommandDefs.query_next_image.id)
        assert Ota.QueryNextImageCommand.deserialize(body)[0].current_file_version == OLD_VERSION

        zigpy_device = app.get_device(ieee=device.ieee)
        read = read_attributes(0x31, [Ota.AttributeDefs.current_file_version.id])
        await app.request(zigpy_device, 0x0109, OTA, 1, 1, 0x31, read, expect_reply=False,
                          aps_encryption=True)
        while True:
            _, _, data = await asyncio.wait_for(messages.queue.get(), WAIT)
            header, body = foundation.ZCLHeader.deserialize(data)
            if header.tsn == 0x31:
                break
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
        [record] = schema.deserialize(body)[0].status_records
        assert record.value.value == OLD_VERSION
    finally:
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        await app.shutdown()
        await ncp.stop()
