"""Simulated GB HAN OTA clients (PPMID, HCALCS, ESME, GSME) and the HAN they share; they reach the hub
only over the radio."""

from hubfw.sim.devices.behaviour import (
    Behaviour,
    BlockPeriodUnit,
    DeviceConfigError,
    Identity,
    PowerCut,
    SleepyPolling,
)
from hubfw.sim.devices.client import LogEntry, OtaClientDevice, Phase
from hubfw.sim.devices.kinds import SILABS_PAGE_SIZE, esme, gsme, hcalcs, make_device, ppmid
from hubfw.sim.devices.medium import HanError, HanUplink, SimulatedHan

__all__ = [
    "Behaviour",
    "BlockPeriodUnit",
    "DeviceConfigError",
    "HanError",
    "HanUplink",
    "Identity",
    "LogEntry",
    "OtaClientDevice",
    "Phase",
    "PowerCut",
    "SILABS_PAGE_SIZE",
    "SimulatedHan",
    "SleepyPolling",
    "esme",
    "gsme",
    "hcalcs",
    "make_device",
    "ppmid",
]
