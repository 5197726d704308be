"""Store fixtures: a hub (store + flash + virtual clock) on the default or a scaled-down flash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hubfw.clock import VirtualClock
from hubfw.flash.device import NorFlash
from hubfw.flash.profiles import PROFILES, FlashProfile
from hubfw.store.store import ImageStore
from tests.store.helpers import Hub


@pytest.fixture
def make_hub() -> Callable[..., Hub]:
    def make(profile: FlashProfile | None = None, max_image_size: int = 768_000, **flash_options) -> Hub:
        flash = NorFlash(profile or PROFILES["serial-nor"], **flash_options)
        clock = VirtualClock()
        return Hub(flash, clock, ImageStore.open(flash, clock, max_image_size=max_image_size), max_image_size)
    return make


@pytest.fixture
def hub(make_hub: Callable[..., Hub]) -> Hub:
    return make_hub()
