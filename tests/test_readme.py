"""The README's CLI reference is generated from the commands; this keeps it true."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_cli_reference_matches_the_commands() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "cli_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
