"""What the hub shows: the JSON views behind `hubfw status`, `transfers`, `devices` and `distribute`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zigpy.types as t

from hubfw.devices import parse_eui64
from hubfw.hub.core import Distributed, HubCore
from hubfw.hub.faults import FaultBook
from hubfw.hub.han import HubHan
from hubfw.radio import OtaRadio
from hubfw.store.policy import iso_utc
from hubfw.zigbee.ids import SE_ENDPOINT

UNFINISHED = ("waiting", "downloading")
"""Target states whose `ota` entry says why the device is (not) downloading."""
NO_HAN_VIEW = {"key_establishment": None, "key_establishment_failure": None, "tunnel": None, "tunnel_opened_by": None}
"""A device's HAN fields when the hub runs no HAN server."""


def distributed(done: Distributed, targets: Sequence[t.EUI64]) -> dict[str, Any]:
    image = done.image
    return {
        "image_id": image.image_id, "block": image.block.value, "device_type": image.device_type.value,
        "manufacturer_code": f"0x{image.manufacturer_code:04X}", "image_type": f"0x{image.image_type:04X}",
        "file_version": f"0x{image.file_version:08X}", "total_size": image.total_size,
        "manufacturer_image_sha256": image.manufacturer_image_sha256.hex(),
        "targets": [str(eui64) for eui64 in targets],
        "checks": [check.line() for check in done.admission.checks],
        "warnings": list(done.warnings),
    }


def status(core: HubCore, alert_log: Path) -> dict[str, Any]:
    """Blocks, images with each target's state, progress and deadline, and what the hub waits for next."""
    found = core.store.status().to_json()
    images = _images(found, core)
    deadline = core.next_deadline()
    return {
        "blocks": found["blocks"],
        "images": images,
        "pending_alerts": found["pending_alerts"],
        "completed_transfers": found["completed_transfers"],
        "next_deadline": None if deadline is None else iso_utc(deadline),
        "now": iso_utc(core.clock.now()),
        "alert_log": str(alert_log),
        "han": None if core.han is None else _han_status(core, core.han),
        "faults": faults(core.faults, core.clock.now()),
    }


def faults(book: FaultBook, now: float) -> dict[str, list[dict[str, Any]]]:
    """The faults armed per device (`hubfw fault list`); window faults whose window has ended are spent first."""
    return {str(eui64): [fault.to_json() for fault in armed] for eui64, armed in book.listed(now).items()}


def _images(found: dict[str, Any], core: HubCore) -> list[dict[str, Any]]:
    """The store's images with each target's progress and, for an unfinished one, why it is (not) downloading;
    each block keeps only its image's id."""
    arrived = {status.image.image.image_id: status.image.image.arrived_at
               for status in core.store.status().blocks if status.image is not None}
    now = core.clock.now()
    images = []
    for block in found["blocks"]:
        image = block.pop("image")
        block["image_id"] = None if image is None else image["image_id"]
        if image is not None:
            for target in image["targets"]:
                target["progress"] = round(target["offset"] / image["total_size"], 4)
                target["ota"] = None if target["state"] not in UNFINISHED else core.server.exchanges.explain(
                    parse_eui64(target["entity"]), now, since=arrived.get(image["image_id"]),
                    offset=target["offset"], total_size=image["total_size"],
                )
            images.append({"block": block["block"], **image})
    return images


def _han_status(core: HubCore, han: HubHan) -> dict[str, Any]:
    return {
        "se_endpoint": SE_ENDPOINT,
        "cbke_required": han.require_cbke,
        "cbke_on_ncp": core.cbke_on_ncp,
        "link_keys": len(han.keys.devices()),
        "tunnels": han.server.tunnels(),
    }


def transfers(core: HubCore) -> list[dict[str, Any]]:
    """Every unfinished target with its image and byte offset: what `hubfw transfers` draws."""
    active = []
    for image in _images(core.store.status().to_json(), core):
        for target in image["targets"]:
            if target["state"] in UNFINISHED:
                active.append({
                    "entity": target["entity"], "state": target["state"], "image_id": image["image_id"],
                    "device_type": image["device_type"], "file_version": image["file_version"],
                    "offset": target["offset"], "total_size": image["total_size"], "progress": target["progress"],
                    "last_activity": target["last_activity"], "deadline": target["deadline"],
                    "ota": target["ota"],
                })
    return active


def devices(core: HubCore, app: OtaRadio) -> list[dict[str, Any]]:
    """The devices zigpy knows (joined or from its database), coordinator excluded."""
    coordinator = app.state.node_info.ieee
    targets = {transfer["entity"]: transfer for transfer in transfers(core)}
    armed = faults(core.faults, core.clock.now())
    listed = []
    for ieee, device in sorted(app.devices.items(), key=lambda item: str(item[0])):
        if ieee == coordinator:
            continue
        last_seen = getattr(device, "last_seen", None)
        transfer = targets.get(str(ieee))
        ota = None if transfer is None else {key: transfer[key] for key in ("state", "image_id", "progress")}
        exchange = transfer["ota"] if transfer is not None else core.server.exchanges.explain(ieee, core.clock.now())
        listed.append({
            "eui64": str(ieee), "nwk": f"0x{int(device.nwk):04X}", "manufacturer": device.manufacturer,
            "model": device.model, "initialized": device.is_initialized,
            "last_seen": None if last_seen is None else iso_utc(last_seen),
            "transfer": ota,
            "ota": exchange,
            "faults": armed.get(str(ieee), []),
            **(NO_HAN_VIEW if core.han is None else core.han.device_view(ieee)),
        })
    return listed
