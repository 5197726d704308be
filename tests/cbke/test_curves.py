"""Field and curve arithmetic against independent references: SEC 2 parameters, group laws, encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubfw.cbke.curves import SECT163K1, SECT283K1, KoblitzCurve
from hubfw.cbke.errors import InvalidPointError
from hubfw.cbke.field import BinaryField

CURVES = [pytest.param(SECT163K1, id="sect163k1"), pytest.param(SECT283K1, id="sect283k1")]
REDUCTION_POLYNOMIALS = {
    163: (1 << 163) | (1 << 7) | (1 << 6) | (1 << 3) | 1,
    283: (1 << 283) | (1 << 12) | (1 << 7) | (1 << 5) | 1,
}


def reference_multiply(a: int, b: int, polynomial: int) -> int:
    """Schoolbook shift-and-xor multiplication modulo `polynomial`, on plain integers."""
    degree = polynomial.bit_length() - 1
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a >> degree:
            a ^= polynomial
    return product


def elements(degree: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=(1 << degree) - 1)


@pytest.mark.parametrize("curve", CURVES)
def test_sec2_parameters_hold(curve: KoblitzCurve) -> None:
    assert curve.contains(curve.generator)
    assert curve.multiply(curve.order, curve.generator) is None
    assert curve.multiply(curve.order - 1, curve.generator) == -curve.generator
    # Hasse: h*n is within 2*sqrt(q) of q + 1.
    q = 1 << curve.field.degree
    assert abs(curve.cofactor * curve.order - (q + 1)) <= 2 * (1 << (curve.field.degree // 2 + 1))


@pytest.mark.parametrize("degree", [163, 283])
@given(data=st.data())
def test_field_multiplication_matches_schoolbook(degree: int, data: st.DataObject) -> None:
    field = SECT163K1.field if degree == 163 else SECT283K1.field
    a, b = data.draw(elements(degree)), data.draw(elements(degree))
    product = field.to_int(field.mul(field.from_int(a), field.from_int(b)))
    assert product == reference_multiply(a, b, REDUCTION_POLYNOMIALS[degree])


@pytest.mark.parametrize("degree", [163, 283])
@given(data=st.data())
def test_field_inverse_square_root_and_half_trace(degree: int, data: st.DataObject) -> None:
    field = SECT163K1.field if degree == 163 else SECT283K1.field
    a = field.from_int(data.draw(elements(degree).filter(bool)))
    assert field.mul(a, field.inv(a)) == field.one
    assert field.sqr(field.sqrt(a)) == a
    z = field.half_trace(a)
    beta = field.sqr(z) ^ z  # always has trace 0, so its half-trace solves z^2 + z = beta
    solution = field.half_trace(beta)
    assert field.sqr(solution) ^ solution == beta


def test_field_rejects_values_beyond_its_degree() -> None:
    field = BinaryField(163, (7, 6, 3, 0))
    with pytest.raises(ValueError):
        field.from_int(1 << 163)
    with pytest.raises(ZeroDivisionError):
        field.inv(0)


@pytest.mark.parametrize("curve", CURVES)
@given(a=st.integers(1, 2**20), b=st.integers(1, 2**20))
def test_scalar_multiplication_is_a_homomorphism(curve: KoblitzCurve, a: int, b: int) -> None:
    g = curve.generator
    a_g, b_g = curve.multiply(a, g), curve.multiply(b, g)
    assert curve.add(a_g, b_g) == curve.multiply(a + b, g)
    assert curve.multiply(b, a_g) == curve.multiply(a * b, g)
    assert curve.add(a_g, a_g) == curve.multiply(2 * a, g)
    assert curve.add(a_g, -a_g) is None
    assert curve.contains(a_g)


@pytest.mark.parametrize("curve", CURVES)
@given(k=st.integers(1, 2**32))
def test_compressed_points_round_trip(curve: KoblitzCurve, k: int) -> None:
    point = curve.multiply(k, curve.generator)
    encoded = point.encode()
    assert len(encoded) == curve.point_length and encoded[0] in (2, 3)
    assert curve.decode_point(encoded) == point
    assert curve.decode_point((-point).encode()) == -point


@pytest.mark.parametrize("curve", CURVES)
def test_invalid_encodings_are_rejected(curve: KoblitzCurve) -> None:
    good = curve.generator.encode()
    with pytest.raises(InvalidPointError, match="bytes"):
        curve.decode_point(good[:-1])
    with pytest.raises(InvalidPointError, match="prefix"):
        curve.decode_point(b"\x04" + good[1:])
    with pytest.raises(InvalidPointError, match="exceeds"):
        curve.decode_point(b"\x02" + b"\xff" * (curve.point_length - 1))
    with pytest.raises(InvalidPointError, match="prefix 0x02"):
        curve.decode_point(b"\x03" + bytes(curve.point_length - 1))


@pytest.mark.parametrize("curve", CURVES)
def test_an_x_off_the_curve_is_rejected(curve: KoblitzCurve) -> None:
    # About half of all x have no point; search deterministically for the first few.
    rejected = 0
    for x in range(1, 64):
        candidate = b"\x02" + x.to_bytes(curve.point_length - 1, "big")
        try:
            point = curve.decode_point(candidate)
        except InvalidPointError as exc:
            assert "not the x of any curve point" in str(exc)
            rejected += 1
        else:
            assert curve.contains(point)
    assert 10 < rejected < 54


@pytest.mark.parametrize("curve", CURVES)
def test_point_constructor_checks_the_curve_equation(curve: KoblitzCurve) -> None:
    g = curve.generator
    x, y = curve.field.to_int(g.x), curve.field.to_int(g.y)
    assert curve.point(x, y) == g
    with pytest.raises(InvalidPointError, match="not on the curve"):
        curve.point(x, y ^ 1)
