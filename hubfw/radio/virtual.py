"""An in-process zigpy radio: no serial port, no NCP — frames go straight to a simulated HAN.

It is a real zigpy `ControllerApplication` (database, device objects, joins, ZDO) with the OTA
interception on top, so everything above the radio behaves as on a dongle; only the EZSP link is
missing. Devices reach it through `receive` and `join` (the two methods `SimulatedNcp` offers, so
`hubfw.sim.devices.SimulatedAir` attaches to either), and it reaches them through `Air.deliver`.

Like an NCP it keeps a link key per device (install-code derived, the well-known key, or the CBKE key
`install_link_key` puts in), stamps it on the frames it APS-encrypts and drops encrypted frames secured
with another key. It APS-encrypts by the hub's one rule (`OtaInterceptMixin.secured`): only to a device
with a key `install_link_key` put in. Unlike an NCP it has no APS payload limit, so it never fragments; its
join keys never time out (an NCP's last 300 s: `hubfw.sim.ncp.keys`); and its keys live in memory only:
after a restart a device must establish its key again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import zigpy.application
import zigpy.device
import zigpy.exceptions
import zigpy.state
import zigpy.types as t
import zigpy.util
from zigpy.zdo import types as zdo_t

from hubfw.capture.frames import Direction
from hubfw.radio.air import Air
from hubfw.radio.intercept import MatchDescriptorRequest, OtaInterceptMixin
from hubfw.radio.ncp_keys import KeyKind, NcpKey
from hubfw.zigbee.aps import MAX_APS_PAYLOAD, ApsFrame
from hubfw.zigbee.ids import ZDO_ENDPOINT, ZDO_PROFILE

LOGGER = logging.getLogger(__name__)

VIRTUAL_COORDINATOR_IEEE = t.EUI64.convert("00:0d:6f:ff:fe:00:00:01")
BROADCAST_IEEE = t.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
BROADCAST_NWK_LOWEST = 0xFFF8
_PAN_ID = t.PanId(0x1A62)
_EXTENDED_PAN_ID = t.ExtendedPanId.convert("48:55:42:46:57:00:00:01")  # "HUBFW" + 1
_NETWORK_KEY = t.KeyData.convert("48:55:42:46:57:2d:76:69:72:74:75:61:6c:2d:6b:79")
WELL_KNOWN_LINK_KEY = t.KeyData(b"ZigBeeAlliance09")
"""The link key of a device that joined without an install code."""


class SilentAir:
    """A HAN with nobody on it: every unicast goes unacknowledged."""

    def deliver(self, frame: ApsFrame) -> bool:
        return False


class VirtualControllerApplication(OtaInterceptMixin, zigpy.application.ControllerApplication):
    """A zigpy coordinator whose air interface is an `Air` object in the same event loop."""

    max_aps_payload = MAX_APS_PAYLOAD
    """What an EmberZNet NCP reports as its maximum APS payload."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.han: Air = SilentAir()
        self._connected = False
        self._endpoints: list[zdo_t.SimpleDescriptor] = []
        self._link_keys: dict[t.EUI64, t.KeyData] = {}
        self._permit_until = 0.0

    # ----- the devices' side (what SimulatedNcp offers too)

    def receive(self, frame: ApsFrame) -> bool:
        """A device's frame for the coordinator; False when it would not be heard (radio down, not joined).

        zigpy hears it on the next loop iteration, as it would hear an EZSP callback."""
        if not self._connected or frame.src_ieee not in self.devices:
            return False
        if frame.aps_encrypted and frame.link_key not in (None, self.link_key(frame.src_ieee)):
            return False  # its MIC does not check out under the key we hold for it
        options = t.TransmitOptions.APS_Encryption if frame.aps_encrypted else t.TransmitOptions.NONE
        if frame.dst_nwk >= BROADCAST_NWK_LOWEST:
            dst = t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=frame.dst_nwk)
        else:
            dst = t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=self.state.node_info.nwk)
        packet = t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=frame.src_nwk),
            src_ep=frame.src_ep,
            dst=dst,
            dst_ep=frame.dst_ep,
            tsn=frame.aps_counter,
            profile_id=frame.profile,
            cluster_id=frame.cluster,
            data=t.SerializableBytes(frame.payload),
            tx_options=options,
            lqi=255,
            rssi=-40,
        )
        asyncio.get_running_loop().call_soon(self.packet_received, packet)
        return True

    def join(self, eui64: t.EUI64, nwk: t.NWK, install_code: bytes | None = None) -> bool:
        """Trust-centre join: a known device rejoins; a new one needs open joins, and with an
        install code its derived link key must be the one registered by `permit_with_link_key`."""
        if not self._connected:
            return False
        if eui64 not in self.devices:
            if install_code is not None:
                try:
                    key = zigpy.util.convert_install_code(install_code)
                except ValueError:
                    return False
                if self._link_keys.get(eui64) != key:
                    return False
            elif asyncio.get_running_loop().time() >= self._permit_until:
                return False
        self.handle_join(nwk=nwk, ieee=eui64, parent_nwk=self.state.node_info.nwk)
        return True

    # ----- zigpy radio API

    async def connect(self) -> None:
        self._connected = True
        self._endpoints.clear()
        await self.register_endpoints()

    async def disconnect(self) -> None:
        self._connected = False

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        """A fixed network, so a restarted hub finds the one its zigpy database remembers."""
        self.state.node_info = zigpy.state.NodeInfo(
            nwk=t.NWK(0x0000), ieee=VIRTUAL_COORDINATOR_IEEE, logical_type=zdo_t.LogicalType.Coordinator,
            model="virtual radio", manufacturer="hubfw", version="1",
        )
        self.state.network_info = zigpy.state.NetworkInfo(
            extended_pan_id=_EXTENDED_PAN_ID, pan_id=_PAN_ID, channel=15,
            channel_mask=t.Channels.from_channel_list([15]), security_level=5,
            network_key=zigpy.state.Key(key=_NETWORK_KEY), source="hubfw.radio.virtual",
        )

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        """The virtual network is fixed; nothing to write."""

    async def reset_network_info(self) -> None:
        """The virtual network is fixed; nothing to leave."""

    async def start_network(self) -> None:
        await self.load_network_info()
        coordinator = self.add_device(self.state.node_info.ieee, self.state.node_info.nwk)
        coordinator.model, coordinator.manufacturer = self.state.node_info.model, self.state.node_info.manufacturer
        for descriptor in self._endpoints:
            endpoint = coordinator.add_endpoint(descriptor.endpoint)
            endpoint.profile_id = descriptor.profile
            endpoint.device_type = descriptor.device_type
            for cluster_id in descriptor.input_clusters:
                endpoint.add_input_cluster(cluster_id)
            for cluster_id in descriptor.output_clusters:
                endpoint.add_output_cluster(cluster_id)

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        self._endpoints.append(descriptor)

    async def force_remove(self, dev: zigpy.device.Device) -> None:
        self._link_keys.pop(dev.ieee, None)

    async def permit_ncp(self, time_s: int = 60) -> None:
        self._permit_until = asyncio.get_running_loop().time() + time_s

    async def permit_with_link_key(self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60) -> None:
        self._link_keys[node] = link_key
        await self.permit(time_s)

    async def install_link_key(self, eui64: t.EUI64, key: t.KeyData) -> None:
        """Record a CBKE link key: later encrypted frames to and from the device use it."""
        self._link_keys[eui64] = key
        self.encrypt_unicasts_to([eui64])

    async def export_keys(self) -> list[NcpKey]:
        """The keys this radio holds, as `HubControllerApplication.export_keys` reads an NCP's: its network key, the
        well-known key as its trust-centre link key, and each device's key (install-code derived or CBKE)."""
        return [NcpKey(KeyKind.NETWORK, _NETWORK_KEY, sequence=0),
                NcpKey(KeyKind.TRUST_CENTRE_LINK, WELL_KNOWN_LINK_KEY),
                *(NcpKey(KeyKind.LINK, key, eui64) for eui64, key in self._link_keys.items())]

    def link_key(self, eui64: t.EUI64) -> t.KeyData:
        """The APS link key this radio holds for a device."""
        return self._link_keys.get(eui64, WELL_KNOWN_LINK_KEY)

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        """Hand the frame to the HAN; a unicast nobody acknowledges is a DeliveryError, as from an NCP."""
        if not self._connected:
            raise zigpy.exceptions.DeliveryError("the virtual radio is not connected")
        packet = self.secured(packet)
        dst_ieee, dst_nwk = self._destination(packet.dst)
        encrypted = t.TransmitOptions.APS_Encryption in packet.tx_options
        frame = ApsFrame(
            src_ieee=self.state.node_info.ieee, src_nwk=self.state.node_info.nwk, dst_ieee=dst_ieee, dst_nwk=dst_nwk,
            profile=int(packet.profile_id), cluster=int(packet.cluster_id), src_ep=int(packet.src_ep),
            dst_ep=int(packet.dst_ep), payload=packet.data.serialize(), aps_encrypted=encrypted,
            aps_counter=int(packet.tsn), link_key=self.link_key(dst_ieee) if encrypted else None,
        )
        self.capture_frame(
            Direction.TX, src_nwk=frame.src_nwk, dst_nwk=frame.dst_nwk, profile=frame.profile, cluster=frame.cluster,
            src_ep=frame.src_ep, dst_ep=frame.dst_ep, aps_counter=frame.aps_counter, payload=frame.payload,
            group=int(packet.dst.address) if packet.dst.addr_mode == t.AddrMode.Group else None,
            ack_request=packet.dst.addr_mode in (t.AddrMode.NWK, t.AddrMode.IEEE), aps_encrypted=encrypted,
        )
        delivered = self.han.deliver(frame)
        if not delivered and packet.dst.addr_mode in (t.AddrMode.NWK, t.AddrMode.IEEE):
            raise zigpy.exceptions.DeliveryError(f"no APS ACK from {dst_ieee} (0x{dst_nwk:04X})")

    def answer_se_match_descriptor(self, packet: t.ZigbeePacket, request: MatchDescriptorRequest) -> None:
        """What an NCP does with a Match_Desc_req: answer from the registered endpoints (a broadcast
        request only when something matches; one about another node not at all)."""
        own = self.state.node_info.nwk
        if request.nwk_of_interest != own and request.nwk_of_interest < 0xFFFD:
            return
        matches = [descriptor.endpoint for descriptor in self._endpoints if request.matches(descriptor)]
        broadcast = packet.dst is not None and packet.dst.addr_mode == t.AddrMode.Broadcast
        if broadcast and not matches:
            return
        body = t.serialize(
            [zdo_t.Status.SUCCESS, own, [t.uint8_t(endpoint) for endpoint in matches]],
            zdo_t.CLUSTERS[zdo_t.ZDOCmd.Match_Desc_rsp][1],
        )
        answer = t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=own), src_ep=ZDO_ENDPOINT, dst=packet.src,
            dst_ep=ZDO_ENDPOINT, tsn=request.tsn, profile_id=ZDO_PROFILE, cluster_id=zdo_t.ZDOCmd.Match_Desc_rsp,
            data=t.SerializableBytes(bytes([request.tsn]) + body), tx_options=t.TransmitOptions.ACK,
        )
        self.create_task(self._send_zdo_answer(answer), "hubfw-match-desc-rsp")

    async def _send_zdo_answer(self, packet: t.ZigbeePacket) -> None:
        try:
            await self.send_packet(packet)
        except zigpy.exceptions.DeliveryError as exc:
            LOGGER.debug("Match_Desc_rsp not delivered: %s", exc)

    def _destination(self, address: t.AddrModeAddress) -> tuple[t.EUI64, t.NWK]:
        if address.addr_mode == t.AddrMode.Broadcast:
            return BROADCAST_IEEE, t.NWK(address.address)
        if address.addr_mode == t.AddrMode.Group:
            return BROADCAST_IEEE, t.NWK(0xFFFF)  # groupcast: everyone hears it, members act on it
        try:
            device = self.get_device_with_address(address)
        except KeyError:
            raise zigpy.exceptions.DeliveryError(f"no route to unknown device {address.address}") from None
        return device.ieee, device.nwk
