"""Simulated devices on the simulated NCP under real time, with unmodified bellows + zigpy as the hub's radio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zigpy.config
from bellows.zigbee.application import ControllerApplication
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota

from hubfw.clock import SystemClock
from hubfw.sim import SimulatedNcp
from hubfw.sim.devices import OtaClientDevice, SimulatedAir, esme, ppmid
from hubfw.zigbee.zcl import read_attributes
from tests.sim.devices.rig import IMAGE_TYPE, MANUFACTURER, OLD_VERSION, eui

WAIT = 30  # seconds; generous for a loaded machine, never reached when things work
OTA = Ota.cluster_id


class Messages:
    """zigpy's handle_message events for the OTA cluster, as a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple] = asyncio.Queue()

    def handle_message(self, device, profile, cluster, src_ep, dst_ep, data, *args) -> None:
        if cluster == OTA:
            self.queue.put_nowait((device.ieee, profile, data))


async def described(app: ControllerApplication, ieee) -> None:
    """Until zigpy holds the device's node descriptor and every endpoint's simple descriptor."""
    while ieee not in app.devices or not app.get_device(ieee=ieee).is_initialized:
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def bellows_with(device: OtaClientDevice, tmp_path: Path,
                       listener: object | None = None) -> AsyncIterator[ControllerApplication]:
    """Unmodified bellows on a simulated NCP whose HAN holds `device`, joining open and the HAN driven in
    real time; `listener` hears zigpy's events from before the device's first frame. All stopped on exit."""
    han = SimulatedAir(SystemClock(), [device])
    ncp = SimulatedNcp(tmp_path / "ncp", han=han)
    await ncp.start()
    config = {zigpy.config.CONF_DEVICE: {"path": ncp.port, "baudrate": 115200, "flow_control": "software"},
              zigpy.config.CONF_DATABASE: str(tmp_path / "zigbee.db"),
              zigpy.config.CONF_NWK: {zigpy.config.CONF_NWK_CHANNEL: 15},
              zigpy.config.CONF_WATCHDOG_ENABLED: False, zigpy.config.CONF_NWK_BACKUP_ENABLED: False,
              zigpy.config.CONF_TOPO_SCAN_ENABLED: False}
    async with contextlib.AsyncExitStack() as running:
        running.push_async_callback(ncp.stop)
        app = await asyncio.wait_for(ControllerApplication.new(config=config, auto_form=True), 60)
        running.push_async_callback(app.shutdown)
        if listener is not None:
            app.add_listener(listener)
        await app.permit(60)
        driver = asyncio.create_task(han.run(ncp))
        running.push_async_callback(stopped, driver)
        yield app


async def stopped(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.hil
async def test_zigpy_interviews_a_joining_device_over_the_simulated_ncp(tmp_path: Path) -> None:
    device = esme(eui(2), 0x3A02, endpoint=2, query_interval=None, manufacturer_code=MANUFACTURER,
                  image_type=IMAGE_TYPE, file_version=OLD_VERSION)
    async with bellows_with(device, tmp_path) as app:
        await asyncio.wait_for(described(app, device.ieee), WAIT)
        zigpy_device = app.get_device(ieee=device.ieee)
        assert zigpy_device.node_desc.is_router and zigpy_device.node_desc.manufacturer_code == MANUFACTURER
        endpoint = zigpy_device.endpoints[2]
        assert (endpoint.profile_id, endpoint.device_type) == (0x0109, 0x0501)
        assert Basic.cluster_id in endpoint.in_clusters and OTA in endpoint.out_clusters
        assert [entry.what for entry in device.log if entry.kind == "tx"][:3] == [
            "Node_Desc_rsp", "Active_EP_rsp", "Simple_Desc_rsp"]


@pytest.mark.hil
async def test_a_device_joins_queries_and_answers_over_the_simulated_ncp(tmp_path: Path) -> None:
    device = ppmid(eui(1), 0x3A01, query_jitter=1.0, query_interval=3600.0, manufacturer_code=MANUFACTURER,
                   image_type=IMAGE_TYPE, file_version=OLD_VERSION)
    messages = Messages()
    async with bellows_with(device, tmp_path, messages) as app:
        ieee, profile, data = await asyncio.wait_for(messages.queue.get(), WAIT)
        header, body = foundation.ZCLHeader.deserialize(data)
        assert (ieee, profile, header.command_id) == (device.ieee, 0x0109, Ota.ServerCommandDefs.query_next_image.id)
        assert Ota.QueryNextImageCommand.deserialize(body)[0].current_file_version == OLD_VERSION

        zigpy_device = app.get_device(ieee=device.ieee)
        # bellows' network secures a device without a key-table entry under a key hashed from its own root,
        # which a device that joined with the well-known key never learns: give the NCP the device's key
        (status,) = await app._ezsp.importLinkKey(index=0, address=device.ieee, key=device.link_key)
        assert status == 0
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
