"""`hubfw doctor`: open a coordinator with bellows and report what it is, before a bench relies on it.

Read-only apart from one thing `bellows info` also does: if the NCP holds a network in its
tokens, doctor resumes it (networkInit) to read channel and PAN. It never forms or leaves one.
Every failure is one DoctorError line saying what is wrong with the port and what to try.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

import bellows.ezsp
import bellows.types as t
import zigpy.config
from bellows.ash import AshException
from bellows.exception import EzspError, InvalidCommandError

from hubfw.coordinator.profiles import CoordinatorProfile, FlowControl
from hubfw.errors import HubfwError
from hubfw.zigbee.ids import LIBRARY_ERROR, LIBRARY_PRESENT, LibraryId

DEFAULT_TIMEOUT_S = 10.0
"""How long an NCP gets to answer the reset and each phase of the probe."""
DEFAULT_BAUDRATE = 115200
DEFAULT_FLOW_CONTROL: FlowControl = "software"
"""EmberZNet's stock NCP UART settings, used when neither a flag nor a profile says otherwise."""

CBKE_LIBRARIES: dict[str, LibraryId] = {"163k1": LibraryId.CBKE, "283k1": LibraryId.CBKE_283K1}
"""The Smart Energy CBKE libraries by curve: 163k1 is SE 1.0/1.1 key establishment, 283k1 the curve of SE
1.2 that GBCS devices use."""


class DoctorError(HubfwError):
    """The coordinator cannot be opened, does not speak EZSP, or stops answering."""


class LibraryState(enum.Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"
    """The NCP rejects getLibraryStatus or reports an error for it."""


@dataclass(frozen=True)
class ProbeSettings:
    """Where the coordinator is and how to talk to it."""

    port: str
    """A device path or a pyserial URL such as socket://host:6638."""
    baudrate: int = DEFAULT_BAUDRATE
    flow_control: FlowControl = DEFAULT_FLOW_CONTROL
    timeout: float = DEFAULT_TIMEOUT_S
    profile: str | None = None
    """The coordinator profile these settings came from, for the report."""

    @property
    def is_network(self) -> bool:
        return "://" in self.port

    def describe(self) -> str:
        if self.is_network:
            return "network"
        return f"{self.baudrate} baud ({self.flow_control} flow control)"

    def device_config(self) -> dict[str, object]:
        """zigpy's device config. "none" becomes None, which bellows drives like software flow control:
        harmless, because ASH byte-stuffs XON/XOFF so they never occur in its frames."""
        flow_control = None if self.flow_control == "none" else self.flow_control
        return zigpy.config.SCHEMA_DEVICE({zigpy.config.CONF_DEVICE_PATH: self.port,
                                           zigpy.config.CONF_DEVICE_BAUDRATE: self.baudrate,
                                           zigpy.config.CONF_DEVICE_FLOW_CONTROL: flow_control})


def choose_settings(port: str, profile: CoordinatorProfile | None = None, *, baudrate: int | None = None,
                    flow_control: FlowControl | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> ProbeSettings:
    """Explicit flags win over the profile, the profile over EmberZNet's defaults."""
    default_flow: FlowControl = "none" if "://" in port else DEFAULT_FLOW_CONTROL
    return ProbeSettings(
        port=port,
        baudrate=baudrate or (profile.baudrate if profile and profile.baudrate else DEFAULT_BAUDRATE),
        flow_control=flow_control or (profile.flow_control if profile else default_flow),
        timeout=timeout,
        profile=profile.name if profile else None)


@dataclass(frozen=True)
class NetworkReport:
    state: str
    """EmberNetworkStatus, lower case: no_network, joined_network, ..."""
    node_type: str | None = None
    channel: int | None = None
    pan_id: int | None = None
    extended_pan_id: str | None = None

    @property
    def up(self) -> bool:
        return self.state == "joined_network"

    def describe(self) -> str:
        if not self.up:
            if self.state == "no_network":
                return "none formed yet (`hubfw serve` forms one on first start)"
            return self.state.replace("_", " ")
        return (f"up: {self.node_type} on channel {self.channel}, PAN 0x{self.pan_id:04X}, "
                f"extended PAN {self.extended_pan_id}")


@dataclass(frozen=True)
class NcpReport:
    """What doctor learned about one coordinator."""

    settings: ProbeSettings
    ezsp_version: int
    stack_version: str | None
    manufacturer: str | None
    board_name: str | None
    manufacturer_id: int | None
    eui64: str
    network: NetworkReport
    cbke: dict[str, LibraryState]
    """Curve name (CBKE_LIBRARIES) -> whether the firmware carries that CBKE library."""

    def to_json(self) -> dict[str, object]:
        network = self.network
        return {
            "port": self.settings.port,
            "baudrate": None if self.settings.is_network else self.settings.baudrate,
            "flow_control": self.settings.flow_control,
            "profile": self.settings.profile,
            "ezsp_version": self.ezsp_version,
            "stack_version": self.stack_version,
            "manufacturer": self.manufacturer,
            "board_name": self.board_name,
            "manufacturer_id": self.manufacturer_id,
            "eui64": self.eui64,
            "network": {"state": network.state, "up": network.up, "node_type": network.node_type,
                        "channel": network.channel, "pan_id": network.pan_id,
                        "extended_pan_id": network.extended_pan_id},
            "cbke": {curve: state.value for curve, state in self.cbke.items()},
        }

    def describe(self) -> list[str]:
        profile = f", profile {self.settings.profile}" if self.settings.profile else ""
        rows = [
            ("coordinator", f"{self.settings.port} at {self.settings.describe()}{profile}"),
            ("EZSP protocol", f"v{self.ezsp_version}"),
            ("stack", f"EmberZNet {self.stack_version}" if self.stack_version else "unknown"),
            ("manufacturer", self.manufacturer or "unknown (token not set)"),
            ("board", self.board_name or "unknown (token not set)"),
            ("manufacturer id", f"0x{self.manufacturer_id:04X}" if self.manufacturer_id is not None else "not set"),
            ("EUI-64", self.eui64),
            ("network", self.network.describe()),
        ]
        rows += [(f"CBKE {curve}", _describe_library(state)) for curve, state in self.cbke.items()]
        return [f"{label:<16}{value}" for label, value in rows]


def _describe_library(state: LibraryState) -> str:
    if state is LibraryState.UNKNOWN:
        return "unknown (the NCP does not report library status)"
    return state.value


async def probe_ncp(settings: ProbeSettings) -> NcpReport:
    """Reset the NCP through bellows and read its identity, network and CBKE libraries."""
    if not settings.is_network and not os.path.exists(settings.port):
        raise DoctorError(f"cannot open {settings.port}: no such serial port")
    ezsp = bellows.ezsp.EZSP(settings.device_config())
    try:
        await _connect(ezsp, settings)
        return await _read_report(ezsp, settings)
    finally:
        await ezsp.disconnect()


async def _connect(ezsp: bellows.ezsp.EZSP, settings: ProbeSettings) -> None:
    try:
        async with asyncio.timeout(settings.timeout):
            # In this loop: a bellows thread would outlive a probe cancelled by the timeout
            await ezsp.connect(use_thread=False)
    except TimeoutError:  # before OSError: TimeoutError is one
        raise DoctorError(no_answer_message(settings)) from None
    except (OSError, ValueError) as exc:
        raise DoctorError(open_failure_message(settings.port, exc)) from None
    except (EzspError, AshException) as exc:
        raise DoctorError(f"{settings.port} answered but EZSP start-up failed: {_reason(exc)}") from None


def no_answer_message(settings: ProbeSettings) -> str:
    if settings.is_network:
        return (f"no EZSP answer from {settings.port} within {settings.timeout:g} s — not an EZSP coordinator, "
                "or the bridge already serves another client")
    return (f"no EZSP answer from {settings.port} at {settings.baudrate} baud ({settings.flow_control} flow control) "
            f"within {settings.timeout:g} s — wrong baud rate or flow control, or not an EZSP coordinator")


def open_failure_message(port: str, exc: BaseException) -> str:
    """One line for a port that would not open. Busy means another process holds the port's
    exclusive lock: serialx (zigpy's serial layer) and pyserial take flock(LOCK_EX) on open and zigpy
    reports EBUSY; a tty set to TIOCEXCL also refuses a second open with EBUSY."""
    codes = {error.errno for error in _causes(exc) if isinstance(error, OSError)}
    if errno.EBUSY in codes:
        return (f"cannot open {port}: port busy — another process holds it "
                "(a running hubfw serve, ZHA, Zigbee2MQTT or ModemManager?)")
    if errno.ENOENT in codes:
        return f"cannot open {port}: no such serial port"
    if codes & {errno.EACCES, errno.EPERM}:
        return (f"cannot open {port}: permission denied — add your user to the dialout group "
                "or install hardware/99-hubfw-coordinators.rules")
    if errno.ENOTTY in codes:
        return f"cannot open {port}: not a serial port"
    if errno.ECONNREFUSED in codes:
        return f"cannot connect to {port}: connection refused (is the bridge up, and is that its EZSP port?)"
    if "://" in port:
        return f"cannot connect to {port}: {_reason(exc)}"
    return f"cannot open {port}: {_reason(exc)}"


async def _read_report(ezsp: bellows.ezsp.EZSP, settings: ProbeSettings) -> NcpReport:
    step = "board information"
    try:
        async with asyncio.timeout(settings.timeout):
            manufacturer, board_name, stack_version = await ezsp.get_board_info()
            manufacturer_id = _manufacturer_id(await ezsp.get_mfg_token(t.EzspMfgTokenId.MFG_MANUF_ID))
            (eui64,) = await ezsp.getEui64()
            step = "network state"
            network = await _network(ezsp, settings.timeout)
            step = "library status"
            cbke = {curve: await library_state(ezsp, library) for curve, library in CBKE_LIBRARIES.items()}
    except TimeoutError:
        raise DoctorError(f"{settings.port} stopped answering while doctor read the {step}") from None
    except (EzspError, AshException, OSError) as exc:
        raise DoctorError(f"{settings.port} failed while doctor read the {step}: {_reason(exc)}") from None
    return NcpReport(settings=settings, ezsp_version=ezsp.ezsp_version, stack_version=stack_version,
                     manufacturer=manufacturer, board_name=board_name, manufacturer_id=manufacturer_id,
                     eui64=str(eui64), network=network, cbke=cbke)


async def _network(ezsp: bellows.ezsp.EZSP, timeout: float) -> NetworkReport:
    """Resume a network the NCP holds (as bellows and zigpy do on start-up), then describe it."""
    (state,) = await ezsp.networkState()
    if state != t.EmberNetworkStatus.JOINED_NETWORK:
        with ezsp.wait_for_stack_status(t.sl_Status.NETWORK_UP) as network_up:
            if await ezsp.initialize_network() == t.sl_Status.OK:
                await asyncio.wait_for(network_up, timeout)
        (state,) = await ezsp.networkState()
    if state != t.EmberNetworkStatus.JOINED_NETWORK:
        return NetworkReport(state=state.name.lower())
    _, node_type, parameters = await ezsp.getNetworkParameters()
    return NetworkReport(state=state.name.lower(), node_type=node_type.name.lower().replace("_", " "),
                         channel=int(parameters.radioChannel), pan_id=int(parameters.panId),
                         extended_pan_id=str(parameters.extendedPanId))


async def library_state(ezsp: bellows.ezsp.EZSP, library_id: int) -> LibraryState:
    """getLibraryStatus: the high bit says present; 0xFF, or a firmware without the command, says unknown."""
    try:
        (status,) = await ezsp.getLibraryStatus(libraryId=library_id)
    except InvalidCommandError:
        return LibraryState.UNKNOWN
    if status == LIBRARY_ERROR:
        return LibraryState.UNKNOWN
    return LibraryState.PRESENT if status & LIBRARY_PRESENT else LibraryState.ABSENT


def _manufacturer_id(token: bytes) -> int | None:
    """MFG_MANUF_ID is a little-endian 16-bit Zigbee manufacturer code; erased flash reads 0xFFFF."""
    if len(token) < 2:
        return None
    code = int.from_bytes(token[:2], "little")
    return None if code == 0xFFFF else code


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from (zigpy wraps serial errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _reason(exc: BaseException) -> str:
    innermost = list(_causes(exc))[-1]
    text = getattr(innermost, "strerror", None) or str(innermost) or type(innermost).__name__
    return text.splitlines()[0]
