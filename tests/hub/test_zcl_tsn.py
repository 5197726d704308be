"""The radio reads the TSN of the frames it sends straight from the bytes; it must agree with zigpy's parser."""

from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation

from hubfw.radio.intercept import zcl_tsn


@given(tsn=st.integers(0, 255), command=st.integers(0, 255), manufacturer=st.none() | st.integers(0, 0xFFFF),
       general=st.booleans(), payload=st.binary(max_size=8))
def test_zcl_tsn_matches_zigpy(tsn: int, command: int, manufacturer: int | None, general: bool, payload: bytes) -> None:
    build = foundation.ZCLHeader.general if general else foundation.ZCLHeader.cluster
    header = build(tsn, command, manufacturer=manufacturer, direction=foundation.Direction.Server_to_Client)
    frame = header.serialize() + payload
    assert zcl_tsn(frame) == foundation.ZCLHeader.deserialize(frame)[0].tsn == tsn
