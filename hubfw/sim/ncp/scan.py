"""What the simulated NCP's radio hears when the host scans: the energy on each 2.4 GHz channel and
the beacons of other PANs.

zigpy energy-scans every channel when it forms a network without a configured channel and picks a
quiet one, so the default surroundings are a home with Wi-Fi on channels 1, 6 and 11, which drown
Zigbee channels 11-14, 16-19 and 21-24 and leave 15, 20, 25 and 26 quiet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import zigpy.types as zt

ZIGBEE_CHANNELS = range(11, 27)
"""The sixteen IEEE 802.15.4 channels in the 2.4 GHz band."""
MAX_SCAN_DURATION = 14
"""802.15.4 ScanDuration: each channel is listened to for 15.36 ms × (2^duration + 1)."""
QUIET_DBM = -90
WIFI_DBM = -55
WIFI_OVERLAPPED_CHANNELS = (11, 12, 13, 14, 16, 17, 18, 19, 21, 22, 23, 24)
"""The Zigbee channels under Wi-Fi channels 1, 6 and 11 (22 MHz wide, centred 2412, 2437 and 2462 MHz)."""


def _wifi_at_home() -> dict[int, int]:
    return {channel: WIFI_DBM if channel in WIFI_OVERLAPPED_CHANNELS else QUIET_DBM for channel in ZIGBEE_CHANNELS}


@dataclasses.dataclass(frozen=True)
class RadioSurroundings:
    """Peak RSSI per channel (dBm; channels left out are quiet) and the other networks in range."""

    energy_dbm: Mapping[int, int] = dataclasses.field(default_factory=_wifi_at_home)
    networks: tuple[zt.NetworkBeacon, ...] = ()

    def energy(self, channel: int) -> int:
        return self.energy_dbm.get(channel, QUIET_DBM)

    def beacons(self, channel: int) -> list[zt.NetworkBeacon]:
        return [beacon for beacon in self.networks if beacon.channel == channel]


def scan_channels(mask: zt.Channels) -> list[int]:
    """The 2.4 GHz channels of a channel mask, lowest first (a real NCP scans them in that order)."""
    return [channel for channel in ZIGBEE_CHANNELS if zt.Channels.from_channel_list([channel]) & mask]
