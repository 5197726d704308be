"""Simulation: the radio world a bench would otherwise need hardware for."""

from hubfw.zigbee.aps import ApsFrame, Han
from hubfw.sim.ncp import AshFaults, SimulatedNcp

__all__ = ["ApsFrame", "AshFaults", "Han", "SimulatedNcp"]
