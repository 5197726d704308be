"""The APS payload limits, each defined once and used by the hub's radios, the OTA block sizing and the
simulated air."""

import zigpy.types as t

from hubfw.radio.bellows import HubControllerApplication
from hubfw.radio.virtual import VirtualControllerApplication
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import (
    APS_FRAGMENT_HEADER,
    APS_SECURITY_OVERHEAD,
    MAX_APS_PAYLOAD,
    ApsFrame,
    payload_limit,
    split_message,
)


def test_default_aps_payload_is_what_an_ezsp_ncp_reports():
    assert MAX_APS_PAYLOAD == 82


def test_the_hub_and_the_simulated_air_start_from_the_same_payload():
    assert HubControllerApplication.max_aps_payload == VirtualControllerApplication.max_aps_payload == MAX_APS_PAYLOAD
    assert OtaServerConfig().aps_max_payload == MAX_APS_PAYLOAD
    assert payload_limit(encrypted=False) == MAX_APS_PAYLOAD


def test_aps_encryption_and_fragments_cost_what_silicon_labs_framework_reserves():
    """EMBER_AF_APS_ENCRYPTION_OVERHEAD 9 (aux header 5 + MIC 4) and EMBER_AF_APS_FRAGMENTATION_OVERHEAD 2, one
    figure each for the hub, the simulated NCP and the simulated devices."""
    assert APS_SECURITY_OVERHEAD == 9 and APS_FRAGMENT_HEADER == 2
    assert payload_limit(encrypted=True) == 73
    assert payload_limit(encrypted=True, fragment=True) == 71
    assert payload_limit(encrypted=False, fragment=True) == 80
    assert payload_limit(encrypted=True, maximum=100) == 91  # from whatever the NCP reports


def test_a_frame_fits_by_its_security_and_its_fragment_header():
    def frame(size: int, encrypted: bool = True, fragment: tuple[int, int] | None = None) -> ApsFrame:
        return ApsFrame(t.EUI64(bytes(8)), t.NWK(1), t.EUI64(bytes(8)), t.NWK(0), 0x0109, 0x0704, 1, 1,
                        bytes(size), aps_encrypted=encrypted, fragment=fragment)

    assert frame(73).fits and not frame(74).fits
    assert frame(71, fragment=(0, 2)).fits and not frame(72, fragment=(0, 2)).fits
    assert frame(82, encrypted=False).fits and not frame(81, encrypted=False, fragment=(1, 2)).fits


def test_a_long_message_is_cut_into_fragments_that_each_fit():
    assert [len(part) for part in split_message(bytes(200), encrypted=True)] == [71, 71, 58]
    assert [len(part) for part in split_message(bytes(200), encrypted=False)] == [80, 80, 40]
