"""Tiny flash geometries: every rule of the real parts, at a size where tests can look at every byte."""

import pytest

from hubfw.flash.profiles import FlashProfile

TINY_NOR = FlashProfile(
    name="tiny-nor", size=4096, sector_size=256, page_size=32, block_size=1024, endurance=3, program_unit=1,
    max_writes_per_unit=None, page_program_s=(0.001, 0.004), sector_erase_s=(0.01, 0.08), block_erase_s=(0.05, 0.3),
)
TINY_MCU = FlashProfile(
    name="tiny-mcu", size=4096, sector_size=512, page_size=64, block_size=None, endurance=3, program_unit=4,
    max_writes_per_unit=2, page_program_s=(0.002, 0.003), sector_erase_s=(0.02, 0.03), block_erase_s=None,
)


@pytest.fixture(scope="session")
def tiny_nor() -> FlashProfile:
    return TINY_NOR


@pytest.fixture(scope="session")
def tiny_mcu() -> FlashProfile:
    return TINY_MCU
