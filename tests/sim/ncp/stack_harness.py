"""A simulated NCP's stack driven directly, without EZSP framing: handlers called by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bellows.types as t
import zigpy.types as zt

from hubfw.sim.ncp.cbke import CbkeLibrary
from hubfw.sim.ncp.network import NetworkTokens, TokenStore
from hubfw.sim.ncp.stack import EmberStack
from hubfw.zigbee.aps import ApsFrame

INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
INSTALL_CODE_KEY = zt.KeyData(bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB"))
METER = zt.EUI64.convert("00:0d:6f:00:0a:bc:de:f0")
NCP_IEEE = zt.EUI64.convert("00:0d:6f:ff:fe:00:00:01")
TC_ROOT_KEY = zt.KeyData(bytes.fromhex("5c1d0e9f3b7a2c4d6e8f90a1b2c3d4e5"))
"""Stands for the random root bellows forms its network with (`hashed_tclk`)."""
BELLOWS_SECURITY = (t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY
                    | t.EmberInitialSecurityBitmask.REQUIRE_ENCRYPTED_KEY
                    | t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY
                    | t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY
                    | t.EmberInitialSecurityBitmask.NO_FRAME_COUNTER_RESET
                    | t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY)
"""The security bits bellows forms every network with on EZSP > 4 (`bellows.zigbee.util.zha_security`)."""


class RecordingAir:
    def __init__(self, *, fails: bool = False) -> None:
        self.frames: list[ApsFrame] = []
        self.fails = fails

    def deliver(self, frame: ApsFrame) -> bool:
        if self.fails:
            raise RuntimeError("device simulator bug")
        self.frames.append(frame)
        return True


class FakeMonotonic:
    """The NCP's own clock, moved by hand."""

    def __init__(self) -> None:
        self.time = 1000.0

    def __call__(self) -> float:
        return self.time


class Harness:
    def __init__(self, tmp_path: Path, version: int = 13, han: RecordingAir | None = None, *, up: bool = True,
                 cbke: CbkeLibrary | None = None, security: int = BELLOWS_SECURITY) -> None:
        """A stack whose network was formed as bellows forms it (`security`: the initial security bits)."""
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        self.store = TokenStore(tmp_path)
        tokens = NetworkTokens(ieee=NCP_IEEE, formed=True, pan_id=0x1A62, channel=15, tc_link_key=TC_ROOT_KEY,
                               security_bitmask=int(security))
        self.clock = FakeMonotonic()
        self.stack = EmberStack(version, tokens, self.store, han,
                                lambda name, fields: self.callbacks.append((name, fields)), cbke=cbke,
                                now=self.clock)
        if up:
            self.call("networkInit", networkInitBitmask=0)

    def call(self, name: str, **request: Any) -> dict[str, Any]:
        return self.stack.handle(name, request)

    def open_network(self, policy: t.EzspDecisionBitmask = t.EzspDecisionBitmask.ALLOW_JOINS) -> None:
        self.call("setPolicy", policyId=t.EzspPolicyId.TRUST_CENTER_POLICY, decisionId=policy)
        self.call("permitJoining", duration=60)
