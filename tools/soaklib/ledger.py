"""The soak's checker: an independent record of what happened on the air and in the store, judged
against the rules of REQUIREMENTS §4 as it happens and once more at the end.

It never asks the store why it did something. Every terminal alert must be explained by what the
ledger saw (an UpgradeEnd the device sent, a hardware version out of range, a replacing image,
24 hours without a block, 14 days without a start); every byte a device receives must equal the
distributed file at that offset; an image may stay in flash only while its rules allow.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import foundation

from hubfw.alerts import AlertCode, TransferAlert, TransferResponse
from hubfw.devices import DeviceType
from hubfw.gbcs.framing import GeneralSigning
from hubfw.gbcs.signing import verify
from hubfw.sim.devices import OtaClientDevice
from hubfw.store.policy import GSME_PROTECTION_S, NO_START_DISCARD_S, STALL_FAILURE_S
from hubfw.store.status import ImageStatus, StoreStatus
from soaklib import air
from soaklib.fleet import IMAGE_TYPES, SoakImage, block_of

_TYPE_OF_IMAGE_TYPE = {image_type: device_type for device_type, image_type in IMAGE_TYPES.items()}
_OPEN_STATES = ("waiting", "downloading")


def _whole(when: float) -> float:
    """Alert times are whole seconds (GeneralizedTime has no fraction)."""
    return float(math.floor(when))


@dataclass
class TargetRecord:
    """One target of one image, as seen from outside the hub."""

    image: SoakImage
    first_request: float | None = None  # first ImageBlock/ImagePage request the hub handled
    last_request: float | None = None
    last_served: float | None = None  # last request answered with image data
    bytes_received: int = 0
    end_statuses: set[int] = field(default_factory=set)  # UpgradeEnd statuses the device sent
    terminal: dict[int, TransferAlert] = field(default_factory=dict)


@dataclass
class ImageRecord:
    image: SoakImage
    arrived_at: float
    confirmed: bool  # known to be in flash (False: the hub went down while storing it)
    replaced_at: list[float] = field(default_factory=list)


class Ledger:
    """Collects failures (one line each) as the soak runs; `finish` adds the end-of-run checks."""

    def __init__(self, devices: dict[t.EUI64, OtaClientDevice], checkpoint_seconds: float, start: float,
                 ch_key: ec.EllipticCurvePublicKey | None = None) -> None:
        self.devices = devices
        self.ch_key = ch_key
        """The CH's DS public key: with it, every alert's GBCS message is checked (counter, content, signature)."""
        self._by_text = {str(entity): entity for entity in devices}  # the store's status names targets as text
        self.start = start
        self.checkpoint_seconds = checkpoint_seconds
        self.failures: list[str] = []
        self.images: dict[tuple[DeviceType, int], ImageRecord] = {}
        self.targets: dict[tuple[t.EUI64, int], TargetRecord] = {}
        self.alerts: dict[int, TransferAlert] = {}
        self.successes: list[TransferAlert] = []  # 0x8F8A alerts in the order they arrived
        self.alert_codes: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.redelivered = 0
        self.last_counter = 0
        self.blocks_received = 0
        self.bytes_received = 0
        self.discarded_mid_transfer = 0
        self._last_end: dict[t.EUI64, tuple[int, int]] = {}  # (status, version) of each device's last UpgradeEnd

    def fail(self, now: float, message: str) -> None:
        self.failures.append(f"day {(now - self.start) / 86400:.3f}: {message}")

    def _check_message(self, alert: TransferAlert, now: float, ch_key: ec.EllipticCurvePublicKey) -> None:
        """GBCS receivers drop a message whose originator counter is not above the last one: each new alert's
        counter must beat every earlier one, and its message must carry it, signed by the CH (or, for an activation
        the hub inferred, unsigned from the device)."""
        if alert.counter is None or alert.message is None:
            self.fail(now, f"alert {alert.alert_id} came without its GBCS message")
            return
        if alert.counter <= self.last_counter:
            self.fail(now, f"alert {alert.alert_id} has originator counter {alert.counter}, "
                           f"not above the last one ({self.last_counter})")
        self.last_counter = max(self.last_counter, alert.counter)
        message = GeneralSigning.parse(alert.message)
        if message.originator_counter != alert.counter or message.content != alert.der():
            self.fail(now, f"alert {alert.alert_id}: its GBCS message does not carry its counter and content")
        if alert.source == "tunnel":
            return  # the device's own message, relayed as it came
        if (alert.code is not AlertCode.ACTIVATION) != verify(alert.message, ch_key):
            self.fail(now, f"alert {alert.alert_id}: its GBCS message is not signed by the CH as it should be")

    # ----- distribution

    def expected_refusal(self, image: SoakImage, resident: ImageStatus | None, now: float) -> str | None:
        """The rule that must refuse `image` given the block's live resident, or None if it must go in."""
        if resident is None:
            return None
        old = resident.image
        if old.device_type in (DeviceType.ESME, DeviceType.GSME) and any(
            target.state == "downloading" for target in resident.targets
        ):
            return f"a {old.device_type.value} transfer is in progress"
        protected = old.device_type is DeviceType.GSME and now < old.arrived_at + GSME_PROTECTION_S
        if protected and image.device_type in (DeviceType.PPMID, DeviceType.HCALCS):
            return "the GSME image is inside its 14-day protection"
        return None

    def stored(self, image: SoakImage, resident: ImageStatus | None, now: float, *, confirmed: bool) -> None:
        """The store accepted `image` (confirmed), or went down while storing it (it may or may not be in)."""
        rule = self.expected_refusal(image, resident, now)
        if confirmed and rule is not None:
            self.fail(now, f"{image.device_type.value} image {image.file_version:#x} was stored although {rule}")
        if resident is not None:
            replaced = self.images.get((resident.image.device_type, resident.image.file_version))
            if replaced is not None:
                replaced.replaced_at.append(now)
        self.images[(image.device_type, image.file_version)] = ImageRecord(image, now, confirmed)
        for entity in image.targets:
            self.targets[(entity, image.file_version)] = TargetRecord(image)

    def refused(self, image: SoakImage, resident: ImageStatus | None, now: float, reason: str) -> None:
        if self.expected_refusal(image, resident, now) is None:
            self.fail(now, f"{image.device_type.value} image {image.file_version:#x} refused without a rule: {reason}")

    # ----- the air

    def heard(self, source: t.EUI64, zcl: bytes, now: float) -> None:
        """A request a device sent that the hub is about to handle."""
        version = air.transfer_request_version(zcl)
        if version is not None:
            record = self.targets.get((source, version))
            if record is not None:
                record.first_request = now if record.first_request is None else record.first_request
                record.last_request = now
            return
        end = air.upgrade_end(zcl)
        if end is None:
            return
        status, version = end
        self._last_end[source] = end
        record = self.targets.get((source, version))
        if record is None:
            return
        record.end_statuses.add(status)
        if status == foundation.Status.SUCCESS and self.devices[source].completed_image != record.image.data:
            self.fail(now, f"{source} reported success for {version:#x} holding an image that differs from the "
                           "one distributed")

    def answered(self, destination: t.EUI64, zcl: bytes, now: float) -> None:
        """A frame the hub's server produced: image data served counts as activity on the transfer, and
        a device whose transfer the hub reported successful must not be told to throw the image away."""
        served = air.image_data(zcl)
        if served is not None:
            record = self.targets.get((destination, served.file_version))
            if record is not None:
                record.last_served = now
            return
        answer = air.default_response(zcl)
        last_end = self._last_end.get(destination)
        if answer != (air.UPGRADE_END, foundation.Status.ABORT) or last_end is None or last_end[0] != 0:
            return
        record = self.targets.get((destination, last_end[1]))
        if record is not None and any(
            alert.transfer_response is TransferResponse.SUCCESS for alert in record.terminal.values()
        ):
            self.fail(now, f"{destination} was told to abort (discard) {last_end[1]:#x} after the hub reported its "
                           "transfer successful (0x8F8A)")

    def received(self, destination: t.EUI64, block: air.ImageData, now: float) -> None:
        """Image data a device actually received: every byte must be the distributed file's byte."""
        device_type = _TYPE_OF_IMAGE_TYPE.get(block.image_type)
        record = self.images.get((device_type, block.file_version)) if device_type else None
        if record is None:
            self.fail(now, f"{destination} received bytes of an image never distributed "
                           f"(type {block.image_type:#06x} version {block.file_version:#x})")
            return
        expected = record.image.data[block.offset : block.offset + len(block.data)]
        if block.data != expected:
            first = next((i for i, (a, b) in enumerate(zip(block.data, expected)) if a != b),
                         min(len(block.data), len(expected)))
            self.fail(now, f"{destination} received a byte at offset {block.offset + first} of "
                           f"{block.file_version:#x} that differs from the stored image")
        target = self.targets.get((destination, block.file_version))
        if target is None:
            self.fail(now, f"{destination} was sent image {block.file_version:#x} it is not a target of")
        else:
            target.bytes_received += len(block.data)
        self.blocks_received += 1
        self.bytes_received += len(block.data)

    # ----- alerts

    def alert(self, alert: TransferAlert, now: float) -> None:
        """One alert the hub delivered (at least once: a repeat must be identical, GBCS message included)."""
        known = self.alerts.get(alert.alert_id)
        if known is not None:
            self.redelivered += 1
            if known != alert:
                self.fail(now, f"alert {alert.alert_id} was delivered twice with different contents")
            return
        if self.ch_key is not None:
            self._check_message(alert, now, self.ch_key)
        self.alerts[alert.alert_id] = alert
        self.alert_codes[f"0x{alert.code:04X}"] += 1
        if alert.code is AlertCode.ACTIVATION:
            self._check_activation(alert, now)
            return
        assert alert.transfer_response is not None
        self.responses[alert.transfer_response.name.lower()] += 1
        record = self.targets.get((alert.entity, alert.firmware_version))
        if record is None:
            self.fail(now, f"terminal alert for {alert.entity} version {alert.firmware_version:#x}, "
                           "which it was never a target of")
            return
        image = self.images[(record.image.device_type, record.image.file_version)]
        image.confirmed = True  # an alert proves the image was committed
        record.terminal[alert.alert_id] = alert
        if len(record.terminal) > 1:
            self.fail(now, f"{alert.entity} got {len(record.terminal)} terminal alerts for "
                           f"{alert.firmware_version:#x} (ids {sorted(record.terminal)})")
        if not image.arrived_at - 1 <= alert.time <= now:
            self.fail(now, f"alert {alert.alert_id} is dated outside the image's life")
        problem = self._unexplained(alert, record, image)
        if problem is not None:
            self.fail(now, f"{alert.entity} {alert.transfer_response.name} for {alert.firmware_version:#x}: {problem}")
        if alert.transfer_response is TransferResponse.SUCCESS:
            self.successes.append(alert)
        if alert.transfer_response is TransferResponse.IMAGE_DISCARDED and record.bytes_received:
            self.discarded_mid_transfer += 1

    def _unexplained(self, alert: TransferAlert, record: TargetRecord, image: ImageRecord) -> str | None:
        """Why this terminal outcome is not justified by anything the ledger saw (None if it is)."""
        device = self.devices[alert.entity]
        fits = record.image.fits(device.identity.hardware_version)
        response = alert.transfer_response
        if response is TransferResponse.HARDWARE_VERSION_MISMATCH:
            return None if not fits else "the device's hardware version is inside the image's range"
        if not fits and response is not TransferResponse.IMAGE_DISCARDED:
            return "the device's hardware version is outside the image's range"
        if response is TransferResponse.SUCCESS:
            return None if foundation.Status.SUCCESS in record.end_statuses else "the device never reported success"
        if response is TransferResponse.FILE_TRANSFER_FAILURE:
            if record.end_statuses - {foundation.Status.SUCCESS}:
                return None
            if record.first_request is None:
                return "the device never reported failure nor started downloading"
            last = record.last_served if record.last_served is not None else record.first_request
            if alert.time < _whole(last + STALL_FAILURE_S):
                return "declared stalled less than 24 h after its last block"
            return None
        if any(alert.time == _whole(when) for when in image.replaced_at):
            return None
        if record.bytes_received:
            return "discarded after it had started downloading, without a replacing image"
        if alert.time < _whole(image.arrived_at + NO_START_DISCARD_S):
            return "discarded before 14 days without a replacing image"
        return None

    def _check_activation(self, alert: TransferAlert, now: float) -> None:
        device = self.devices.get(alert.entity)
        record = self.targets.get((alert.entity, alert.firmware_version))
        succeeded = record is not None and any(
            a.transfer_response is TransferResponse.SUCCESS for a in record.terminal.values()
        )
        if device is None or device.identity.device_type is not DeviceType.PPMID or not succeeded:
            self.fail(now, f"activation alert for {alert.entity} version {alert.firmware_version:#x} "
                           "without a successful PPMID transfer of it")

    def activation_refused(self, entity: t.EUI64, version: int, now: float) -> None:
        """CS06 for a transfer the hub reported successful may only be refused once a newer one succeeded
        (the hub remembers each device's latest completed transfer)."""
        newer = any(
            target_version > version and any(a.transfer_response is TransferResponse.SUCCESS
                                             for a in record.terminal.values())
            for (target, target_version), record in self.targets.items() if target == entity
        )
        if not newer:
            self.fail(now, f"CS06 activation of {version:#x} on {entity} was refused although that was its latest "
                           "successful transfer")

    # ----- the store's state

    def check_store(self, status: StoreStatus, now: float) -> None:
        """No image outlives its rules: each live image is known, in its block, and every open target
        is still within its 14-day (not started) or 24-hour (started) window."""
        for block in status.blocks:
            if block.image is None:
                continue
            stored = block.image.image
            image = self.images.get((stored.device_type, stored.file_version))
            if image is None:
                self.fail(now, f"{block.block.value} block holds {stored.device_type.value} image "
                               f"{stored.file_version:#x}, which was never distributed")
                continue
            image.confirmed = True
            if block_of(stored.device_type) is not block.block:
                self.fail(now, f"{stored.device_type.value} image {stored.file_version:#x} is in the "
                               f"{block.block.value} block")
            for target in block.image.targets:
                if target.state in _OPEN_STATES:
                    self._check_open_target(image, target.entity, target.state, target.started_at, now)

    def _check_open_target(self, image: ImageRecord, entity: str, state: str, started_at: float | None,
                           now: float) -> None:
        record = self.targets.get((self._by_text.get(entity), image.image.file_version))
        version = image.image.file_version
        if record is None:
            self.fail(now, f"{entity} is an open target of {version:#x} but was not named in its distribution")
            return
        if record.terminal:
            self.fail(now, f"{entity} is open again on {version:#x} after its terminal alert")
        if state == "waiting" and now >= image.arrived_at + NO_START_DISCARD_S:
            self.fail(now, f"{version:#x} still waits for {entity} 14 days after it arrived")
        if state == "downloading":
            # Activity the store saw is bounded by the last request it handled (or its durable start).
            last = max(time for time in (record.last_request, started_at) if time is not None)
            if now >= last + STALL_FAILURE_S + self.checkpoint_seconds:
                self.fail(now, f"{version:#x} still counts {entity} as downloading more than 24 h after its "
                               "last request")

    # ----- the end

    def finish(self, status: StoreStatus, now: float) -> None:
        """After the drain: no image left, and every target of every stored image exactly one terminal alert."""
        for block in status.blocks:
            if block.image is not None:
                self.fail(now, f"image {block.image.image.file_version:#x} is still in the {block.block.value} block "
                               "after every rule's deadline")
        if status.pending_alerts:
            self.fail(now, f"the store still owes {status.pending_alerts} alerts at the end")
        for (entity, version), record in self.targets.items():
            image = self.images[(record.image.device_type, version)]
            if image.confirmed and not record.terminal:
                self.fail(now, f"{entity} never got a terminal alert for {version:#x}")

    @property
    def stored_images(self) -> int:
        return sum(image.confirmed for image in self.images.values())

    @property
    def rolled_back(self) -> int:
        return sum(not image.confirmed for image in self.images.values())
