"""The NCP's UART: the master end of a pseudo-terminal, optionally paced at a baud rate.

bellows opens the slave path (`/dev/pts/N`) like any serial port. Pacing delays the NCP's own
writes so bytes leave no faster than the line would carry them (8N1: 10 bits per byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import Callable

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
READ_SIZE = 4096
PACING_SLICE = 0.005  # seconds of line time written at once when pacing


class PtyLine:
    """Bytes in from the host go to `on_bytes`; `write` queues bytes out to the host."""

    def __init__(self, on_bytes: Callable[[bytes], None], *, baudrate: int | None = None) -> None:
        self._on_bytes = on_bytes
        self._baudrate = baudrate
        self._master = -1
        self._slave = -1
        self.port = ""
        self.bytes_in = 0
        self.bytes_out = 0
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a clean 8-bit line until bellows configures it
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._writer = asyncio.create_task(self._write_loop(), name=f"ncp-uart-{self.port}")
        return self.port

    def _readable(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: nobody holds the slave; we keep it open, so only on close
            return
        self.bytes_in += len(data)
        self._on_bytes(data)

    def write(self, data: bytes) -> None:
        self._pending += data
        self._wake.set()

    def discard_unsent(self) -> None:
        """Drop what the host has not read yet: a rebooting NCP's half-sent frames are gone."""
        self._pending.clear()
        with contextlib.suppress(termios.error, OSError):
            termios.tcflush(self._slave, termios.TCIFLUSH)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        line_free_at = loop.time()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                size = len(self._pending)
                if self._baudrate is not None:
                    size = max(1, min(size, int(self._baudrate / BITS_PER_BYTE * PACING_SLICE)))
                written = await self._write_some(bytes(self._pending[:size]))
                del self._pending[:written]
                self.bytes_out += written
                if self._baudrate is not None:
                    line_free_at = max(line_free_at, loop.time()) + written * BITS_PER_BYTE / self._baudrate
                    await asyncio.sleep(line_free_at - loop.time())

    async def _write_some(self, data: bytes) -> int:
        while True:
            try:
                return os.write(self._master, data)
            except BlockingIOError:
                await self._writable()

    async def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_writer(self._master, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_writer(self._master)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
