"""usable_cpus works where os.sched_getaffinity does not exist (macOS)."""

from __future__ import annotations

import os

import pytest

from zbugs_synth.cpus import usable_cpus


def test_affinity_where_there_is_one() -> None:
    if hasattr(os, "sched_getaffinity"):
        assert usable_cpus() == len(os.sched_getaffinity(0))
    else:
        assert usable_cpus() == (os.cpu_count() or 1)


def test_without_sched_getaffinity_all_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert usable_cpus() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1
