"""The SEC 2 Koblitz curves of the Smart Energy crypto suites: sect163k1 (suite 1), sect283k1 (suite 2).

Curve: y^2 + xy = x^3 + a*x^2 + b over GF(2^m). Scalar multiplication walks the non-adjacent form
of the scalar with the accumulator in Lopez-Dahab projective coordinates (x = X/Z, y = Y/Z^2), so
the only field inversion is the final conversion back to affine. Points travel in SEC 1 compressed
form (0x02/0x03 || x), which is how the Key Establishment cluster carries them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubfw.cbke.errors import InvalidPointError
from hubfw.cbke.field import BinaryField

_LdPoint = tuple[int, int, int]  # (X, Y, Z) in spread field elements; Z == 0 is the point at infinity


@dataclass(frozen=True)
class Point:
    """An affine point other than infinity; `x` and `y` are spread field elements of `curve.field`."""

    curve: KoblitzCurve
    x: int
    y: int

    def __neg__(self) -> Point:
        return Point(self.curve, self.x, self.x ^ self.y)

    def encode(self) -> bytes:
        return self.curve.encode_point(self)

    def __repr__(self) -> str:
        return f"Point({self.curve.name}, {self.encode().hex()})"


class KoblitzCurve:
    """One SEC 2 binary Koblitz curve (b = 1, a in {0, 1}) with its base point G of prime order n."""

    def __init__(
        self,
        name: str,
        field: BinaryField,
        a: int,
        generator_x: int,
        generator_y: int,
        order: int,
        cofactor: int,
    ) -> None:
        self.name = name
        self.field = field
        self.a = field.from_int(a)
        self.b = field.one
        self.order = order
        self.cofactor = cofactor
        self.point_length = 1 + field.byte_length
        self.scalar_length = (order.bit_length() + 7) // 8
        self.generator = Point(self, field.from_int(generator_x), field.from_int(generator_y))
        if not self.contains(self.generator):
            raise ValueError(f"{name}: the generator is not on the curve")

    def __repr__(self) -> str:
        return f"KoblitzCurve({self.name})"

    # -- membership and encoding -----------------------------------------------------------------

    def contains(self, point: Point) -> bool:
        f, x, y = self.field, point.x, point.y
        x2 = f.sqr(x)
        return f.sqr(y) ^ f.mul(x, y) == f.mul(x2, x) ^ f.mul(self.a, x2) ^ self.b

    def point(self, x: int, y: int) -> Point:
        """The point with plain-integer affine coordinates (x, y); it must lie on the curve."""
        try:
            candidate = Point(self, self.field.from_int(x), self.field.from_int(y))
        except ValueError as exc:
            raise InvalidPointError(f"{self.name}: coordinate out of range ({exc})") from None
        if not self.contains(candidate):
            raise InvalidPointError(f"{self.name}: ({x:#x}, {y:#x}) is not on the curve")
        return candidate

    def encode_point(self, point: Point) -> bytes:
        """SEC 1 compressed form; the y bit is the low bit of y/x (0 when x == 0)."""
        f = self.field
        y_bit = 0 if point.x == 0 else f.mul(point.y, f.inv(point.x)) & 1
        return bytes([2 | y_bit]) + f.to_bytes(point.x)

    def decode_point(self, data: bytes) -> Point:
        """Decompress a SEC 1 compressed point, rejecting anything that is not a curve point."""
        f = self.field
        if len(data) != self.point_length:
            raise InvalidPointError(
                f"{self.name}: a compressed point is {self.point_length} bytes, got {len(data)}"
            )
        if data[0] not in (2, 3):
            raise InvalidPointError(f"{self.name}: point prefix {data[0]:#04x} is not 0x02/0x03 (compressed)")
        try:
            x = f.from_bytes(data[1:])
        except ValueError:
            raise InvalidPointError(f"{self.name}: x coordinate exceeds the field size") from None
        y_bit = data[0] & 1
        if x == 0:
            if y_bit:
                raise InvalidPointError(f"{self.name}: x = 0 admits only the prefix 0x02")
            return Point(self, 0, f.sqrt(self.b))
        # y = x*z with z^2 + z = x + a + b/x^2; solvable only when that has trace 0.
        beta = x ^ self.a ^ f.mul(self.b, f.inv(f.sqr(x)))
        z = f.half_trace(beta)
        if f.sqr(z) ^ z != beta:
            raise InvalidPointError(f"{self.name}: x = {data[1:].hex()} is not the x of any curve point")
        if z & 1 != y_bit:
            z ^= f.one
        return Point(self, x, f.mul(x, z))

    # -- group law -------------------------------------------------------------------------------

    def add(self, p: Point | None, q: Point | None) -> Point | None:
        """p + q; None stands for the point at infinity."""
        if p is None:
            return q
        if q is None:
            return p
        return self._to_affine(self._add_affine((p.x, p.y, 1), q))

    def multiply(self, scalar: int, point: Point) -> Point | None:
        """scalar * point (scalar >= 0); None when the result is the point at infinity."""
        if scalar < 0:
            raise ValueError("scalar multiplication takes a non-negative scalar")
        negated = -point
        accumulator: _LdPoint = (1, 0, 0)
        for digit in reversed(_non_adjacent_form(scalar)):
            accumulator = self._double(accumulator)
            if digit == 1:
                accumulator = self._add_affine(accumulator, point)
            elif digit == -1:
                accumulator = self._add_affine(accumulator, negated)
        return self._to_affine(accumulator)

    def _to_affine(self, p: _LdPoint) -> Point | None:
        f = self.field
        x, y, z = p
        if z == 0:
            return None
        z_inv = f.inv(z)
        return Point(self, f.mul(x, z_inv), f.mul(y, f.sqr(z_inv)))

    def _double(self, p: _LdPoint) -> _LdPoint:
        """2P in Lopez-Dahab coordinates (b = 1): 3 multiplications, 5 squarings."""
        f = self.field
        x1, y1, z1 = p
        x1_sq, z1_sq = f.sqr(x1), f.sqr(z1)
        z1_4 = f.sqr(z1_sq)
        z3 = f.mul(x1_sq, z1_sq)
        x3 = f.sqr(x1_sq) ^ z1_4
        inner = f.sqr(y1) ^ z1_4
        if self.a:
            inner ^= z3
        y3 = f.mul(z1_4, z3) ^ f.mul(x3, inner)
        return (x3, y3, z3)

    def _add_affine(self, p: _LdPoint, q: Point) -> _LdPoint:
        """P + Q with P projective and Q affine (mixed Lopez-Dahab addition)."""
        f = self.field
        x1, y1, z1 = p
        if z1 == 0:
            return (q.x, q.y, 1)
        z1_sq = f.sqr(z1)
        a_term = y1 ^ f.mul(q.y, z1_sq)
        b_term = x1 ^ f.mul(q.x, z1)
        if b_term == 0:
            return self._double((q.x, q.y, 1)) if a_term == 0 else (1, 0, 0)
        c_term = f.mul(z1, b_term)
        d_term = f.mul(f.sqr(b_term), c_term ^ (z1_sq if self.a else 0))
        z3 = f.sqr(c_term)
        e_term = f.mul(a_term, c_term)
        x3 = f.sqr(a_term) ^ d_term ^ e_term
        f_term = x3 ^ f.mul(q.x, z3)
        g_term = f.mul(q.x ^ q.y, f.sqr(z3))
        y3 = f.mul(e_term ^ z3, f_term) ^ g_term
        return (x3, y3, z3)


def _non_adjacent_form(scalar: int) -> list[int]:
    """NAF digits, least significant first: no two adjacent non-zeros, so ~m/3 additions."""
    digits = []
    while scalar:
        if scalar & 1:
            digit = 2 - (scalar & 3)
            scalar -= digit
        else:
            digit = 0
        digits.append(digit)
        scalar >>= 1
    return digits


SECT163K1 = KoblitzCurve(
    name="sect163k1",
    field=BinaryField(163, (7, 6, 3, 0)),
    a=1,
    generator_x=0x2_FE13C053_7BBC11AC_AA07D793_DE4E6D5E_5C94EEE8,
    generator_y=0x2_89070FB0_5D38FF58_321F2E80_0536D538_CCDAA3D9,
    order=0x4_00000000_00000000_00020108_A2E0CC0D_99F8A5EF,
    cofactor=2,
)

SECT283K1 = KoblitzCurve(
    name="sect283k1",
    field=BinaryField(283, (12, 7, 5, 0)),
    a=0,
    generator_x=0x503213F_78CA4488_3F1A3B81_62F188E5_53CD265F_23C1567A_16876913_B0C2AC24_58492836,
    generator_y=0x1CCDA38_0F1C9E31_8D90F95D_07E5426F_E87E45C0_E8184698_E4596236_4E341161_77DD2259,
    order=0x1FFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFE9AE_2ED07577_265DFF7F_94451E06_1E163C61,
    cofactor=4,
)
