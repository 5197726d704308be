"""`SimulatedNcp`: a Silicon Labs EZSP coordinator on a pseudo-terminal, in this process.

Unmodified bellows opens `port` as a serial device. Tokens persist in the state directory, so
a restarted hub finds its network; devices of a simulated HAN talk to the hub through
`receive` and `join`, and receive its frames through `Air.deliver`. `surroundings` is what its radio
hears when the host scans (by default: quiet channels 15, 20, 25 and 26 between Wi-Fi).

By default the firmware is a stock dongle's, without the Silicon Labs CBKE library; with
`cbke_library=True` it is a Smart Energy build whose CBKE commands work, with `cbke_credentials` as
the certificates programmed into its manufacturing tokens (one per crypto suite).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from hubfw.cbke import DeviceCredentials
from hubfw.errors import HubfwError
from hubfw.radio.air import Air
from hubfw.sim.ncp.ash import RESET_POWER_ON, AshFaults, AshNcp, AshStats
from hubfw.sim.ncp.cbke import CbkeLibrary
from hubfw.sim.ncp.ezsp import EzspServer
from hubfw.sim.ncp.frames import CommandTable
from hubfw.sim.ncp.network import TokenStore
from hubfw.sim.ncp.pty import PtyLine
from hubfw.sim.ncp.scan import RadioSurroundings
from hubfw.sim.ncp.stack import STACK_VERSIONS, EmberStack
from hubfw.zigbee.aps import ApsFrame

LOGGER = logging.getLogger(__name__)

SUPPORTED_EZSP_VERSIONS = tuple(sorted(STACK_VERSIONS))


class NcpError(HubfwError):
    """The simulated NCP cannot start as asked."""


@dataclasses.dataclass(frozen=True)
class NcpStats:
    """Traffic counters: for assertions in tests and line-rate estimates in benchmarks."""

    bytes_to_host: int
    bytes_from_host: int
    commands: collections.Counter[str]
    unknown_commands: collections.Counter[str]
    callbacks: collections.Counter[str]
    ash: AshStats
    dropped_frames: collections.Counter[str]
    """HAN frames the stack refused, by reason: link_key_mismatch, no_link_key (an APS-encrypted
    send it has no key for: APS_ENCRYPTION_ERROR), payload_too_long, bad_fragment."""
    fragment_acks: collections.Counter[int]
    """Fragment ACKs the host sent (sendReply), by the NWK address it sent them to."""


class SimulatedNcp:
    """One EZSP coordinator dongle. Runs on the event loop that calls `start`; `receive`, `join`
    and `Air.deliver` happen on that loop too (bellows may run its serial side in its own thread)."""

    def __init__(self, state_dir: Path, *, ezsp_version: int = 13, baudrate_pacing: int | None = None,
                 han: Air | None = None, ieee: zt.EUI64 | None = None, faults: AshFaults | None = None,
                 surroundings: RadioSurroundings | None = None, cbke_library: bool = False,
                 cbke_credentials: Iterable[DeviceCredentials] = ()) -> None:
        if ezsp_version not in STACK_VERSIONS:
            raise NcpError(f"EZSP v{ezsp_version} is not simulated (choose one of {SUPPORTED_EZSP_VERSIONS})")
        if baudrate_pacing is not None and baudrate_pacing <= 0:
            raise NcpError(f"baud rate must be positive, not {baudrate_pacing}")
        credentials = list(cbke_credentials)
        if credentials and not cbke_library:
            raise NcpError("CBKE credentials need an NCP built with the CBKE library (cbke_library=True)")
        if len({entry.suite for entry in credentials}) != len(credentials):
            raise NcpError("give the NCP at most one CBKE certificate per crypto suite")
        self.ezsp_version = ezsp_version
        self._store = TokenStore(Path(state_dir))
        self._tokens = self._store.load(ieee)
        self._line = PtyLine(self._from_host, baudrate=baudrate_pacing)
        self._ezsp = EzspServer(CommandTable(ezsp_version), self._to_ash)
        self._stack = EmberStack(ezsp_version, self._tokens, self._store, han, self._ezsp.callback, surroundings,
                                 CbkeLibrary(credentials) if cbke_library else None)
        self._ezsp.stack = self._stack
        self._ash = AshNcp(self._line.write, self._ezsp.on_frame, self._reboot_stack, faults=faults)

    @property
    def port(self) -> str:
        return self._line.port

    @property
    def ieee(self) -> zt.EUI64:
        return self._tokens.ieee

    @property
    def network_formed(self) -> bool:
        return self._tokens.formed

    @property
    def network_up(self) -> bool:
        return self._stack.network_up

    @property
    def endpoints(self) -> Mapping[int, zdo_t.SimpleDescriptor]:
        """The endpoints the host registered since the NCP's last reset: what its stack answers ZDO requests from."""
        return MappingProxyType(self._stack.endpoints)

    @property
    def stack(self) -> EmberStack:
        """The EmberZNet behaviour behind the EZSP link (its keys, its counters), for tests that watch it."""
        return self._stack

    @property
    def faults(self) -> AshFaults:
        return self._ash.faults

    @property
    def han(self) -> Air | None:
        return self._stack.han

    @han.setter
    def han(self, han: Air | None) -> None:
        self._stack.han = han

    @property
    def stats(self) -> NcpStats:
        return NcpStats(bytes_to_host=self._line.bytes_out, bytes_from_host=self._line.bytes_in,
                        commands=self._ezsp.commands.copy(), unknown_commands=self._ezsp.unknown_commands.copy(),
                        callbacks=self._ezsp.callbacks.copy(), ash=self._ash.stats,
                        dropped_frames=self._stack.dropped_frames.copy(),
                        fragment_acks=self._stack.fragment_acks.copy())

    async def start(self) -> str:
        """Open the pseudo-terminal; returns the path bellows should open."""
        self._store.save(self._tokens)  # a dongle's EUI-64 never changes, even before a network exists
        port = await self._line.open()
        LOGGER.info("simulated EZSP v%d NCP %s on %s", self.ezsp_version, self._tokens.ieee, port)
        return port

    async def stop(self) -> None:
        """Power off: the link and volatile stack state go, the tokens are saved."""
        self._ash.close()
        self._stack.reboot()
        self._store.save(self._tokens)
        await self._line.close()

    async def wait_idle(self) -> None:
        """Until the host has acknowledged everything the NCP sent (responses and callbacks)."""
        await self._ash.wait_idle()

    def _from_host(self, data: bytes) -> None:
        self._ash.feed(data)

    def _to_ash(self, ezsp_frame: bytes) -> None:
        self._ash.send(ezsp_frame)

    def _reboot_stack(self) -> None:
        self._line.discard_unsent()
        self._ezsp.reset()
        self._stack.reboot()

    def power_cycle(self) -> None:
        """Pull the dongle's power and plug it back in: bellows sees an unexpected RSTACK."""
        self._ash.reboot(RESET_POWER_ON)

    # -- the HAN side -------------------------------------------------------------------------

    def receive(self, frame: ApsFrame) -> bool:
        """A device's frame for the hub; False if the NCP drops it (network down, not joined, too
        long for one frame, or APS-secured with a link key the NCP does not share with the device)."""
        return self._stack.receive(frame)

    def join(self, eui64: zt.EUI64, nwk: zt.NWK, install_code: bytes | None = None) -> bool:
        """A device joins through the trust centre; True if admitted (the hub gets
        trustCenterJoinHandler). With an install code its link key is derived from it and must
        match the transient key the hub registered for it (`importTransientKey`, gone 300 s later);
        without one it is the well-known key. Afterwards the NCP holds what EmberZNet holds
        (`hubfw.sim.ncp.keys`): it secures the hub's APS-encrypted frames to the device with the
        trust-centre link key bellows formed the network with (hashed per device) until the host puts
        a key in its key table (`importLinkKey`, after CBKE)."""
        return self._stack.join(eui64, nwk, install_code)
