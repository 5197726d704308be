"""`hubfw serve` killed with SIGKILL between alerts: every alert's GBCS message keeps its originator counter, the
counters strictly increase across the kills, and every message verifies with the CH's public key.

GBCS receivers drop a message whose originator counter is not above the last one from that originator (GBCS
section 4, transaction-id), so a CH that reuses a counter after a crash loses alerts at the DCC. Each round here
replaces an unstarted ESME image with a new one, which owes the target an imageDiscarded alert (0x8F89) at once,
then the hub is killed with no chance to tidy up.
"""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from hubfw.gbcs.cli import gbcs
from hubfw.gbcs.framing import CraFlag, GeneralSigning, MessageCode
from hubfw.gbcs.signing import verify
from hubfw.hub.cli import alerts
from hubfw.hub.control import ControlClient
from tests.hub.helpers import make_ota_file
from tests.hub.test_serve import start_serving, stop_serving

TARGET = "00:0d:6f:00:00:00:90:01"
ROUNDS = 3


def _distribute(state_dir: Path, version: int) -> None:
    ota_file = make_ota_file(payload_size=2_000, version=version, seed=version)
    ControlClient(state_dir).call("distribute", image=base64.b64encode(ota_file).decode(), targets=[TARGET],
                                  device_type="esme")


def _kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=15)


def test_counters_strictly_increase_across_sigkill_and_messages_verify(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    for round_number in range(ROUNDS):
        process = start_serving(state_dir)
        try:
            _distribute(state_dir, 0x100 + 2 * round_number)
            _distribute(state_dir, 0x101 + 2 * round_number)  # discards the first: one 0x8F89 owed at once
        finally:
            _kill(process)
    stop_serving(start_serving(state_dir), signal.SIGTERM)  # a last start hands over whatever the kills left owed

    lines = CliRunner().invoke(alerts, ["--state", str(state_dir), "--json"]).output.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 * ROUNDS - 1  # each later round's first image also discards the last round's image
    counters = [record["originator_counter"] for record in records]
    assert counters == sorted(set(counters)), counters

    key = load_pem_public_key(CliRunner().invoke(gbcs, ["ch-key", "--state", str(state_dir)]).output.encode())
    hexes = CliRunner().invoke(alerts, ["--state", str(state_dir), "--gbcs"]).output.split()
    assert hexes == [record["gbcs"] for record in records]
    for record in records:
        message = GeneralSigning.parse(bytes.fromhex(record["gbcs"]))
        assert (message.cra, message.originator_counter) == (CraFlag.ALERT, record["originator_counter"])
        assert message.message_code == MessageCode.CCS08_FIRMWARE_TRANSFER_ALERT
        assert message.content.hex() == record["der"]
        assert verify(message, key)
