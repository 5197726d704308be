"""tools/bench.py is a script, not a package: its helpers are imported from tools/ as it imports them."""

import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
