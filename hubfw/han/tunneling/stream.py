"""GBCS messages over TransferData, both directions: splitting one over several TransferData payloads and
joining them again, with or without a GBCS tunnel header.

GBCS has two tunnel arrangements (section 10.2.2, as Silicon Labs' Comms Hub Function plugin implements it
in `comms-hub-function.c`):
- a tunnel the hub opens to an ESME, HCALCS or PPMID carries each GBCS message as it is, no header
  (`emberAfPluginCommsHubFunctionSend` sends a non-sleepy device's message with an empty header, and
  `..._tunnel_data_received_callback` passes what such a device sends up unchanged);
- the tunnel a sleepy GSME opens to the hub puts a GBCS tunnel command in front: GET (0x01), GET-RESPONSE
  (0x02, then the number of messages still queued) or PUT (0x03) (`TUNNEL_MANAGER_HEADER_*` there).

SE's MaximumIncomingTransferSize bounds one TransferData payload, and a GBCS message may be larger. The
sender then cuts `header ‖ message` into consecutive TransferData payloads; the first carries the header
(if any), the rest only continue the message. The receiver knows when the message is whole from its GBCS
framing (`hubfw.gbcs.framing.message_length`). A message that is not GBCS-framed can only travel in a single
TransferData, so the receiver takes one such payload as the whole message.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.errors import HubfwError
from hubfw.gbcs.framing import GbcsFramingError, message_length
from hubfw.han.tunneling.wire import GbcsTunnelCommand

MAX_REMAINING = 0xFF
"""GET-RESPONSE carries the number of messages still queued in one octet."""


class TunnelStreamError(HubfwError):
    """TransferData payloads that do not make a GBCS message (or tunnel command)."""


class TunnelOverflowError(TunnelStreamError):
    """A message larger than the receiver reassembles."""


@dataclass(frozen=True)
class TunnelUnit:
    """One whole GBCS message, with the tunnel command in front of it on a GSME's tunnel (`command` None on
    a tunnel the hub opened, where messages travel as they are). `message` is empty for GET and for a
    GET-RESPONSE from an empty queue; `remaining` (GET-RESPONSE only) is how many messages the sender still
    holds."""

    command: GbcsTunnelCommand | None
    message: bytes = b""
    remaining: int | None = None


def tunnel_payloads(unit: TunnelUnit, max_size: int) -> list[bytes]:
    """The TransferData payloads, each at most `max_size` octets, that carry `unit`.

    Raises TunnelStreamError when the unit does not fit and its message is not GBCS-framed (the
    receiver could not tell where it ends)."""
    head = b"" if unit.command is None else bytes([unit.command])
    if unit.command is GbcsTunnelCommand.GET_RESPONSE:
        head += bytes([min(unit.remaining or 0, MAX_REMAINING)])
    data = head + unit.message
    if len(data) <= max_size:
        return [data]
    if not _is_whole_gbcs_message(unit.message):
        raise TunnelStreamError(
            f"a {len(unit.message)}-octet message that is not GBCS-framed cannot be split into {max_size}-octet "
            "TransferData payloads"
        )
    if max_size < len(head) + 1:
        raise TunnelStreamError(f"TransferData payloads of {max_size} octets cannot carry a tunnel command")
    return [data[start:start + max_size] for start in range(0, len(data), max_size)]


class TunnelReassembler:
    """Joins the TransferData payloads of one direction of one tunnel into whole messages; `headers` says
    whether each message starts with a GBCS tunnel command (a GSME's tunnel) or not (a hub-opened one)."""

    def __init__(self, max_message_size: int, *, headers: bool = True) -> None:
        self._max_message_size = max_message_size
        self._headers = headers
        self._partial: TunnelUnit | None = None
        self._buffer = b""

    @property
    def pending(self) -> bool:
        """A message has begun and not yet ended."""
        return self._partial is not None

    def reset(self) -> None:
        """Forget a partial message (the tunnel closed, or its sender broke the stream)."""
        self._partial, self._buffer = None, b""

    def feed(self, data: bytes, max_transfer: int | None = None) -> TunnelUnit | None:
        """Take one TransferData payload; the unit it completes, or None while a message is partial.

        Raises TunnelOverflowError for a payload longer than `max_transfer` (the MaximumIncomingTransferSize
        this end announced) or a message longer than the limit, and TunnelStreamError for a payload that
        starts no message (or tunnel command); either way the partial message is dropped."""
        try:
            if max_transfer is not None and len(data) > max_transfer:
                raise TunnelOverflowError(f"a {len(data)}-octet transfer, over the {max_transfer} announced")
            return self._feed(data)
        except TunnelStreamError:
            self.reset()
            raise

    def _feed(self, data: bytes) -> TunnelUnit | None:
        if self._partial is not None:
            self._buffer += data
            return self._complete()
        if not data:
            raise TunnelStreamError("empty TransferData")
        if self._headers:
            unit, body = _tunnel_command(data)
            if not body:
                return unit
        else:
            unit, body = TunnelUnit(None), data
        if not _starts_gbcs_message(body):
            return TunnelUnit(unit.command, body, unit.remaining)  # unframed: one payload is the message
        self._partial, self._buffer = unit, body
        return self._complete()

    def _complete(self) -> TunnelUnit | None:
        try:
            total = message_length(self._buffer)
        except GbcsFramingError as error:
            raise TunnelStreamError(str(error)) from None
        if total is not None and total > self._max_message_size or len(self._buffer) > self._max_message_size:
            raise TunnelOverflowError(f"GBCS message longer than {self._max_message_size} octets")
        if total is None or total > len(self._buffer):
            return None
        if total < len(self._buffer):
            raise TunnelStreamError(f"{len(self._buffer) - total} octets after the end of the GBCS message")
        assert self._partial is not None
        unit = TunnelUnit(self._partial.command, self._buffer, self._partial.remaining)
        self.reset()
        return unit


def _tunnel_command(data: bytes) -> tuple[TunnelUnit, bytes]:
    """The GBCS tunnel command `data` starts with and the message octets after it (none after a GET, which
    carries nothing). Raises TunnelStreamError for anything else."""
    try:
        command = GbcsTunnelCommand(data[0])
    except ValueError:
        raise TunnelStreamError(f"unknown GBCS tunnel command 0x{data[0]:02X}") from None
    if command is GbcsTunnelCommand.GET:
        return TunnelUnit(command), b""
    if command is GbcsTunnelCommand.GET_RESPONSE:
        if len(data) < 2:
            raise TunnelStreamError("GET-RESPONSE without its remaining-messages octet")
        return TunnelUnit(command, remaining=data[1]), data[2:]
    if len(data) < 2:
        raise TunnelStreamError("PUT without a message")
    return TunnelUnit(command), data[1:]


def _starts_gbcs_message(data: bytes) -> bool:
    try:
        message_length(data[:1])
    except GbcsFramingError:
        return False
    return True


def _is_whole_gbcs_message(message: bytes) -> bool:
    try:
        return message_length(message) == len(message)
    except GbcsFramingError:
        return False
