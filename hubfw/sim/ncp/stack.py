"""The EmberZNet behaviour behind EZSP: one handler per command bellows sends, by name.

Handlers take the decoded request fields and return the response fields by their names in the
negotiated version's table (fields left out are zero, i.e. success). Callbacks go out through
`emit`. `COMMANDS`, at the end, is the NCP's command table: the stack's own handlers merged with
the CBKE library's. Anything not in it is answered with `invalidCommand`, as a real NCP does.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable

import bellows.types as t
import zigpy.types as zt
import zigpy.util
import zigpy.zdo.types as zdo_t

from hubfw.errors import HubfwError
from hubfw.radio.air import Air
from hubfw.sim.ncp import cbke_commands, own_zdo
from hubfw.sim.ncp.aps import (
    FragmentError,
    HostFragment,
    OutgoingFragments,
    fails_link_key_check,
    incoming_group_id,
    is_fragment_ack,
)
from hubfw.sim.ncp.cbke import CbkeLibrary
from hubfw.sim.ncp.handlers import Emit, Fields, Handler, merge
from hubfw.sim.ncp.keys import TRANSIENT_KEY_TIMEOUT_S, TransientKeys, trust_centre_link_key
from hubfw.sim.ncp.network import NetworkTokens, TokenStore
from hubfw.sim.ncp.own_zdo import COORDINATOR_NWK
from hubfw.sim.ncp.scan import MAX_SCAN_DURATION, RadioSurroundings, scan_channels
from hubfw.zigbee.aps import MAX_APS_PAYLOAD, MAX_FRAGMENTS, ApsFrame, fits

LOGGER = logging.getLogger(__name__)

BROADCAST_FLOOR = 0xFFF8
_ZDO_ANSWERED_AT = frozenset({COORDINATOR_NWK, 0xFFFD, 0xFFFF})
"""A device's ZDO requests the stack answers: sent to the coordinator, or broadcast to every awake node."""
STACK_TYPE_ZIGBEE = 0x02
# EZSP version -> the EmberZNet release the NCP claims to run (major, minor, patch, special);
# nominal for 16+, which bellows drives with the same command handlers as 14
STACK_VERSIONS = {13: (7, 4, 4, 0), 14: (8, 0, 2, 0), 16: (8, 1, 0, 0), 17: (8, 2, 0, 0),
                  18: (9, 0, 0, 0), 19: (9, 1, 0, 0)}
BUILD_NUMBER = 0x0101
WELL_KNOWN_KEY = zt.KeyData(b"ZigBeeAlliance09")
NO_INDEX = 0xFF
UNSET_EUI64 = zt.EUI64.convert("00:00:00:00:00:00:00:00")
BROADCAST_EUI64 = zt.EUI64.convert("ff:ff:ff:ff:ff:ff:ff:ff")
FREE_BUFFERS = 0xF0
MFG_TOKENS = {
    t.EzspMfgTokenId.MFG_STRING: b"hubfw",
    t.EzspMfgTokenId.MFG_BOARD_NAME: b"simulated EZSP NCP",
    t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,
}
DEFAULT_CONFIG = {
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 12,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
}
# The current-security bits that mirror initial-security bits of the same meaning
SECURITY_BITS = {
    t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY: t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY,
    t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY:
        t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY,
    t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY: t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY,
}


@dataclasses.dataclass
class _Scan:
    """A startScan in progress: its kind, the channels still to scan, and the call that scans the next."""

    kind: t.EzspNetworkScanType
    channels: list[int]
    next_channel: asyncio.Handle


class JoinError(HubfwError):
    """A join request that cannot even be judged: bad install code, or an address in use."""


class EmberStack:
    """A single-network coordinator stack: forms or resumes the network from its tokens,
    runs the trust centre, and moves APS frames between the host and the `Air`."""

    def __init__(self, version: int, tokens: NetworkTokens, store: TokenStore, han: Air | None,
                 emit: Emit, surroundings: RadioSurroundings | None = None, cbke: CbkeLibrary | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.version = version
        self.now = now
        """The NCP's own clock, which its transient keys expire on: the monotonic clock its event loop (and so
        the permit-joining timer) runs on, not the hub's clock, which a simulation may drive virtually."""
        self.tokens = tokens
        self._store = store
        self.han = han
        self.emit = emit
        self.surroundings = surroundings or RadioSurroundings()
        self.cbke = cbke
        """The CBKE library, or None for stock firmware built with its stubs."""
        self.dropped_frames: collections.Counter[str] = collections.Counter()
        """HAN frames the stack refused, by reason: for tests and logs, kept across reboots."""
        self.fragment_acks: collections.Counter[int] = collections.Counter()
        """Fragment ACKs the host sent with sendReply, by the NWK address it sent them to; kept across reboots."""
        self._outgoing_fragments = OutgoingFragments()
        self._permit_handle: asyncio.TimerHandle | None = None
        self._scan: _Scan | None = None
        self._answers_in_flight: list[Fields] | None = None  # a list only while a frame is being sent
        self.reboot()

    def reboot(self) -> None:
        """Forget everything a power cycle forgets; tokens survive."""
        if self._permit_handle is not None:
            self._permit_handle.cancel()
        self._permit_handle = None
        if self._scan is not None:
            self._scan.next_channel.cancel()
        self._scan = None
        self.network_up = False
        self.config: dict[int, int] = dict(DEFAULT_CONFIG)
        self.values: dict[int, bytes] = {}
        self.policies: dict[int, int] = {}
        self.endpoints: dict[int, zdo_t.SimpleDescriptor] = {}
        self.transient_keys = TransientKeys(self.now)
        """Keys devices may join with, held in RAM until they time out (see `hubfw.sim.ncp.keys`)."""
        self.extended_timeouts: set[zt.EUI64] = set()
        self.multicast_table: dict[int, t.EmberMulticastTableEntry] = {}
        self.address_table: dict[int, tuple[zt.NWK, zt.EUI64]] = {}
        self.initial_security: t.EmberInitialSecurityState | None = None
        self.counters: collections.Counter[t.EmberCounterType] = collections.Counter()
        self.permit_joining = False
        self._aps_counter = 0
        self._outgoing_fragments.clear()

    # -- dispatch -----------------------------------------------------------------------------

    def can_handle(self, name: str) -> bool:
        return name in COMMANDS

    def handle(self, name: str, request: Fields) -> Fields:
        return COMMANDS[name](self, request)

    def _save(self) -> None:
        self._store.save(self.tokens)

    def store_link_key(self, ieee: zt.EUI64, key: zt.KeyData) -> None:
        """Put an APS link key in the key table, replacing any the device had."""
        self.tokens.set_link_key(ieee, key)
        self._save()

    def link_key_for(self, ieee: zt.EUI64) -> zt.KeyData | None:
        """The key the stack APS-secures a host's frame to `ieee` with: its key-table entry, else the trust-centre
        link key the security bitmask gives it (hashed or global); None when it has neither."""
        table_key = self.tokens.table_key_for(ieee)
        if table_key is not None:
            return table_key
        return trust_centre_link_key(self.tokens.security_bitmask, self.tokens.tc_link_key, ieee)

    def keys_accepted_from(self, ieee: zt.EUI64) -> list[zt.KeyData]:
        """The keys a device's APS-secured frame may come under: its key-table entry alone if it has one (a key
        it superseded is refused), else the trust-centre link key and the transient key it may have joined
        with, while that lasts."""
        if self.tokens.table_key_for(ieee) is not None:
            return [self.tokens.table_key_for(ieee)]
        return [key for key in (self.link_key_for(ieee), self.transient_keys.get(ieee)) if key is not None]

    @property
    def transient_key_timeout_s(self) -> int:
        """EMBER_TRANSIENT_KEY_TIMEOUT_S: as the host last set it (value or configuration), else 300 s."""
        value = self.values.get(t.EzspValueId.VALUE_TRANSIENT_KEY_TIMEOUT_S)
        if value is not None:
            return int.from_bytes(value[:2], "little")
        return int(self.config.get(t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S, TRANSIENT_KEY_TIMEOUT_S))

    def _next_aps_counter(self) -> int:
        self._aps_counter = (self._aps_counter + 1) % 256
        return self._aps_counter

    # -- identity, configuration, policies ----------------------------------------------------

    def _version(self, request: Fields) -> Fields:
        # The NCP always answers with its own version; bellows then switches to it
        major, minor, patch, _ = STACK_VERSIONS[self.version]
        return {"protocolVersion": self.version, "stackType": STACK_TYPE_ZIGBEE,
                "stackVersion": (major << 12) | (minor << 8) | (patch << 4)}

    def _accept(self, request: Fields) -> Fields:
        """Settings the simulation does not model, accepted and ignored."""
        return {}

    def _get_eui64(self, request: Fields) -> Fields:
        return {"eui64": self.tokens.ieee}

    def _get_node_id(self, request: Fields) -> Fields:
        return {"nodeId": COORDINATOR_NWK if self.network_up else 0xFFFE}

    def _get_mfg_token(self, request: Fields) -> Fields:
        return {"tokenData": MFG_TOKENS.get(request["tokenId"], b"")}

    def _maximum_payload_length(self, request: Fields) -> Fields:
        # EmberZNet's unfragmented APS payload with no source route and no APS security
        return {"apsLength": MAX_APS_PAYLOAD}

    def _custom_frame(self, request: Fields) -> Fields:
        # Plain EmberZNet firmware has no XNCP extensions
        return {"status": t.sl_Status.INVALID_STATE}

    def _get_token_data(self, request: Fields) -> Fields:
        return {"status": t.sl_Status.NOT_FOUND}  # NV3 tokens are not modelled

    def _set_token_data(self, request: Fields) -> Fields:
        return {"status": t.sl_Status.NOT_FOUND}

    def _get_config(self, request: Fields) -> Fields:
        config_id = request["configId"]
        if config_id not in self.config and config_id.name.startswith("undefined"):
            return {"status": t.sl_Status.INVALID_PARAMETER}
        return {"value": self.config.get(config_id, 0)}

    def _set_config(self, request: Fields) -> Fields:
        self.config[request["configId"]] = request["value"]
        return {}

    def _get_value(self, request: Fields) -> Fields:
        value_id = request["valueId"]
        if value_id == t.EzspValueId.VALUE_VERSION_INFO:
            major, minor, patch, special = STACK_VERSIONS[self.version]
            return {"value": BUILD_NUMBER.to_bytes(2, "little") + bytes([major, minor, patch, special])}
        if value_id == t.EzspValueId.VALUE_FREE_BUFFERS:
            return {"value": bytes([FREE_BUFFERS])}
        if value_id in self.values:
            return {"value": self.values[value_id]}
        return {"status": t.sl_Status.INVALID_PARAMETER}

    def _set_value(self, request: Fields) -> Fields:
        value_id, value = request["valueId"], bytes(request["value"])
        if value_id == t.EzspValueId.VALUE_NWK_FRAME_COUNTER:
            self.tokens.network_key_frame_counter = int.from_bytes(value, "little")
        elif value_id == t.EzspValueId.VALUE_APS_FRAME_COUNTER:
            self.tokens.aps_frame_counter = int.from_bytes(value, "little")
        self.values[value_id] = value
        return {}

    def _set_policy(self, request: Fields) -> Fields:
        self.policies[request["policyId"]] = int(request["decisionId"])
        return {}

    def _get_policy(self, request: Fields) -> Fields:
        return {"decisionId": self.policies.get(request["policyId"], 0)}

    def _add_endpoint(self, request: Fields) -> Fields:
        if request["endpoint"] in self.endpoints or self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        # The lists carry no length of their own (bellows' schema puts every cluster in the first): the counts say
        # where the input clusters end and the output clusters begin, as EmberZNet reads them.
        clusters = [*request["inputClusterList"], *request["outputClusterList"]]
        inputs, outputs = int(request["inputClusterCount"]), int(request["outputClusterCount"])
        self.endpoints[request["endpoint"]] = zdo_t.SimpleDescriptor(
            endpoint=request["endpoint"], profile=request["profileId"], device_type=request["deviceId"],
            device_version=request["deviceVersion"], input_clusters=clusters[:inputs],
            output_clusters=clusters[inputs:inputs + outputs])
        return {}

    def _set_radio_power(self, request: Fields) -> Fields:
        self.tokens.tx_power = int(request["power"])
        return {}

    def _read_counters(self, request: Fields) -> Fields:
        return {"values": [min(self.counters[kind], 0xFFFF) for kind in t.EmberCounterType]}

    def _read_and_clear_counters(self, request: Fields) -> Fields:
        reply = self._read_counters(request)
        self.counters.clear()
        return reply

    def _set_multicast(self, request: Fields) -> Fields:
        self.multicast_table[request["index"]] = request["value"]
        return {}

    def _get_multicast(self, request: Fields) -> Fields:
        entry = self.multicast_table.get(request["index"])
        return {"value": entry} if entry is not None else {}

    # -- network lifecycle --------------------------------------------------------------------

    def _network_state(self, request: Fields) -> Fields:
        state = t.EmberNetworkStatus.JOINED_NETWORK if self.network_up else t.EmberNetworkStatus.NO_NETWORK
        return {"status": state}

    def _network_init(self, request: Fields) -> Fields:
        if not self.tokens.formed:
            return {"status": t.sl_Status.NOT_JOINED}
        if self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self._network_came_up()
        return {}

    def _network_came_up(self) -> None:
        self.network_up = True
        self.emit("stackStatusHandler", {"status": t.sl_Status.NETWORK_UP})

    def _set_initial_security(self, request: Fields) -> Fields:
        self.initial_security = request["state"]
        return {}

    def _form_network(self, request: Fields) -> Fields:
        if self.network_up or self.initial_security is None:
            return {"status": t.sl_Status.INVALID_STATE}
        params: t.EmberNetworkParameters = request["parameters"]
        security = self.initial_security
        tokens = self.tokens
        tokens.formed = True
        tokens.pan_id = int(params.panId)
        tokens.extended_pan_id = zt.EUI64(params.extendedPanId)
        tokens.channel = int(params.radioChannel)
        tokens.channel_mask = int(params.channels)
        tokens.tx_power = int(params.radioTxPower)
        tokens.nwk_manager_id = int(params.nwkManagerId)
        tokens.network_key = zt.KeyData(security.networkKey)
        tokens.network_key_seq = int(security.networkKeySequenceNumber)
        tokens.tc_link_key = zt.KeyData(security.preconfiguredKey)
        tokens.security_bitmask = int(security.bitmask)
        self._save()
        self._network_came_up()
        return {}

    def _leave_network(self, request: Fields) -> Fields:
        if not self.network_up:
            return {"status": t.sl_Status.INVALID_STATE}
        self.network_up = False
        self.tokens.forget_network()
        self._save()
        self.emit("stackStatusHandler", {"status": t.sl_Status.NETWORK_DOWN})
        return {}

    def _token_factory_reset(self, request: Fields) -> Fields:
        self.tokens.forget_network()
        self._save()
        return {}

    def _get_network_parameters(self, request: Fields) -> Fields:
        if not self.network_up:
            return {"status": t.sl_Status.NOT_JOINED}
        tokens = self.tokens
        return {"nodeType": t.EmberNodeType.COORDINATOR, "parameters": t.EmberNetworkParameters(
            extendedPanId=tokens.extended_pan_id, panId=tokens.pan_id, radioTxPower=tokens.tx_power,
            radioChannel=tokens.channel, joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
            nwkManagerId=tokens.nwk_manager_id, nwkUpdateId=tokens.nwk_update_id,
            channels=tokens.channel_mask)}

    def _get_current_security(self, request: Fields) -> Fields:
        if not self.network_up:
            return {"status": t.sl_Status.NOT_JOINED}
        bitmask = t.EmberCurrentSecurityBitmask(0)
        for initial, current in SECURITY_BITS.items():
            if self.tokens.security_bitmask & initial == initial:
                bitmask |= current
        return {"state": t.EmberCurrentSecurityState(bitmask=bitmask, trustCenterLongAddress=self.tokens.ieee)}

    def _get_child_data(self, request: Fields) -> Fields:
        return {"status": t.sl_Status.NOT_JOINED}  # every joined device is modelled as a router

    def _set_child_data(self, request: Fields) -> Fields:
        child = request["child_data"]
        self.tokens.devices[zt.EUI64(child.eui64)] = zt.NWK(child.id)
        self._save()
        return {}

    # -- scanning -------------------------------------------------------------------------------

    def _start_scan(self, request: Fields) -> Fields:
        """Scan the mask's channels one by one, after this response: an energyScanResultHandler
        (energy scan) or a networkFoundHandler per beacon heard (active scan) for each channel,
        then scanCompleteHandler. The radio's dwell time is not modelled: one channel per loop turn."""
        if self._scan is not None:
            return {"status": t.sl_Status.MAC_SCANNING}
        if request["scanType"] not in (t.EzspNetworkScanType.ENERGY_SCAN, t.EzspNetworkScanType.ACTIVE_SCAN):
            return {"status": t.sl_Status.MAC_INCORRECT_SCAN_TYPE}
        if request["duration"] > MAX_SCAN_DURATION:
            return {"status": t.sl_Status.BAD_SCAN_DURATION}
        channels = scan_channels(request["channelMask"])
        if not channels:
            return {"status": t.sl_Status.INVALID_CHANNEL_MASK}
        next_channel = asyncio.get_running_loop().call_soon(self._scan_next_channel)
        self._scan = _Scan(request["scanType"], channels, next_channel)
        return {}

    def _scan_next_channel(self) -> None:
        scan = self._scan
        assert scan is not None
        channel = scan.channels.pop(0)
        if scan.kind == t.EzspNetworkScanType.ENERGY_SCAN:
            self.emit("energyScanResultHandler", {"channel": channel,
                                                  "maxRssiValue": self.surroundings.energy(channel)})
        else:
            for beacon in self.surroundings.beacons(channel):
                self.emit("networkFoundHandler", {"networkFound": t.EmberZigbeeNetwork(
                    channel=channel, panId=beacon.pan_id, extendedPanId=beacon.extended_pan_id,
                    allowingJoin=t.Bool(beacon.permit_joining), stackProfile=beacon.stack_profile,
                    nwkUpdateId=beacon.nwk_update_id), "lastHopLqi": beacon.lqi or 0,
                    "lastHopRssi": beacon.rssi or 0})
        if scan.channels:
            scan.next_channel = asyncio.get_running_loop().call_soon(self._scan_next_channel)
        else:
            self._finish_scan()

    def _finish_scan(self) -> None:
        self._scan = None
        self.emit("scanCompleteHandler", {"status": t.sl_Status.OK})

    def _stop_scan(self, request: Fields) -> Fields:
        """End a scan early; it still completes with scanCompleteHandler, so no host waits for ever."""
        if self._scan is not None:
            self._scan.next_channel.cancel()
            self._finish_scan()
        return {}

    # -- keys -----------------------------------------------------------------------------------

    def _export_key(self, request: Fields) -> Fields:
        context: t.SecurityManagerContextV13 = request["context"]
        keys = {t.SecurityManagerKeyType.NETWORK: self.tokens.network_key,
                t.SecurityManagerKeyType.TC_LINK: self.tokens.tc_link_key}
        key = keys.get(context.core_key_type)
        reply: Fields = {"key": key} if key is not None else {"status": t.sl_Status.NOT_FOUND}
        if self.version >= 14:
            reply["context"] = context
        return reply

    def _get_network_key_info(self, request: Fields) -> Fields:
        return {"network_key_info": t.SecurityManagerNetworkKeyInfo(
            network_key_set=t.Bool(self.tokens.formed), alternate_network_key_set=t.Bool.false,
            network_key_sequence_number=self.tokens.network_key_seq, alt_network_key_sequence_number=0,
            network_key_frame_counter=self.tokens.network_key_frame_counter)}

    def _import_link_key(self, request: Fields) -> Fields:
        self.store_link_key(zt.EUI64(request["address"]), zt.KeyData(request["key"]))
        return {}

    def _export_link_key(self, request: Fields) -> Fields:
        if request["index"] >= len(self.tokens.key_table):
            return {"status": t.sl_Status.NOT_FOUND}
        entry = self.tokens.key_table[request["index"]]
        # zb_sec_man_fetch_link_key_table_key_info (Simplicity SDK zigbee-security-manager.c): the entry's
        # counters, KEY_HAS_INCOMING_FRAME_COUNTER set, the partner's EUI-64 in the context with EUI_IS_VALID
        # beside the KEY_INDEX_IS_VALID the by-index export set
        reply: Fields = {"plaintext_key": entry.key, "key_data": t.SecurityManagerAPSKeyMetadata(
            bitmask=t.EmberKeyStructBitmask.KEY_HAS_INCOMING_FRAME_COUNTER, outgoing_frame_counter=entry.tx_counter,
            incoming_frame_counter=entry.rx_counter, ttl_in_seconds=0)}
        if self.version >= 14:
            reply["context"] = t.SecurityManagerContextV13(
                core_key_type=t.SecurityManagerKeyType.APP_LINK, key_index=request["index"],
                derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=entry.ieee, multi_network_index=0,
                flags=t.SecurityManagerContextFlags.KEY_INDEX_IS_VALID | t.SecurityManagerContextFlags.EUI_IS_VALID,
                psa_key_alg_permission=0)
        else:
            reply["eui64"] = entry.ieee
        return reply

    def _find_key(self, request: Fields) -> Fields:
        ieees = [entry.ieee for entry in self.tokens.key_table]
        address = zt.EUI64(request["address"])
        return {"index": ieees.index(address) if address in ieees else NO_INDEX}

    def _erase_key(self, request: Fields) -> Fields:
        if request["index"] >= len(self.tokens.key_table):
            return {"status": t.sl_Status.INVALID_INDEX}
        del self.tokens.key_table[request["index"]]
        self._save()
        return {}

    def _clear_keys(self, request: Fields) -> Fields:
        self.tokens.key_table.clear()
        self._save()
        return {}

    def _import_transient_key(self, request: Fields) -> Fields:
        """sl_zb_sec_man_import_transient_key: a key to join with, gone after the transient-key timeout."""
        self.transient_keys.add(zt.EUI64(request["eui64"]), zt.KeyData(request["plaintext_key"]),
                                self.transient_key_timeout_s)
        return {}

    def _export_transient_key(self, request: Fields) -> Fields:
        """sl_zb_sec_man_export_transient_key_by_eui: the key and the seconds it has left (ttl_in_seconds)."""
        ieee = zt.EUI64(request["eui64"])
        remaining = self.transient_keys.remaining_s(ieee)
        if remaining is None:
            return {"status": t.sl_Status.NOT_FOUND}
        return {
            "context": t.SecurityManagerContextV13(
                core_key_type=t.SecurityManagerKeyType.TC_LINK_WITH_TIMEOUT, key_index=0,
                derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=ieee, multi_network_index=0,
                flags=t.SecurityManagerContextFlags.EUI_IS_VALID, psa_key_alg_permission=0),
            "plaintext_key": self.transient_keys.get(ieee),
            "key_data": t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=0,
                                                        incoming_frame_counter=0, ttl_in_seconds=remaining),
        }

    def _export_transient_key_by_index(self, request: Fields) -> Fields:
        """sl_zb_sec_man_export_transient_key_by_index: the index-th live transient key, its partner's EUI-64 in
        the context (KEY_INDEX_IS_VALID) and the seconds it has left; SL_STATUS_NOT_FOUND past the last one."""
        index = int(request["index"])
        entries = self.transient_keys.entries()
        if index >= len(entries):
            return {"status": t.sl_Status.NOT_FOUND}
        ieee, key, remaining = entries[index]
        return {
            "context": t.SecurityManagerContextV13(
                core_key_type=t.SecurityManagerKeyType.TC_LINK_WITH_TIMEOUT, key_index=index,
                derived_type=t.SecurityManagerDerivedKeyTypeV13.NONE, eui64=ieee, multi_network_index=0,
                flags=t.SecurityManagerContextFlags.KEY_INDEX_IS_VALID, psa_key_alg_permission=0),
            "plaintext_key": key,
            "key_data": t.SecurityManagerAPSKeyMetadata(bitmask=0, outgoing_frame_counter=0,
                                                        incoming_frame_counter=0, ttl_in_seconds=remaining),
        }

    # -- addresses ------------------------------------------------------------------------------

    def _lookup_eui64(self, request: Fields) -> Fields:
        node_id = request["nodeId"]
        ieee = self.tokens.ieee if node_id == COORDINATOR_NWK else self.tokens.ieee_for(node_id)
        return {"eui64": ieee} if ieee is not None else {"status": t.sl_Status.NOT_FOUND}

    def _lookup_node_id(self, request: Fields) -> Fields:
        nwk = self._known_nwk(zt.EUI64(request["eui64"]))
        if nwk is not None:
            return {"nodeId": nwk}
        return {"nodeId": 0xFFFF, "status": t.sl_Status.NOT_FOUND} if self.version >= 14 else {"nodeId": 0xFFFF}

    def _address_entry(self, index: int) -> tuple[int, zt.EUI64]:
        """Unused address-table slots read as 0xFFFF / zeros, as on a real stack."""
        return self.address_table.get(index, (t.EmberDistinguishedNodeId.TABLE_ENTRY_UNUSED, UNSET_EUI64))

    def _address_nwk(self, request: Fields) -> Fields:
        return {"nodeId": self._address_entry(request["addressTableIndex"])[0]}

    def _address_eui64(self, request: Fields) -> Fields:
        return {"eui64": self._address_entry(request["addressTableIndex"])[1]}

    def _replace_address(self, request: Fields) -> Fields:
        index = request["addressTableIndex"]
        if index >= self.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        old_nwk, old_ieee = self._address_entry(index)
        old_extended = old_ieee in self.extended_timeouts
        self._set_address(index, zt.EUI64(request["newEui64"]), request["newId"], bool(request["newExtendedTimeout"]))
        return {"oldEui64": old_ieee, "oldId": old_nwk, "oldExtendedTimeout": t.Bool(old_extended)}

    def _set_address_info(self, request: Fields) -> Fields:
        index = request["index"]
        if index >= self.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        ieee = zt.EUI64(request["eui64"])
        self._set_address(index, ieee, request["nwk"], ieee in self.extended_timeouts)
        return {}

    def _set_address(self, index: int, ieee: zt.EUI64, nwk: int, extended_timeout: bool) -> None:
        self.address_table[index] = (zt.NWK(nwk), ieee)
        if extended_timeout:
            self.extended_timeouts.add(ieee)
        else:
            self.extended_timeouts.discard(ieee)

    def _address_info(self, request: Fields) -> Fields:
        if request["index"] >= self.config[t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        nwk, ieee = self._address_entry(request["index"])
        return {"nwk": nwk, "eui64": ieee}

    def _known_nwk(self, ieee: zt.EUI64) -> zt.NWK | None:
        """The short address the stack knows for `ieee`: itself, a joined device, or the address table."""
        if ieee == self.tokens.ieee:
            return COORDINATOR_NWK if self.network_up else None
        nwk = self.tokens.nwk_for(ieee)
        if nwk is None:
            nwk = next((known for known, entry in self.address_table.values() if entry == ieee), None)
        return nwk

    def _get_extended_timeout(self, request: Fields) -> Fields:
        extended = zt.EUI64(request["remoteEui64"]) in self.extended_timeouts
        if self.version >= 14:
            return {"status": t.sl_Status.OK if extended else t.sl_Status.FAIL}
        return {"extendedTimeout": t.Bool(extended)}

    def _set_extended_timeout(self, request: Fields) -> Fields:
        ieee = zt.EUI64(request["remoteEui64"])
        if request["extendedTimeout"]:
            self.extended_timeouts.add(ieee)
        else:
            self.extended_timeouts.discard(ieee)
        return {}

    # -- joining --------------------------------------------------------------------------------

    def _permit_joining(self, request: Fields) -> Fields:
        duration = int(request["duration"])
        if self._permit_handle is not None:
            self._permit_handle.cancel()
            self._permit_handle = None
        self.permit_joining = duration > 0
        if 0 < duration < 0xFF:
            self._permit_handle = asyncio.get_running_loop().call_later(duration, self._close_permit)
        return {}

    def _close_permit(self) -> None:
        self.permit_joining = False
        self._permit_handle = None

    def join(self, ieee: zt.EUI64, nwk: zt.NWK, install_code: bytes | None) -> bool:
        """A device asks to join; True when the trust centre admits it (and tells the host).

        A device that joined before rejoins secured with the network key it kept: no open
        network or link key needed. A new device needs permit-joining, a trust-centre policy
        allowing joins, and a link key the trust centre shares: a live transient key (install-code
        derived) or, where the policy does not insist on one, the well-known key. The stack keeps no key
        for it afterwards: its APS frames are secured as `link_key_for` says."""
        if not self.network_up:
            return False
        owner = self.tokens.ieee_for(nwk)
        if nwk == COORDINATOR_NWK or nwk >= BROADCAST_FLOOR or (owner is not None and owner != ieee):
            raise JoinError(f"NWK 0x{nwk:04X} is not free for {ieee}")
        try:
            device_key = zigpy.util.convert_install_code(install_code) if install_code else WELL_KNOWN_KEY
        except ValueError as exc:
            raise JoinError(f"{ieee}: {exc}") from None
        rejoin = ieee in self.tokens.devices
        if not rejoin and not self._admits(ieee, device_key):
            return False
        self.tokens.devices[ieee] = zt.NWK(nwk)
        self._save()
        self.counters[t.EmberCounterType.COUNTER_JOIN_INDICATION] += 1
        self.emit("trustCenterJoinHandler", {
            "newNodeId": nwk, "newNodeEui64": ieee,
            "status": t.EmberDeviceUpdate.STANDARD_SECURITY_SECURED_REJOIN if rejoin
            else t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
            "policyDecision": t.EmberJoinDecision.NO_ACTION if rejoin else t.EmberJoinDecision.USE_PRECONFIGURED_KEY,
            "parentOfNewNodeId": COORDINATOR_NWK})
        return True

    def _admits(self, ieee: zt.EUI64, device_key: zt.KeyData) -> bool:
        if not self.permit_joining:
            return False
        policy = t.EzspDecisionBitmask(self.policies.get(t.EzspPolicyId.TRUST_CENTER_POLICY, 0))
        if t.EzspDecisionBitmask.ALLOW_JOINS not in policy:
            return False
        tc_key = self.transient_keys.get(ieee)  # an expired one is gone: the device cannot join with it
        if tc_key is None and t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY not in policy:
            tc_key = WELL_KNOWN_KEY
        if tc_key != device_key:
            LOGGER.info("join of %s refused: its link key does not match the trust centre's", ieee)
            return False
        return True

    # -- APS traffic ------------------------------------------------------------------------------

    def _send_unicast(self, request: Fields) -> Fields:
        """A unicast, or one fragment of a longer message (APS_OPTION_FRAGMENT): fragment 0 gets a
        fresh APS counter, later fragments keep the one the host copied from fragment 0."""
        if self.version >= 14:
            nwk, aps, tag, message = (request["nwk"], request["aps_frame"], request["message_tag"],
                                      request["message"])
        else:
            nwk, aps, tag, message = (request["indexOrDestination"], request["apsFrame"],
                                      request["messageTag"], request["messageContents"])
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN}
        if not _fits(message, aps):
            return {"status": t.sl_Status.MESSAGE_TOO_LONG}
        if not self._can_secure(aps, nwk):
            return {"status": t.sl_Status.ZIGBEE_APS_ENCRYPTION_ERROR}
        fragment = None
        if t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options:
            try:
                fragment = self._outgoing_fragments.place(nwk, aps)
            except FragmentError as exc:
                LOGGER.warning("sendUnicast to 0x%04X refused: %s", nwk, exc)
                return {"status": t.sl_Status.INVALID_PARAMETER}
        reused = fragment.sequence if fragment is not None else None
        aps = aps.replace(sequence=self._next_aps_counter() if reused is None else reused)
        self._transmit(t.EmberOutgoingMessageType.OUTGOING_DIRECT, nwk, aps, tag, bytes(message), fragment)
        if fragment is not None:
            self._outgoing_fragments.sent(nwk, aps.sequence, fragment)
        return {"sequence": aps.sequence}

    def _send_broadcast(self, request: Fields) -> Fields:
        if self.version >= 14:
            nwk, aps, tag, message = (request["destination"], request["aps_frame"], request["message_tag"],
                                      request["message"])
        else:
            nwk, aps, tag, message = (request["destination"], request["apsFrame"], request["messageTag"],
                                      request["messageContents"])
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN}
        if not _fits(message, aps):
            return {"status": t.sl_Status.MESSAGE_TOO_LONG}
        aps = aps.replace(sequence=self._next_aps_counter())
        self._transmit(t.EmberOutgoingMessageType.OUTGOING_BROADCAST, nwk, aps, tag, bytes(message))
        return {"sequence": aps.sequence}

    def _send_multicast(self, request: Fields) -> Fields:
        aps = request["aps_frame" if self.version >= 14 else "apsFrame"]
        tag = request["message_tag" if self.version >= 14 else "messageTag"]
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN}
        aps = aps.replace(sequence=self._next_aps_counter())
        self._message_sent(t.EmberOutgoingMessageType.OUTGOING_MULTICAST, aps.groupId, aps, tag, True)
        return {"sequence": aps.sequence}

    def _send_reply(self, request: Fields) -> Fields:
        """bellows acknowledges every fragment it receives with a reply. On the simulated HAN the
        device already had that fragment's APS ACK from `receive`, so fragment ACKs go no further;
        any other reply is a unicast back to the sender (with no messageSentHandler, as EmberZNet)."""
        aps, nwk, message = request["apsFrame"], request["sender"], bytes(request["messageContents"])
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN}
        if is_fragment_ack(aps):
            self.fragment_acks[nwk] += 1
            return {}
        if not _fits(message, aps):
            return {"status": t.sl_Status.MESSAGE_TOO_LONG}
        if not self._can_secure(aps, nwk):
            return {"status": t.sl_Status.ZIGBEE_APS_ENCRYPTION_ERROR}
        ieee = self.tokens.ieee_for(nwk)
        delivered = ieee is not None and self._deliver_unicast(aps, nwk, ieee, message, None)
        return {} if delivered else {"status": t.sl_Status.ZIGBEE_DELIVERY_FAILED}

    def _transmit(self, kind: t.EmberOutgoingMessageType, nwk: int, aps: t.EmberApsFrame, tag: int,
                  message: bytes, fragment: HostFragment | None = None) -> None:
        """Send one frame and report it; answers a device gives while taking the frame reach the
        host after the messageSentHandler, as the APS ACK comes before any reply on the air."""
        self._answers_in_flight = []
        try:
            if nwk == COORDINATOR_NWK:
                self._answer_own_zdo(aps, message)
                delivered = True
            elif kind == t.EmberOutgoingMessageType.OUTGOING_BROADCAST:
                self._deliver(self._outgoing(aps, nwk, BROADCAST_EUI64, message))
                delivered = True  # broadcasts are not acknowledged
                self.counters[t.EmberCounterType.COUNTER_APS_DATA_TX_BROADCAST] += 1
            else:
                ieee = self.tokens.ieee_for(nwk)
                delivered = ieee is not None and self._deliver_unicast(aps, nwk, ieee, message, fragment)
                self.counters[t.EmberCounterType.COUNTER_APS_DATA_TX_UNICAST_SUCCESS if delivered
                              else t.EmberCounterType.COUNTER_APS_DATA_TX_UNICAST_FAILED] += 1
        finally:
            answers, self._answers_in_flight = self._answers_in_flight, None
        self._message_sent(kind, nwk, aps, tag, delivered)
        for fields in answers:
            self.emit("incomingMessageHandler", fields)

    def _can_secure(self, aps: t.EmberApsFrame, nwk: int) -> bool:
        """Whether the stack has a key to APS-encrypt a frame to `nwk` with (if asked to): without one, or
        without the device's EUI-64, EmberZNet refuses it with EMBER_APS_ENCRYPTION_ERROR (error-def.h)."""
        if t.EmberApsOption.APS_OPTION_ENCRYPTION not in aps.options or nwk == COORDINATOR_NWK:
            return True
        ieee = self.tokens.ieee_for(nwk)
        if ieee is not None and self.link_key_for(ieee) is not None:
            return True
        LOGGER.debug("no link key for 0x%04X: APS-encrypted frame refused", nwk)
        self.dropped_frames["no_link_key"] += 1
        return False

    def _deliver_unicast(self, aps: t.EmberApsFrame, nwk: int, ieee: zt.EUI64, message: bytes,
                         fragment: HostFragment | None) -> bool:
        """APS encryption uses `link_key_for` the device (`_can_secure` made sure there is one); whether the
        device shares it is for the device to find out."""
        link_key = None
        if t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options:
            link_key = self.link_key_for(ieee)
        position = (fragment.index, fragment.count) if fragment is not None else None
        return self._deliver(self._outgoing(aps, nwk, ieee, message, link_key, position))

    def _deliver(self, frame: ApsFrame) -> bool:
        """Put a frame on the air; a misbehaving device simulator counts as a device that did not ACK."""
        if self.han is None:
            return False
        try:
            return bool(self.han.deliver(frame))
        except Exception:
            LOGGER.exception("the HAN failed to take %s", frame)
            return False

    def _outgoing(self, aps: t.EmberApsFrame, nwk: int, ieee: zt.EUI64, message: bytes,
                  link_key: zt.KeyData | None = None, fragment: tuple[int, int] | None = None) -> ApsFrame:
        return ApsFrame(src_ieee=self.tokens.ieee, src_nwk=COORDINATOR_NWK, dst_ieee=ieee, dst_nwk=zt.NWK(nwk),
                        profile=aps.profileId, cluster=aps.clusterId, src_ep=aps.sourceEndpoint,
                        dst_ep=aps.destinationEndpoint, payload=message, aps_encrypted=link_key is not None,
                        aps_counter=aps.sequence, link_key=link_key, fragment=fragment)

    def _message_sent(self, kind: t.EmberOutgoingMessageType, nwk: int, aps: t.EmberApsFrame, tag: int,
                      delivered: bool) -> None:
        if nwk != COORDINATOR_NWK:  # a frame on the air spends an NWK frame counter value
            self.tokens.network_key_frame_counter += 1
        status = t.sl_Status.OK if delivered else t.sl_Status.ZIGBEE_DELIVERY_FAILED
        if self.version >= 14:
            fields = {"status": status, "message_type": kind, "nwk": nwk, "aps_frame": aps, "message_tag": tag}
        else:
            fields = {"type": kind, "indexOrDestination": nwk, "apsFrame": aps, "messageTag": tag,
                      "status": status}
        self.emit("messageSentHandler", fields)

    def receive(self, frame: ApsFrame, *, lqi: int = 255, rssi: int = -40) -> bool:
        """A device's frame reaches the coordinator; False if the NCP drops it: network down, a
        sender that never joined (and so holds no network key), a payload too long for one frame,
        a malformed fragment, or APS security with a link key other than the one shared with the sender."""
        if not self.network_up or self.tokens.nwk_for(frame.src_ieee) != frame.src_nwk:
            return False
        refusal = self._refusal(frame)
        if refusal is not None:
            self.dropped_frames[refusal] += 1
            return False
        options = t.EmberApsOption.APS_OPTION_NONE
        if frame.aps_encrypted:
            options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
        group_id = 0
        if frame.fragment is not None:
            options |= t.EmberApsOption.APS_OPTION_FRAGMENT
            group_id = incoming_group_id(*frame.fragment)
        if frame.dst_nwk >= BROADCAST_FLOOR:
            kind = t.EmberIncomingMessageType.INCOMING_BROADCAST
            self.counters[t.EmberCounterType.COUNTER_APS_DATA_RX_BROADCAST] += 1
        else:
            kind = t.EmberIncomingMessageType.INCOMING_UNICAST
            self.counters[t.EmberCounterType.COUNTER_APS_DATA_RX_UNICAST] += 1
        aps = t.EmberApsFrame(profileId=frame.profile, clusterId=frame.cluster, sourceEndpoint=frame.src_ep,
                              destinationEndpoint=frame.dst_ep, options=options, groupId=group_id,
                              sequence=frame.aps_counter)
        self._incoming(kind, aps, frame.src_nwk, frame.src_ieee, frame.payload, lqi, rssi)
        self._answer_device_zdo(frame)
        return True

    def _answer_device_zdo(self, frame: ApsFrame) -> None:
        """A device's ZDO request to the coordinator (or a broadcast Match_Desc_req) is answered by the stack
        from the endpoints the host registered, as EmberZNet does; the host only got a copy
        (APP_RECEIVES_SUPPORTED_ZDO_REQUESTS), and zigpy answers Smart Energy Match_Desc with nothing."""
        if frame.profile != 0 or frame.dst_ep != 0 or not frame.payload or frame.dst_nwk not in _ZDO_ANSWERED_AT:
            return
        answer = self._own_zdo_reply(frame.cluster, frame.payload)
        if answer is not None:
            reply, payload = answer
            self._deliver(self._outgoing(reply, frame.src_nwk, frame.src_ieee, payload))

    def _own_zdo_reply(self, cluster: int, request: bytes) -> tuple[t.EmberApsFrame, bytes] | None:
        """The stack's answer (APS frame and ZDO payload with the request's TSN) to a ZDO request about the coordinator."""
        answer = own_zdo.answer(cluster, request[1:], self.endpoints)
        if answer is None:
            return None
        reply_cluster, payload = answer
        reply = t.EmberApsFrame(profileId=0, clusterId=reply_cluster, sourceEndpoint=0, destinationEndpoint=0,
                                options=t.EmberApsOption.APS_OPTION_NONE, groupId=0,
                                sequence=self._next_aps_counter())
        return reply, request[:1] + payload

    def _refusal(self, frame: ApsFrame) -> str | None:
        """Why the stack drops a joined device's frame, or None to take it."""
        if not frame.fits:
            LOGGER.warning("%s sent a %d-byte APS payload, more than one frame carries: dropped",
                           frame.src_ieee, len(frame.payload))
            return "payload_too_long"
        if frame.fragment is not None:
            index, count = frame.fragment
            if not 0 <= index < count <= MAX_FRAGMENTS or frame.dst_nwk >= BROADCAST_FLOOR:
                LOGGER.warning("%s sent fragment %s, which no APS message has: dropped", frame.src_ieee, frame.fragment)
                return "bad_fragment"
        if fails_link_key_check(frame, self.keys_accepted_from(frame.src_ieee)):
            LOGGER.debug("%s secured a frame with a link key the NCP does not share with it: dropped", frame.src_ieee)
            self.counters[t.EmberCounterType.COUNTER_APS_DECRYPTION_FAILURE] += 1
            return "link_key_mismatch"
        return None

    def _incoming(self, kind: t.EmberIncomingMessageType, aps: t.EmberApsFrame, nwk: int, ieee: zt.EUI64,
                  message: bytes, lqi: int, rssi: int) -> None:
        if self.version >= 14:
            fields = {"message_type": kind, "aps_frame": aps, "nwk": nwk, "eui64": ieee, "binding_index": NO_INDEX,
                      "address_index": NO_INDEX, "lqi": lqi, "rssi": rssi, "message": message}
        else:
            fields = {"type": kind, "apsFrame": aps, "lastHopLqi": lqi, "lastHopRssi": rssi, "sender": nwk,
                      "bindingIndex": NO_INDEX, "addressIndex": NO_INDEX, "messageContents": message}
        if self._answers_in_flight is not None:
            self._answers_in_flight.append(fields)
        else:
            self.emit("incomingMessageHandler", fields)

    # -- the coordinator's own ZDO ----------------------------------------------------------------

    def _answer_own_zdo(self, aps: t.EmberApsFrame, message: bytes) -> None:
        """Requests the host addresses to the coordinator itself: the stack answers them."""
        if aps.profileId != 0 or aps.destinationEndpoint != 0 or not message:
            return
        answer = self._own_zdo_reply(aps.clusterId, message)
        if answer is not None:
            reply, payload = answer
            self._incoming(t.EmberIncomingMessageType.INCOMING_UNICAST, reply, COORDINATOR_NWK, self.tokens.ieee,
                           payload, 255, 0)


def _fits(message: bytes, aps: t.EmberApsFrame) -> bool:
    """Whether a host's message fits the frame its options ask for: 9 bytes fewer under
    APS_OPTION_ENCRYPTION, 2 more for APS_OPTION_FRAGMENT (emberAfMaximumApsPayloadLength). A longer one
    gets EMBER_MESSAGE_TOO_LONG (0x74) on EZSP v13 and its sl_status_t SL_STATUS_MESSAGE_TOO_LONG (0x0038)
    from v14, as emberSendUnicast / sl_zigbee_send_unicast answer (stack/include/message.h of the Gecko and
    Simplicity SDKs); `frames.coerce` gives each version its own."""
    return fits(bytes(message), t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options,
                fragment=t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options)


STACK_COMMANDS: dict[str, Handler[EmberStack]] = {
    # identity, configuration, policies
    "version": EmberStack._version,
    "nop": EmberStack._accept,
    "setManufacturerCode": EmberStack._accept,
    "setConcentrator": EmberStack._accept,
    "setSourceRouteDiscoveryMode": EmberStack._accept,
    "gpSinkTableClearAll": EmberStack._accept,
    "gpClearProxyTable": EmberStack._accept,  # v17+
    "setSourceRoute": EmberStack._accept,
    "getEui64": EmberStack._get_eui64,
    "getNodeId": EmberStack._get_node_id,
    "getMfgToken": EmberStack._get_mfg_token,
    "maximumPayloadLength": EmberStack._maximum_payload_length,
    "customFrame": EmberStack._custom_frame,
    "getTokenData": EmberStack._get_token_data,
    "setTokenData": EmberStack._set_token_data,
    "getConfigurationValue": EmberStack._get_config,
    "setConfigurationValue": EmberStack._set_config,
    "getValue": EmberStack._get_value,
    "setValue": EmberStack._set_value,
    "setPolicy": EmberStack._set_policy,
    "getPolicy": EmberStack._get_policy,
    "addEndpoint": EmberStack._add_endpoint,
    "setRadioPower": EmberStack._set_radio_power,
    "readCounters": EmberStack._read_counters,
    "readAndClearCounters": EmberStack._read_and_clear_counters,
    "setMulticastTableEntry": EmberStack._set_multicast,
    "getMulticastTableEntry": EmberStack._get_multicast,
    # network lifecycle
    "networkState": EmberStack._network_state,
    "networkInit": EmberStack._network_init,
    "setInitialSecurityState": EmberStack._set_initial_security,
    "formNetwork": EmberStack._form_network,
    "leaveNetwork": EmberStack._leave_network,
    "tokenFactoryReset": EmberStack._token_factory_reset,
    "getNetworkParameters": EmberStack._get_network_parameters,
    "getCurrentSecurityState": EmberStack._get_current_security,
    "getChildData": EmberStack._get_child_data,
    "setChildData": EmberStack._set_child_data,
    # scanning
    "startScan": EmberStack._start_scan,
    "stopScan": EmberStack._stop_scan,
    # keys
    "exportKey": EmberStack._export_key,
    "getNetworkKeyInfo": EmberStack._get_network_key_info,
    "importLinkKey": EmberStack._import_link_key,
    "exportLinkKeyByIndex": EmberStack._export_link_key,
    "findKeyTableEntry": EmberStack._find_key,
    "eraseKeyTableEntry": EmberStack._erase_key,
    "clearKeyTable": EmberStack._clear_keys,
    "importTransientKey": EmberStack._import_transient_key,
    "exportTransientKeyByEui": EmberStack._export_transient_key,
    "exportTransientKeyByIndex": EmberStack._export_transient_key_by_index,
    # addresses
    "lookupEui64ByNodeId": EmberStack._lookup_eui64,
    "lookupNodeIdByEui64": EmberStack._lookup_node_id,
    "getAddressTableRemoteNodeId": EmberStack._address_nwk,  # v13; getAddressTableInfo from v14
    "getAddressTableRemoteEui64": EmberStack._address_eui64,  # v13
    "replaceAddressTableEntry": EmberStack._replace_address,
    "setAddressTableInfo": EmberStack._set_address_info,  # v14+
    "getAddressTableInfo": EmberStack._address_info,  # v14+
    "getExtendedTimeout": EmberStack._get_extended_timeout,
    "setExtendedTimeout": EmberStack._set_extended_timeout,
    # joining
    "permitJoining": EmberStack._permit_joining,
    # APS traffic
    "sendUnicast": EmberStack._send_unicast,
    "sendBroadcast": EmberStack._send_broadcast,
    "sendMulticast": EmberStack._send_multicast,
    "sendReply": EmberStack._send_reply,
}
"""The commands `EmberStack` answers with its own methods."""

COMMANDS = merge(STACK_COMMANDS, cbke_commands.COMMANDS)
"""Every command the NCP answers; anything else gets `invalidCommand`."""
