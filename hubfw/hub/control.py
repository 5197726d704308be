"""The hub's local control socket: `state_dir/hub.sock`, JSON lines, usable only by the hub's user.

A request is one line `{"command": NAME, ...arguments}`. The answer is one line `{"ok": true,
"result": ...}` or `{"ok": false, "error": "one line"}`; `alerts` with `"follow": true` instead
streams `{"alert": {...}}` lines (everything in the alert log, then each new alert) until the
client hangs up. The socket is created under umask 0177 (mode 0600) and peers of another uid are
turned away, so only the user running the hub can drive it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from hubfw.capture.zep import parse_address
from hubfw.devices import DeviceType, parse_eui64
from hubfw.errors import HubfwError
from hubfw.hub.alert_log import read_alert_log
from hubfw.hub.faults import Fault
from hubfw.hub.ota_frames import OtaFrameRing
from hubfw.hub.service import Hub

LOGGER = logging.getLogger(__name__)

SOCKET_NAME = "hub.sock"
DEFAULT_COMMAND_TIMEOUT = 60.0
"""Seconds `activate` and `read_version` wait for a device's GBCS answer (a sleepy device may take a poll or two)."""
MAX_COMMAND_TIMEOUT = 3600.0
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""Room for a 750 KB image in base64 plus the rest of the request."""


class ControlError(HubfwError):
    """The control socket cannot be used, or the hub refused the request (its message is passed on)."""


def socket_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / SOCKET_NAME


Handler = Callable[[Hub, dict[str, Any]], Awaitable[Any]]


async def _status(hub: Hub, _: dict[str, Any]) -> Any:
    return hub.status()


async def _transfers(hub: Hub, _: dict[str, Any]) -> Any:
    return hub.transfers()


async def _timeline_flush(hub: Hub, _: dict[str, Any]) -> Any:
    """Write the OTA timeline's held-back points, so a picture drawn now ends at the latest data."""
    hub.timeline.flush()
    return {"file": str(hub.timeline.path)}


async def _devices(hub: Hub, _: dict[str, Any]) -> Any:
    return hub.devices()


async def _distribute(hub: Hub, request: dict[str, Any]) -> Any:
    try:
        image = base64.b64decode(_field(request, "image", str), validate=True)
    except binascii.Error:
        raise ControlError("distribute: 'image' is not base64") from None
    targets = [parse_eui64(text) for text in _field(request, "targets", list)]
    try:
        device_type = DeviceType(_field(request, "device_type", str))
    except ValueError:
        raise ControlError(f"unknown device type {request['device_type']!r}") from None
    allow_broken = request.get("allow_broken", False)
    if not isinstance(allow_broken, bool):
        raise ControlError("distribute: 'allow_broken' must be true or false")
    return hub.distribute(image, targets, device_type, allow_broken=allow_broken)


async def _activate(hub: Hub, request: dict[str, Any]) -> Any:
    """`method` "gbcs" or "zcl" (default: the device's, `Hub.activate`); a CS06 is answered once the device's checked
    response is in (`wait`: default true; `timeout` seconds, default `DEFAULT_COMMAND_TIMEOUT`)."""
    method = request.get("method")
    if method is not None and not isinstance(method, str):
        raise ControlError("activate: 'method' must be a string")
    sent = hub.activate(parse_eui64(_field(request, "eui64", str)), _sha256(_field(request, "sha256", str)), method)
    return await _answered(hub, sent, request)


async def _read_version(hub: Hub, request: dict[str, Any]) -> Any:
    """CS08; answered like a CS06 `activate`."""
    return await _answered(hub, hub.read_version(parse_eui64(_field(request, "eui64", str))), request)


async def _answered(hub: Hub, sent: dict[str, Any], request: dict[str, Any]) -> Any:
    """What a GBCS command got back (`Hub.command_outcome`), unless the request says not to wait."""
    wait, timeout = request.get("wait", True), request.get("timeout", DEFAULT_COMMAND_TIMEOUT)
    if not isinstance(wait, bool):
        raise ControlError("'wait' must be true or false")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_COMMAND_TIMEOUT:
        raise ControlError(f"'timeout' must be a number of seconds in (0, {MAX_COMMAND_TIMEOUT:g}]")
    if "command" not in sent or not wait:
        return sent
    return await hub.command_outcome(sent, float(timeout))


async def _permit(hub: Hub, request: dict[str, Any]) -> Any:
    code = request.get("install_code")
    eui64 = request.get("eui64")
    try:
        install_code = None if code is None else bytes.fromhex(str(code).replace(":", "").replace(" ", ""))
    except ValueError:
        raise ControlError(f"install code {code!r} is not hex") from None
    return await hub.permit(
        int(request.get("time_s", 60)), install_code, None if eui64 is None else parse_eui64(str(eui64))
    )


async def _tunnel_send(hub: Hub, request: dict[str, Any]) -> Any:
    text = _field(request, "message", str)
    try:
        message = bytes.fromhex(text)
    except ValueError:
        raise ControlError(f"tunnel_send: 'message' is not hex: {text[:32]!r}") from None
    return hub.send_gbcs(parse_eui64(_field(request, "eui64", str)), message)


async def _tunnel_messages(hub: Hub, request: dict[str, Any]) -> Any:
    eui64 = request.get("eui64")
    return hub.tunnel_messages(None if eui64 is None else parse_eui64(str(eui64)))


async def _fault_set(hub: Hub, request: dict[str, Any]) -> Any:
    """`{"eui64": ..., "fault": {"kind": ..., options}}` (the fault as `Fault.to_json` writes it)."""
    return hub.set_fault(parse_eui64(_field(request, "eui64", str)), Fault.from_json(_field(request, "fault", dict)))


async def _fault_list(hub: Hub, request: dict[str, Any]) -> Any:
    found: dict[str, Any] = {"faults": hub.faults()}
    if request.get("history"):
        found["history"] = hub.fault_histories()
    return found


async def _fault_clear(hub: Hub, request: dict[str, Any]) -> Any:
    eui64 = request.get("eui64")
    return hub.clear_faults(None if eui64 is None else parse_eui64(str(eui64)))


async def _ota_frames(hub: Hub, request: dict[str, Any]) -> Any:
    """`{"since": CURSOR, "eui64"?: ...}`: the OTA frames the hub heard ("rx") and sent ("tx") from that cursor on,
    oldest first, with the cursor to ask from next (hubfw.hub.ota_frames)."""
    ring = getattr(hub, "ota_frame_ring", None)
    if ring is None:
        raise ControlError("this hub records no OTA frames")
    since = request.get("since", 0)
    if not isinstance(since, int) or since < 0:
        raise ControlError("ota_frames: 'since' must be a cursor (an integer >= 0)")
    eui64 = request.get("eui64")
    return ring.since(since, None if eui64 is None else parse_eui64(str(eui64)))


async def _keys_export(hub: Hub, _: dict[str, Any]) -> Any:
    """`{"coordinator": EUI64, "keys": [{"kind", "key" (hex), "label", "eui64"?, ...}]}`, read from the NCP now."""
    return await hub.export_keys()


async def _capture_start(hub: Hub, request: dict[str, Any]) -> Any:
    """`{"file": PATH}` (a pcap file, the path as the hub sees it) and/or `{"zep": "HOST:PORT"}` (hubfw.capture)."""
    file, zep = request.get("file"), request.get("zep")
    if file is None and zep is None:
        raise ControlError("capture_start needs a file or a zep HOST:PORT")
    started: dict[str, Any] = {}
    if zep is not None:
        try:
            address = parse_address(str(zep))
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        started.update(hub.start_zep(address))
    if file is not None:
        started.update(hub.start_capture(str(file)))
    return started


async def _capture_stop(hub: Hub, _: dict[str, Any]) -> Any:
    return hub.stop_capture()


HANDLERS: dict[str, Handler] = {
    "status": _status,
    "transfers": _transfers,
    "timeline_flush": _timeline_flush,
    "devices": _devices,
    "distribute": _distribute,
    "activate": _activate,
    "permit": _permit,
    "read_version": _read_version,
    "tunnel_send": _tunnel_send,
    "tunnel_messages": _tunnel_messages,
    "fault_set": _fault_set,
    "fault_list": _fault_list,
    "fault_clear": _fault_clear,
    "ota_frames": _ota_frames,
    "keys_export": _keys_export,
    "capture_start": _capture_start,
    "capture_stop": _capture_stop,
}


class ControlServer:
    """Serves one hub's control socket on the hub's event loop."""

    def __init__(self, hub: Hub, path: Path | None = None) -> None:
        self.hub = hub
        self.path = path or socket_path(hub.state_dir)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        _clear_stale_socket(self.path)
        if getattr(self.hub, "ota_frame_ring", None) is None:  # what `ota_frames` answers from, from now on
            ring = OtaFrameRing(self.hub.clock.now)
            self.hub.ota_frame_ring = ring  # type: ignore[attr-defined]
            self.hub.frame_observers.append(ring.observe)
        previous = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES)
        except OSError as exc:  # e.g. a path longer than the 107 bytes a Unix socket name may have
            raise ControlError(f"cannot create the control socket {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for client in self._clients:  # alert followers would otherwise wait forever
            client.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            if not _same_user(writer):
                return
            line = await reader.readline()
            if not line:
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except ValueError as exc:
                await _send(writer, {"ok": False, "error": f"bad request: {exc}"})
                return
            if request.get("command") == "alerts":
                await self._stream_alerts(writer)
                return
            await _send(writer, await self._answer(request))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            LOGGER.debug("control client dropped: %s", exc)
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        handler = HANDLERS.get(command) if isinstance(command, str) else None
        if handler is None:
            return {"ok": False, "error": f"unknown command {command!r} (known: alerts, {', '.join(HANDLERS)})"}
        try:
            return {"ok": True, "result": await handler(self.hub, request)}
        except HubfwError as exc:
            return {"ok": False, "error": str(exc)}
        except (ValueError, TypeError) as exc:  # a hand-written request with a field of the wrong kind
            return {"ok": False, "error": f"bad {command} request: {exc}"}

    async def _stream_alerts(self, writer: asyncio.StreamWriter) -> None:
        """The alert log so far, then every new alert (subscribed first, so none falls in between;
        one may come twice, which `alert_id` de-duplicates)."""
        with self.hub.subscribe_alerts() as queue:
            try:
                logged = read_alert_log(self.hub.alert_log.path)
            except HubfwError as exc:
                await _send(writer, {"ok": False, "error": str(exc)})
                return
            for alert in logged:
                await _send(writer, {"alert": alert.to_json()})
            while True:
                alert = await queue.get()
                await _send(writer, {"alert": alert.to_json()})


class ControlClient:
    """Blocking client for the CLI: one connection per request."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        self.path = socket_path(state_dir)

    def call(self, command: str, **arguments: Any) -> Any:
        with self._connect() as stream:
            _write_line(stream, {"command": command, **arguments})
            answer = _read_line(stream)
        if answer is None:
            raise ControlError(f"the hub closed the control socket without answering {command!r}")
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error", "the hub refused the request")))
        return answer.get("result")

    def follow_alerts(self) -> Iterator[dict[str, Any]]:
        """Every alert the hub has logged, then each new one as it is raised (until the hub stops)."""
        seen: set[object] = set()
        with self._connect() as stream:
            _write_line(stream, {"command": "alerts", "follow": True})
            while (message := _read_line(stream)) is not None:
                if "error" in message:
                    raise ControlError(str(message["error"]))
                alert = message.get("alert")
                if alert is None:
                    continue
                # raw tunnel records have no alert id and are sent once; repeats of the others are dropped
                identity = alert["alert_id"] if alert["alert_id"] is not None else json.dumps(alert, sort_keys=True)
                if identity not in seen:
                    seen.add(identity)
                    yield alert

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise ControlError(
                f"no hub is serving {self.state_dir} (no control socket at {self.path}); start one with `hubfw serve`"
            ) from None
        except PermissionError:
            sock.close()
            raise ControlError(f"permission denied on {self.path}: the hub belongs to another user") from None
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        with sock, sock.makefile("rwb") as stream:
            yield stream


def _field(request: dict[str, Any], name: str, kind: type) -> Any:
    value = request.get(name)
    if not isinstance(value, kind):
        raise ControlError(f"{request.get('command')}: '{name}' must be a {kind.__name__}")
    return value


def _sha256(text: str) -> bytes:
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise ControlError(f"not a SHA-256 hash: {text!r} (want 64 hex digits)")
    return digest


def _clear_stale_socket(path: Path) -> None:
    """A socket left by a killed hub is removed; one a live hub answers on is an error."""
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
    else:
        raise ControlError(f"a hub is already serving {path.parent} (its control socket {path} answers)")
    finally:
        probe.close()


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """Defence in depth behind the 0600 mode: the peer's uid must be ours (Linux SO_PEERCRED)."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid == os.getuid()


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


def _write_line(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    stream.flush()


def _read_line(stream: Any) -> dict[str, Any] | None:
    line = stream.readline()
    if not line:
        return None
    try:
        return json.loads(line)
    except ValueError:
        raise ControlError("the hub sent something that is not JSON on the control socket") from None
