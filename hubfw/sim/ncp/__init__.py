"""A simulated Silicon Labs EZSP NCP (ASH + EZSP on a pseudo-terminal) for bellows."""

from hubfw.sim.ncp.ash import AshFaults
from hubfw.sim.ncp.scan import RadioSurroundings
from hubfw.sim.ncp.simulator import SUPPORTED_EZSP_VERSIONS, NcpError, NcpStats, SimulatedNcp

__all__ = ["SUPPORTED_EZSP_VERSIONS", "AshFaults", "NcpError", "NcpStats", "RadioSurroundings", "SimulatedNcp"]
