"""The hub tests' fixtures: a hub on the virtual radio and a virtual clock, raw OTA test devices."""

from tests.hub.conftest import clock, han, hub, state_dir  # noqa: F401
