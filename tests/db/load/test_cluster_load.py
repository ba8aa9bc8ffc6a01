"""db-seed-synthetic --generate --scheduler: the parts of a direct load as tasks on a real Dask LocalCluster
(2 worker processes) COPYing into the suite's PostgreSQL. The rows equal, per table content hash, those
of loading the CSVs and of the single-process direct load; a worker killed mid-part and a client killed
mid-load still end with exactly those rows, and a rerun loads only the parts not recorded."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import loader_helpers
import pytest
from embedded_helpers import kill_when, run
from loader_helpers import BATCH1, BATCH2, Cap, Mp, counts, differences, digest, expected_rows, loads, open_runs, query
from test_generate_direct import generate_cli

from dask_helpers import kill_mid_part
from zbugs_synth.config import build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.db import connect
from zbugs_synth.generate.driver import generate

distributed = pytest.importorskip("distributed")


# Big enough that a part lasts a moment (to kill something mid-part), small enough for the default suite.
MEDIUM = {"NUM_ISSUES": "40000", "NUM_PROJECTS": "40", "NUM_USERS": "60", "SEED": "9", "WORKERS": "1",
          "COMMENTS_PER_ISSUE": "6"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  host="127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def medium_reference(pg_admin_url: str, zbugs_template: str) -> dict:
    """The content hashes of the single-process --generate load of MEDIUM."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    connect.create_database(pg_admin_url, name, template=zbugs_template, if_missing=False)
    url = connect.with_database(pg_admin_url, name)
    try:
        ran = loader_helpers.seed_process(url, None, Path("/tmp"), ZERO_SEED_GENERATE="true", **MEDIUM)
        assert ran.code == 0, ran.text
        return digest(url)
    finally:
        connect.drop_database(pg_admin_url, name)


def records(url: str) -> dict[str, int]:
    return dict(query(url, "SELECT name, xid FROM zbugs_synth.seed_shards"))  # type: ignore[arg-type]


def expected_names(parts: int, skip_users: bool = False) -> set[str]:
    w = max(4, len(str(parts)))
    names = {f"{t}.part-{k:0{w}d}-of-{parts:0{w}d}" for k in range(1, parts + 1) for t in ("issue", "comment",
                                                                                            "issueLabel")}
    small = ("project", "label") if skip_users else ("user", "project", "label")
    return names | {f"{t}.part-{1:0{w}d}-of-{parts:0{w}d}" for t in small}


def test_cluster_load_equals_the_csvs_and_the_single_process_load(
        cluster, fresh_db: str, other_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp) -> None:
    via_csv = loader_helpers.seed_cli(fresh_db, batch1, capsys, monkeypatch)
    assert via_csv.code == 0, via_csv.text
    # Bookkeeping read during the load: each part's tables recorded together with it.
    ran = generate_cli(other_db, BATCH1, capsys, monkeypatch, "--parts", "3",
                       DASK_SCHEDULER_ADDRESS=cluster.scheduler_address)
    assert ran.code == 0, ran.text
    assert digest(other_db) == digest(fresh_db)  # every row, and the shortID sequence
    assert counts(other_db) == expected_rows(batch1)
    assert differences(other_db) == []
    assert open_runs(other_db) == 0
    (csv_id, _s, _m, csv_rows, _f), = loads(fresh_db)
    (gen_id, _s, mode, gen_rows, finished), = loads(other_db)
    assert (gen_id, mode, finished, gen_rows) == (csv_id, "seed", True, csv_rows)
    # Again: already seeded, nothing loaded (the same dataset id).
    again = generate_cli(other_db, BATCH1, capsys, monkeypatch, "--scheduler", cluster.scheduler_address)
    assert again.code == 0 and "already seeded" in again.text, again.text


BATCH1_ALL = {**BATCH1, "ALL_TABLES": "true"}


@pytest.fixture(scope="module")
def batch1_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loader_helpers.make_dataset(tmp_path_factory.mktemp("batch1-all") / "data", BATCH1_ALL)


@pytest.fixture(scope="module")
def batch1_all_in_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same dataset written by generate-synthetic --all-tables --parts 3 (each part on its own)."""
    out = tmp_path_factory.mktemp("batch1-all-parts") / "data"
    for k in (3, 1, 2):
        generate(build(GenerateConfig, None, {"OUTPUT_DIR": str(out), "WORKERS": "2", **BATCH1_ALL}, parts=3, part=k))
    assert (out / "manifest.json").exists()  # the last part combined them
    return out


@pytest.mark.parametrize("copy_format", ["binary", "csv"])  # the workers' COPY format (shortID numbered either way)
def test_cluster_load_of_all_tables_equals_the_csvs(cluster, fresh_db: str, other_db: str, batch1_all: Path,
                                                     capsys: Cap, monkeypatch: Mp, copy_format: str) -> None:
    via_csv = loader_helpers.seed_cli(fresh_db, batch1_all, capsys, monkeypatch)
    assert via_csv.code == 0, via_csv.text
    ran = generate_cli(other_db, BATCH1_ALL, capsys, monkeypatch, "--parts", "3",
                       DASK_SCHEDULER_ADDRESS=cluster.scheduler_address, ZBUGS_SEED_COPY_FORMAT=copy_format)
    assert ran.code == 0, ran.text
    rows = expected_rows(batch1_all)
    assert all(rows[t] > 0 for t in ("emoji", "issueNotifications", "viewState", "userPref")), rows
    assert counts(other_db) == rows
    assert digest(other_db) == digest(fresh_db)  # every row of all ten tables, and the shortID sequence
    assert differences(other_db) == []
    assert open_runs(other_db) == 0
    assert [r[0] for r in loads(other_db)] == [r[0] for r in loads(fresh_db)]


def test_csvs_written_in_parts_load_like_the_direct_load(fresh_db: str, other_db: str,
                                                          batch1_all: Path, batch1_all_in_parts: Path,
                                                          capsys: Cap, monkeypatch: Mp) -> None:
    via_parts = loader_helpers.seed_cli(fresh_db, batch1_all_in_parts, capsys, monkeypatch)
    assert via_parts.code == 0, via_parts.text
    direct = generate_cli(other_db, BATCH1_ALL, capsys, monkeypatch)  # one process, no parts
    assert direct.code == 0, direct.text
    assert counts(fresh_db) == expected_rows(batch1_all)
    assert digest(fresh_db) == digest(other_db)
    assert differences(fresh_db) == []
    assert [r[0] for r in loads(fresh_db)] == [r[0] for r in loads(other_db)]


def test_a_killed_all_tables_load_resumes_to_the_exact_rows(cluster, fresh_db: str, other_db: str,
                                                             tmp_path: Path, capsys: Cap, monkeypatch: Mp) -> None:
    config = {**MEDIUM, "NUM_ISSUES": "20000", "ALL_TABLES": "true"}
    reference = generate_cli(other_db, config, capsys, monkeypatch)  # one process, no parts
    assert reference.code == 0, reference.text
    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", "DASK_SCHEDULER_ADDRESS":
           cluster.scheduler_address, **config}
    args = ["db-seed-synthetic", "--progress", "none", "--parts", "5"]
    kill_when(tmp_path, Path("/nonexistent"), args,
              lambda: bool(query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_shards "
                                           "WHERE name LIKE 'viewState.part-%%'")[0][0]), env)
    before = records(fresh_db)
    assert any(n.startswith("emoji.part-") for n in before) and open_runs(fresh_db) == 1
    again = run(tmp_path, Path("/nonexistent"), *args, **env)
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    assert counts(fresh_db) == counts(other_db)
    assert digest(fresh_db) == digest(other_db)
    assert differences(fresh_db) == []


def test_cluster_batches_append_like_the_csvs(cluster, fresh_db: str, other_db: str, batch1: Path,
                                              batch2: Path, capsys: Cap, monkeypatch: Mp) -> None:
    assert loader_helpers.seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    assert loader_helpers.seed_cli(fresh_db, batch2, capsys, monkeypatch, ZERO_SEED_APPEND="true").code == 0
    on = {"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address}
    assert generate_cli(other_db, BATCH1, capsys, monkeypatch, "--parts", "2", **on).code == 0
    ran = generate_cli(other_db, BATCH2, capsys, monkeypatch, "--parts", "3", ZERO_SEED_APPEND="true", **on)
    assert ran.code == 0, ran.text
    assert digest(other_db) == digest(fresh_db)
    assert [r[0] for r in loads(other_db)] == [r[0] for r in loads(fresh_db)]
    assert differences(other_db) == []
    # Force back to batch 1 alone.
    ran = generate_cli(other_db, BATCH1, capsys, monkeypatch, "--parts", "2", ZERO_SEED_FORCE="true", **on)
    assert ran.code == 0, ran.text
    assert counts(other_db) == expected_rows(batch1)


def test_the_database_url_never_shows(cluster, fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    from zbugs_synth.db.load.cluster_load import Secret

    assert "secret-pw" not in repr(Secret("postgresql://u:secret-pw@h/db"))
    ran = generate_cli(fresh_db, BATCH1, capsys, monkeypatch, "--parts", "2", "--scheduler",
                       cluster.scheduler_address)
    assert ran.code == 0, ran.text
    password = fresh_db.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    if password:
        assert password not in ran.text


def test_parts_without_a_scheduler_is_one_line(fresh_db: str, capsys: Cap, monkeypatch: Mp) -> None:
    ran = generate_cli(fresh_db, BATCH1, capsys, monkeypatch, "--parts", "3")
    assert ran.code == 2 and "--scheduler" in ran.err and "Traceback" not in ran.err, ran.text


@pytest.mark.parametrize("address,needle", [
    ("tcp://someone:S3cret@127.0.0.1:1", "--scheduler: expected a Dask scheduler address"),
    ("FREE", "cannot connect to the Dask scheduler"),  # nothing listens there: Dask gives up after 10 s
])
def test_a_wrong_scheduler_is_refused_before_the_database_changes(
        fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp, free_tcp_port, address: str, needle: str) -> None:
    assert loader_helpers.seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    address = address.replace("FREE", f"tcp://127.0.0.1:{free_tcp_port()}")
    ran = generate_cli(fresh_db, BATCH1, capsys, monkeypatch, "--force", "--parts", "2", "--scheduler", address)
    assert ran.code == 2 and needle in ran.err and "Traceback" not in ran.err, ran.text
    assert len(ran.err.strip().splitlines()) == 1 and "S3cret" not in ran.text
    assert digest(fresh_db) == before and open_runs(fresh_db) == 0 and differences(fresh_db) == []


def test_a_dataset_already_loaded_needs_no_scheduler(fresh_db: str, batch1: Path, capsys: Cap, monkeypatch: Mp,
                                                     free_tcp_port) -> None:
    # Loaded from its CSVs; the same configuration by a cluster load is then a no-op, however far the cluster is.
    assert loader_helpers.seed_cli(fresh_db, batch1, capsys, monkeypatch).code == 0
    before = digest(fresh_db)
    ran = generate_cli(fresh_db, BATCH1, capsys, monkeypatch, "--parts", "2",
                       "--scheduler", f"tcp://127.0.0.1:{free_tcp_port()}")  # nothing listens there
    assert ran.code == 0 and "already" in ran.text and "Dask" not in ran.text, ran.text
    assert digest(fresh_db) == before and open_runs(fresh_db) == 0


def test_a_worker_killed_mid_part_still_gives_the_exact_rows(
        cluster, fresh_db: str, medium_reference: dict, capsys: Cap, monkeypatch: Mp) -> None:
    watcher = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        def copying() -> bool:
            return bool(query(fresh_db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                        "'zbugs-synth seed worker' AND query ILIKE 'COPY%%comment%%'")[0][0])

        t, killed = kill_mid_part(watcher, "zbugs-synth-load-part-", copying, timeout=120)
        ran = generate_cli(fresh_db, MEDIUM, capsys, monkeypatch, "--parts", "2", "--scheduler",
                           cluster.scheduler_address)
        t.join()
    finally:
        watcher.close()
    assert ran.code == 0, ran.text
    assert killed, "no part was copying when the test looked"
    assert "started again on" in ran.text  # Dask reran the lost part
    assert digest(fresh_db) == medium_reference
    assert differences(fresh_db) == []


def test_a_killed_client_is_resumed_loading_only_the_missing_parts(
        cluster, fresh_db: str, medium_reference: dict, tmp_path: Path) -> None:
    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", "DASK_SCHEDULER_ADDRESS":
           cluster.scheduler_address, **MEDIUM}
    args = ["db-seed-synthetic", "--progress", "none", "--parts", "6"]
    # The client dies once a first part is in (the others may be mid-COPY or not started).
    kill_when(tmp_path, Path("/nonexistent"), args,
              lambda: bool(query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_shards "
                                           "WHERE name LIKE 'issue.part-%%'")[0][0]), env)
    before = records(fresh_db)
    assert before and open_runs(fresh_db) == 1
    again = run(tmp_path, Path("/nonexistent"), *args, **env)
    assert again.code == 0, again.text
    assert "resuming the interrupted seed load" in again.text
    assert "of 21 table parts already loaded" in again.text
    # Every issue part is there once, in one transaction each (its rows' xmin); the parts recorded
    # before the rerun kept the transactions of the killed run: they were not loaded again.
    by_xid = dict(query(fresh_db, "SELECT xmin::text::bigint, count(*) FROM public.issue GROUP BY 1"))
    assert len(by_xid) == 6
    earlier = {n: xid % 2**32 for n, xid in before.items() if n.startswith("issue.")}
    assert earlier and all(xid in by_xid for xid in earlier.values())
    assert set(before) <= expected_names(6)
    assert digest(fresh_db) == medium_reference
    assert differences(fresh_db) == []


def test_a_resume_with_another_split_is_refused(  # it would load some rows twice
        cluster, fresh_db: str, tmp_path: Path) -> None:
    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", "DASK_SCHEDULER_ADDRESS":
           cluster.scheduler_address, **MEDIUM}
    kill_when(tmp_path, Path("/nonexistent"), ["db-seed-synthetic", "--progress", "none", "--parts", "6"],
              lambda: bool(query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_shards "
                                           "WHERE name LIKE 'issue.part-%%'")[0][0]), env)
    other = run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none", "--parts", "4", **env)
    assert other.code != 0 and "which this command would not load (it was started with --parts 6)" in other.text, \
        other.text
    assert "Traceback" not in other.text and "resuming" not in other.text  # refused before it says it resumes
    single = run(tmp_path, Path("/nonexistent"), "db-seed-synthetic", "--progress", "none",
                 **{k: v for k, v in env.items() if k != "DASK_SCHEDULER_ADDRESS"})
    assert single.code != 0 and "which this command would not load" in single.text, single.text


def test_a_part_task_that_outlives_its_run_loads_nothing(fresh_db: str, tmp_path: Path) -> None:
    """A task of a killed client may start (or reach its COPY) after the load was reset or finished by
    another command: it must not add its rows to a database whose bookkeeping no longer knows them."""
    from zbugs_synth.db.load import state
    from zbugs_synth.db.load.cluster_load import Secret, load_part_task
    from zbugs_synth.generate.driver import prepare

    env = {"ZERO_UPSTREAM_DB": fresh_db, "ZERO_SEED_GENERATE": "true", **MEDIUM}
    # An open run: a single-process direct load killed once it is recorded (no Dask task of its own).
    kill_when(tmp_path, Path("/nonexistent"), ["db-seed-synthetic", "--progress", "none"],
              lambda: bool(query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_runs")[0][0]), env)
    (run_id,) = query(fresh_db, "SELECT id FROM zbugs_synth.seed_runs")[0]
    cfg = build(GenerateConfig, None, dict(MEDIUM))
    settings = {"application_name": "stale-part-test", "session_replication_role": "replica"}
    before = counts(fresh_db)
    result: dict = {}

    def stale_task() -> None:
        result.update(load_part_task(cfg, prepare(cfg), 4, 6, Secret(fresh_db), settings, int(run_id), None, None))

    with connect.connect(fresh_db, autocommit=True) as ender:
        state.end_run_lock(ender, int(run_id))  # what a reset or a finishing rerun holds
        task = threading.Thread(target=stale_task)
        task.start()
        time.sleep(1.5)
        assert task.is_alive() and counts(fresh_db) == before  # it waits for the run's end...
        ender.execute("DELETE FROM zbugs_synth.seed_runs WHERE id = %s", (run_id,))  # ...which comes
    task.join(timeout=60)
    assert not task.is_alive()
    assert result["skipped"] and result["rows"] == {}
    assert counts(fresh_db) == before
    assert query(fresh_db, "SELECT count(*) FROM zbugs_synth.seed_shards WHERE name LIKE '%%part-0004%%'")[0][0] == 0
