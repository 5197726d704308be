"""Reading an NCP's keys on EZSP before v13 (getKey, getKeyTableEntry, getTransientKeyTableEntry), which the
simulated NCP does not speak: against bellows' own v8 command table."""

from __future__ import annotations

import bellows.types as bt
import zigpy.types as t
from bellows.ezsp.v8 import EZSPv8

from hubfw.radio.ncp_keys import KeyKind, NcpKey, read_ncp_keys

DEVICE = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f3")
NETWORK, TC, LINK, JOIN = (t.KeyData(bytes([n] * 16)) for n in (1, 2, 3, 4))


def key_struct(key: t.KeyData, partner: t.EUI64 = t.EUI64.convert("00:00:00:00:00:00:00:00"),
               sequence: int = 0) -> bt.EmberKeyStruct:
    return bt.EmberKeyStruct(bitmask=0, type=bt.EmberKeyType.APPLICATION_LINK_KEY, key=key, outgoingFrameCounter=0,
                             incomingFrameCounter=0, sequenceNumber=sequence, partnerEUI64=partner)


class LegacyEzsp:
    """An EZSP v8 NCP with one key-table entry (index 1 of 3) and one transient key."""

    ezsp_version = 8
    COMMANDS = EZSPv8.COMMANDS

    async def getKey(self, keyType):
        key = NETWORK if keyType == bt.EmberKeyType.CURRENT_NETWORK_KEY else TC
        return (bt.EmberStatus.SUCCESS, key_struct(key, sequence=3))

    async def getConfigurationValue(self, configId):
        return (bt.EzspStatus.SUCCESS, 3)

    async def getKeyTableEntry(self, index):
        if index == 1:
            return (bt.EmberStatus.SUCCESS, key_struct(LINK, DEVICE))
        return (bt.EmberStatus.TABLE_ENTRY_ERASED, key_struct(t.KeyData(bytes(16))))

    async def getTransientKeyTableEntry(self, index):
        if index == 0:
            return (bt.EmberStatus.SUCCESS, bt.EmberTransientKeyDataV8(
                eui64=DEVICE, keyData=JOIN, bitmask=0, remainingTimeSeconds=250))
        return (bt.EmberStatus.NOT_FOUND, bt.EmberTransientKeyDataV8(
            eui64=DEVICE, keyData=t.KeyData(bytes(16)), bitmask=0, remainingTimeSeconds=0))


async def test_ezsp_8_keys_come_from_get_key_and_the_key_tables() -> None:
    assert await read_ncp_keys(LegacyEzsp()) == [
        NcpKey(KeyKind.NETWORK, NETWORK, sequence=3),
        NcpKey(KeyKind.TRUST_CENTRE_LINK, TC),
        NcpKey(KeyKind.LINK, LINK, DEVICE, index=1),
        NcpKey(KeyKind.TRANSIENT, JOIN, DEVICE, index=0, ttl_s=250),
    ]
