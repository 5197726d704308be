"""The four GB HAN device kinds a hub updates, with realistic OTA client defaults.

Each factory takes the device's identity and any `Behaviour` field as a keyword, which is how quirks
are switched on: `page_size=SILABS_PAGE_SIZE`, `block_period_unit=BlockPeriodUnit.SECONDS`,
`announces_absent_block_period=True`, `power_cuts=(PowerCut(...),)`, `rejects_image=True`, or a
`hardware_version` outside the image's range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path
from typing import Any

import zigpy.types as t
from crccheck.crc import CrcX25
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.cbke.agreement import DeviceCredentials
from hubfw.devices import DeviceType, parse_eui64
from hubfw.gbcs.bench_keys import GbcsKeys
from hubfw.gbcs.device_keys import device_ds_key, device_ka_key
from hubfw.sim.devices.behaviour import Behaviour, DeviceConfigError, Identity, SleepyPolling
from hubfw.sim.devices.client import OtaClientDevice
from hubfw.sim.devices.gb_session import GbHanSettings
from hubfw.zigbee.ids import SMART_ENERGY_PROFILE

SILABS_PAGE_SIZE = 1024
"""The page size Silicon Labs' OTA client plugin asks for in its ImagePageRequests."""

DEFAULT_BEHAVIOUR = {
    # Mains-powered, always listening: query at least daily, answer a notify within seconds.
    DeviceType.PPMID: Behaviour(),
    DeviceType.HCALCS: Behaviour(),
    DeviceType.ESME: Behaviour(),
    # Battery gas meter: a sleepy end device that paces its own block requests to save energy, so a
    # transfer of a couple of hundred kilobytes takes most of a day.
    DeviceType.GSME: Behaviour(
        max_data_size=40, block_delay=10.0, sleepy=SleepyPolling(fast_poll=2.0, long_poll=3600.0),
        response_timeout=30.0,
    ),
}


SESSION_DEFAULTS: dict[DeviceType, dict[str, Any]] = {
    # GBCS 10.2.2: the hub requests a tunnel to an ESME, HCALCS or PPMID after CBKE, and they serve it (a
    # PPMID's 0x8F8B goes through it); the sleepy GSME requests its own tunnel to the hub. A PPMID also
    # watches the hub's notification flags for a new image. Every device establishes its key and reads the time.
    # An HCALCS activates on GBCS CS06 only (a real one is not activated by a Zigbee UpgradeEndResponse).
    DeviceType.PPMID: {"serves_tunnel": True, "notification_poll": 3600.0},
    DeviceType.HCALCS: {"serves_tunnel": True, "activation": "gbcs"},
    DeviceType.ESME: {"serves_tunnel": True},
    DeviceType.GSME: {"opens_tunnel": True},
}


def install_code_for(eui64: t.EUI64) -> bytes:
    """A simulated device's install code, as printed on its label: 16 bytes derived from its EUI-64 (so a
    scenario is reproducible) and the CRC-16/X-25 a joining device's code carries, little-endian."""
    code = hashlib.sha256(b"hubfw install code " + bytes(eui64)).digest()[:16]
    return code + CrcX25.calcbytes(code, byteorder="little")


def gb_session(device_type: DeviceType, credentials: DeviceCredentials | None, **options: Any) -> GbHanSettings:
    """The Smart Energy session of a GB device of `device_type` with these CBKE credentials (None: a device
    that never does CBKE); `options` override the kind's defaults, e.g. `corrupts_confirm_mac=True`."""
    return GbHanSettings(credentials, **{**SESSION_DEFAULTS[device_type], **options})


def make_device(
    device_type: DeviceType,
    ieee: t.EUI64 | str,
    nwk: int,
    *,
    manufacturer_code: int,
    image_type: int,
    file_version: int,
    hardware_version: int | None = None,
    endpoint: int = 1,
    profile: int = SMART_ENERGY_PROFILE,
    aps_encrypted: bool = True,
    install_code: bytes | None = None,
    seed: int | None = None,
    gb: GbHanSettings | None = None,
    ds_key: ec.EllipticCurvePrivateKey | None = None,
    keys_dir: Path | None = None,
    ka_key: ec.EllipticCurvePrivateKey | None = None,
    gbcs_keys: GbcsKeys | Path | None = None,
    activation: str | None = None,
    **behaviour: Any,
) -> OtaClientDevice:
    """A device of `device_type`; `seed` (default: from the EUI-64) makes its jitters reproducible;
    `gb` gives it a Smart Energy session (Match_Desc, CBKE, Time, tunnel) before its OTA client starts.
    Its GBCS Digital Signing key is `ds_key`, else the bench's key for it in `keys_dir` (`device_ds_key`: made on
    first use, its public half beside it for the hub), else the key `gb` carries, else a fresh one. A GB device takes
    GBCS commands (CS06, CS08) with its Key Agreement key `ka_key` (else the bench's in `keys_dir`, `device_ka_key`)
    checked against the ACB and supplier keys of `gbcs_keys` (a `GbcsKeys` or its directory; else `keys_dir`);
    `activation` ("zcl" or "gbcs", default the kind's: "gbcs" for an HCALCS) says whether an UpgradeEndResponse
    activates it too."""
    eui64 = parse_eui64(ieee) if isinstance(ieee, str) else t.EUI64(ieee)
    identity = Identity(
        ieee=eui64, nwk=t.NWK(nwk), device_type=device_type, manufacturer_code=manufacturer_code,
        image_type=image_type, file_version=file_version, hardware_version=hardware_version, endpoint=endpoint,
        profile=profile, aps_encrypted=aps_encrypted, install_code=install_code,
    )
    known = {f.name for f in dataclasses.fields(Behaviour)}
    unknown = sorted(set(behaviour) - known)
    if unknown:
        raise DeviceConfigError(f"unknown simulated device option(s): {', '.join(unknown)}")
    chosen = dataclasses.replace(DEFAULT_BEHAVIOUR[device_type], **behaviour)
    rng = random.Random(seed if seed is not None else int.from_bytes(eui64.serialize(), "little"))
    if ds_key is None and keys_dir is not None:
        ds_key = device_ds_key(keys_dir, eui64)
    if gb is not None:
        gbcs = {"ka_key": ka_key or gb.ka_key, "gbcs_keys": gbcs_keys or gb.gbcs_keys,
                "activation": activation or gb.activation}
        if gbcs["ka_key"] is None and keys_dir is not None:
            gbcs["ka_key"] = device_ka_key(keys_dir, eui64)
        if gbcs["gbcs_keys"] is None:
            gbcs["gbcs_keys"] = keys_dir
        gb = dataclasses.replace(gb, **gbcs)
    elif activation not in (None, "zcl") or ka_key is not None or gbcs_keys is not None:
        raise DeviceConfigError(f"simulated device {eui64}: GBCS keys and CS06 activation need a GB session (gb=)")
    return OtaClientDevice(identity, chosen, rng, gb, ds_key)


def ppmid(ieee: t.EUI64 | str, nwk: int, **options: Any) -> OtaClientDevice:
    """A prepayment meter interface device: activates as soon as the hub says so, then raises 0x8F8B."""
    return make_device(DeviceType.PPMID, ieee, nwk, **options)


def hcalcs(ieee: t.EUI64 | str, nwk: int, **options: Any) -> OtaClientDevice:
    """An auxiliary load control switch: downloads, then waits for the hub's activation."""
    return make_device(DeviceType.HCALCS, ieee, nwk, **options)


def esme(ieee: t.EUI64 | str, nwk: int, **options: Any) -> OtaClientDevice:
    """An electricity meter: downloads (up to four at once from one image), waits for activation."""
    return make_device(DeviceType.ESME, ieee, nwk, **options)


def gsme(ieee: t.EUI64 | str, nwk: int, **options: Any) -> OtaClientDevice:
    """A gas meter: sleepy, small blocks, slow; waits for activation."""
    return make_device(DeviceType.GSME, ieee, nwk, **options)
