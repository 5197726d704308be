"""Interoperability with zigpy's OTA parser, in both directions, on the same bytes."""

from hypothesis import given
from hypothesis import strategies as st
from zigpy.ota.image import ElementTagId, FieldControl, HeaderString, OTAImage, OTAImageHeader, SubElement

from hubfw.ota.image import OtaImage
from tests.ota.strategies import eui64s, images, u8, u16, u32


def assert_same_header(ours: OtaImage, theirs: OTAImage) -> None:
    header, zh = ours.header, theirs.header
    assert zh.upgrade_file_id == OTAImageHeader.MAGIC_VALUE
    assert zh.header_version == header.header_version
    assert zh.header_length == header.header_length
    assert int(zh.field_control) == header.field_control
    assert zh.manufacturer_id == header.manufacturer_code
    assert zh.image_type == header.image_type
    assert zh.file_version == header.file_version
    assert zh.stack_version == header.stack_version
    assert bytes(zh.header_string) == header.header_string
    assert zh.image_size == header.total_size
    assert zh.security_credential_version == header.security_credential_version
    assert zh.upgrade_file_destination == header.destination
    assert zh.minimum_hardware_version == header.min_hw_version
    assert zh.maximum_hardware_version == header.max_hw_version
    assert [(int(e.tag_id), bytes(e.data)) for e in theirs.subelements] == [(e.tag, e.data) for e in ours.sub_elements]


# zigpy ignores header_length (it reads sub-elements right after the fields it knows), so the
# interoperable images are those without extra header bytes or unknown field-control bits.
@given(images(with_extra=False, with_reserved_bits=False))
def test_images_built_by_hubfw_parse_identically_with_zigpy(image: OtaImage) -> None:
    theirs, rest = OTAImage.deserialize(image.to_bytes())
    assert rest == b""
    assert_same_header(image, theirs)


@st.composite
def zigpy_images(draw: st.DrawFn) -> OTAImage:
    control = FieldControl(0)
    optional: dict[str, object] = {}
    if draw(st.booleans()):
        control |= FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT
        optional["security_credential_version"] = draw(u8)
    if draw(st.booleans()):
        control |= FieldControl.DEVICE_SPECIFIC_FILE_PRESENT
        optional["upgrade_file_destination"] = draw(eui64s)
    if draw(st.booleans()):
        control |= FieldControl.HARDWARE_VERSIONS_PRESENT
        optional["minimum_hardware_version"] = draw(u16)
        optional["maximum_hardware_version"] = draw(u16)
    elements = [SubElement(tag_id=ElementTagId.UPGRADE_IMAGE, data=draw(st.binary(max_size=64)))]
    elements += [
        SubElement(tag_id=ElementTagId(tag), data=data)
        for tag, data in draw(st.lists(st.tuples(u16, st.binary(max_size=32)), max_size=3))
    ]
    header_length = 56 + sum(size for bit, size in ((1, 1), (2, 8), (4, 4)) if int(control) & bit)
    header = OTAImageHeader(
        upgrade_file_id=OTAImageHeader.MAGIC_VALUE,
        header_version=0x0100,
        header_length=header_length,
        field_control=control,
        manufacturer_id=draw(u16),
        image_type=draw(u16),
        file_version=draw(u32),
        stack_version=draw(u16),
        header_string=HeaderString(draw(st.text(max_size=8))),  # at most 32 UTF-8 bytes
        image_size=header_length + sum(6 + len(e.data) for e in elements),
        **optional,
    )
    return OTAImage(header=header, subelements=elements)


@given(zigpy_images())
def test_images_built_by_zigpy_parse_identically_with_hubfw(theirs: OTAImage) -> None:
    data = theirs.serialize()
    ours = OtaImage.parse(data)
    assert_same_header(ours, theirs)
    assert ours.to_bytes() == data
