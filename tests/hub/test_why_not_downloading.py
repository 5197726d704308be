"""Issue 15's "why isn't it downloading?": the README's image (image type 0x0001) sent to a simulated PPMID (image type
0x0101, hubfw.sim.hil.bench.SIM_IMAGE_TYPES) is never offered, and `hubfw transfers`, `status --json` and
`devices --json` say why; distributing to it again warns."""

from __future__ import annotations

import json
from pathlib import Path

from hubfw.clock import VirtualClock
from hubfw.devices import DeviceType
from hubfw.hub.control import ControlServer
from hubfw.hub.service import Hub
from hubfw.ota.image import build_image
from hubfw.radio import open_virtual_radio
from hubfw.sim.devices import SimulatedAir, ppmid
from hubfw.sim.hil.bench import SIM_IMAGE_TYPES, SIM_MANUFACTURER
from tests.hub.helpers import hub_cli, run_cli
from tests.hub.test_simulated_devices import drive

README_IMAGE_TYPE = 0x0001
REASON = "device asked for image type 0x0101; the image is 0x0001"


def readme_image(version: int) -> bytes:
    """What the README's bench example used to build: `--manufacturer 0x1234 --image-type 0x0001`."""
    return build_image(manufacturer_code=SIM_MANUFACTURER, image_type=README_IMAGE_TYPE, file_version=version,
                       payload=bytes(2000)).to_bytes()


async def test_an_image_of_another_image_type_says_why_it_is_not_downloading(tmp_path: Path) -> None:
    assert SIM_IMAGE_TYPES[DeviceType.PPMID] == 0x0101
    clock = VirtualClock()
    han = SimulatedAir(clock)
    state = tmp_path / "hub"
    hub = Hub(state, lambda directory: open_virtual_radio(directory, han), clock)
    await hub.start()
    control = ControlServer(hub)
    await control.start()
    try:
        han.attach(hub.app)
        await hub.permit(254)
        device = ppmid("00:0d:6f:00:00:00:e0:01", 0xE001, manufacturer_code=SIM_MANUFACTURER,
                       image_type=SIM_IMAGE_TYPES[DeviceType.PPMID], file_version=0x100, hardware_version=2)
        han.add(device)
        eui64 = device.identity.ieee
        await drive(hub, han, clock, lambda: eui64 in hub.app.devices)
        await hub.app.install_link_key(eui64, device.link_key)

        first = hub.distribute(readme_image(0x200), [eui64], DeviceType.PPMID)
        assert first["warnings"] == []  # the hub has not heard the device ask for anything yet
        distributed_at = clock.now()
        [waiting] = hub.transfers()
        assert waiting["ota"]["reason"] == "never heard from"

        def queried_since() -> bool:
            last = hub.server.exchanges.last(eui64)
            return last is not None and last.request.time >= distributed_at

        await drive(hub, han, clock, queried_since)

        shown = await run_cli(hub_cli(), "transfers", "--once", "--state", str(state))
        assert shown.exit_code == 0, shown.output
        lines = shown.output.splitlines()
        assert lines[0].startswith(str(eui64)) and lines[0].endswith("waiting")
        assert "last QueryNextImage" in lines[1] and "image type 0x0101" in lines[1]
        assert lines[1].endswith("-> QueryNextImageResponse NO_IMAGE_AVAILABLE")
        assert lines[2] == f"    why: {REASON}"

        status = json.loads((await run_cli(hub_cli(), "status", "--json", "--state", str(state))).output)
        [target] = status["images"][0]["targets"]
        assert target["ota"]["reason"] == REASON
        assert target["ota"]["last_request"]["image_type"] == "0x0101"
        devices = json.loads((await run_cli(hub_cli(), "devices", "--json", "--state", str(state))).output)
        assert [entry["ota"]["reason"] for entry in devices if entry["eui64"] == str(eui64)] == [REASON]
        listed = await run_cli(hub_cli(), "devices", "--state", str(state))
        assert f"why: {REASON}" in listed.output

        image = tmp_path / "again.ota"
        image.write_bytes(readme_image(0x201))
        again = await run_cli(hub_cli(), "distribute", str(image), "--to", str(eui64), "--device-type", "ppmid",
                              "--state", str(state), "--json")
        assert again.exit_code == 0, again.output
        warning = (f"{eui64} was seen asking for manufacturer 0x1234 image type 0x0101; the image is manufacturer "
                   "0x1234 image type 0x0001, so it will not be offered")
        assert f"warning: {warning}" in again.stderr
        assert json.loads(again.stdout)["warnings"] == [warning]
    finally:
        await control.stop()
        await hub.stop()
