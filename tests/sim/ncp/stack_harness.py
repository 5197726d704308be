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


class RecordingAir:
    def __init__(self, *, fails: bool = False) -> None:
        self.frames: list[ApsFrame] = []
        self.fails = fails

    def deliver(self, frame: ApsFrame) -> bool:
        if self.fails:
            raise RuntimeError("device simulator bug")
        self.frames.append(frame)
        return True


class Harness:
    def __init__(self, tmp_path: Path, version: int = 13, han: RecordingAir | None = None, *, up: bool = True,
                 cbke: CbkeLibrary | None = None) -> None:
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        self.store = TokenStore(tmp_path)
        tokens = NetworkTokens(ieee=NCP_IEEE, formed=True, pan_id=0x1A62, channel=15)
        self.stack = EmberStack(version, tokens, self.store, han,
                                lambda name, fields: self.callbacks.append((name, fields)), cbke=cbke)
        if up:
            self.call("networkInit", networkInitBitmask=0)

    def call(self, name: str, **request: Any) -> dict[str, Any]:
        return self.stack.handle(name, request)

    def open_network(self, policy: t.EzspDecisionBitmask = t.EzspDecisionBitmask.ALLOW_JOINS) -> None:
        self.call("setPolicy", policyId=t.EzspPolicyId.TRUST_CENTER_POLICY, decisionId=policy)
        self.call("permitJoining", duration=60)
