"""What the ZCL fuzz targets (zcl-ota, zcl-han) both demand of a frame the hub sends: that it is ZCL at all,
and that its payload is exactly one command, canonically encoded. Each target adds its own header rules."""

from __future__ import annotations

from zigpy.zcl import foundation

from fuzzlib.engine import PropertyViolation


def parse_zcl(zcl: bytes) -> tuple[foundation.ZCLHeader, bytes]:
    """The header and payload of a frame the server sent."""
    try:
        return foundation.ZCLHeader.deserialize(zcl)
    except ValueError as exc:
        raise PropertyViolation("server sent a frame that is not ZCL", f"{zcl.hex()}: {exc}") from None


def parse_strictly(schema: type[foundation.CommandSchema], payload: bytes, name: str) -> foundation.CommandSchema:
    """The whole payload must be this command, and re-encode to the same bytes."""
    try:
        body, rest = schema.deserialize(payload)
    except (ValueError, KeyError) as exc:
        raise PropertyViolation(f"{name} does not parse", f"{payload.hex()}: {exc}") from None
    if rest or body.serialize() != payload:
        raise PropertyViolation(f"{name} is not canonically encoded", payload.hex())
    return body
