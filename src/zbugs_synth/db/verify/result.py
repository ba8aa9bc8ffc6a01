"""What a verify check yields: a status and a Check (shared by checks.py and the per-table modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass
class Check:
    name: str
    status: str  # PASS | WARN | FAIL
    summary: str  # one line, with the numbers
    samples: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
