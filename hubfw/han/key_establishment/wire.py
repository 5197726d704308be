"""Key Establishment cluster (0x0800, Smart Energy 1.x Annex C) on the air: command schemas and codecs.

zigpy knows the cluster's id but none of its commands, so the eight commands are defined here as
zigpy `ZCLCommandDef`s with zigpy types. The cluster is symmetric: the server receives and generates
commands 0x00-0x03 with the same layouts (Initiate, Ephemeral Data, Confirm Key, Terminate); only the
direction bit tells a request from its response. Variable-length octet fields (certificate, ephemeral
point, MAC) carry no length prefix and run to the end of the frame; their lengths are checked by the
state machines, which know the crypto suite.
"""

from __future__ import annotations

from collections.abc import Iterable

import zigpy.types as t
from zigpy.zcl import foundation

from hubfw.cbke.suites import CryptoSuite
from hubfw.han.zcl import HanRequest, parse
from hubfw.zigbee.aps import IncomingFrame
from hubfw.zigbee.ids import KEY_ESTABLISHMENT_CLUSTER
from hubfw.zigbee.zcl import command_def

KEY_ESTABLISHMENT_SUITE_ATTRIBUTE = 0x0000
"""Server (and client) attribute KeyEstablishmentSuite: a bit per supported suite."""
KEY_ESTABLISHMENT_SUITE_TYPE = foundation.DataTypeId.enum16
"""SE 1.x types KeyEstablishmentSuite as a 16-bit enumeration (0x31), though its values are bits."""
MAC_LENGTH = 16


class TerminateStatus(t.enum8):
    """Terminate Key Establishment status codes (0 is reserved)."""

    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06


_Dir = foundation.Direction


def _initiate_schema() -> dict:
    return {
        "key_establishment_suite": t.uint16_t,
        "ephemeral_data_generate_time": t.uint8_t,
        "confirm_key_generate_time": t.uint8_t,
        "identity": t.Bytes,
    }


_TERMINATE_SCHEMA = {"status_code": TerminateStatus, "wait_time": t.uint8_t, "key_establishment_suite": t.uint16_t}


class KeRequest:
    """Commands the server receives (client to server)."""

    initiate = command_def(0x00, "initiate_key_establishment_request", _Dir.Client_to_Server, _initiate_schema())
    ephemeral_data = command_def(0x01, "ephemeral_data_request", _Dir.Client_to_Server, {"ephemeral_data": t.Bytes})
    confirm_key = command_def(0x02, "confirm_key_data_request", _Dir.Client_to_Server, {"mac": t.Bytes})
    terminate = command_def(0x03, "terminate_key_establishment", _Dir.Client_to_Server, _TERMINATE_SCHEMA)


class KeResponse:
    """Commands the server generates (server to client), same ids and layouts as the requests."""

    initiate = command_def(0x00, "initiate_key_establishment_response", _Dir.Server_to_Client, _initiate_schema())
    ephemeral_data = command_def(0x01, "ephemeral_data_response", _Dir.Server_to_Client, {"ephemeral_data": t.Bytes})
    confirm_key = command_def(0x02, "confirm_key_data_response", _Dir.Server_to_Client, {"mac": t.Bytes})
    terminate = command_def(0x03, "terminate_key_establishment", _Dir.Server_to_Client, _TERMINATE_SCHEMA)


def suite_from_wire(value: int) -> CryptoSuite | None:
    """The one suite an Initiate names, or None for 0, several bits or an unknown bit."""
    return next((suite for suite in CryptoSuite if suite.bitmask == value), None)


def suites_bitmask(suites: Iterable[CryptoSuite]) -> int:
    """KeyEstablishmentSuite value for a collection of suites."""
    mask = 0
    for suite in suites:
        mask |= suite.bitmask
    return mask


class Received(HanRequest):
    """A parsed Key Establishment frame. Its answers go without APS encryption: key establishment runs
    before the device has a link key, so SE sends this cluster with network security only."""

    ENCRYPTED_REPLIES = False


def receive(frame: IncomingFrame) -> Received | None:
    """The frame's header and body, or None when it is not a Key Establishment ZCL frame at all."""
    request = parse(frame) if frame.cluster == KEY_ESTABLISHMENT_CLUSTER else None
    return None if request is None else Received(*request)
