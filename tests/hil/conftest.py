"""The HIL suite's fixtures are hubfw's own (`hubfw.sim.hil`), imported here the way a bench engineer's conftest would."""

from hubfw.sim.hil import (  # noqa: F401 (pytest finds fixtures by name in a conftest)
    hil_bench,
    hil_settings,
    sim_bench,
    test_image_fixture,
    wait_for_alert_fixture,
)
