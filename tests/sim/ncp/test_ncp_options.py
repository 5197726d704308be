"""What `SimulatedNcp` refuses to be, each in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import zigpy.types as zt

from hubfw.errors import HubfwError
from hubfw.sim.ncp import SUPPORTED_EZSP_VERSIONS, SimulatedNcp


@pytest.mark.parametrize(("options", "complaint"), [
    ({"ezsp_version": 12}, "EZSP v12 is not simulated"),
    ({"ezsp_version": 15}, "EZSP v15 is not simulated"),
    ({"baudrate_pacing": 0}, "baud rate must be positive"),
])
def test_impossible_options_are_refused(tmp_path: Path, options: dict, complaint: str) -> None:
    with pytest.raises(HubfwError, match=complaint) as error:
        SimulatedNcp(tmp_path, **options)
    assert "\n" not in str(error.value)


def test_the_versions_bellows_negotiates_by_default_are_simulated() -> None:
    assert {13, 14} <= set(SUPPORTED_EZSP_VERSIONS)


async def test_a_chosen_identity_sticks_to_the_state_directory(tmp_path: Path) -> None:
    ieee = zt.EUI64.convert("00:0d:6f:00:11:22:33:44")
    ncp = SimulatedNcp(tmp_path, ieee=ieee)
    await ncp.start()
    await ncp.stop()
    assert SimulatedNcp(tmp_path).ieee == ieee
    with pytest.raises(HubfwError, match="belong to NCP 00:0d:6f:00:11:22:33:44"):
        SimulatedNcp(tmp_path, ieee=zt.EUI64.convert("00:0d:6f:00:00:00:00:09"))
