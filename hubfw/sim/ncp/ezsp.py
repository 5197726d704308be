"""The EZSP layer of the NCP: decode a host command, let the stack answer, send the response
first and then any callbacks the command caused, each as a DATA frame over ASH."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

import bellows.types as t

from hubfw.sim.ncp.frames import (
    CommandTable,
    EzspFrameError,
    EzspRequest,
    decode_params,
    encode_params,
    frame_header,
    parse_request,
)
from hubfw.sim.ncp.stack import EmberStack, Fields

LOGGER = logging.getLogger(__name__)


class EzspServer:
    """Serves one EZSP version; bellows' first legacy `version` is answered in legacy format."""

    def __init__(self, table: CommandTable, send: Callable[[bytes], None]) -> None:
        self.table = table
        self._send = send
        self.stack: EmberStack | None = None
        self.commands: collections.Counter[str] = collections.Counter()
        self.unknown_commands: collections.Counter[str] = collections.Counter()
        self.callbacks: collections.Counter[str] = collections.Counter()
        self._last_seq = 0
        self._in_command = False
        self._held_callbacks: list[tuple[str, Fields]] = []

    def on_frame(self, data: bytes) -> None:
        assert self.stack is not None, "attach a stack before traffic flows"
        try:
            request = parse_request(data)
        except EzspFrameError as exc:
            LOGGER.warning("%s", exc)
            return
        self._last_seq = request.seq
        command = self.table.by_id.get(request.frame_id)
        if command is None or not self.stack.can_handle(command.name) or (request.legacy and command.name != "version"):
            self._invalid(request, command.name if command else f"0x{request.frame_id:04X}")
            return
        try:
            fields = decode_params(command.request, request.params)
        except (ValueError, KeyError) as exc:
            LOGGER.warning("malformed %s parameters %s: %s", command.name, request.params.hex(), exc)
            self._invalid(request, command.name)
            return
        self.commands[command.name] += 1
        self._in_command = True
        try:
            response = encode_params(command.response, self.stack.handle(command.name, fields))
        except Exception:  # a simulator bug must not leave bellows waiting for an answer
            LOGGER.exception("EZSP v%d: %s(%s) failed", self.table.version, command.name, fields)
            self._held_callbacks.clear()
            self._invalid(request, command.name)
            return
        finally:
            self._in_command = False
        self._send(frame_header(request.seq, request.frame_id, legacy=request.legacy, callback=False) + response)
        held, self._held_callbacks = self._held_callbacks, []
        for name, callback_fields in held:
            self.callback(name, callback_fields)

    def _invalid(self, request: EzspRequest, name: str) -> None:
        """What EmberZNet does with a frame ID it lacks: an `invalidCommand` reply under the
        request's sequence number, which bellows turns into InvalidCommandError at once."""
        LOGGER.warning("EZSP v%d: no support for command %s, answering invalidCommand", self.table.version, name)
        self.unknown_commands[name] += 1
        invalid = self.table.by_name["invalidCommand"]
        reason = t.EzspStatus.ERROR_INVALID_FRAME_ID if self.table.version < 14 else t.sl_Status.ZIGBEE_EZSP_ERROR
        self._send(frame_header(request.seq, invalid.frame_id, legacy=request.legacy, callback=False)
                   + encode_params(invalid.response, {"status": reason}))

    def callback(self, name: str, fields: Fields) -> None:
        """Send an asynchronous callback; during a command it waits until the response is out."""
        if self._in_command:
            self._held_callbacks.append((name, fields))
            return
        command = self.table.by_name[name]
        self.callbacks[name] += 1
        self._send(frame_header(self._last_seq, command.frame_id, legacy=False, callback=True)
                   + encode_params(command.response, fields))

    def reset(self) -> None:
        self._held_callbacks.clear()
