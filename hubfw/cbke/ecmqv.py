"""The ECMQV shared secret of Smart Energy key establishment (SEC 1, with cofactor multiplication)."""

from __future__ import annotations

from hubfw.cbke.curves import KoblitzCurve, Point
from hubfw.cbke.errors import InvalidKeyError
from hubfw.cbke.keys import KeyPair


def associate_value(curve: KoblitzCurve, point: Point) -> int:
    """avf(Q) = (x mod 2^ceil(f/2)) + 2^ceil(f/2), f being the bit length of the order n."""
    half = (curve.order.bit_length() + 1) // 2
    return (curve.field.to_int(point.x) & ((1 << half) - 1)) | (1 << half)


def shared_secret(static_key: KeyPair, ephemeral_key: KeyPair, peer_static: Point, peer_ephemeral: Point) -> bytes:
    """Z = x(h * s * (QE' + avf(QE') * Q')) with s = d_E + avf(QE) * d_S mod n, as a field octet string.

    Both sides compute the same Z; the cofactor h keeps a peer's small-subgroup point from
    leaking anything about our keys.
    """
    curve = static_key.suite.curve
    if {ephemeral_key.suite.curve, peer_static.curve, peer_ephemeral.curve} != {curve}:
        raise InvalidKeyError(f"ECMQV needs all four keys on {curve.name}")
    own_avf = associate_value(curve, ephemeral_key.public)
    implicit_signature = (ephemeral_key.private + own_avf * static_key.private) % curve.order
    peer_combined = curve.add(peer_ephemeral, curve.multiply(associate_value(curve, peer_ephemeral), peer_static))
    result = None if peer_combined is None else curve.multiply(curve.cofactor * implicit_signature, peer_combined)
    if result is None:
        raise InvalidKeyError("the ECMQV shared secret is the point at infinity: the peer's keys are invalid")
    return curve.field.to_bytes(result.x)
