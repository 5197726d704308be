"""Simulation: the radio world a bench would otherwise need hardware for."""

from hubfw.sim.ncp import AshFaults, SimulatedNcp

__all__ = ["AshFaults", "SimulatedNcp"]
