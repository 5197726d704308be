"""The hub on a real Silicon Labs EZSP coordinator: bellows with the OTA interception on top.

Two things bellows leaves to its caller are done here: installing a CBKE link key in the NCP's key
table (or, with the NCP's own CBKE library, having the library store the key it derived), and APS
fragmentation of outgoing frames too big for one APS payload (a GBCS message through the tunnel).

Two things bellows 1.2.1 gets wrong are worked around here, without patching it:

- Endpoints after a reset: the NCP forgets them, and bellows registers them again only when it connects
  (`HubControllerApplication._reset`).
- Incoming APS fragments on EZSP v14 and later (EmberZNet 8.x, the firmware new dongles ship). bellows
  reassembles them in `ProtocolHandler.__call__` (bellows/ezsp/protocol.py:184-228) by field position in
  the v4-v13 `incomingMessageHandler` layout: `result[4]` as the sender (protocol.py:190) and `result[7]`
  as the payload (protocol.py:208). EZSP v14 reordered the callback (bellows/ezsp/v14/commands.py:297-312;
  v16-v19 inherit it): `result[4]` is now the binding index (0xFF) and `result[7]` the RSSI. So fragments
  are keyed by binding index instead of sender, their payloads stored are RSSI integers, the fragment ACKs
  (protocol.py:212, `sendReply`) go to NWK 0x00FF instead of the device, and when the last fragment is in,
  `_FragmentEntry.assemble` (bellows/ezsp/fragmentation.py:34-37) joins integers and raises TypeError, which
  `EZSP.frame_received` (bellows/ezsp/__init__.py:384-387) logs as "Failed to parse frame, ignoring". The
  fragments before it were already withheld from zigpy (protocol.py:218-221), so the message is lost.
  bellows' application layer reads v14 correctly (bellows/zigbee/application.py:665-677); only the
  reassembly is wrong. hubfw therefore takes every fragment out of the EZSP frame stream before bellows
  parses it, on every EZSP version, reads it by field name, acknowledges it with bellows' own fragment ACK
  and hands bellows' callback handler the whole message (`HubControllerApplication._take_fragment`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bellows.ezsp
import bellows.types as bt
import bellows.zigbee.application
import serial
import zigpy.exceptions
import zigpy.types as t
from bellows.ezsp.fragmentation import FRAGMENT_TIMEOUT
from bellows.zigbee.application import MESSAGE_SEND_TIMEOUT_MAINS
from zigpy.exceptions import TransientConnectionError

from hubfw.capture.frames import Direction, Fragment
from hubfw.cbke.suites import CryptoSuite
from hubfw.errors import HubfwError
from hubfw.radio.config import hub_zigpy_config
from hubfw.radio.intercept import OtaInterceptMixin
from hubfw.radio.ncp_cbke import NcpCbke
from hubfw.radio.ncp_keys import NcpKey, read_ncp_keys
from hubfw.zigbee.aps import (
    MAX_APS_PAYLOAD,
    FragmentReassembly,
    payload_limit,
    split_payload,
)

LOGGER = logging.getLogger(__name__)

FlowControl = Literal["software", "hardware"] | None

NO_KEY_TABLE_ENTRY = 0xFF
IMPORT_LINK_KEY_SINCE = 13
"""EZSP v13 replaced addOrUpdateKeyTableEntry with the security manager's importLinkKey."""
INCOMING_MESSAGE = "incomingMessageHandler"
INCOMING_MESSAGE_FIELDS = (("apsFrame", "sender", "messageContents"), ("aps_frame", "nwk", "message"))
"""What `incomingMessageHandler` calls its APS frame, sender and payload: in EZSP v4-v13, and in v14 and later."""


class RadioError(HubfwError):
    """The coordinator cannot be opened or started."""


@dataclass(frozen=True)
class SerialSettings:
    """Where the coordinator is and how to talk to it."""

    port: str
    """A device path (/dev/ttyUSB0) or a pyserial URL (socket://host:port)."""
    baudrate: int = 115200
    flow_control: FlowControl = "software"
    """EZSP over UART: 'software' (XON/XOFF, the EmberZNet default), 'hardware' (RTS/CTS) or None."""
    channel: int | None = None
    """Channel for a network formed on first start (None lets zigpy choose)."""

    def device_config(self) -> dict[str, object]:
        return {"path": self.port, "baudrate": self.baudrate, "flow_control": self.flow_control}


class HubControllerApplication(OtaInterceptMixin, bellows.zigbee.application.ControllerApplication):
    """bellows' coordinator, with OTA cluster 0x0019 answered by the hub on profiles 0x0104 and 0x0109, the HAN
    clusters of its Smart Energy endpoint routed to the HAN server, CBKE keys and outgoing APS fragmentation."""

    max_aps_payload = MAX_APS_PAYLOAD
    """Replaced by the NCP's own figure (EZSP maximumPayloadLength) once started."""
    reassembles_fragments = True
    """Join incoming APS fragments here (`_take_fragment`); False leaves them to bellows 1.2.1, which loses
    every fragmented message on EZSP v14 and later."""
    _fragment_timer: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        """bellows' connect, with every EZSP frame from the NCP offered to `_take_fragment` before bellows
        parses it. The hook sits on the `EZSP` object, which outlives the per-version protocol handler
        bellows replaces on every reset; a reconnect makes a new `EZSP` and comes through here again."""
        await super().connect()
        if self.reassembles_fragments:
            ezsp = self._ezsp
            bellows_frame_received = ezsp.frame_received

            def frame_received(data: bytes) -> None:
                if not self._take_fragment(ezsp, data):
                    bellows_frame_received(data)

            ezsp.frame_received = frame_received
        self._capture_sends(self._ezsp)

    def _capture_sends(self, ezsp: bellows.ezsp.EZSP) -> None:
        """Every APS frame the host has the NCP send, with the APS counter the NCP gave it, goes to the capture
        (`OtaInterceptMixin.set_capture`): bellows' `send_unicast`, `send_broadcast`, `send_multicast` and
        `xncp_send_unicast` (bellows/zigbee/application.py `send_packet`), and this class's fragments
        (`_send_fragment`), wrapped on the `EZSP` object as `connect` wraps `frame_received`. A frame is captured
        once the NCP has accepted it (status OK), as the NCP then puts it on the air."""

        def wrap(name: str, capture: Callable[[dict[str, Any], int], None]) -> None:
            own = inspect.getattr_static(type(ezsp), name, None)

            def current() -> Callable[..., Any]:
                """The method as bellows would find it now: on `EZSP`, else on the protocol handler of the
                moment (bellows' `EZSP.__getattr__`; a reset replaces the handler)."""
                return own.__get__(ezsp) if own is not None else type(ezsp).__getattr__(ezsp, name)

            async def sending(*args: Any, **kwargs: Any) -> Any:
                send = current()
                result = await send(*args, **kwargs)
                if self._capture is not None:
                    status, sequence = result[0], result[1]
                    if bt.sl_Status.from_ember_status(status) == bt.sl_Status.OK:
                        capture(inspect.signature(send).bind(*args, **kwargs).arguments, int(sequence))
                return result

            setattr(ezsp, name, sending)

        def sent(aps: bt.EmberApsFrame, dst: int, data: bytes, sequence: int, group: bool = False) -> None:
            self._capture_sent(aps, int(self.state.node_info.nwk), dst, data, sequence, group=group)

        wrap("send_unicast", lambda a, seq: sent(a["aps_frame"], a["nwk"], a["data"], seq))
        wrap("send_broadcast", lambda a, seq: sent(a["aps_frame"], a["address"], a["data"], seq))
        wrap("send_multicast", lambda a, seq: sent(a["aps_frame"], 0xFFFD, a["data"], seq, group=True))
        wrap("xncp_send_unicast", lambda a, seq: sent(
            a["request"].aps_frame, a["request"].destination, bytes(a["request"].data), seq))

    def _capture_sent(self, aps: bt.EmberApsFrame, src: int, dst: int, data: bytes, sequence: int, *,
                      group: bool = False) -> None:
        options = aps.options
        fragment = None
        if options & bt.EmberApsOption.APS_OPTION_FRAGMENT:
            fragment = Fragment(aps.groupId & 0xFF, aps.groupId >> 8 & 0xFF or None)
        self.capture_frame(
            Direction.TX, src_nwk=src, dst_nwk=int(dst), profile=aps.profileId, cluster=aps.clusterId,
            src_ep=aps.sourceEndpoint, dst_ep=aps.destinationEndpoint, aps_counter=sequence, payload=bytes(data),
            group=int(aps.groupId) if group else None, fragment=fragment,
            ack_request=bool(options & bt.EmberApsOption.APS_OPTION_RETRY),
            aps_encrypted=bool(options & bt.EmberApsOption.APS_OPTION_ENCRYPTION),
        )

    async def disconnect(self) -> None:
        if self._fragment_timer is not None:
            self._fragment_timer.cancel()
            self._fragment_timer = None
        await super().disconnect()

    async def _reset(self) -> None:
        """bellows resets the NCP after writing a new network (first start) and when it repairs one, but
        registers the endpoints only when it connects; the NCP forgets them in a reset, so until the next
        start its stack would answer a device's Match_Desc_req for the Smart Energy endpoint with nothing.
        Register them again right after the reset, while the network is down (addEndpoint needs that)."""
        await super()._reset()
        self._created_device_endpoints.clear()
        await self.register_endpoints()

    async def start_network(self) -> None:
        await super().start_network()
        try:
            (length,) = await self._ezsp.maximumPayloadLength()
        except Exception as exc:  # older or unusual firmware: keep the EmberZNet default
            LOGGER.info("NCP did not report its maximum APS payload (%s); assuming %d", exc, self.max_aps_payload)
        else:
            self.max_aps_payload = int(length)

    # ----- incoming APS fragments

    @functools.cached_property
    def incoming_fragments(self) -> FragmentReassembly:
        """Messages in reassembly. An incomplete one is dropped after bellows' own FRAGMENT_TIMEOUT (10 s,
        bellows/ezsp/fragmentation.py:14) without a new fragment: the rule bellows' `cleanup_partial`
        states (fragmentation.py:110) and EmberZNet's fragmentation plugin applies, restarting its timer
        as the receive window moves (`emAfFragmentationIncomingMessage`, plugin/fragmentation/fragmentation.c).
        bellows' own timers count from the first fragment, as it never cancels the earlier ones
        (fragmentation.py:91-94)."""
        return FragmentReassembly(FRAGMENT_TIMEOUT)

    def _take_fragment(self, ezsp: bellows.ezsp.EZSP, data: bytes) -> bool:
        """Whether `data` is an `incomingMessageHandler` callback for one APS fragment, which is then
        acknowledged as bellows acknowledges it (its `_send_fragment_ack`: `sendReply`, groupId 0xFF00 |
        index, to the sender) and added to its message; once the message is whole, bellows' callback handler
        gets the callback of its last fragment carrying the whole payload, as bellows' own reassembly
        would hand it on. Every other frame, and one that does not parse, is left to bellows."""
        protocol = ezsp._protocol
        if protocol is None or not data:
            return False
        try:
            _, frame_id, payload = protocol._ezsp_frame_rx(data)  # 0x0045 answers no command: always a callback
            name, _, schema = protocol.COMMANDS_BY_ID[frame_id]
            if name != INCOMING_MESSAGE:
                return False
            fields, _ = bt.deserialize_dict(payload, schema)
        except (KeyError, IndexError, ValueError):
            return False
        layout = next((layout for layout in INCOMING_MESSAGE_FIELDS if all(field in fields for field in layout)), None)
        if layout is None:
            return False
        aps_field, sender_field, message_field = layout
        aps, sender = fields[aps_field], fields[sender_field]
        if not aps.options & bt.EmberApsOption.APS_OPTION_FRAGMENT:
            return False
        now = asyncio.get_running_loop().time()
        whole = self.incoming_fragments.add(
            int(sender), aps.sequence, aps.profileId, aps.clusterId, aps.groupId, bytes(fields[message_field]), now
        )
        if self._capture is not None:
            self._capture_fragment(int(sender), aps, bytes(fields[message_field]))
        ack = asyncio.get_running_loop().create_task(
            protocol._send_fragment_ack(sender, aps, aps.groupId >> 8, aps.groupId & 0xFF)
        )
        protocol._fragment_ack_tasks.add(ack)  # bellows' own set, so the task lives as bellows' ACKs do
        ack.add_done_callback(protocol._fragment_ack_tasks.discard)
        self._schedule_fragment_expiry()
        if whole is not None:
            fields[message_field] = whole
            self._capture_muted = True  # its fragments were captured one by one
            try:
                ezsp.handle_callback(name, list(fields.values()))
            finally:
                self._capture_muted = False
        return True

    def _capture_fragment(self, sender: int, aps: bt.EmberApsFrame, payload: bytes) -> None:
        """A received fragment, and the APS acknowledgement of it that `_take_fragment` has the NCP send (window
        size 1: the block number is the fragment's index, the ack bitfield 0x01)."""
        index, count = aps.groupId & 0xFF, aps.groupId >> 8 & 0xFF
        own = int(self.state.node_info.nwk)
        encrypted = bool(aps.options & bt.EmberApsOption.APS_OPTION_ENCRYPTION)
        common = dict(profile=aps.profileId, cluster=aps.clusterId, aps_counter=aps.sequence, aps_encrypted=encrypted)
        self.capture_frame(Direction.RX, src_nwk=sender, dst_nwk=own, src_ep=aps.sourceEndpoint,
                           dst_ep=aps.destinationEndpoint, payload=payload,
                           fragment=Fragment(index, count or None), **common)
        self.capture_frame(Direction.TX, src_nwk=own, dst_nwk=sender, src_ep=aps.destinationEndpoint,
                           dst_ep=aps.sourceEndpoint, payload=b"", fragment=Fragment(index, count or None),
                           ack_request=False, ack_bitfield=0x01, **common)

    def _schedule_fragment_expiry(self) -> None:
        """One timer at a time, at the earliest moment a message in reassembly may be dropped."""
        deadline = self.incoming_fragments.next_expiry()
        if deadline is not None and self._fragment_timer is None:
            self._fragment_timer = asyncio.get_running_loop().call_at(deadline, self._expire_fragments, deadline)

    def _expire_fragments(self, deadline: float) -> None:
        self._fragment_timer = None
        self.incoming_fragments.expire(max(deadline, asyncio.get_running_loop().time()))
        self._schedule_fragment_expiry()

    # ----- CBKE link keys

    async def install_link_key(self, eui64: t.EUI64, key: t.KeyData) -> None:
        """Put a CBKE link key in the NCP's key table (it keeps it across restarts); from then on every
        unicast to the device is APS-encrypted with it."""
        if self._ezsp.ezsp_version >= IMPORT_LINK_KEY_SINCE:
            index = await self._key_table_slot(eui64)
            (status,) = await self._ezsp.importLinkKey(index=index, address=eui64, key=key)
        else:
            (status,) = await self._ezsp.addOrUpdateKeyTableEntry(address=eui64, linkKey=True, keyData=key)
        if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK:
            raise RadioError(f"the NCP refused the link key for {eui64}: {status!r}")
        self.encrypt_unicasts_to([eui64])

    @functools.cached_property
    def cbke_library(self) -> NcpCbke:
        """The NCP's own CBKE library (`hubfw serve --cbke-on-ncp`)."""
        return NcpCbke(lambda: self._ezsp)

    async def store_cbke_link_key(self, eui64: t.EUI64, suite: CryptoSuite) -> None:
        """The NCP's CBKE library stores the link key it derived with `eui64` (the key never reaches the
        host); from then on every unicast to the device is APS-encrypted with it."""
        await self.cbke_library.store_link_key(suite)
        self.encrypt_unicasts_to([eui64])

    async def _key_table_slot(self, eui64: t.EUI64) -> int:
        """The device's key-table entry if it has one, else the first free entry."""
        (index,) = await self._ezsp.findKeyTableEntry(address=eui64, linkKey=True)
        if index != NO_KEY_TABLE_ENTRY:
            return int(index)
        (_, size) = await self._ezsp.getConfigurationValue(configId=bt.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
        status_field = list(self._ezsp.COMMANDS["exportLinkKeyByIndex"][2]).index("status")  # moved in v14
        for index in range(size):
            response = await self._ezsp.exportLinkKeyByIndex(index=index)
            if bt.sl_Status.from_ember_status(response[status_field]) != bt.sl_Status.OK:
                return index
        raise RadioError(f"the NCP's key table is full ({size} entries): no room for the link key of {eui64}")

    # ----- keys for a sniffer

    async def export_keys(self) -> list[NcpKey]:
        """Every key the NCP holds (network, trust-centre link, key table, transient), read from it now."""
        return await read_ncp_keys(self._ezsp)

    # ----- APS fragmentation

    def aps_payload_limit(self, encrypted: bool, *, fragment: bool = False) -> int:
        """The largest payload one APS frame (or one fragment) carries on this NCP."""
        return payload_limit(encrypted, fragment=fragment, maximum=self.max_aps_payload)

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        """A unicast too big for one APS frame goes out in fragments; everything else as bellows sends it."""
        packet = self.secured(packet)
        if packet.dst.addr_mode == t.AddrMode.NWK:
            encrypted = t.TransmitOptions.APS_Encryption in packet.tx_options
            data = packet.data.serialize()
            if len(data) > self.aps_payload_limit(encrypted):
                await self._send_fragmented(packet, data, encrypted)
                return
        await super().send_packet(packet)  # bellows' own

    async def _send_fragmented(self, packet: t.ZigbeePacket, data: bytes, encrypted: bool) -> None:
        """One fragment at a time (window size 1), each confirmed by its messageSentHandler before the
        next; any fragment that fails fails the message. Every fragment carries the count and its index
        in groupId, and the APS counter the NCP gave fragment 0."""
        fragments = split_fragments(data, self.aps_payload_limit(encrypted, fragment=True))
        options = (
            bt.EmberApsOption.APS_OPTION_RETRY
            | bt.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY
            | bt.EmberApsOption.APS_OPTION_FRAGMENT
        )
        if encrypted:
            options |= bt.EmberApsOption.APS_OPTION_ENCRYPTION
        sequence = int(packet.tsn)
        for index, fragment in enumerate(fragments):
            aps_frame = bt.EmberApsFrame(
                profileId=packet.profile_id, clusterId=packet.cluster_id, sourceEndpoint=packet.src_ep,
                destinationEndpoint=packet.dst_ep or 0, options=options,
                groupId=len(fragments) << 8 | index, sequence=sequence,
            )
            sequence = await self._send_fragment(packet.dst.address, aps_frame, fragment, packet.priority)

    async def _send_fragment(
        self, nwk: t.NWK, aps_frame: bt.EmberApsFrame, fragment: bytes, priority: int | None
    ) -> int:
        """sendUnicast one fragment and wait for its messageSentHandler through bellows' own pending-send
        table (`_pending_requests`, resolved by its `_handle_frame_sent`); returns the APS counter used."""
        async with self._limit_concurrency(priority=priority):
            message_tag = self.get_sequence()
            pending_tag = (nwk, message_tag)
            if pending_tag in self._pending_requests:
                raise zigpy.exceptions.DeliveryError(f"Packet with tag {pending_tag} is already pending, cannot send")
            sent = self._pending_requests[pending_tag] = asyncio.get_running_loop().create_future()
            try:
                async with self._req_lock:
                    status, sequence = await self._ezsp.send_unicast(
                        nwk=nwk, aps_frame=aps_frame, message_tag=message_tag, data=fragment
                    )
                if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK:
                    raise zigpy.exceptions.DeliveryError(f"Failed to enqueue fragment: {status!r}", status)
                async with asyncio.timeout(MESSAGE_SEND_TIMEOUT_MAINS):
                    send_status, _ = await sent
                if bt.sl_Status.from_ember_status(send_status) != bt.sl_Status.OK:
                    raise zigpy.exceptions.DeliveryError(f"Failed to deliver fragment: {send_status!r}", send_status)
            finally:
                del self._pending_requests[pending_tag]
        return int(sequence)


def split_fragments(data: bytes, size: int) -> list[bytes]:
    """`data` cut into APS fragment payloads of at most `size` bytes; a message that needs more than 255
    cannot be sent."""
    try:
        return split_payload(data, size)
    except ValueError as exc:
        raise zigpy.exceptions.DeliveryError(str(exc)) from None


def check_port(port: str) -> None:
    """A one-line error for a device path that is missing or not ours to open (URLs are left to pyserial)."""
    if "://" in port:
        return
    if not os.path.exists(port):
        raise RadioError(f"cannot open {port}: no such serial port")
    if not os.access(port, os.R_OK | os.W_OK):
        raise RadioError(f"cannot open {port}: permission denied (is your user in the dialout group?)")


async def open_bellows_radio(settings: SerialSettings, state_dir: Path) -> HubControllerApplication:
    """Start the coordinator, forming a network on first use; serial failures become one-line RadioErrors."""
    check_port(settings.port)
    config = hub_zigpy_config(state_dir, device=settings.device_config(), channel=settings.channel)
    try:
        return await HubControllerApplication.new(config, auto_form=True, start_radio=True)
    except (OSError, serial.SerialException, ConnectionError, TimeoutError, TransientConnectionError) as exc:
        raise RadioError(f"cannot open {settings.port}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The innermost cause's message on one line (zigpy wraps serial errors in its own)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, TimeoutError):
        return "no EZSP coordinator answered (timed out)"
    errno = getattr(exc, "errno", None)
    text = os.strerror(errno) if isinstance(errno, int) else getattr(exc, "strerror", None)
    if not text and len(exc.args) == 2 and isinstance(exc.args[1], str):
        text = exc.args[1]  # pyserial: (errno, message)
    text = (text or str(exc) or type(exc).__name__).splitlines()[0]
    if "busy" in text.lower() or "lock" in text.lower():
        return f"device busy ({text})"
    return text
