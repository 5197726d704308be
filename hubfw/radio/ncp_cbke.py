"""The NCP's own CBKE library through bellows: which suites it carries, its certificates, the key
agreement (generateCbkeKeys, then calculateSmacs, each answered by a callback) and storing the link key
it derived (clearTemporaryDataMaybeStoreLinkKey), so the key never leaves the NCP.

Consumer dongle firmware links the library as a stub (getLibraryStatus says not present): for those the
hub does CBKE on the host instead (`hubfw serve --cbke FILE`). The library keeps one agreement's
temporary data per suite, so every operation here runs under one lock, in the order it was asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import bellows.ezsp
import bellows.types as bt
import zigpy.types as t

from hubfw.cbke.certificates import ImplicitCertificate
from hubfw.cbke.errors import CbkeError
from hubfw.cbke.suites import CryptoSuite
from hubfw.coordinator.doctor import LibraryState, library_state
from hubfw.errors import HubfwError
from hubfw.han.key_establishment.engine import AgreementRequest, ConfirmKeys
from hubfw.zigbee.ids import LibraryId

CALLBACK_TIMEOUT_S = 30.0
"""Real seconds the library gets to deliver a result callback (an EFR32 needs a few for sect283k1)."""


class NcpCbkeError(HubfwError):
    """The NCP's CBKE library is missing, holds no certificate, or failed a command."""


class PeerDataRefusedError(CbkeError):
    """The NCP's library could not compute an agreement from the device's certificate and ephemeral key."""


@dataclass(frozen=True)
class _SuiteCommands:
    """The EZSP frames of one suite's CBKE library."""

    library: LibraryId
    certificate: str
    generate: str
    generated: str
    calculate: str
    calculated: str
    clear: str


SUITE_COMMANDS = {
    CryptoSuite.SUITE_1: _SuiteCommands(
        LibraryId.CBKE, "getCertificate", "generateCbkeKeys", "generateCbkeKeysHandler", "calculateSmacs",
        "calculateSmacsHandler", "clearTemporaryDataMaybeStoreLinkKey",
    ),
    CryptoSuite.SUITE_2: _SuiteCommands(
        LibraryId.CBKE_283K1, "getCertificate283k1", "generateCbkeKeys283k1", "generateCbkeKeysHandler283k1",
        "calculateSmacs283k1", "calculateSmacsHandler283k1", "clearTemporaryDataMaybeStoreLinkKey283k1",
    ),
}


def _ok(status: Any) -> bool:
    return bt.sl_Status.from_ember_status(status) == bt.sl_Status.OK


class NcpCbke:
    """One NCP's CBKE library; `ezsp` gives bellows' current EZSP protocol object (it changes on reconnect)."""

    def __init__(self, ezsp: Callable[[], bellows.ezsp.EZSP]) -> None:
        self._ezsp = ezsp
        self._lock = asyncio.Lock()

    async def certificates(self) -> dict[CryptoSuite, ImplicitCertificate]:
        """The certificate of each suite whose library the firmware carries and whose data is programmed.
        Raises NcpCbkeError when there is none, saying why in one line."""
        present = [suite for suite, commands in SUITE_COMMANDS.items()
                   if await library_state(self._ezsp(), commands.library) is LibraryState.PRESENT]
        if not present:
            raise NcpCbkeError(
                "the dongle firmware lacks the Silicon Labs CBKE library (getLibraryStatus: not present for suite 1 "
                "or 2), so --cbke-on-ncp cannot work; host-side CBKE with --cbke FILE is the alternative"
            )
        found = {}
        for suite in present:
            status, certificate = await getattr(self._ezsp(), SUITE_COMMANDS[suite].certificate)()
            if _ok(status):
                found[suite] = ImplicitCertificate.parse(bytes(certificate), suite)
        if not found:
            refused = ", ".join(SUITE_COMMANDS[suite].certificate for suite in present)
            raise NcpCbkeError(
                f"the NCP's CBKE library holds no certificate ({refused} refused): program the NCP's CBKE data, "
                "or use host-side CBKE with --cbke FILE"
            )
        return found

    async def calculate(self, request: AgreementRequest) -> ConfirmKeys:
        """The hub's ephemeral key and both SMACs for one exchange, the NCP as responder. Raises
        PeerDataRefusedError when the library rejects the device's data, NcpCbkeError for any other failure."""
        commands = SUITE_COMMANDS[request.suite]
        async with self._lock:
            generated = await self._command_then_callback(commands.generate, commands.generated)
            if not _ok(generated["status"]):
                raise NcpCbkeError(f"{commands.generated} reported {generated['status']!r}")
            calculated = await self._command_then_callback(
                commands.calculate, commands.calculated, amInitiator=False,
                partnerCertificate=request.peer_certificate.encoded,
                partnerEphemeralPublicKey=request.peer_ephemeral_key,
            )
        if not _ok(calculated["status"]):
            raise PeerDataRefusedError(
                f"the NCP's CBKE library refused the certificate or ephemeral key of {request.peer}: "
                f"{calculated['status']!r}"
            )
        return ConfirmKeys(
            ephemeral_public_key=bytes(generated["ephemeralPublicKey"]),
            initiator_mac=bytes(calculated["initiatorSmac"]),
            responder_mac=bytes(calculated["responderSmac"]),
        )

    async def store_link_key(self, suite: CryptoSuite) -> None:
        """The confirmed agreement's link key goes into the NCP's key table, for the partner it was agreed with."""
        await self._clear(suite, store_link_key=True)

    async def release(self, suite: CryptoSuite) -> None:
        """Drop the temporary data of an agreement that ended without a key."""
        await self._clear(suite, store_link_key=False)

    async def _clear(self, suite: CryptoSuite, *, store_link_key: bool) -> None:
        command = SUITE_COMMANDS[suite].clear
        async with self._lock:
            (status,) = await getattr(self._ezsp(), command)(storeLinkKey=store_link_key)
        if not _ok(status):
            raise NcpCbkeError(f"{command}({store_link_key}) refused: {status!r}")

    async def _command_then_callback(self, command: str, callback: str, **fields: Any) -> dict[str, Any]:
        """Send `command`; the fields of the `callback` frame that brings its result."""
        ezsp = self._ezsp()
        arrived: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def on_frame(frame_name: str, args: list[Any]) -> None:
            if frame_name == callback and not arrived.done():
                arrived.set_result(args)

        listener = ezsp.add_callback(on_frame)
        try:
            (status,) = await getattr(ezsp, command)(**fields)
            if not _ok(status):
                raise NcpCbkeError(f"the NCP refused {command}: {status!r}")
            try:
                async with asyncio.timeout(CALLBACK_TIMEOUT_S):
                    args = await arrived
            except TimeoutError:
                raise NcpCbkeError(f"no {callback} from the NCP within {CALLBACK_TIMEOUT_S:.0f} s") from None
        finally:
            ezsp.remove_callback(listener)
        return dict(zip(ezsp.COMMANDS[callback][2], args, strict=True))


@runtime_checkable
class NcpCbkeRadio(Protocol):
    """A radio whose coordinator may carry the CBKE library (bellows on an EZSP NCP)."""

    @property
    def cbke_library(self) -> NcpCbke: ...

    async def store_cbke_link_key(self, eui64: t.EUI64, suite: CryptoSuite) -> None:
        """Have the library store the key it agreed with `eui64`; APS-encrypt every unicast to it from then on."""
