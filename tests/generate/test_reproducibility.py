"""Same configuration, same bytes: whatever the worker count, chunking or shard size."""

from __future__ import annotations

import csv
import io
import itertools

from zbugs_synth.generate import small_tables
from zbugs_synth.generate.plan import KernelPlan
from zbugs_synth.generate.textpool import compile_pack
from zbugs_synth.manifest import read_manifest
from zbugs_synth.templates import load_pack

ENV = {"NUM_ISSUES": "30000", "SHARD_SIZE": "7000"}


def table_bytes(d, table: str) -> bytes:
    """A table's rows, concatenated across shards, without the headers."""
    return b"".join(f.read_bytes().split(b"\n", 1)[1] for f in d.files(table))


def test_same_config_same_bytes_whatever_the_workers(generate_into) -> None:
    a = generate_into("a", WORKERS="1", **ENV)
    b = generate_into("b", WORKERS="2", **ENV)
    ma, mb = read_manifest(a.dir), read_manifest(b.dir)
    assert [(f.name, f.checksum) for f in ma.files] == [(f.name, f.checksum) for f in mb.files]
    for f in ma.files:
        assert (a.dir / f.name).read_bytes() == (b.dir / f.name).read_bytes()
    assert (a.dir / "manifest.json").read_bytes() == (b.dir / "manifest.json").read_bytes()


def test_shard_size_changes_only_the_splits(generate_into) -> None:
    a = generate_into("a", **ENV)
    b = generate_into("b", **{**ENV, "SHARD_SIZE": "11111"})
    for table in ("issue", "comment", "issueLabel", "label"):
        assert table_bytes(a, table) == table_bytes(b, table)
    assert len(a.files("issue")) == 5 and len(b.files("issue")) == 3


def test_any_chunk_generated_alone_matches() -> None:
    from zbugs_synth.config import build
    from zbugs_synth.config.generate import GenerateConfig

    cfg = build(GenerateConfig, None, {"NUM_ISSUES": "5000"})
    pack = load_pack()
    projects = small_tables.plan_projects(pack, cfg.num_projects, cfg.seed)
    plan = KernelPlan(cfg, projects, compile_pack(pack, small_tables.mention_logins(100, pack.people)))

    def rows(i0: int, i1: int) -> tuple[bytes, bytes, bytes]:
        c = plan.run(i0, i1)
        b = c.buffers
        n = c.i1 - c.i0
        return (b.issue[: b.issue_ends[n - 1]].tobytes(),
                b.comment[: b.comment_ends[c.n_comments - 1]].tobytes() if c.n_comments else b"",
                b.label[: b.label_ends[c.n_labels - 1]].tobytes() if c.n_labels else b"")

    whole = rows(0, 5000)
    for cuts in ([0, 1, 5000], [0, 1234, 1235, 4999, 5000], list(range(0, 5001, 625))):
        parts = [rows(a, b) for a, b in itertools.pairwise(cuts)]
        assert tuple(b"".join(p[k] for p in parts) for k in range(3)) == whole
    parsed = list(csv.reader(io.StringIO(whole[0].decode())))
    assert len(parsed) == 5000 and len({r[0] for r in parsed}) == 5000


def test_different_seeds_share_users_but_nothing_else(generate_into) -> None:
    env = {"NUM_ISSUES": "5000", "NUM_PROJECTS": "150"}
    a = generate_into("a", SEED="42", **env)
    b = generate_into("b", SEED="99", **env)
    assert table_bytes(a, "user") == table_bytes(b, "user")
    for table in ("project", "label", "issue", "comment"):
        ids_a = {r["id"] for r in a.rows(table)}
        ids_b = {r["id"] for r in b.rows(table)}
        assert ids_a and not ids_a & ids_b, table
    names_a = {r["lowerCaseName"] for r in a.rows("project")}
    names_b = {r["lowerCaseName"] for r in b.rows("project")}
    assert len(names_a) == 150 and not names_a & names_b


def test_label_ids_without_the_rows_are_the_rows_ids() -> None:
    """The space check's kernel plan takes the label ids alone (one vectorised call): the same ids, in
    the same order, as the label rows the small tables write; none past the in-memory limit."""
    pack = load_pack(None)
    for n, seed in ((1, 0), (40, 7), (3000, 42)):
        projects = small_tables.plan_projects(pack, n, seed)
        from_rows = list(itertools.chain.from_iterable(ids for ids, _ in small_tables.label_rows(projects, pack, seed)))
        assert small_tables.label_ids(projects, pack, seed, len(from_rows)) == from_rows
        assert small_tables.label_ids(projects, pack, seed, len(from_rows) - 1) is None
