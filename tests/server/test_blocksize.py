"""Block size: derived from the frame layers, and the server never exceeds it or the client's limit."""

import pytest

from hubfw.devices import DeviceType
from hubfw.server import OtaServerConfig, ServerConfigError, blocksize, max_block_data_size
from hubfw.zigbee import aps
from hubfw.zigbee.zcl import HEADER_SIZE
from tests.server.rig import PPMID, make_bench


def test_block_sizes_for_plain_and_aps_encrypted_frames():
    assert max_block_data_size(82, aps_encrypted=False) == 82 - 3 - 14
    assert max_block_data_size(82, aps_encrypted=True) == 82 - 9 - 3 - 14
    assert max_block_data_size(82, aps_encrypted=True) <= 63  # Silicon Labs' ceiling for SE


def test_a_whole_response_fits_one_802154_frame():
    for encrypted in (False, True):
        data = max_block_data_size(aps.MAX_APS_PAYLOAD, encrypted)
        frame = (
            aps.MAC_HEADER + aps.MAC_FCS + aps.NWK_HEADER + aps.NWK_AUX_SECURITY_HEADER
            + aps.NWK_MIC + aps.APS_HEADER + (aps.APS_SECURITY_OVERHEAD if encrypted else 0)
            + HEADER_SIZE + blocksize.IMAGE_BLOCK_RESPONSE_FIXED_FIELDS + data
        )
        assert frame == aps.PHY_MAX_PACKET


def test_too_small_aps_payload_is_a_config_error():
    with pytest.raises(ServerConfigError, match="no room for image data"):
        OtaServerConfig(aps_max_payload=26)


@pytest.mark.parametrize(
    "encrypted, client_max, aps_max, expected",
    [(True, 0xFF, 82, 56), (False, 0xFF, 82, 65), (True, 40, 82, 40), (False, 0xFF, 100, 83), (True, 10, 60, 10)],
)
def test_served_block_is_the_smaller_of_client_and_radio_limits(encrypted, client_max, aps_max, expected):
    bench = make_bench(aps_max_payload=aps_max)
    bench.store.add_image(DeviceType.PPMID, [PPMID], size=500)
    frames = bench.block(0, max_size=client_max, encrypted=encrypted)
    _, response = bench.one(frames)
    assert len(response.image_data) == expected
    assert frames[0].aps_encrypt is encrypted
    assert len(frames[0].zcl) - 3 - 14 == expected
