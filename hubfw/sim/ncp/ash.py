"""ASH, the NCP end: framing (UG101) and the link state machine a Silicon Labs NCP runs.

Written independently of bellows' host side so the two ends check each other: byte stuffing,
CRC-CCITT, data randomisation, RST/RSTACK, ACK/NAK with piggy-backed ack numbers, one
outstanding DATA frame, retransmission on NAK or timeout, and faults injected on purpose.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import dataclasses
import enum
import logging
from collections.abc import Callable, Iterator

LOGGER = logging.getLogger(__name__)

FLAG = 0x7E
ESCAPE = 0x7D
XON = 0x11
XOFF = 0x13
SUBSTITUTE = 0x18
CANCEL = 0x1A
RESERVED = frozenset({FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL})

ASH_VERSION = 0x02
RESET_SOFTWARE = 0x0B  # NcpResetCode.RESET_SOFTWARE: the answer to a host RST
RESET_POWER_ON = 0x02  # NcpResetCode.RESET_POWER_ON: a dongle that lost power
RESET_WATCHDOG = 0x03  # NcpResetCode.RESET_WATCHDOG: what a crashed NCP reports
ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT = 0x51


class FrameKind(enum.Enum):
    DATA = "DATA"
    ACK = "ACK"
    NAK = "NAK"
    RST = "RST"
    RSTACK = "RSTACK"
    ERROR = "ERROR"


class AshFramingError(ValueError):
    """A frame that cannot be trusted: bad escape, bad CRC, too short or unknown type."""


def _pseudo_random_sequence(length: int) -> bytes:
    """The LFSR sequence (seed 0x42, taps 0xB8) DATA fields are XORed with, so that long
    runs of reserved bytes do not balloon when stuffed."""
    out = bytearray()
    value = 0x42
    for _ in range(length):
        out.append(value)
        value = (value >> 1) ^ (0xB8 if value & 1 else 0)
    return bytes(out)


_RANDOM = _pseudo_random_sequence(512)


def randomise(data: bytes) -> bytes:
    """XOR with the pseudo-random sequence; the same call undoes it."""
    if len(data) > len(_RANDOM):
        raise AshFramingError(f"DATA field of {len(data)} bytes is longer than ASH allows")
    return bytes(a ^ b for a, b in zip(data, _RANDOM, strict=False))


def crc(data: bytes) -> bytes:
    """CRC-CCITT (polynomial 0x1021, initial 0xFFFF), sent high byte first."""
    return binascii.crc_hqx(data, 0xFFFF).to_bytes(2, "big")


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in RESERVED:
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            if byte ^ 0x20 not in RESERVED:
                raise AshFramingError(f"escape before 0x{byte:02X}, which needs none")
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(byte)
    if escaped:
        raise AshFramingError("frame ends inside an escape")
    return bytes(out)


@dataclasses.dataclass(frozen=True)
class AshFrame:
    """One decoded frame; `frm_num`/`re_tx`/`ack_num` are meaningful where the kind has them."""

    kind: FrameKind
    frm_num: int = 0
    re_tx: bool = False
    ack_num: int = 0
    payload: bytes = b""  # EZSP frame (DATA, de-randomised) or version+reset code (RSTACK/ERROR)

    def control(self) -> int:
        if self.kind is FrameKind.DATA:
            return (self.frm_num << 4) | (int(self.re_tx) << 3) | self.ack_num
        if self.kind is FrameKind.ACK:
            return 0x80 | self.ack_num
        if self.kind is FrameKind.NAK:
            return 0xA0 | self.ack_num
        return {FrameKind.RST: 0xC0, FrameKind.RSTACK: 0xC1, FrameKind.ERROR: 0xC2}[self.kind]

    def encode(self, *, corrupt_crc: bool = False) -> bytes:
        """Wire bytes: stuffed control ‖ body ‖ CRC, then the flag."""
        body = randomise(self.payload) if self.kind is FrameKind.DATA else self.payload
        raw = bytes([self.control()]) + body
        check = bytearray(crc(raw))
        if corrupt_crc:
            check[-1] ^= 0xFF
        return stuff(raw + bytes(check)) + bytes([FLAG])


def decode(stuffed: bytes) -> AshFrame:
    """Parse the bytes between two flags."""
    raw = unstuff(stuffed)
    if len(raw) < 3:
        raise AshFramingError(f"frame of {len(raw)} bytes is too short")
    if crc(raw[:-2]) != raw[-2:]:
        raise AshFramingError(f"CRC mismatch in frame {raw.hex()}")
    control, body = raw[0], raw[1:-2]
    if control & 0x80 == 0:
        return AshFrame(FrameKind.DATA, (control >> 4) & 7, bool(control & 0x08), control & 7,
                        randomise(body))
    if control & 0xE0 == 0x80:
        return AshFrame(FrameKind.ACK, ack_num=control & 7)
    if control & 0xE0 == 0xA0:
        return AshFrame(FrameKind.NAK, ack_num=control & 7)
    kinds = {0xC0: FrameKind.RST, 0xC1: FrameKind.RSTACK, 0xC2: FrameKind.ERROR}
    if control not in kinds:
        raise AshFramingError(f"unknown control byte 0x{control:02X}")
    return AshFrame(kinds[control], payload=body)


class FrameSplitter:
    """Cuts the host's byte stream into frames, honouring CANCEL, SUBSTITUTE and XON/XOFF."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the stuffed bytes of each complete frame (flag removed)."""
        for byte in data:
            if byte in (XON, XOFF):
                continue
            if byte == CANCEL:
                self._buffer.clear()
                self._discarding = False
            elif byte == SUBSTITUTE:
                self._buffer.clear()
                self._discarding = True
            elif byte == FLAG:
                frame, discarded = bytes(self._buffer), self._discarding
                self._buffer.clear()
                self._discarding = False
                if frame and not discarded:
                    yield frame
            elif not self._discarding:
                self._buffer.append(byte)


@dataclasses.dataclass
class AshFaults:
    """Line faults the NCP injects on purpose; each field counts down as its fault fires.

    corrupt_crc: the next N DATA frames the NCP sends leave with a broken CRC (host NAKs).
    drop_host_ack: the next N ACK frames from the host are lost on the way in (NCP retransmits).
    nak_host_data: the next N in-sequence host DATA frames are NAKed as if garbled.
    unexpected_rstack: the next N host DATA frames crash the NCP, which reboots and sends RSTACK.
    """

    corrupt_crc: int = 0
    drop_host_ack: int = 0
    nak_host_data: int = 0
    unexpected_rstack: int = 0

    def take(self, name: str) -> bool:
        """Consume one pending fault of this kind; True if it fires now."""
        if getattr(self, name) > 0:
            setattr(self, name, getattr(self, name) - 1)
            return True
        return False


@dataclasses.dataclass
class AshStats:
    """Link counters, by frame kind where it matters: what recovery from a fault cost."""

    frames_in: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    frames_out: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    framing_errors: int = 0
    retransmissions: int = 0
    duplicates_ignored: int = 0
    faults_fired: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


class AshNcp:
    """The NCP side of the link: accepts host DATA in sequence, keeps one DATA frame of its own
    in flight until acknowledged, and resends it on NAK or after `ack_timeout` seconds."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        deliver: Callable[[bytes], None],
        reset_stack: Callable[[], None],
        *,
        faults: AshFaults | None = None,
        ack_timeout: float = 0.8,
        max_attempts: int = 5,
    ) -> None:
        self._write = write
        self._deliver = deliver
        self._reset_stack = reset_stack
        self.faults = faults or AshFaults()
        self.stats = AshStats()
        self._ack_timeout = ack_timeout
        self._max_attempts = max_attempts
        self._splitter = FrameSplitter()
        self._queue: collections.deque[bytes] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._reset_link()

    def _reset_link(self) -> None:
        self._expected_rx = 0  # frmNum the host sends next == our ackNum
        self._next_tx = 0
        self._in_flight: AshFrame | None = None
        self._attempts = 0
        self._rejecting = False
        self._failed = False
        self._queue.clear()
        self._cancel_timer()
        self._idle.set()

    def _fault(self, name: str) -> bool:
        fires = self.faults.take(name)
        if fires:
            self.stats.faults_fired[name] += 1
        return fires

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None

    # -- outgoing ---------------------------------------------------------------------------

    def send(self, ezsp_frame: bytes) -> None:
        """Queue an EZSP frame (response or callback) for the host."""
        if self._failed:
            LOGGER.debug("ASH link failed, dropping outgoing frame until the host resets")
            return
        self._queue.append(ezsp_frame)
        self._send_next()

    def _emit(self, frame: AshFrame, *, corrupt_crc: bool = False) -> None:
        self.stats.frames_out[frame.kind.value] += 1
        self._write(frame.encode(corrupt_crc=corrupt_crc))

    async def wait_idle(self) -> None:
        """Until every queued DATA frame has been acknowledged by the host."""
        await self._idle.wait()

    def _send_next(self) -> None:
        if self._in_flight is not None:
            return
        if not self._queue:
            self._idle.set()
            return
        self._idle.clear()
        self._in_flight = AshFrame(FrameKind.DATA, self._next_tx, False, 0, self._queue.popleft())
        self._next_tx = (self._next_tx + 1) % 8
        self._attempts = 0
        self._transmit()

    def _transmit(self) -> None:
        assert self._in_flight is not None
        retransmission = self._attempts > 0
        frame = dataclasses.replace(self._in_flight, re_tx=retransmission, ack_num=self._expected_rx)
        corrupt = self._fault("corrupt_crc")
        if retransmission:
            self.stats.retransmissions += 1
        self._attempts += 1
        self._emit(frame, corrupt_crc=corrupt)
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self._ack_timeout, self._on_ack_timeout)

    def _on_ack_timeout(self) -> None:
        self._timer = None
        if self._in_flight is None:
            return
        if self._attempts >= self._max_attempts:
            LOGGER.warning("host did not acknowledge DATA %d after %d attempts: ASH link failed",
                           self._in_flight.frm_num, self._attempts)
            self._emit(AshFrame(FrameKind.ERROR, payload=bytes([ASH_VERSION,
                                                                ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT])))
            self._reset_link()
            self._failed = True
            return
        self._transmit()

    def _acknowledged_up_to(self, ack_num: int) -> None:
        """The host expects `ack_num` next: our in-flight frame arrived if it was the one before."""
        if self._in_flight is not None and ack_num == (self._in_flight.frm_num + 1) % 8:
            self._in_flight = None
            self._cancel_timer()
            self._send_next()

    # -- incoming ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the host, in any chunking."""
        for stuffed in self._splitter.feed(data):
            try:
                frame = decode(stuffed)
            except AshFramingError as exc:
                self.stats.framing_errors += 1
                LOGGER.debug("discarding bad frame from host: %s", exc)
                if stuffed and stuffed[0] & 0x80 == 0:  # a garbled DATA frame is NAKed
                    self._reject()
                continue
            self.stats.frames_in[frame.kind.value] += 1
            self._on_frame(frame)

    def _on_frame(self, frame: AshFrame) -> None:
        if frame.kind is FrameKind.RST:
            self.reboot(RESET_SOFTWARE)
        elif self._failed:
            LOGGER.debug("ASH link failed, ignoring %s until the host resets", frame.kind.value)
        elif frame.kind is FrameKind.DATA:
            self._on_data(frame)
        elif frame.kind is FrameKind.ACK:
            if self._fault("drop_host_ack"):
                return
            self._acknowledged_up_to(frame.ack_num)
        elif frame.kind is FrameKind.NAK:
            if self._in_flight is not None and frame.ack_num == self._in_flight.frm_num:
                self._transmit()
        else:
            LOGGER.debug("ignoring %s frame from host", frame.kind.value)

    def _on_data(self, frame: AshFrame) -> None:
        self._acknowledged_up_to(frame.ack_num)
        if frame.frm_num != self._expected_rx:
            if frame.re_tx:  # a resend of something we already have: ACK, do not redeliver
                self.stats.duplicates_ignored += 1
                self._emit(AshFrame(FrameKind.ACK, ack_num=self._expected_rx))
            else:
                self._reject()
            return
        if self._fault("nak_host_data"):
            self._reject()
            return
        if self._fault("unexpected_rstack"):
            self.reboot(RESET_WATCHDOG)
            return
        self._expected_rx = (self._expected_rx + 1) % 8
        self._rejecting = False
        self._emit(AshFrame(FrameKind.ACK, ack_num=self._expected_rx))
        self._deliver(frame.payload)

    def _reject(self) -> None:
        """NAK once per reject condition, as the SDK does."""
        if not self._rejecting:
            self._rejecting = True
            self._emit(AshFrame(FrameKind.NAK, ack_num=self._expected_rx))

    def reboot(self, reset_code: int) -> None:
        """Restart the NCP: the link and the stack's volatile state go, tokens stay."""
        self._reset_link()
        self._reset_stack()
        self._emit(AshFrame(FrameKind.RSTACK, payload=bytes([ASH_VERSION, reset_code])))

    def close(self) -> None:
        self._reset_link()
