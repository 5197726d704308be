"""The bellows adapter's pieces without a radio: APS fragment sizes, and the key-table command each EZSP
version gets."""

from __future__ import annotations

import bellows.types as bt
import pytest
import zigpy.exceptions
import zigpy.types as t
from bellows.ezsp.v8 import EZSPv8
from bellows.ezsp.v14 import EZSPv14

from hubfw.radio.bellows import HubControllerApplication, RadioError, split_fragments

DEVICE = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f3")
KEY = t.KeyData(bytes(range(16)))


def test_fragments_cover_the_message_in_order_and_no_more_than_255_exist() -> None:
    data = bytes(range(256)) + bytes(44)
    parts = split_fragments(data, 71)
    assert [len(part) for part in parts] == [71, 71, 71, 71, 16]
    assert b"".join(parts) == data
    assert len(split_fragments(bytes(255 * 71), 71)) == 255
    with pytest.raises(zigpy.exceptions.DeliveryError, match="at most 255"):
        split_fragments(bytes(255 * 71 + 1), 71)


class RecordingEzsp:
    """Answers the key-table commands like an NCP with `used` key-table entries and records the calls."""

    def __init__(self, version: int, used: int = 0, size: int = 12, refuse: bool = False) -> None:
        self.ezsp_version = version
        self.COMMANDS = (EZSPv14 if version >= 14 else EZSPv8).COMMANDS
        self.used, self.size, self.refuse = used, size, refuse
        self.calls: list[tuple[str, dict]] = []

    async def findKeyTableEntry(self, **fields):
        return (0xFF,)

    async def getConfigurationValue(self, **fields):
        return (bt.sl_Status.OK, self.size)

    async def exportLinkKeyByIndex(self, index: int):
        status = bt.sl_Status.OK if index < self.used else bt.sl_Status.NOT_FOUND
        return (status, None, KEY, None)  # EZSP v14's field order

    async def importLinkKey(self, **fields):
        self.calls.append(("importLinkKey", fields))
        return (bt.sl_Status.FAIL if self.refuse else bt.sl_Status.OK,)

    async def addOrUpdateKeyTableEntry(self, **fields):
        self.calls.append(("addOrUpdateKeyTableEntry", fields))
        return (bt.EmberStatus.ERR_FATAL if self.refuse else bt.EmberStatus.SUCCESS,)


def app_on(ezsp: RecordingEzsp) -> HubControllerApplication:
    """Only the attributes `install_link_key` touches: no serial port, no zigpy start-up."""
    app = object.__new__(HubControllerApplication)
    app._ezsp = ezsp
    return app


async def test_ezsp_14_imports_the_key_into_the_first_free_key_table_entry() -> None:
    ezsp = RecordingEzsp(14, used=3)
    app = app_on(ezsp)
    await app.install_link_key(DEVICE, KEY)
    assert ezsp.calls[-1] == ("importLinkKey", {"index": 3, "address": DEVICE, "key": KEY})
    assert DEVICE in app._keyed


async def test_older_ezsp_adds_or_updates_the_key_table_entry() -> None:
    ezsp = RecordingEzsp(8)
    await app_on(ezsp).install_link_key(DEVICE, KEY)
    assert ezsp.calls == [("addOrUpdateKeyTableEntry", {"address": DEVICE, "linkKey": True, "keyData": KEY})]


async def test_a_full_key_table_or_a_refusal_is_a_radio_error() -> None:
    with pytest.raises(RadioError, match="key table is full"):
        await app_on(RecordingEzsp(14, used=12)).install_link_key(DEVICE, KEY)
    with pytest.raises(RadioError, match="refused the link key"):
        await app_on(RecordingEzsp(8, refuse=True)).install_link_key(DEVICE, KEY)
