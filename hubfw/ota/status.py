"""The verdict vocabulary shared by the signature and integrity-code checks."""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    """What a check found. Only VALID means the evidence was checked and holds."""

    VALID = "valid"
    INVALID = "invalid"
    UNCHECKED = "unchecked"  # present, but nothing to check it with (no trust anchor, unsupported curve)
    ABSENT = "absent"
