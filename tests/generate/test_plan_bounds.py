"""The buffer-growing retry of KernelPlan.run is bounded: a kernel that is always "full" is an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate import small_tables
from zbugs_synth.generate.plan import KernelPlan
from zbugs_synth.generate.textpool import compile_pack
from zbugs_synth.templates import load_pack


@dataclass
class _AlwaysFull:
    """A broken kernel: reports full buffers however big they are."""

    name: str = "always-full"
    calls: int = 0

    def generate_range(self, *args: Any) -> tuple[int, int, int, int]:
        self.calls += 1
        return (-1, 0, 0, 0)


def _plan() -> KernelPlan:
    cfg = build(GenerateConfig, None, {"NUM_ISSUES": "100", "COMMENTS_MAX": "20"})
    pack = load_pack()
    projects = small_tables.plan_projects(pack, cfg.num_projects, cfg.seed)
    return KernelPlan(cfg, projects, compile_pack(pack, small_tables.mention_logins(100, pack.people)))


def test_a_kernel_that_is_always_full_is_a_clear_error_not_endless_growth() -> None:
    plan = _plan()
    broken = _AlwaysFull()
    plan.backend = broken  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match=r"always-full.*issues \[0, 10\).*worst-case size.*this is a bug"):
        plan.run(0, 10)
    assert 1 < broken.calls <= 21  # it grew, then stopped once the buffers held the worst case


def test_worst_sizes_cover_the_estimate_growth_and_a_real_chunk_fits() -> None:
    plan = _plan()
    chunk = plan.run(0, 100)
    worst = plan.worst_sizes(100)
    estimate = plan.sizes(100, 1.0)[:len(worst)]
    assert chunk.i1 == 100 and all(w >= s for w, s in zip(worst, estimate, strict=True))
