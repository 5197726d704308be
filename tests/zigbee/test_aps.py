"""The APS payload limits, each defined once and used by the hub's radios, the OTA block sizing and the
simulated air."""

from hubfw.radio.bellows import HubControllerApplication
from hubfw.radio.virtual import VirtualControllerApplication
from hubfw.server import OtaServerConfig
from hubfw.zigbee.aps import APS_SECURITY_OVERHEAD, MAX_APS_PAYLOAD, SIMULATED_AIR_SECURITY_OVERHEAD, payload_limit


def test_default_aps_payload_is_what_an_ezsp_ncp_reports():
    assert MAX_APS_PAYLOAD == 82


def test_the_hub_and_the_simulated_air_start_from_the_same_payload():
    assert HubControllerApplication.max_aps_payload == VirtualControllerApplication.max_aps_payload == MAX_APS_PAYLOAD
    assert OtaServerConfig().aps_max_payload == MAX_APS_PAYLOAD
    assert payload_limit(encrypted=False) == MAX_APS_PAYLOAD


def test_aps_encryption_overheads_are_still_the_two_figures_in_use():
    """The hub reserves aux header 5 + MIC 4; the simulated air takes 8. Kept apart until they are reconciled."""
    assert APS_SECURITY_OVERHEAD == 9
    assert payload_limit(encrypted=True) == MAX_APS_PAYLOAD - SIMULATED_AIR_SECURITY_OVERHEAD == 74
