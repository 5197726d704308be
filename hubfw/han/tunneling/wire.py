"""Smart Energy Tunneling cluster (0x0704) on the air, and the GBCS tunnel commands carried inside it.

zigpy knows the cluster's id but none of its commands, so they are defined here as zigpy
`ZCLCommandDef`s with zigpy types (SE 1.4 D.6): the client sends RequestTunnel (0x00), CloseTunnel
(0x01), TransferData (0x02), TransferDataError (0x03), AckTransferData (0x04), ReadyData (0x05) and
GetSupportedTunnelProtocols (0x06); the server sends RequestTunnelResponse (0x00), TransferData (0x01),
TransferDataError (0x02), AckTransferData (0x03), ReadyData (0x04), SupportedTunnelProtocolsResponse
(0x05) and TunnelClosureNotification (0x06). The server's one attribute is CloseTunnelTimeout (0x0000).

GBCS (section 10.2, "Requirements for the Tunneling Cluster") opens the tunnel with protocol id 6,
GB-HRGP, and no manufacturer code (0xFFFF), without flow control, and puts one tunnel command in front
of each GBCS message in TransferData: GET (0x01, a device asks for its next queued message),
GET-RESPONSE (0x02, then the number of messages still queued, then the message or nothing) and PUT
(0x03, then the message). Sources: the protocol ids in Silicon Labs' and Exegin's stacks and the
Wireshark SE dissector (GB-HRGP = 6; 0xFFFF "unused manufacturer code" in Silicon Labs' GBCS tunnel
plugin); the tunnel command bytes in Wireshark's GBCS tunnel dissector and in the public CH emulator
HenryGiraldo/gbcs (c/ch.c).
"""

from __future__ import annotations

import enum

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.zigbee.zcl import command_def

CLOSE_TUNNEL_TIMEOUT_ATTRIBUTE = 0x0000
GB_HRGP_PROTOCOL = 6
"""Tunnel protocol id for GBCS (Great Britain Home Radio Gateway Protocol)."""
NO_MANUFACTURER = 0xFFFF
"""Manufacturer code of a RequestTunnel for a standard (not manufacturer-defined) protocol."""


class TunnelStatus(t.enum8):
    """RequestTunnelResponse TunnelStatus."""

    SUCCESS = 0x00
    BUSY = 0x01
    NO_MORE_TUNNEL_IDS = 0x02
    PROTOCOL_NOT_SUPPORTED = 0x03
    FLOW_CONTROL_NOT_SUPPORTED = 0x04


class TransferDataStatus(t.enum8):
    """TransferDataError status."""

    NO_SUCH_TUNNEL = 0x00
    WRONG_DEVICE = 0x01
    DATA_OVERFLOW = 0x02


class GbcsTunnelCommand(enum.IntEnum):
    """The first octet of a GBCS tunnel TransferData."""

    GET = 0x01
    GET_RESPONSE = 0x02
    PUT = 0x03


class _ProtocolRecord(t.Struct):
    manufacturer_code: t.uint16_t
    protocol_id: t.uint8_t


_Dir = foundation.Direction


_TRANSFER_DATA = {"tunnel_id": t.uint16_t, "data": t.Bytes}
_TRANSFER_DATA_ERROR = {"tunnel_id": t.uint16_t, "status": TransferDataStatus}
_ACK = {"tunnel_id": t.uint16_t, "octets_left": t.uint16_t}


class TunnelRequest:
    """Commands the server receives (client to server)."""

    request_tunnel = command_def(0x00, "request_tunnel", _Dir.Client_to_Server, {
        "protocol_id": t.uint8_t,
        "manufacturer_code": t.uint16_t,
        "flow_control_support": t.Bool,
        "maximum_incoming_transfer_size": t.uint16_t,
    })
    close_tunnel = command_def(0x01, "close_tunnel", _Dir.Client_to_Server, {"tunnel_id": t.uint16_t})
    transfer_data = command_def(0x02, "transfer_data", _Dir.Client_to_Server, _TRANSFER_DATA)
    transfer_data_error = command_def(0x03, "transfer_data_error", _Dir.Client_to_Server, _TRANSFER_DATA_ERROR)
    ack_transfer_data = command_def(0x04, "ack_transfer_data", _Dir.Client_to_Server, _ACK)
    ready_data = command_def(0x05, "ready_data", _Dir.Client_to_Server, _ACK)
    get_supported_protocols = command_def(0x06, "get_supported_tunnel_protocols", _Dir.Client_to_Server,
                                       {"protocol_offset": t.uint8_t})


class TunnelResponse:
    """Commands the server generates (server to client)."""

    request_tunnel = command_def(0x00, "request_tunnel_response", _Dir.Server_to_Client, {
        "tunnel_id": t.uint16_t,
        "tunnel_status": TunnelStatus,
        "maximum_incoming_transfer_size": t.uint16_t,
    })
    transfer_data = command_def(0x01, "transfer_data", _Dir.Server_to_Client, _TRANSFER_DATA)
    transfer_data_error = command_def(0x02, "transfer_data_error", _Dir.Server_to_Client, _TRANSFER_DATA_ERROR)
    supported_protocols = command_def(0x05, "supported_tunnel_protocols_response", _Dir.Server_to_Client, {
        "protocol_list_complete": t.Bool,
        "protocols": t.LVList[_ProtocolRecord, t.uint8_t],
    })
    closure_notification = command_def(0x06, "tunnel_closure_notification", _Dir.Server_to_Client,
                                    {"tunnel_id": t.uint16_t})


def gb_hrgp_protocols() -> list[_ProtocolRecord]:
    """The one protocol the hub tunnels, as a SupportedTunnelProtocolsResponse lists it."""
    return [_ProtocolRecord(manufacturer_code=NO_MANUFACTURER, protocol_id=GB_HRGP_PROTOCOL)]
