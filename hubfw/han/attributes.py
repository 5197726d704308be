"""The attributes the hub's Smart Energy endpoint serves on Basic, Time and Metering.

- Basic (0x0000): ZCLVersion, ManufacturerName, ModelIdentifier, PowerSource and PhysicalEnvironment,
  which GBCS 10.2.2 requires be supported with the value 0x01 (contrary to SE, which leaves it out).
- Time (0x000A): Time from the hub's clock (UTC seconds since 2000-01-01) and TimeStatus Master and
  Superseding (GBCS 9.1.3: the Communications Hub is the HAN's time master); TimeZone, DstStart,
  DstEnd, DstShift, StandardTime and LocalTime from the configured zone's rules (GMT/BST by default),
  computed with zigpy's own Time-cluster snapshot so one response is consistent. LastSetTime and
  ValidUntilTime are not served: the hub does not know when its host clock was last set.
- Metering (0x0702): the Notification Attribute Set (0x00) of the Metering *client* — SE 1.2+ puts
  FunctionalNotificationFlags (0x0000) and NotificationFlags2..5 (0x0001..0x0004) on the client, for
  devices to read from the hub (a Read Attributes with the server-to-client direction bit). Bit 0,
  New OTA Firmware, is set while an image waits for the reading device; bit 21, Tunnel Message
  Pending, while GBCS messages wait in its tunnel queue. The public CH emulator (HenryGiraldo/gbcs)
  answers a plain client-to-server read of 0x0000 with the same flags, and devices built against it
  read that way, so the hub answers both; it has no CurrentSummationDelivered of its own to confuse.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import zigpy.types as t
from zigpy.time import TimeSnapshot
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Time, TimeStatus
from zigpy.zcl.clusters.smartenergy import FunctionalNotificationFlags

from hubfw.han.config import HanConfig
from hubfw.zigbee.zcl import attribute_record, unsupported_attribute

ReadRecord = foundation.ReadAttributeRecord
GB_PHYSICAL_ENVIRONMENT = 0x01
"""Basic PhysicalEnvironment value GBCS 10.2.2 requires."""
HUB_TIME_STATUS = TimeStatus.Master | TimeStatus.Superseding
FUNCTIONAL_NOTIFICATION_FLAGS = 0x0000
NOTIFICATION_FLAG_ATTRIBUTES = range(0x0001, 0x0005)
"""NotificationFlags2 (Price) .. NotificationFlags5 (Device Management): nothing to notify here."""


def _record(definition: foundation.ZCLAttributeDef, value: object) -> ReadRecord:
    type_id = foundation.DataType.from_python_type(definition.type).type_id
    return attribute_record(definition.id, type_id, definition.type(value))


def basic_records(config: HanConfig, attribute_ids: list[int]) -> list[ReadRecord]:
    attributes = Basic.AttributeDefs
    values = {
        attributes.zcl_version: config.zcl_version,
        attributes.manufacturer: config.manufacturer_name,
        attributes.model: config.model_identifier,
        attributes.power_source: config.power_source,
        attributes.physical_env: GB_PHYSICAL_ENVIRONMENT,
    }
    by_id = {definition.id: (definition, value) for definition, value in values.items()}
    return [_record(*by_id[i]) if i in by_id else unsupported_attribute(i) for i in attribute_ids]


def time_records(zone: ZoneInfo, now: float, attribute_ids: list[int]) -> list[ReadRecord]:
    snapshot = TimeSnapshot.compute(zone, datetime.fromtimestamp(now, timezone.utc))
    attributes = Time.AttributeDefs
    values = {
        attributes.time: snapshot.time,
        attributes.time_status: HUB_TIME_STATUS,
        attributes.time_zone: snapshot.time_zone,
        attributes.dst_start: snapshot.dst_start,
        attributes.dst_end: snapshot.dst_end,
        attributes.dst_shift: snapshot.dst_shift,
        attributes.standard_time: snapshot.standard_time,
        attributes.local_time: snapshot.local_time,
    }
    by_id = {definition.id: (definition, value) for definition, value in values.items()}
    return [_record(*by_id[i]) if i in by_id else unsupported_attribute(i) for i in attribute_ids]


def functional_notification_flags(new_ota_firmware: bool, tunnel_message_pending: bool) -> int:
    flags = FunctionalNotificationFlags(0).replace(
        new_ota_firmware=int(new_ota_firmware), tunnel_message_pending=int(tunnel_message_pending)
    )
    return int(flags)


def metering_records(flags: int, attribute_ids: list[int], *, client_attributes: bool) -> list[ReadRecord]:
    """`client_attributes`: the read addressed the client side (the Notification Attribute Set)."""
    records = []
    for attribute_id in attribute_ids:
        if attribute_id == FUNCTIONAL_NOTIFICATION_FLAGS:
            records.append(attribute_record(attribute_id, foundation.DataTypeId.map32, t.bitmap32(flags)))
        elif client_attributes and attribute_id in NOTIFICATION_FLAG_ATTRIBUTES:
            records.append(attribute_record(attribute_id, foundation.DataTypeId.map32, t.bitmap32(0)))
        else:
            records.append(unsupported_attribute(attribute_id))
    return records
