"""The GBCS messages that carry the hub's alerts to the DCC, as the Reference Test Data Set has them.

- A **Firmware Transfer Alert** (0x8F89 / 0x8F8A) is CCS08: a General-Signing message with transaction-id CRA flag 3
  (Alert) and the alert's originator counter, business originator id = the CH's entity id, business target id =
  the access control broker (ACB), no date-time, other-information = message code 0x0128, content = the CCS08 DER,
  signed by the CH's Digital Signing key [RTDS `ccs08-8f8a-alert.hex`, tests/gbcs/rtds/README.md; GBCS section 4].
- A PPMID's **0x8F8B** is the PPMID's own message (message code 0x012B, signed by the PPMID): the hub relays it
  verbatim, and says whether the device's signature checks out against the device's key, where it has one.
- Where the hub only inferred an activation it has nothing the PPMID signed: it gives the DCC side the 0x012B
  message the PPMID would have sent, from the PPMID's entity id, with the alert's counter and **no signature**.

Signatures are deterministic ECDSA (RFC 6979, `hubfw.gbcs.signing`), so an alert handed over again after a crash
is the same message byte for byte: same counter (the store keeps it), same signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec

from hubfw.alerts import AlertCode, TransferAlert
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode
from hubfw.gbcs.signing import sign, verify

DEFAULT_ACB_ID = t.EUI64(bytes.fromhex("90B3D51F30000002")[::-1])
"""The access control broker of the RTDS messages: the default business target id of every alert."""


def entity_id(eui64: t.EUI64) -> bytes:
    """A device's GBCS entity id: its EUI-64 in display (big-endian) order."""
    return bytes(eui64)[::-1]


@dataclass(frozen=True)
class GbcsIdentity:
    """Who the hub's alert messages come from and go to, and the keys that sign and check them."""

    ch_id: t.EUI64
    """The CH's entity id (`hubfw serve --ch-id`, by default the coordinator's EUI-64)."""
    key: ec.EllipticCurvePrivateKey
    """The CH's Digital Signing key (`hubfw.gbcs.ds_key`)."""
    acb_id: t.EUI64 = DEFAULT_ACB_ID
    device_keys: Mapping[t.EUI64, ec.EllipticCurvePublicKey] | None = field(default=None, compare=False)
    """The devices' Digital Signing public keys (`--device-certs`); None when the hub was given none."""

    def deliver(self, alert: TransferAlert) -> TransferAlert:
        """`alert` with the GBCS message the DCC side receives for it, and for a 0x8F8B the device signature's state.
        The alert must have its originator counter (the store gives it one when it becomes owed)."""
        if alert.code is not AlertCode.ACTIVATION:
            return replace(alert, message=self.transfer_message(alert))
        if alert.message is None:
            return replace(alert, message=self.inferred_activation_message(alert), signature="absent")
        return replace(alert, signature=self.device_signature(alert.entity, alert.message))

    def transfer_message(self, alert: TransferAlert) -> bytes:
        """The CCS08 message for a Firmware Transfer Alert, signed by the CH."""
        unsigned = GeneralSigning(CraFlag.ALERT, _counter(alert), entity_id(self.ch_id), entity_id(self.acb_id),
                                  MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT, alert.der())
        return sign(unsigned, self.key).encode()

    def inferred_activation_message(self, alert: TransferAlert) -> bytes:
        """The 0x012B message the PPMID would have sent for an activation the hub inferred: unsigned."""
        return activation_message(alert, _counter(alert), self.acb_id)

    def device_signature(self, eui64: t.EUI64, message: bytes) -> str:
        """"valid" / "invalid" against the device's key, "unchecked" when the hub has no key for it."""
        key = None if self.device_keys is None else self.device_keys.get(eui64)
        if key is None:
            return "unchecked"
        return "valid" if verify(message, key) else "invalid"


def activation_message(alert: TransferAlert, counter: int, acb_id: t.EUI64 = DEFAULT_ACB_ID,
                       key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """A PPMID's 0x8F8B as its own General-Signing message (message code 0x012B), signed with `key` when given."""
    unsigned = GeneralSigning(CraFlag.ALERT, counter, entity_id(alert.entity), entity_id(acb_id),
                              MessageCode.FIRMWARE_ACTIVATION_ALERT, alert.der())
    return (unsigned if key is None else sign(unsigned, key)).encode()


def _counter(alert: TransferAlert) -> int:
    if alert.counter is None:
        raise ValueError(f"alert {alert.alert_id} has no originator counter: only an owed alert has a GBCS message")
    return alert.counter
