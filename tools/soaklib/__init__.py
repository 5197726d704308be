"""The 30-day soak of hubfw's store, server and simulated HAN (run by tools/soak.py and tests/tools/soak)."""

from soaklib.hub import Faults
from soaklib.run import SoakConfig, SoakReport, run_soak

__all__ = ["Faults", "SoakConfig", "SoakReport", "run_soak"]
