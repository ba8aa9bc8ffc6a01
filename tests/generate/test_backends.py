"""The C kernel and the numba kernel write the same bytes, whatever the configuration; and the C
path never loads numba.

Both backends run in this process on the same KernelPlan (same arguments, same buffers sizes), and
every output buffer is compared over the bytes the kernel reports as written.

Without the C extension these tests skip locally, but FAIL in CI (CI set): CI installs with a
compiler, so a missing extension there is a build regression, not an environment quirk.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from original_format import OriginalTemplates
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.errors import UserError
from zbugs_synth.generate import backend, ids
from zbugs_synth.generate.driver import check_against_pack, generate
from zbugs_synth.generate.plan import Buffers, KernelPlan
from zbugs_synth.generate.small_tables import label_rows, mention_logins, plan_projects
from zbugs_synth.generate.textpool import compile_pack
from zbugs_synth.manifest import read_manifest
from zbugs_synth.templates import load_pack

ORIGINAL_PACK = "original"  # stands for the session's original-format template directory
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def c_kernel() -> backend.Backend:
    reason = backend.c_unavailable_reason()
    if reason is None:
        return backend.load("c")
    if IN_CI:
        pytest.fail(f"CI builds the C kernel, but it is unavailable: {reason}")
    pytest.skip(f"{reason} (the numba kernel is in use)")


def make_plan(pack_dir: Path | None = None, *, label_table: bool = True, **env: str) -> KernelPlan:
    cfg = build(GenerateConfig, None, env)
    pack = load_pack(pack_dir)
    check_against_pack(cfg, pack)
    projects = plan_projects(pack, cfg.num_projects, cfg.seed)
    label_ids = [i for batch, _ in label_rows(projects, pack, cfg.seed) for i in batch] if label_table else None
    text = compile_pack(pack, mention_logins(cfg.num_users, pack.people), cfg.num_issues)
    return KernelPlan(cfg, projects, text, label_ids)


def written(plan: KernelPlan, kernel: backend.Backend, i0: int, i1: int) -> dict[str, bytes]:
    """Everything one kernel call reports as written: the three tables' bytes and row ends."""
    plan.backend = kernel
    c = plan.run(i0, i1, Buffers())
    b = c.buffers
    n = i1 - i0

    def text(buf: np.ndarray, ends: np.ndarray, rows: int) -> bytes:
        return buf[: ends[rows - 1]].tobytes() if rows else b""

    return {
        "issue": text(b.issue, b.issue_ends, n),
        "issue_ends": b.issue_ends[:n].tobytes(),
        "comment": text(b.comment, b.comment_ends, c.n_comments),
        "comment_ends": b.comment_ends[: c.n_comments].tobytes(),
        "label": text(b.label, b.label_ends, c.n_labels),
        "label_ends": b.label_ends[: c.n_labels].tobytes(),
        "emoji": text(b.emoji, b.emoji_ends, c.n_emoji),
        "emoji_ends": b.emoji_ends[: c.n_emoji].tobytes(),
        "notify": text(b.notify, b.notify_ends, c.n_notify),
        "notify_ends": b.notify_ends[: c.n_notify].tobytes(),
        "view": text(b.view, b.view_ends, c.n_view),
        "view_ends": b.view_ends[: c.n_view].tobytes(),
    }


def assert_same(plan: KernelPlan, c_kernel: backend.Backend,
                ranges: list[tuple[int, int]]) -> list[dict[str, bytes]]:
    """Both kernels' output for each range, checked equal; returns the C kernel's."""
    numba = backend.load("numba")
    outs = []
    for i0, i1 in ranges:
        a, b = written(plan, c_kernel, i0, i1), written(plan, numba, i0, i1)
        for key in a:
            if a[key] != b[key]:
                where = first_difference(a[key], b[key])
                pytest.fail(f"{key} differs for issues [{i0}, {i1}) from byte {where}")
        outs.append(a)
    return outs


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


HUGE_ISSUE = ids.ISSUE_MAX - 300  # the largest counters: shifted into comment, slot and label counters

CONFIGS = {
    "default": (None, {}),
    "all-tables": (None, {"ALL_TABLES": "true"}),
    "all-tables-busy": (None, {"ALL_TABLES": "true", "COMMENTS_PER_ISSUE": "12", "EMOJI_PER_ISSUE": "6",
                               "EMOJI_PER_COMMENT": "3", "VIEWERS_PER_ISSUE": "10", "NUM_USERS": "30"}),
    "fixture-labels4-no-comments": (ORIGINAL_PACK, {"LABELS_PER_ISSUE": "4", "COMMENTS_PER_ISSUE": "0"}),
    "fixture-labels2.5-comments3": (ORIGINAL_PACK, {"LABELS_PER_ISSUE": "2.5", "COMMENTS_PER_ISSUE": "3"}),
    "fixture-comments20": (ORIGINAL_PACK, {"COMMENTS_PER_ISSUE": "20", "LABELS_PER_ISSUE": "1"}),
    "comments-max-small-no-labels": (None, {"COMMENTS_PER_ISSUE": "3", "COMMENTS_MAX": "4",
                                            "LABELS_PER_ISSUE": "0"}),
    "one-user-one-project": (None, {"NUM_USERS": "1", "NUM_PROJECTS": "1", "SEED": "0", "ALL_TABLES": "true"}),
    "huge-users-max-seed": (None, {"NUM_USERS": "100000000", "NUM_PROJECTS": "3000", "ALL_TABLES": "true",
                                   "SEED": str(ids.SEED_MAX), "PROJECT_PARETO_ALPHA": "0.3"}),
    "short-window": (None, {"TIME_END": "1000000000000", "TIME_SPAN_DAYS": "0.0001", "COMMENTS_PER_ISSUE": "8",
                            "ALL_TABLES": "true"}),
    "long-window": (None, {"TIME_END": "2100-01-01T00:00:00Z", "TIME_SPAN_DAYS": "36500",
                           "COMMENT_PARETO_ALPHA": "0.6", "OPEN_FRACTION": "0.05",
                           "ASSIGNED_FRACTION": "1", "PUBLIC_FRACTION": "0"}),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_bytes_as_numba(c_kernel: backend.Backend, name: str, original_templates: OriginalTemplates) -> None:
    pack, env = CONFIGS[name]
    plan = make_plan(original_templates.directory if pack == ORIGINAL_PACK else None, **env)
    outs = assert_same(plan, c_kernel, [(0, 6000), (12345, 12400), (HUGE_ISSUE, HUGE_ISSUE + 300)])
    assert [len(records(o["issue"])) for o in outs] == [6000, 55, 300]  # the comparison saw real rows


def test_same_bytes_when_label_ids_are_derived(c_kernel: backend.Backend) -> None:
    # Past LABEL_TABLE_MAX labels the driver passes no label table and the kernels write label ids.
    plan = make_plan(label_table=False, LABELS_PER_ISSUE="3.3", NUM_PROJECTS="700")
    assert plan.label_ids.shape[0] == 0
    outs = assert_same(plan, c_kernel, [(0, 5000), (HUGE_ISSUE, HUGE_ISSUE + 200)])
    assert len(records(outs[1]["label"])) >= 600


def _long_pack(directory: Path) -> Path:
    """A pack whose titles, descriptions and comments all overflow their columns, with multi-byte
    characters (2- and 4-byte UTF-8) and double quotes (stored doubled) wherever the cut may fall."""
    components = ['"' * k + "ß" * (k % 3) + "😀" * (k % 2) for k in range(1, 13)]
    category = {
        "category": "overflow",
        "projects": [{"name": "Ünïcode", "components": components}, {"name": "Quotes", "components": ["q", '"x"']}],
        "labels": ["a", "b", "c"],
        "titleTemplates": [
            '{{component}} ß"😀 ' * 20,
            "x" * 125 + "{{component}}",
            'Crash "{{error}}" in {{component}} while {{action}} ' + "é" * 90,
            "short {{component}}",
        ],
        "descriptionTemplates": ['{{user}} é"😀' * 2600, "fine: {{component}} {{error}}"],
        "commentTemplates": ['{{component}} "ü" ' * 12000 + "{{user}}", "ok {{user}}"],
        "slotPools": {"error": ['ëřřőř "E"', "plain", "😀" * 30], "action": ["saving", 'tapping "Go"']},
    }
    (directory / "overflow.json").write_text(json.dumps(category), encoding="utf-8")
    return directory


def test_same_bytes_when_fields_are_truncated(c_kernel: backend.Backend, tmp_path: Path) -> None:
    plan = make_plan(_long_pack(tmp_path), NUM_PROJECTS="4", COMMENTS_PER_ISSUE="0.6", COMMENTS_MAX="3",
                     LABELS_PER_ISSUE="2")
    out = assert_same(plan, c_kernel, [(0, 400), (HUGE_ISSUE, HUGE_ISSUE + 30)])[0]
    issues = records(out["issue"])
    titles = [r[1] for r in issues]
    cut = [t for t in titles if t.endswith("…")]
    assert len(cut) > 100 and all(len(t) == 128 for t in cut)  # the truncation path did run, many times
    assert all(len(t) <= 128 for t in titles) and any(len(t) < 128 for t in titles)
    assert any(len(r[7]) == 10240 and r[7].endswith("…") for r in issues)  # description
    comments = records(out["comment"])
    assert any(len(r[3]) == 65536 and r[3].endswith("…") for r in comments)


def test_overflow_is_reported_the_same_way(c_kernel: backend.Backend) -> None:
    plan = make_plan(COMMENTS_PER_ISSUE="5")
    bufs = Buffers()
    bufs.ensure(plan.sizes(100, 1.0))
    bufs.issue = np.empty(plan.issue_bound * 3, np.uint8)  # room for about three issues
    kernels = (c_kernel, backend.load("numba"))
    results = [kernel.generate_range(*plan.kernel_args(0, 100, bufs)) for kernel in kernels]
    assert results[0] == results[1] and results[0][0] == -1 and not any(results[0][1:])


def test_ids_match_numba_and_the_reference(c_kernel: backend.Backend) -> None:
    numba = backend.load("numba")
    rng = np.random.default_rng(7)
    rows = np.concatenate([np.arange(300, dtype=np.uint64),
                           rng.integers(0, 1 << 63, 2000, dtype=np.uint64) << np.uint64(1),  # any 64-bit word
                           np.array([ids.ROW_MAX, ids.ROW_MAX + 1, (1 << 64) - 1], dtype=np.uint64)])
    for seed in (0, 1, 42, 1 << 63, ids.SEED_MAX, int(rng.integers(0, 1 << 63))):
        for table in range(16):
            got = c_kernel.ids_into(np.uint64(seed), table, rows, ids.ROUND_KEYS, ids.ALPHABET_BYTES)
            want = numba.ids_into(np.uint64(seed), table, rows, ids.ROUND_KEYS, ids.ALPHABET_BYTES)
            assert bytes(got) == bytes(want), (seed, table)
    text = bytes(c_kernel.ids_into(np.uint64(ids.SEED_MAX), ids.T_COMMENT, rows[:300], ids.ROUND_KEYS,
                                   ids.ALPHABET_BYTES)).decode()
    assert [text[21 * i: 21 * i + 21] for i in range(300)] == [ids.make_id(ids.SEED_MAX, ids.T_COMMENT, r)
                                                              for r in range(300)]


def test_bad_arguments_are_rejected_not_misread(c_kernel: backend.Backend) -> None:
    plan = make_plan()
    bufs = Buffers()
    bufs.ensure(plan.sizes(10, 1.0))
    args = list(plan.kernel_args(0, 10, bufs))
    with pytest.raises(TypeError, match=f"expected {len(args)} arguments"):
        c_kernel.generate_range(*args[:-1])
    ibuf = next(i for i, a in enumerate(args) if a is bufs.issue)
    iend = next(i for i, a in enumerate(args) if a is bufs.issue_ends)
    for index, bad, error, words in (
        (4, plan.ip.astype(np.int32), TypeError, "ip: expected a int64 array"),
        (5, plan.fp.astype(np.float32), TypeError, "fp"),
        (ibuf, np.frombuffer(bytes(len(bufs.issue)), np.uint8), TypeError, "ibuf: expected a C-contiguous writable"),
        (iend, bufs.issue_ends[:5], ValueError, "iend: shorter than the range"),
        (4, plan.ip[:3], ValueError, "ip or fp: too short"),
    ):
        wrong = list(args)
        wrong[index] = bad
        with pytest.raises(error, match=words):
            c_kernel.generate_range(*wrong)
    with pytest.raises(ValueError, match="alphabet"):
        c_kernel.ids_into(np.uint64(1), 3, np.arange(3, dtype=np.uint64), ids.ROUND_KEYS, ids.ALPHABET_BYTES[:10])


def test_numba_log_is_the_c_librarys_log() -> None:
    # The kernels' float math is the same operations in the same order (built without contraction),
    # so the one outside dependency is `log`; sqrt is exact under IEEE 754. A one-ulp difference
    # would almost never surface in the output (int() hides it), so compare log itself, bit for
    # bit: numba binds it through its own helper library (built against an older glibc symbol
    # version), the C kernel links libm's default one, which is what dlsym (ctypes) returns.
    from numba import njit

    name = ctypes.util.find_library("m")
    if name is None:
        pytest.skip("no separate C math library on this platform (the C kernel is not built here either)")
    c_log = ctypes.CDLL(name).log
    c_log.restype, c_log.argtypes = ctypes.c_double, [ctypes.c_double]

    @njit
    def numba_logs(x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = math.log(x[i])
        return out

    # The kernel's inputs: 1 - u with u = k / 2**53, 0 <= k < 2**53; both ends of k, and between.
    rng = np.random.default_rng(11)
    k = np.concatenate([np.arange(2000, dtype=np.uint64), (1 << 53) - 1 - np.arange(2000, dtype=np.uint64),
                        rng.integers(0, 1 << 53, 150_000, dtype=np.uint64)])
    x = 1.0 - k.astype(np.float64) * (1.0 / 9007199254740992.0)
    got = numba_logs(x)
    want = np.array([c_log(v) for v in x.tolist()])
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_driver_writes_the_same_files_with_either_backend(c_kernel: backend.Backend, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"NUM_ISSUES": "40000", "SHARD_SIZE": "15000", "WORKERS": "2", "NUM_PROJECTS": "60"}
    sums = {}
    for name in ("c", "numba"):
        monkeypatch.setenv(backend.ENV_VAR, name)
        cfg = build(GenerateConfig, None, {**env, "OUTPUT_DIR": str(tmp_path / name)})
        generate(cfg)
        sums[name] = [(f.name, f.rows, f.checksum) for f in read_manifest(tmp_path / name).files]
    assert sums["c"] == sums["numba"]
    assert len(sums["c"]) > 6


def test_a_run_with_the_c_kernel_never_imports_numba(c_kernel: backend.Backend, tmp_path: Path) -> None:
    code = ("import sys; from zbugs_synth.cli import main; "
            f"rc = main(['generate-synthetic', '--progress', 'none', '--num-issues', '3000', "
            f"'--output-dir', {str(tmp_path / 'out')!r}]); "
            "print(rc, 'numba' in sys.modules, 'llvmlite' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != backend.ENV_VAR}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-3:] == ["0", "False", "False"]
    assert read_manifest(tmp_path / "out").rows_by_table()["issue"] == 3000


def test_env_var_selects_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backend.ENV_VAR, " NUMBA ")
    assert backend.selected().name == "numba"
    monkeypatch.setenv(backend.ENV_VAR, "fortran")
    with pytest.raises(UserError, match="ZBUGS_KERNEL='fortran': expected one of c, numba"):
        backend.selected()
    monkeypatch.delenv(backend.ENV_VAR)
    assert backend.selected().name == ("c" if backend.c_unavailable_reason() is None else "numba")
