"""Simulated GB HAN devices (PPMID, HCALCS, ESME, GSME): an OTA client, and for GB devices the Smart
Energy session before it (Match_Desc, CBKE, Time, GBCS tunnel); and the HAN they share. They reach the
hub only over the radio."""

from hubfw.sim.devices.behaviour import (
    DEFECTS,
    Behaviour,
    BlockPeriodUnit,
    DeviceConfigError,
    Identity,
    PowerCut,
    SleepyPolling,
)
from hubfw.sim.devices.client import LogEntry, OtaClientDevice, Phase
from hubfw.sim.devices.gb_session import GbHanSession, GbHanSettings, SessionState
from hubfw.sim.devices.kinds import (
    SILABS_PAGE_SIZE,
    esme,
    gb_session,
    gsme,
    hcalcs,
    install_code_for,
    make_device,
    ppmid,
)
from hubfw.sim.devices.medium import AirError, AirUplink, SimulatedAir

__all__ = [
    "DEFECTS",
    "Behaviour",
    "BlockPeriodUnit",
    "DeviceConfigError",
    "GbHanSession",
    "GbHanSettings",
    "AirError",
    "AirUplink",
    "Identity",
    "LogEntry",
    "OtaClientDevice",
    "Phase",
    "PowerCut",
    "SessionState",
    "SILABS_PAGE_SIZE",
    "SimulatedAir",
    "SleepyPolling",
    "esme",
    "gb_session",
    "gsme",
    "hcalcs",
    "install_code_for",
    "make_device",
    "ppmid",
]
