"""Intercept the OTA Upgrade cluster before zigpy sees it, for any zigpy radio library.

zigpy 2.4 drops Smart Energy (0x0109) frames before they reach clusters or listeners, and its
built-in `Ota` cluster answers HA (0x0104) QueryNextImage with NO_IMAGE_AVAILABLE and ImageBlock
with ABORT even when zigpy's OTA is disabled. So OTA frames on either profile are taken out in
`packet_received` and never handed to zigpy; the hub's OTA server answers them instead.

Service discovery has the same gap: zigpy answers every ZDO Match_Desc_req for a profile other
than HA with an empty match list, so a Smart Energy device looking for the OTA server would be told
there is none. Those requests are kept from zigpy too; an EZSP NCP answers them itself from the
endpoints registered with it, and a radio without one (the virtual radio) answers them likewise.

The hub's other Smart Energy clusters (Key Establishment, Time, Metering, Tunneling, Basic on its SE
endpoint) go the same way as OTA: a frame the HAN handler accepts is taken from zigpy and answered by
it. Once a device holds a CBKE link key, every unicast to it is APS-encrypted, whatever its profile.

Before that, nothing to it is: APS encryption is asked of the NCP only under a key the hub put in its key
table. A real NCP holds no other key a device shares for the hub's frames (`hubfw.sim.ncp.keys`): the
install-code key a device joins with is a transient key, never used for a host's frames and gone after
300 s, and the trust-centre link key bellows forms the network with is hashed per device from a root no
Smart Energy device learns. Silicon Labs' own Comms Hub Function opens a GBCS tunnel only to a device whose
key-table entry is authorized by CBKE (comms-hub-function.c); Key Establishment itself runs under network
security only. So a frame asked to travel APS-encrypted (a Smart Energy reply) to a device without one goes
under network security alone, and a GB device, which takes Smart Energy frames only under its CBKE key,
ignores it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import zigpy.exceptions
import zigpy.types as t
from zigpy.device import ResponseKey
from zigpy.zcl import foundation
from zigpy.zdo import types as zdo_t

from hubfw.capture.frames import CapturedFrame, Direction, Fragment
from hubfw.clock import Clock
from hubfw.zigbee.aps import IncomingFrame, OutgoingFrame
from hubfw.zigbee.ids import (
    HOME_AUTOMATION_PROFILE,
    KEY_ESTABLISHMENT_CLUSTER,
    OTA_CLUSTER,
    SMART_ENERGY_PROFILE,
    ZDO_ENDPOINT,
    ZDO_PROFILE,
)

LOGGER = logging.getLogger(__name__)

INTERCEPTED_PROFILES = frozenset({HOME_AUTOMATION_PROFILE, SMART_ENERGY_PROFILE})

OtaFrameHandler = Callable[[IncomingFrame], Sequence[OutgoingFrame]]
"""The hub's OTA server entry: one received frame in, the frames to answer with out."""
HanFrameFilter = Callable[[IncomingFrame], bool]
"""Whether the hub's HAN server takes a frame (`HanServer.handles`)."""
CaptureHook = Callable[[CapturedFrame], None]
"""Takes every APS frame the radio sends and receives (`set_capture`): the hub's capture (hubfw.capture)."""


def is_ota_packet(packet: t.ZigbeePacket) -> bool:
    return packet.cluster_id == OTA_CLUSTER and packet.profile_id in INTERCEPTED_PROFILES


@dataclass(frozen=True)
class MatchDescriptorRequest:
    """A ZDO Match_Desc_req: which endpoints of `nwk_of_interest` serve these clusters on `profile`?"""

    tsn: int
    nwk_of_interest: int
    profile: int
    in_clusters: tuple[int, ...]
    out_clusters: tuple[int, ...]

    @classmethod
    def parse(cls, packet: t.ZigbeePacket) -> MatchDescriptorRequest | None:
        if (packet.profile_id != ZDO_PROFILE or packet.dst_ep != ZDO_ENDPOINT
                or packet.cluster_id != zdo_t.ZDOCmd.Match_Desc_req):
            return None
        try:
            header, rest = zdo_t.ZDOHeader.deserialize(packet.cluster_id, packet.data.serialize())
            (nwk, profile, in_clusters, out_clusters), _ = t.deserialize(rest, zdo_t.CLUSTERS[header.command_id][1])
        except (ValueError, KeyError):
            return None
        return cls(int(header.tsn), int(nwk), int(profile), tuple(in_clusters), tuple(out_clusters))

    def matches(self, descriptor: zdo_t.SimpleDescriptor) -> bool:
        """Zigbee: same profile, and at least one requested cluster on the matching side."""
        return descriptor.profile == self.profile and bool(
            set(self.in_clusters) & set(descriptor.input_clusters)
            or set(self.out_clusters) & set(descriptor.output_clusters)
        )


@functools.lru_cache(maxsize=4096)
def nwk_address(nwk: int) -> t.AddrModeAddress:
    """zigpy's address of a NWK address, built once per address: building one costs more than the rest
    of a block's send, and every block needs two."""
    return t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=t.NWK(nwk))


_MANUFACTURER_SPECIFIC = 0x04
"""ZCL frame control bit: a 2-byte manufacturer code follows the frame control."""
_DIRECTION_SHIFT = 3
"""ZCL frame control bit 3: 0 client to server, 1 server to client (zigpy's foundation.Direction values)."""


def zcl_tsn(zcl: bytes) -> int:
    """The ZCL transaction sequence number of a frame (after the manufacturer code, if any).

    Read straight from the bytes: it runs for every block sent, and a full header parse was
    nearly half of the hub's cost per block."""
    return zcl[3] if zcl[0] & _MANUFACTURER_SPECIFIC else zcl[1]


class OtaInterceptMixin:
    """Put first in the bases of a zigpy `ControllerApplication` subclass.

    OTA-cluster frames from known devices go to the handler set with `set_ota_handler` and never
    to zigpy; a frame from an unknown NWK address goes to zigpy, which starts discovering the
    device and drops the frame (the device will ask again). Replies are sent with an APS ACK, with
    APS encryption when the frame asks for it, and not before their `not_before` time.
    """

    _ota_handler: OtaFrameHandler | None = None
    _ota_clock: Clock | None = None
    _han_handler: OtaFrameHandler | None = None
    _han_accepts: HanFrameFilter | None = None
    _keyed: frozenset[t.EUI64] = frozenset()
    """Devices holding a CBKE link key in the coordinator: every unicast to them is APS-encrypted."""
    _capture: CaptureHook | None = None
    _capture_muted = False
    """Set while a reassembled message goes up the stack: its fragments were captured one by one already."""

    def set_ota_handler(self, handler: OtaFrameHandler | None, clock: Clock | None = None) -> None:
        """Route OTA frames to `handler`; `clock` is the one `OutgoingFrame.not_before` is measured on."""
        self._ota_handler = handler
        self._ota_clock = clock

    def set_han_handler(self, handler: OtaFrameHandler | None, accepts: HanFrameFilter | None = None) -> None:
        """Route the frames `accepts` takes (the HAN server's clusters on its endpoint) to `handler`."""
        self._han_handler = handler
        self._han_accepts = accepts

    def encrypt_unicasts_to(self, eui64s: Iterable[t.EUI64]) -> None:
        """These devices hold a link key the coordinator knows (installed now or before a restart):
        APS-encrypt every unicast to them from now on."""
        self._keyed = self._keyed | frozenset(eui64s)

    # ----- capture

    def set_capture(self, hook: CaptureHook | None) -> None:
        """Hand every APS frame sent and received to `hook` from now on (None: stop). The radio calls
        `capture_frame` where it knows a frame's APS counter and fragment: every frame received in
        `packet_received` (bellows: each fragment in `_take_fragment`), every frame sent where it goes to the
        air or the NCP (`send_packet` of the virtual radio; bellows: the EZSP send commands)."""
        self._capture = hook

    def capture_frame(self, direction: Direction, *, src_nwk: int, dst_nwk: int, profile: int, cluster: int,
                      src_ep: int, dst_ep: int, aps_counter: int, payload: bytes, group: int | None = None,
                      fragment: Fragment | None = None, ack_request: bool = True, ack_bitfield: int | None = None,
                      aps_encrypted: bool = False) -> None:
        """One APS frame for the capture, with the IEEE addresses the radio knows for its NWK addresses."""
        hook = self._capture
        if hook is None:
            return
        try:
            hook(CapturedFrame(
                direction=direction, src_nwk=int(src_nwk), dst_nwk=int(dst_nwk), profile=int(profile),
                cluster=int(cluster), src_ep=int(src_ep), dst_ep=int(dst_ep), aps_counter=int(aps_counter) & 0xFF,
                payload=bytes(payload), src_ieee=self._ieee_number(src_nwk), dst_ieee=self._ieee_number(dst_nwk),
                fragment=fragment, group=group, ack_request=ack_request, ack_bitfield=ack_bitfield,
                aps_encrypted=aps_encrypted,
            ))
        except Exception:  # a capture must never cost the radio a frame
            LOGGER.exception("capture failed on a frame")

    def _capture_received(self, packet: t.ZigbeePacket) -> None:
        if self._capture is None or self._capture_muted or packet.src is None or packet.dst is None:
            return
        group = int(packet.dst.address) if packet.dst.addr_mode == t.AddrMode.Group else None
        dst_nwk = self.state.node_info.nwk if group is not None else packet.dst.address  # type: ignore[attr-defined]
        self.capture_frame(
            Direction.RX, src_nwk=packet.src.address, dst_nwk=dst_nwk, profile=packet.profile_id,
            cluster=packet.cluster_id, src_ep=packet.src_ep or 0, dst_ep=packet.dst_ep or 0,
            aps_counter=packet.tsn or 0, payload=packet.data.serialize(), group=group,
            ack_request=packet.dst.addr_mode == t.AddrMode.NWK,
            aps_encrypted=t.TransmitOptions.APS_Encryption in packet.tx_options,
        )

    def _ieee_number(self, nwk: int) -> int | None:
        """The EUI-64 (as a number) of the node at `nwk`, None for a broadcast or a node the radio does not know."""
        if nwk >= 0xFFF8:
            return None
        node = self.state.node_info  # type: ignore[attr-defined]
        try:
            ieee = node.ieee if nwk == node.nwk else self.get_device(nwk=t.NWK(nwk)).ieee  # type: ignore[attr-defined]
        except KeyError:
            return None
        return int.from_bytes(ieee.serialize(), "little")

    # ----- received frames

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        self._capture_received(packet)
        if self._answers_zigpy(packet):  # zigpy's own request (its interview): zigpy parses HA frames only
            super().packet_received(packet.replace(profile_id=HOME_AUTOMATION_PROFILE))  # type: ignore[misc]
            return
        discovery = MatchDescriptorRequest.parse(packet)
        if discovery is not None and discovery.profile == SMART_ENERGY_PROFILE:
            self.answer_se_match_descriptor(packet, discovery)
            return
        if is_ota_packet(packet):
            frame = self._incoming_frame(packet)
            if frame is not None:
                self._dispatch(frame, self._ota_handler, "OTA server")
                return
        elif self._han_accepts is not None and packet.profile_id in INTERCEPTED_PROFILES and packet.src_ep != 0:
            frame = self._incoming_frame(packet)
            if frame is not None and self._han_accepts(frame):
                self._dispatch(frame, self._han_handler, "HAN server")
                return
        super().packet_received(packet)  # type: ignore[misc]

    def _dispatch(self, frame: IncomingFrame, handler: OtaFrameHandler | None, server: str) -> None:
        """Hand a frame to the hub and send its answers; a failing handler costs only that frame."""
        if handler is None:
            LOGGER.debug("frame from %s before the %s is attached: dropped", frame.source, server)
            return
        try:
            replies = handler(frame)
        except Exception:  # a radio callback must survive anything the server raises
            LOGGER.exception("%s failed on a frame from %s", server, frame.source)
            return
        self.send_ota_frames(replies)

    def _answers_zigpy(self, packet: t.ZigbeePacket) -> bool:
        """A ZCL frame on either intercepted profile that a request zigpy sent is waiting for.

        zigpy drops Smart Energy frames and the OTA server takes OTA-cluster ones, so without this its
        interview (Basic and OTA attribute reads) never completes and it never saves the device: after a
        restart the hub would not know it. `Device._requests` is zigpy 2.4's table of awaited replies
        (the version is pinned)."""
        if packet.profile_id not in INTERCEPTED_PROFILES or packet.src_ep == 0:
            return False
        try:
            device = self.get_device_with_address(packet.src)  # type: ignore[attr-defined]
        except KeyError:
            return False
        awaited = getattr(device, "_requests", None)
        if not awaited:  # the usual case, on every block request: nothing of zigpy's to match
            return False
        zcl = packet.data.serialize()
        if len(zcl) < (5 if zcl[:1] and zcl[0] & _MANUFACTURER_SPECIFIC else 3):
            return False
        direction = foundation.Direction(zcl[0] >> _DIRECTION_SHIFT & 1)
        key = ResponseKey(endpoint_id=packet.src_ep, cluster_id=packet.cluster_id, direction=direction, tsn=zcl_tsn(zcl))
        return key in awaited

    def secured(self, packet: t.ZigbeePacket) -> t.ZigbeePacket:
        """Every unicast to a device holding a CBKE link key travels under it, Key Establishment frames
        excepted; nothing else is APS-encrypted, whoever asked (see the module docstring). Each radio's
        `send_packet` applies it first."""
        encrypt = packet.cluster_id != KEY_ESTABLISHMENT_CLUSTER and self._to_keyed_device(packet.dst)
        asked = t.TransmitOptions.APS_Encryption in packet.tx_options
        if encrypt == asked:
            return packet
        if asked:
            LOGGER.debug("frame to %s sent under network security only: no link key of its own in the coordinator",
                         packet.dst.address)
            return packet.replace(tx_options=packet.tx_options & ~t.TransmitOptions.APS_Encryption)
        return packet.replace(tx_options=packet.tx_options | t.TransmitOptions.APS_Encryption)

    def _to_keyed_device(self, address: t.AddrModeAddress) -> bool:
        if not self._keyed or address.addr_mode not in (t.AddrMode.NWK, t.AddrMode.IEEE):
            return False
        try:
            return self.get_device_with_address(address).ieee in self._keyed  # type: ignore[attr-defined]
        except KeyError:
            return False

    def answer_se_match_descriptor(self, packet: t.ZigbeePacket, request: MatchDescriptorRequest) -> None:
        """Nothing to do on EZSP: the NCP answered already (bellows sets APP_RECEIVES_SUPPORTED_ZDO_REQUESTS,
        so the host only gets a copy). Radios without an NCP override this."""

    def send_ota_frames(self, frames: Sequence[OutgoingFrame]) -> None:
        """Send in order, each no earlier than its `not_before` (ImagePage response spacing)."""
        if frames:
            self.create_task(self._send_in_order(list(frames)), "hubfw-ota-send")  # type: ignore[attr-defined]

    async def _send_in_order(self, frames: list[OutgoingFrame]) -> None:
        for frame in frames:
            if frame.not_before is not None and self._ota_clock is not None:
                delay = frame.not_before - self._ota_clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                await self.send_ota_frame(frame)
            except zigpy.exceptions.DeliveryError as exc:  # device off or away: it retries, the hub re-notifies
                LOGGER.info("OTA frame to %s not delivered: %s", frame.destination, exc)
            except Exception:  # a send must never take the radio's task down
                LOGGER.exception("OTA frame to %s could not be sent", frame.destination)

    async def send_ota_frame(self, frame: OutgoingFrame) -> None:
        """One unicast with the ZCL TSN as APS sequence, an APS ACK and APS encryption if asked."""
        try:
            device = self.get_device(ieee=frame.destination)  # type: ignore[attr-defined]
        except KeyError:
            raise zigpy.exceptions.DeliveryError(f"{frame.destination} has not joined the network") from None
        options = t.TransmitOptions.ACK
        if frame.aps_encrypt:
            options |= t.TransmitOptions.APS_Encryption
        packet = t.ZigbeePacket(
            src=nwk_address(self.state.node_info.nwk),  # type: ignore[attr-defined]
            src_ep=frame.src_ep,
            dst=nwk_address(device.nwk),
            dst_ep=frame.dst_ep,
            tsn=zcl_tsn(frame.zcl),
            profile_id=frame.profile,
            cluster_id=frame.cluster,
            data=t.SerializableBytes(frame.zcl),
            tx_options=options,
        )
        await self.send_packet(packet)  # type: ignore[attr-defined]

    def _incoming_frame(self, packet: t.ZigbeePacket) -> IncomingFrame | None:
        try:
            device = self.get_device_with_address(packet.src)  # type: ignore[attr-defined]
        except KeyError:
            return None
        device.last_seen = datetime.now(UTC)  # zigpy's own bookkeeping, on zigpy's wall clock
        return IncomingFrame(
            source=device.ieee,
            nwk=int(device.nwk),
            profile=int(packet.profile_id),
            src_ep=int(packet.src_ep),
            dst_ep=int(packet.dst_ep),
            cluster=int(packet.cluster_id),
            zcl=packet.data.serialize(),
            aps_encrypted=t.TransmitOptions.APS_Encryption in packet.tx_options,
        )
