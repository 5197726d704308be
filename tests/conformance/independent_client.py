"""An OTA Upgrade client written independently of hubfw's simulated devices, to judge the conformance run by.

It speaks ZCL OTA with zigpy's own schemas (`zigpy.zcl.clusters.general.Ota` command definitions, `foundation`
headers and records, `zigpy.zdo.types` descriptors) and nothing of `hubfw.sim.devices`: only the simulated air's
duck-typed device interface (`identity`, `behaviour.sleepy`, `gb`, `joined`/`powered`, `hears`, `on_join`,
`on_frame`, `next_deadline`, `tick`) and the air's `ApsFrame`. It does not run Smart Energy key establishment, so
it joins a hub that runs none (`SimulatedBench(cbke=False)`).

What it does, and so what a run must find:
- answers ImageNotify with QueryNextImage (with its hardware version), downloads by ImageBlockRequest of
  `block_size` bytes, sends UpgradeEnd SUCCESS, activates on the UpgradeEndResponse's time;
- honours WAIT_FOR_DATA's request time and MinimumBlockPeriod (unless `ignores_wait_for_data`: the deliberate
  misbehaviour, asking again after one second whatever the wait);
- after an unanswered request asks again from the same offset every `retry_s` for as long as it takes;
- after ABORT asks nothing more of that image and queries afresh `requery_s` later;
- does NOT check the image it downloaded (no integrity check): it would activate a corrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota

from hubfw.zigbee.aps import ApsFrame

SE_PROFILE = 0x0109
ZDO_PROFILE = 0x0000
ENDPOINT = 1
HUB_NWK = 0x0000
Status = foundation.Status
QUERY = Ota.ServerCommandDefs.query_next_image
BLOCK = Ota.ServerCommandDefs.image_block
END = Ota.ServerCommandDefs.upgrade_end
NOTIFY = Ota.ClientCommandDefs.image_notify
QUERY_RESPONSE = Ota.ClientCommandDefs.query_next_image_response
BLOCK_RESPONSE = Ota.ClientCommandDefs.image_block_response
END_RESPONSE = Ota.ClientCommandDefs.upgrade_end_response
WAIT_FOREVER = 0xFFFFFFFF


@dataclass
class IndependentOtaClient:
    ieee: t.EUI64
    nwk: int
    manufacturer_code: int
    image_type: int
    file_version: int
    hardware_version: int = 2
    block_size: int = 48
    block_gap_s: float = 0.25
    """Between one block's answer and the next request (a real radio's pace; it also leaves a middle to interrupt)."""
    ignores_wait_for_data: bool = False
    retry_s: float = 30.0
    response_timeout_s: float = 10.0
    requery_s: float = 60.0
    query_interval_s: float = 3600.0

    joined: bool = False
    powered: bool = True
    gb: None = None
    hub_ieee: t.EUI64 | None = None
    hub_ep: int = ENDPOINT
    offer: tuple[int, int] | None = None
    """(file_version, image_size) being downloaded."""
    data: bytearray = field(default_factory=bytearray)
    waiting: bool = False
    """A request is out and unanswered."""
    due: float | None = None
    action: str = "query"
    block_period_s: float = 0.0
    last_request_at: float | None = None
    activate: tuple[float, int] | None = None
    downloaded: int | None = None
    """A downloaded image waiting for its activation."""
    tsn: int = 0
    log: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.identity = SimpleNamespace(ieee=self.ieee, nwk=t.NWK(self.nwk), install_code=None)
        self.behaviour = SimpleNamespace(sleepy=None)

    # ------------------------------------------------------------------ the air's device interface

    def hears(self, frame: ApsFrame) -> bool:
        return not frame.aps_encrypted

    def on_join(self, now: float) -> None:
        self.joined = True
        self._schedule("query", now + self.query_interval_s)

    def next_deadline(self) -> float | None:
        times = [time for time in (self.due, None if self.activate is None else self.activate[0]) if time is not None]
        return min(times, default=None)

    def tick(self, now: float) -> list[ApsFrame]:
        out: list[ApsFrame] = []
        if self.activate is not None and self.activate[0] <= now:
            self.file_version = self.activate[1]
            self.log.append((now, f"runs 0x{self.file_version:08X}"))
            self.activate = None
            self._schedule("query", now + self.requery_s)
        if self.due is not None and self.due <= now:
            self.due = None
            if self.waiting:  # the last request went unanswered: ask again, from where the download stands
                self.waiting = False
                self._schedule(self.action, now + self.retry_s)
            elif self.action == "query":
                out.append(self._query(now))
            elif self.action == "block":
                out.append(self._block(now))
            elif self.action == "end":
                out.append(self._end(now))
        return out

    def on_frame(self, frame: ApsFrame, now: float) -> list[ApsFrame]:
        if frame.profile == ZDO_PROFILE:
            return self._zdo(frame)
        header, rest = foundation.ZCLHeader.deserialize(frame.payload)
        if frame.cluster == Basic.cluster_id or (frame.cluster == Ota.cluster_id and not header.frame_control.is_cluster):
            return self._read_attributes(frame, header, rest)
        if frame.cluster != Ota.cluster_id or header.direction != foundation.Direction.Server_to_Client:
            return []
        self.hub_ieee, self.hub_ep = frame.src_ieee, frame.src_ep
        out = [] if header.frame_control.disable_default_response else [self._default_response(frame, header)]
        command = header.command_id
        if command == NOTIFY.id:
            if self.offer is None and not self.waiting:
                self._schedule("query", now + 1)
        elif command == QUERY_RESPONSE.id:
            self._on_query_response(QUERY_RESPONSE.schema.deserialize(rest)[0], now)
        elif command == BLOCK_RESPONSE.id:
            self._on_block_response(BLOCK_RESPONSE.schema.deserialize(rest)[0], now)
        elif command == END_RESPONSE.id:
            self._on_end_response(END_RESPONSE.schema.deserialize(rest)[0], now)
        return out

    # ------------------------------------------------------------------ OTA

    def _on_query_response(self, response: foundation.CommandSchema, now: float) -> None:
        if self.action != "query" or not self.waiting:
            return
        self.waiting = False
        if response.status != Status.SUCCESS:
            self._schedule("query", now + self.query_interval_s)
            return
        if self.offer != (response.file_version, response.image_size):
            self.offer, self.data = (response.file_version, response.image_size), bytearray()
        self._schedule("block", now)

    def _on_block_response(self, response: foundation.CommandSchema, now: float) -> None:
        if self.action != "block" or not self.waiting or self.offer is None:
            return
        self.waiting = False
        if response.status == Status.WAIT_FOR_DATA:
            if response.minimum_block_period:
                self.block_period_s = response.minimum_block_period / 1000
            wait = int(response.request_time) - int(response.current_time) if response.current_time else int(
                response.request_time)
            if self.ignores_wait_for_data:
                wait = 1
            self._schedule("block", now + max(0, wait))
            return
        if response.status != Status.SUCCESS:  # ABORT: drop this image, query afresh later
            self.log.append((now, f"aborted at {len(self.data)}"))
            self.offer, self.data = None, bytearray()
            self._schedule("query", now + self.requery_s)
            return
        if response.file_version != self.offer[0] or response.file_offset != len(self.data):
            self._schedule("block", now)
            return
        self.data += response.image_data
        if len(self.data) >= self.offer[1]:
            self._schedule("end", now)
            return
        self._schedule("block", max(now + self.block_gap_s, (self.last_request_at or now) + self.block_period_s))

    def _on_end_response(self, response: foundation.CommandSchema, now: float) -> None:
        version = int(response.file_version)
        if version not in (None if self.offer is None else self.offer[0], self.downloaded):
            return
        if self.offer is not None:
            self.waiting = False
            self.offer, self.data, self.downloaded = None, bytearray(), version
            self._schedule("query", now + self.query_interval_s)
        if int(response.upgrade_time) == WAIT_FOREVER:
            self.log.append((now, f"0x{version:08X} waits for the hub's command"))
            return
        delay = int(response.upgrade_time) - int(response.current_time) if response.current_time else int(
            response.upgrade_time)
        self.activate = (now + max(0, delay), version)
        self.downloaded = None

    def _schedule(self, action: str, at: float | None) -> None:
        self.action, self.due = action, at

    def _query(self, now: float) -> ApsFrame:
        control = Ota.QueryNextImageCommand.FieldControl.HardwareVersion
        command = QUERY.schema(field_control=control, manufacturer_code=self.manufacturer_code,
                               image_type=self.image_type, current_file_version=self.file_version,
                               hardware_version=self.hardware_version)
        return self._request(now, QUERY.id, command)

    def _block(self, now: float) -> ApsFrame:
        assert self.offer is not None
        command = BLOCK.schema(field_control=0, manufacturer_code=self.manufacturer_code, image_type=self.image_type,
                               file_version=self.offer[0], file_offset=len(self.data),
                               maximum_data_size=self.block_size)
        self.last_request_at = now
        return self._request(now, BLOCK.id, command)

    def _end(self, now: float) -> ApsFrame:
        assert self.offer is not None
        command = END.schema(status=Status.SUCCESS, manufacturer_code=self.manufacturer_code,
                             image_type=self.image_type, file_version=self.offer[0])
        return self._request(now, END.id, command)

    def _request(self, now: float, command_id: int, command: foundation.CommandSchema) -> ApsFrame:
        self.waiting = True
        self.due = now + self.response_timeout_s
        self.tsn = (self.tsn + 1) % 256
        header = foundation.ZCLHeader.cluster(self.tsn, command_id)
        return self._frame(Ota.cluster_id, SE_PROFILE, ENDPOINT, self.hub_ep, header.serialize() + command.serialize())

    # ------------------------------------------------------------------ what zigpy's interview asks

    def _zdo(self, frame: ApsFrame) -> list[ApsFrame]:
        seq, cluster = frame.payload[:1], frame.cluster
        head = bytes([Status.SUCCESS]) + t.NWK(self.nwk).serialize()
        if cluster == zdo_t.ZDOCmd.Node_Desc_req:
            descriptor = zdo_t.NodeDescriptor(
                logical_type=zdo_t.LogicalType.Router, complex_descriptor_available=0, user_descriptor_available=0,
                reserved=0, aps_flags=0, frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
                mac_capability_flags=zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
                | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle,
                manufacturer_code=self.manufacturer_code, maximum_buffer_size=82, maximum_incoming_transfer_size=82,
                server_mask=0, maximum_outgoing_transfer_size=82, descriptor_capability_field=0)
            body = head + descriptor.serialize()
        elif cluster == zdo_t.ZDOCmd.Active_EP_req:
            body = head + t.LVList[t.uint8_t, t.uint8_t]([ENDPOINT]).serialize()
        elif cluster == zdo_t.ZDOCmd.Simple_Desc_req:
            descriptor = zdo_t.SizePrefixedSimpleDescriptor(
                endpoint=ENDPOINT, profile=SE_PROFILE, device_type=0x0507, device_version=0,
                input_clusters=[Basic.cluster_id], output_clusters=[Ota.cluster_id])
            body = head + descriptor.serialize()
        else:
            return []
        return [self._frame(cluster | 0x8000, ZDO_PROFILE, 0, 0, seq + body, to=frame)]

    def _read_attributes(self, frame: ApsFrame, header: foundation.ZCLHeader, rest: bytes) -> list[ApsFrame]:
        if header.command_id != foundation.GeneralCommand.Read_Attributes:
            return []
        request, _ = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema.deserialize(rest)
        values = {Basic.cluster_id: {0x0004: (0x42, t.CharacterString("independent client")),
                                     0x0005: (0x42, t.CharacterString("not hubfw"))},
                  Ota.cluster_id: {0x0002: (0x23, t.uint32_t(self.file_version))}}[frame.cluster]
        records = []
        for attribute in request.attribute_ids:
            if attribute in values:
                kind, value = values[attribute]
                records.append(foundation.ReadAttributeRecord(attrid=attribute, status=Status.SUCCESS,
                                                              value=foundation.TypeValue(type=kind, value=value)))
            else:
                records.append(foundation.ReadAttributeRecord(attrid=attribute, status=Status.UNSUPPORTED_ATTRIBUTE))
        direction = foundation.Direction.Server_to_Client if frame.cluster == Basic.cluster_id \
            else foundation.Direction.Client_to_Server
        response = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(
            status_records=records)
        out = foundation.ZCLHeader.general(header.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                           direction=direction)
        return [self._frame(frame.cluster, frame.profile, frame.dst_ep, frame.src_ep,
                            out.serialize() + response.serialize(), to=frame)]

    def _default_response(self, frame: ApsFrame, header: foundation.ZCLHeader) -> ApsFrame:
        response = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema(
            command_id=header.command_id, status=Status.SUCCESS)
        out = foundation.ZCLHeader.general(header.tsn, foundation.GeneralCommand.Default_Response,
                                           direction=foundation.Direction.Client_to_Server)
        return self._frame(frame.cluster, frame.profile, frame.dst_ep, frame.src_ep,
                           out.serialize() + response.serialize(), to=frame)

    def _frame(self, cluster: int, profile: int, src_ep: int, dst_ep: int, payload: bytes,
               to: ApsFrame | None = None) -> ApsFrame:
        hub = to.src_ieee if to is not None else self.hub_ieee
        return ApsFrame(src_ieee=self.ieee, src_nwk=t.NWK(self.nwk), dst_ieee=hub or t.EUI64.convert("00" * 8),
                        dst_nwk=t.NWK(HUB_NWK), profile=profile, cluster=cluster, src_ep=src_ep, dst_ep=dst_ep,
                        payload=payload, aps_counter=self.tsn)


__all__ = ["IndependentOtaClient"]
