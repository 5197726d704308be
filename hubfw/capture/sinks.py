"""Where the hub's captured frames go: a pcap file, a ZEP stream. Each sink encodes frames itself
(`FrameEncoder`) and stamps them with the time it is given (the hub's clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubfw.capture.frames import CapturedFrame, FrameEncoder
from hubfw.capture.pcap import PcapWriter
from hubfw.capture.zep import MAX_FRAME, ZepSender


class CaptureSink(Protocol):
    frames: int
    """How many frames it took."""
    name: str
    """Where the frames go, for people."""

    def write(self, timestamp: float, frame: CapturedFrame) -> None: ...

    def close(self) -> None: ...


class PcapCapture:
    """A pcap file (link type 195) written as frames come; `close` ends it (the file stays readable throughout)."""

    def __init__(self, path: str | Path, pan_id: int) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.encoder = FrameEncoder(pan_id)
        self._stream = self.path.open("wb")
        self.writer = PcapWriter(self._stream)

    @property
    def frames(self) -> int:
        return self.writer.count

    def write(self, timestamp: float, frame: CapturedFrame) -> None:
        self.writer.write(timestamp, self.encoder.encode(frame))

    def close(self) -> None:
        self._stream.close()


class ZepCapture:
    """A live ZEP v2 stream to Wireshark listening on UDP (`wireshark -k -i udp` or a capture on loopback)."""

    def __init__(self, address: tuple[str, int], pan_id: int, channel: int) -> None:
        self.address = address
        self.name = f"zep {address[0]}:{address[1]}"
        self.encoder = FrameEncoder(pan_id)
        self.sender = ZepSender(address, channel=channel)
        self.frames = 0
        self.too_long = 0
        """Frames longer than 802.15.4 allows (the virtual radio does not fragment): ZEP cannot carry them."""

    def write(self, timestamp: float, frame: CapturedFrame) -> None:
        encoded = self.encoder.encode(frame)
        if len(encoded) > MAX_FRAME:
            self.too_long += 1
            return
        self.sender.send(timestamp, encoded)
        self.frames += 1

    def close(self) -> None:
        self.sender.close()
