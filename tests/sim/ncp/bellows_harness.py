"""Helpers for driving unmodified bellows + zigpy against the simulated NCP over a pseudo-terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import zigpy.config
import zigpy.device
import zigpy.types as zt
from bellows.zigbee.application import ControllerApplication

from hubfw.cbke.kdf import hmac_mmo
from hubfw.sim import SimulatedNcp
from hubfw.zigbee.aps import ApsFrame

# The install code example of the Zigbee spec and the link key it hashes to
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
INSTALL_CODE_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
METER = zt.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
METER_NWK = zt.NWK(0x4D2A)
WAIT = 10  # seconds; generous for a loaded CI machine, never reached when things work
SE_PROFILE, TUNNELING = 0x0109, 0x0704


class BenchAir:
    """Devices that are either powered (ACK every frame) or off (ACK nothing)."""

    def __init__(self) -> None:
        self.powered: set[zt.EUI64] = set()
        self.frames: list[ApsFrame] = []

    def deliver(self, frame: ApsFrame) -> bool:
        self.frames.append(frame)
        return frame.dst_ieee in self.powered


class Events:
    """A zigpy listener turning events into awaitable futures."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future] = {}

    def next(self, event: str) -> asyncio.Future:
        self._futures[event] = asyncio.get_running_loop().create_future()
        return self._futures[event]

    def _fire(self, event: str, *args: object) -> None:
        future = self._futures.get(event)
        if future is not None and not future.done():
            future.set_result(args)

    def device_joined(self, device: object) -> None:
        self._fire("device_joined", device)

    def handle_message(self, *args: object) -> None:
        self._fire("handle_message", *args)

    def connection_lost(self, exc: object) -> None:
        self._fire("connection_lost", exc)


def app_config(port: str, tmp_path: Path, channel: int | None = 15) -> dict:
    """No background watchdog, backup or topology traffic: the tests count commands exactly.
    Without a channel zigpy forms the network where an energy scan finds the least noise."""
    return {zigpy.config.CONF_DEVICE: {"path": port, "baudrate": 115200, "flow_control": "software"},
            zigpy.config.CONF_DATABASE: str(tmp_path / "zigbee.db"),
            zigpy.config.CONF_NWK: {} if channel is None else {zigpy.config.CONF_NWK_CHANNEL: channel},
            zigpy.config.CONF_WATCHDOG_ENABLED: False,
            zigpy.config.CONF_NWK_BACKUP_ENABLED: False,
            zigpy.config.CONF_TOPO_SCAN_ENABLED: False}


async def joined_meter(ncp: SimulatedNcp, app: ControllerApplication) -> zigpy.device.Device:
    events = Events()
    app.add_listener(events)
    await app.permit_with_link_key(METER, zt.KeyData(INSTALL_CODE_KEY), time_s=60)
    joined = events.next("device_joined")
    assert ncp.join(METER, METER_NWK, INSTALL_CODE)
    (device,) = await asyncio.wait_for(joined, WAIT)
    return device


def capture_packets(app: object) -> list[zt.ZigbeePacket]:
    """Every packet bellows hands to zigpy, whole (after any reassembly)."""
    packets: list[zt.ZigbeePacket] = []
    original = app.packet_received  # type: ignore[attr-defined]
    app.packet_received = lambda packet: (packets.append(packet), original(packet))[1]  # type: ignore[attr-defined]
    return packets


def from_meter(ncp: SimulatedNcp, payload: bytes, *, link_key: zt.KeyData | None,
               fragment: tuple[int, int] | None = None, counter: int = 9) -> ApsFrame:
    """A Tunneling frame from the joined meter to the coordinator (one APS fragment if `fragment` says where)."""
    return ApsFrame(METER, METER_NWK, ncp.ieee, zt.NWK(0), SE_PROFILE, TUNNELING, 1, 1, payload,
                    aps_encrypted=link_key is not None, aps_counter=counter, link_key=link_key, fragment=fragment)


async def hashed_trust_centre_key(app: object, ieee: zt.EUI64) -> zt.KeyData:
    """The trust-centre link key of `ieee` on the network bellows formed: the root it formed it with (its
    `hashed_tclk`, which the NCP exports as the TC link key) hashed with the EUI-64."""
    root = await app._ezsp.get_tc_link_key()  # type: ignore[attr-defined]
    return zt.KeyData(hmac_mmo(bytes(root.key), ieee.serialize()))
