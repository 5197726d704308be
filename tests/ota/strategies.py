"""Hypothesis strategies and helpers shared by the OTA tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import zigpy.types as t
from hypothesis import strategies as st

from hubfw.ota.image import UPGRADE_IMAGE_TAG, OtaHeader, OtaImage, SubElement

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
eui64s = st.binary(min_size=8, max_size=8).map(lambda raw: t.EUI64.deserialize(raw)[0])


def assemble(header: OtaHeader, elements: Iterable[SubElement]) -> OtaImage:
    """An image whose header total size is set to fit `elements`."""
    elements = tuple(elements)
    return OtaImage(replace(header, total_size=header.header_length + sum(e.size for e in elements)), elements)


@st.composite
def headers(draw: st.DrawFn, *, with_extra: bool = True, with_reserved_bits: bool = True) -> OtaHeader:
    hardware = draw(st.none() | st.tuples(u16, u16))
    return OtaHeader(
        manufacturer_code=draw(u16),
        image_type=draw(u16),
        file_version=draw(u32),
        stack_version=draw(u16),
        header_string=draw(st.binary(min_size=32, max_size=32)),
        total_size=0,
        security_credential_version=draw(st.none() | u8),
        destination=draw(st.none() | eui64s),
        min_hw_version=None if hardware is None else hardware[0],
        max_hw_version=None if hardware is None else hardware[1],
        extra=draw(st.binary(max_size=24)) if with_extra else b"",
        field_control_reserved=draw(st.integers(0, 0x1FFF)) << 3 if with_reserved_bits else 0,
    )


sub_elements = st.builds(SubElement, tag=u16, data=st.binary(max_size=48))


@st.composite
def images(draw: st.DrawFn, *, with_extra: bool = True, with_reserved_bits: bool = True) -> OtaImage:
    upgrade = SubElement(UPGRADE_IMAGE_TAG, draw(st.binary(max_size=96)))
    others = draw(st.lists(sub_elements, max_size=4))
    position = draw(st.integers(0, len(others)))
    header = draw(headers(with_extra=with_extra, with_reserved_bits=with_reserved_bits))
    return assemble(header, [*others[:position], upgrade, *others[position:]])
