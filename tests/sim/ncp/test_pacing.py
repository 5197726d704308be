"""The NCP's UART on a pseudo-terminal: bytes both ways, and pacing at a baud rate."""

from __future__ import annotations

import asyncio
import os

import pytest

from hubfw.sim.ncp.pty import BITS_PER_BYTE, PtyLine


class HostPort:
    """The host end, opened like a serial port and read through the event loop."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.received = bytearray()
        self._wanted = 0
        self._done = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        self.received += os.read(self.fd, 4096)
        if len(self.received) >= self._wanted and not self._done.done():
            self._done.set_result(asyncio.get_running_loop().time())

    async def wait_for(self, size: int) -> float:
        """Loop time at which `size` bytes had arrived."""
        self._wanted = size
        return await asyncio.wait_for(self._done, 10)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


@pytest.mark.parametrize("baudrate", [None, 38400])
async def test_bytes_cross_the_line_both_ways_and_are_counted(baudrate: int | None) -> None:
    from_host = bytearray()
    got_bytes = asyncio.Event()

    def on_bytes(data: bytes) -> None:
        from_host.extend(data)
        got_bytes.set()

    line = PtyLine(on_bytes, baudrate=baudrate)
    host = HostPort(await line.open())
    try:
        payload = bytes(range(256)) * 4
        started = asyncio.get_running_loop().time()
        line.write(payload)
        arrived = await host.wait_for(len(payload))
        assert bytes(host.received) == payload and line.bytes_out == len(payload)
        if baudrate is not None:  # paced: never faster than the line (lower bound only)
            assert arrived - started >= 0.9 * len(payload) * BITS_PER_BYTE / baudrate

        os.write(host.fd, b"\x1a\xc0\x38\xbc\x7e")
        while len(from_host) < 5:
            got_bytes.clear()
            await asyncio.wait_for(got_bytes.wait(), 10)
        assert bytes(from_host) == b"\x1a\xc0\x38\xbc\x7e" and line.bytes_in == 5
    finally:
        host.close()
        await line.close()
