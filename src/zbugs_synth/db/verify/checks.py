"""`verify`: is the loaded database complete, consistent and shaped like zbugs' own?

Every check is one aggregate SQL statement (or a handful: one per table or per FK path) that the
server runs in a single pass, and the big tables are read once for all the checks that need them
(passes.py: the table passes, on connections of their own, overlapping the catalog checks).
Python only ever sees counts, histograms with one row per distinct value, and at most `samples`
example rows per failing check (fetched by a second, LIMITed query only when the count is not
zero). That keeps it usable on 100 M issues. Each statement runs under `statement_timeout`: a check
that times out is a FAIL that says so, and the others still run.

The connection is read-only (`default_transaction_read_only`): verify never changes the database.

Checks (PASS / WARN / FAIL, with numbers and samples):
- schema: zbugs_synth.db.schema.differences() split into tables, indexes, foreign keys, triggers
  (present and enabled) and publication; plus invalid indexes and NOT VALID foreign keys;
- replica identity: every published table lets UPDATE/DELETE replicate (not NOTHING, no dangling or
  invalid identity index, no DEFAULT without a primary key); a FAIL prints the repair SQL;
- the built-in Zero project row;
- row counts against the finished loads recorded in zbugs_synth.loaded_datasets (bookkeeping);
- orphans on every path of schema.FOREIGN_KEYS, computed from that data;
- issueLabel.projectID equal to its issue's and its label's project;
- no comment older than its issue; issue modified >= created;
- what the triggers the loader disables would have enforced: project."lowerCaseName" = lower(name),
  comment bodies within 65,536 characters (1,024 on zbugs' own issue COMMENT_LIMITED_ISSUE);
- ids reused across tables (legal, but a sign of a generator bug: WARN).
Distributions: issues per project, comments per issue and labels per issue (histograms), from
which the guide's top-10 and comment buckets come.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import psycopg
from psycopg import sql

from zbugs_synth.db import schema
from zbugs_synth.db.connect import connect, mask_url, scrub
from zbugs_synth.db.load.bookkeeping import (
    LOADED_DATASETS,
    LoadedDataset,
    expected_rows,
    has_bookkeeping,
    loaded_datasets,
)
from zbugs_synth.db.load.session import loader_at_work
from zbugs_synth.db.load.state import has_open_run
from zbugs_synth.db.schema import catalog, replica
from zbugs_synth.db.verify import extra, passes
from zbugs_synth.db.verify.passes import (
    COMMENT_LIMITED_ISSUE,
    COMMENT_LIMITED_MAX_CHARS,
    COMMENT_MAX_CHARS,
    CommentFacts,
    IssueFacts,
    PerIssue,
)
from zbugs_synth.db.verify.result import FAIL, PASS, WARN, Check
from zbugs_synth.progress import NullProgress, Progress
from zbugs_synth.tables import TABLES as LOADED_TABLES

_RANK = {PASS: 0, WARN: 1, FAIL: 2}

# The guide's comments-per-issue buckets, as (label, lowest, highest) comment counts.
COMMENT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0), ("1-2", 1, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("10+", 11, None),
)
# Tables whose primary key is a single free-form `id`: an id shared between two of them is suspicious.
ID_TABLES = ("user", "project", "label", "issue", "comment", "emoji")
TOP_PROJECTS = 10


@dataclass
class ProjectCount:
    id: str
    name: str | None  # None: the issues point at a project that does not exist
    issues: int


@dataclass
class Report:
    target: str  # the database URL, password masked
    started_at: str
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int | None] = field(default_factory=dict)  # None: could not count
    expected: dict[str, int] | None = None  # None: no finished load recorded
    loads: list[LoadedDataset] = field(default_factory=list)
    projects: list[ProjectCount] = field(default_factory=list)  # issues per project, most first
    comments_per_issue: dict[int, int] = field(default_factory=dict)  # n comments -> issues with n
    labels_per_issue: dict[int, int] = field(default_factory=dict)
    # Wall seconds per step, and per table pass (its own query time; the passes overlap each other
    # and the steps, so these do not add up to `seconds`).
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if c.status == WARN]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def verdict(self) -> str:
        n_pass = len(self.checks) - len(self.failed) - len(self.warned)
        word = "FAIL" if self.failed else "PASS"
        return (f"{word}: {len(self.failed):,} failed, {len(self.warned):,} warning(s), {n_pass:,} passed "
                f"({len(self.checks):,} checks in {self.seconds:,.1f}s)")

    @property
    def top_projects(self) -> list[ProjectCount]:
        return self.projects[:TOP_PROJECTS]

    @property
    def comment_buckets(self) -> list[tuple[str, int]]:
        return buckets(self.comments_per_issue)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "startedAt": self.started_at,
            "seconds": round(self.seconds, 3),
            "stepSeconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
            "ok": self.ok,
            "verdict": self.verdict,
            "checks": [asdict(c) | {"seconds": round(c.seconds, 3)} for c in self.checks],
            "counts": self.counts,
            "expected": self.expected,
            "loads": [{"id": d.id, "datasetId": d.dataset_id, "source": d.source, "mode": d.mode,
                       "rows": d.rows, "startedAt": d.started_at.isoformat(),
                       "finishedAt": d.finished_at.isoformat() if d.finished_at else None} for d in self.loads],
            "topProjects": [asdict(p) for p in self.top_projects],
            "projects": len(self.projects),
            "commentBuckets": dict(self.comment_buckets),
            "commentsPerIssue": {str(k): v for k, v in sorted(self.comments_per_issue.items())},
            "labelsPerIssue": {str(k): v for k, v in sorted(self.labels_per_issue.items())},
        }


def buckets(histogram: dict[int, int]) -> list[tuple[str, int]]:
    """The guide's comment buckets from a per-count histogram."""
    return [(label, sum(v for n, v in histogram.items() if n >= lo and (hi is None or n <= hi)))
            for label, lo, hi in COMMENT_BUCKETS]


# ---- running -------------------------------------------------------------------------------------

class _Ctx:
    def __init__(self, conn: psycopg.Connection[Any], report: Report, samples: int, full: bool = False,
                 table_passes: passes.Passes | None = None) -> None:
        self.conn, self.report, self.samples, self.full = conn, report, samples, full
        self.passes = table_passes
        self._chunks: list[passes.Chunk] | None = None
        self._comment_facts: CommentFacts | None = None
        self._foreign_keys: list[catalog.ForeignKeyRow] | None = None  # read once, on first use

    def enforced_by(self, fk: schema.ForeignKey) -> str | None:
        """The name of a foreign key that makes `fk`'s orphan check moot, or None (then: scan).

        A key PostgreSQL validated (every row present then was checked) whose enforcement triggers
        are enabled (every row written since was checked too) on exactly these columns: no row can
        be an orphan, so an anti-join over the whole child table would only confirm it. (Rows
        written with session_replication_role=replica bypass the triggers: `verify --full` scans.)
        """
        if self.full:
            return None
        if self._foreign_keys is None:
            self._foreign_keys = catalog.foreign_keys(self.conn)
        return next((k.name for k in self._foreign_keys
                     if k.validated and k.enforced and k.ref_schema == "public"
                     and (k.table, k.columns, k.ref_table, k.ref_columns)
                     == (fk.table, fk.columns, fk.ref_table, fk.ref_columns)), None)

    def one(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self.conn.execute(query, params or None).fetchone()  # type: ignore[arg-type]
        if row is None:
            raise psycopg.DataError("a query that returns one row returned none")  # reported as a failed check
        return tuple(row)

    def all(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(query, params or None).fetchall()]  # type: ignore[arg-type]

    def rows_of(self, table: str) -> int | None:
        return self.report.counts.get(table)

    def issue_facts(self) -> IssueFacts:
        return self._pass("issue", passes.issue_pass)

    def comment_facts(self) -> CommentFacts:
        if self._comment_facts is None:
            if self.passes is None or self._chunks is None:  # not started: the whole table, here
                chunks = [passes.Chunk((0, None), None)]
                results = [passes.comment_chunk(chunks[0])(self.conn)]
            else:
                chunks = self._chunks
                results = [self.passes.get(f"comment {j}") for j in range(len(chunks))]
            self._comment_facts = passes.combine_chunks(self.conn, chunks, results)
        return self._comment_facts

    def per_issue(self, child: str) -> PerIssue:
        only_known = not self.child_fk_enforced(child)
        return self._pass(f"{child} per issue", passes.per_issue_pass(child, only_known=only_known))

    def child_fk_enforced(self, child: str) -> bool:
        """Whether `child`'s rows all name an existing issue (an enforced FK): then none is left out."""
        fk = next((f for f in schema.FOREIGN_KEYS.values() if f.table == child and f.ref_table == "issue"), None)
        return fk is not None and self.enforced_by(fk) is not None

    def shared_ids(self) -> list[tuple[str, str, int, list[Any]]]:
        counts = {t: self.rows_of(t) or 0 for t in ID_TABLES}
        return self._pass("shared ids", lambda conn: _shared_id_pairs(conn, counts, self.samples))

    def start_passes(self) -> None:
        """Start the table passes on their connections so they overlap the catalog checks. (A pass
        that cannot connect fails verify as the main connection would: one line, exit 2.)"""
        if self.passes is None:
            return
        # The single long statements first, then the comment chunks fill in around them.
        sizes = {str(t): int(n) for t, n in self.all(  # the planner's estimates: nothing is counted yet
            "SELECT c.relname, greatest(c.reltuples, 0) FROM pg_class c "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = 'public' AND c.relname = ANY(%s)", (list(ID_TABLES),))}
        self.passes.start("shared ids", lambda conn: _shared_id_pairs(conn, sizes, self.samples))
        for child in ("comment", "issueLabel"):
            self.passes.start(f"{child} per issue", passes.per_issue_pass(
                child, only_known=not self.child_fk_enforced(child)))
        self.passes.start("issue", passes.issue_pass)
        self._chunks = passes.comment_chunks(self.conn)
        for j, chunk in enumerate(self._chunks):
            self.passes.start(f"comment {j}", passes.comment_chunk(chunk))

    def _pass(self, name: str, run: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        if self.passes is None:  # no pass connections: run it here
            return run(self.conn)
        return self.passes.get(name)


@dataclass(frozen=True)
class _Step:
    title: str
    run: Callable[[_Ctx], list[Check]]
    checks: int = 1  # how many checks it reports (0: a distribution), so progress counts what the verdict does


def verify(url: str, *, statement_timeout: float = 0.0, samples: int = 5,
           progress: Progress | None = None, full: bool = False) -> Report:
    """Run every check against the database at `url` (statement_timeout in seconds, 0: none).

    `full`: scan for orphans even where a validated, enforced foreign key already rules them out."""
    progress = progress or NullProgress()
    report = Report(target=mask_url(url), started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    t0 = time.monotonic()
    table_passes = passes.Passes(url, int(statement_timeout * 1000))
    with connect(url, autocommit=True) as conn:
        missing = catalog.missing_tables(conn, list(schema.COLUMNS))
        if len(missing) == len(schema.COLUMNS):
            # Never migrated (or another database): one failed check that says so, not 30 failing on
            # missing relations with their SQL errors.
            report.checks.append(Check(
                "schema: tables and columns", FAIL, "no zbugs table here: run `zbugs-synth db-migrate` first (or "
                "point ZERO_UPSTREAM_DB / --db-url at the zbugs database); nothing else was checked",
                details=[f"table {t!r} is missing" for t in missing]))
            report.seconds = time.monotonic() - t0
            return report
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET application_name = 'zbugs-synth verify'")
        ctx = _Ctx(conn, report, samples, full, table_passes)
        try:
            # Catalog reads only, before the timeout that is the checks': a tiny --statement-timeout must
            # fail checks, not verify (it ended in a traceback here).
            ctx.start_passes()
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(int(statement_timeout * 1000))))
            _run_steps(ctx, progress, statement_timeout, url)
        finally:
            table_passes.close()
    chunks = {k: v for k, v in table_passes.seconds.items() if k.startswith("comment ") and k[8:].isdigit()}
    report.step_seconds.update({f"pass: {k}": v for k, v in table_passes.seconds.items() if k not in chunks})
    if chunks:
        report.step_seconds[f"pass: comment ({len(chunks)} chunk(s), summed)"] = sum(chunks.values())
    report.seconds = time.monotonic() - t0
    return report


def _run_steps(ctx: _Ctx, progress: Progress, statement_timeout: float, url: str) -> None:
    report = ctx.report
    steps = _steps()
    total = sum(step.checks for step in steps)
    task = progress.task("verify", total, unit="checks")
    for step in steps:
        task.note(step.title)  # beside the bar; the results are printed once, by the caller
        s0 = time.monotonic()
        try:
            found = step.run(ctx)
        except psycopg.errors.QueryCanceled:
            found = [Check(step.title, FAIL, f"timed out after {statement_timeout:g}s "
                                             "(raise --statement-timeout, 0 for no limit)")]
        except psycopg.Error as e:
            found = [Check(step.title, FAIL, f"query failed: {scrub(str(e), url)}")]
        secs = time.monotonic() - s0
        if len(found) != step.checks:  # a step that failed as a whole reports one check for all of it
            total += len(found) - step.checks
            task.set_total(total)
        for c in found:
            c.seconds = secs / max(len(found), 1)
        report.checks += found
        report.step_seconds[step.title] = secs
        task.advance(len(found))
    task.done()


def _steps() -> list[_Step]:
    steps = [
        _Step("schema matches the zbugs contract", _schema, checks=len(_SCHEMA_PARTS)),
        _Step("replica identity of published tables", _replica_identity),
        _Step("built-in Zero project", _zero_project),
        _Step("row counts", _row_counts, checks=2),
    ]
    steps += [_Step(_fk_title(name, fk), _orphans(name, fk)) for name, fk in schema.FOREIGN_KEYS.items()]
    steps += [
        _Step("issueLabel.projectID is its issue's project", _label_project("issue", "issueID")),
        _Step("issueLabel.projectID is its label's project", _label_project("label", "labelID")),
        _Step("no comment older than its issue", _comment_times),
        _Step("issue modified >= created", _issue_times),
        _Step('project "lowerCaseName" is lower(name)', _lower_case_names),
        _Step("comment body lengths", _comment_lengths, checks=2),
        _Step("ids not reused across tables", _shared_ids),
    ]
    steps += [
        _Step(extra.EMOJI_STEP, extra.emoji, checks=2),
        _Step(extra.VIEW_TIMES, extra.view_times),
        _Step("issues per project", _issues_per_project, checks=0),
        _Step("comments per issue", _per_issue("comment", "comments_per_issue"), checks=0),
        _Step("labels per issue", _per_issue("issueLabel", "labels_per_issue"), checks=0),
    ]
    return steps


# ---- helpers -------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """A value from the database as a short, printable token (it is untrusted text)."""
    s = "NULL" if value is None else str(value)
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= 48 else s[:45] + "..."


def _pct(part: int, whole: int | None) -> str:
    return f" ({100.0 * part / whole:.1f}%)" if whole else ""


def _q(name: str) -> sql.Identifier:
    """A zbugs table or column as a composable identifier (text SQL uses zbugs_synth.db.names)."""
    return sql.Identifier(name)


def _pk(table: str) -> tuple[str, ...]:
    return schema.INDEXES[f"{table}_pkey"].columns


# ---- schema --------------------------------------------------------------------------------------

_SCHEMA_PARTS = (
    ("tables and columns", "schema: tables and columns"),
    ("index", "schema: indexes"),
    ("foreign key", "schema: foreign keys"),
    ("trigger", "schema: triggers present and enabled"),
    ("publication", "schema: publication zero_zbugs"),
)


def _schema_part(difference: str) -> str:
    for key in ("publication", "foreign key", "trigger", "index"):
        if key in difference:
            return key
    return "tables and columns"


def _schema(ctx: _Ctx) -> list[Check]:
    found: dict[str, list[str]] = {key: [] for key, _ in _SCHEMA_PARTS}
    present = {r[0] for r in ctx.all("SELECT c.relname FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace "
                                     "WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p')")}
    missing = [t for t in schema.COLUMNS if t not in present]
    if missing:
        # differences() needs the tables it inspects; without them, say what is missing and stop there.
        lines = [f"table {t!r} is missing" for t in missing]
        hint = f"not compared: {len(missing):,} contract table(s) missing (run `zbugs-synth db-migrate`)"
        return [Check(name, FAIL, f"{len(lines):,} difference(s) from the contract: {lines[0]}"
                      + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""), details=lines,
                      numbers={"differences": len(lines)}) if key == "tables and columns"
                else Check(name, FAIL, hint) for key, name in _SCHEMA_PARTS]
    for d in schema.differences(ctx.conn):
        found[_schema_part(d)].append(d)
    expected = {"index": len(schema.INDEXES), "foreign key": len(schema.FOREIGN_KEYS),
                "trigger": len(schema.TRIGGERS), "publication": len(schema.PUBLISHED),
                "tables and columns": len(schema.COLUMNS)}
    out = []
    for key, name in _SCHEMA_PARTS:
        diffs = found[key]
        if diffs:
            out.append(Check(name, FAIL, f"{len(diffs):,} difference(s) from the contract: {diffs[0]}"
                             + (f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else ""),
                             details=diffs, numbers={"differences": len(diffs)}))
        else:
            out.append(Check(name, PASS, f"all {expected[key]:,} as expected", numbers={"expected": expected[key]}))
    return out


def _replica_identity(ctx: _Ctx) -> list[Check]:
    """Every published table must let UPDATE/DELETE replicate (else PostgreSQL refuses them and
    zero-cache halts); a failure carries the SQL that repairs it."""
    name = "replica identity of published tables"
    tables = replica.published_tables(ctx.conn)
    found = replica.problems(ctx.conn)
    if not found:
        return [Check(name, PASS, f"all {len(tables)} published tables have a usable replica identity",
                      numbers={"tables": len(tables)})]
    if has_open_run(ctx.conn):
        # The load dropped the indexes (primary keys included) and puts them back itself: repairing
        # by hand would only get in its way.
        lines = [f"{p.table}: {p.what}" for p in found]
        what = ("a db-seed-synthetic load is running (its indexes are not back yet): run verify when it has "
                "finished") if loader_at_work(ctx.conn) else (
                "a db-seed-synthetic load is unfinished (its indexes are not back yet): run that load again to "
                "finish it, or ZERO_SEED_RESET=true zbugs-synth db-seed-synthetic to undo it")
        return [Check(name, FAIL, f"{len(found)} published table(s) without a usable replica identity, because "
                                  + what, details=lines, numbers={"tables": len(found)})]
    lines = [f"{p.table}: {p.what}; repair: {p.repair}" for p in found]
    return [Check(name, FAIL, f"{len(found)} published table(s) without a usable replica identity: {lines[0]}"
                  + (f" (+{len(found) - 1} more)" if len(found) > 1 else ""),
                  details=lines, numbers={"tables": len(found)})]


def _zero_project(ctx: _Ctx) -> list[Check]:
    row = ctx.conn.execute('SELECT name FROM project WHERE id = %s', (schema.ZERO_PROJECT_ID,)).fetchone()
    name = "built-in Zero project row"
    if row is None:
        return [Check(name, FAIL, f"project {schema.ZERO_PROJECT_ID} (Zero) is missing: a force load must "
                                  "restore it, zbugs' default projectID points at it")]
    return [Check(name, PASS, f"project {schema.ZERO_PROJECT_ID} ({_show(row[0])}) present (inserted by the "
                              "migrations, not by a load: the project count holds one row more than the datasets)")]


# ---- row counts ----------------------------------------------------------------------------------

def _row_counts(ctx: _Ctx) -> list[Check]:
    report = ctx.report
    for table in schema.COLUMNS:  # one statement per table: the timeout applies to each
        (present,) = ctx.one("SELECT to_regclass(%s) IS NOT NULL", (f'public."{table}"',))
        if not present:  # the schema check reports it; count the rest
            report.counts[table] = None
            continue
        report.counts[table] = _count(ctx, table)
    report.loads = loaded_datasets(ctx.conn)
    finished = [d for d in report.loads if d.finished]
    unfinished = [d for d in report.loads if not d.finished]
    out: list[Check] = []
    name = "row counts match the loaded datasets"
    if not report.loads:
        where = LOADED_DATASETS if has_bookkeeping(ctx.conn) else f"{LOADED_DATASETS} (absent)"
        total = sum(report.counts[t] or 0 for t in LOADED_TABLES)
        absent = [t for t in LOADED_TABLES if report.counts[t] is None]
        found = f"{len(absent):,} of the loaded tables missing" if absent else \
            f"{total:,} rows in the {len(LOADED_TABLES)} loaded tables"
        out.append(Check(name, WARN, f"no load recorded in {where}: counts reported, not checked ({found})",
                         numbers={"actual": dict(report.counts)}))
    else:
        report.expected = expected_rows(finished, LOADED_TABLES)
        wrong = [t for t in LOADED_TABLES if report.counts[t] != report.expected[t]]
        details = [f"{t}: expected {report.expected[t]:,}, found "
                   + ("no table" if report.counts[t] is None else
                      f"{report.counts[t]:,} ({(report.counts[t] or 0) - report.expected[t]:+,})") for t in wrong]
        sources = f"{len(finished):,} finished load(s)"
        numbers = {"expected": report.expected, "actual": {t: report.counts[t] for t in LOADED_TABLES}}
        if unfinished:
            d = unfinished[-1]
            out.append(Check(name, FAIL,
                             f"{len(unfinished):,} load(s) never finished (interrupted or still running): dataset "
                             f"{_show(d.dataset_id)} from {_show(d.source)} ({d.mode}, started "
                             f"{d.started_at:%Y-%m-%d %H:%M:%S %Z}); re-run the load"
                             + (f"; also {len(wrong):,} table(s) differ" if wrong else ""),
                             samples=[f"load #{u.id}: {_show(u.dataset_id)} ({u.mode})" for u in unfinished],
                             details=details, numbers=numbers))
        elif wrong:
            out.append(Check(name, FAIL, f"{len(wrong):,} table(s) differ from {sources}: {details[0]}",
                             details=details, numbers=numbers))
        else:
            total = sum(report.expected.values())
            loaded = sum(sum(d.rows.get(t, 0) for t in LOADED_TABLES) for d in finished)
            zero = " + 1, the built-in Zero project row the migrations insert" if total == loaded + 1 else ""
            out.append(Check(name, PASS, f"{total:,} rows in {len(LOADED_TABLES)} tables: {loaded:,} as {sources} "
                                         f"recorded{zero}", numbers=numbers))
    ids = [d.dataset_id for d in finished]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        out.append(Check("each dataset loaded once", WARN,
                         f"{len(twice):,} dataset(s) recorded as loaded more than once",
                         samples=[_show(i) for i in twice[:ctx.samples]]))
    else:  # always reported: the number of checks is known before they run (progress shows it)
        out.append(Check("each dataset loaded once", PASS, f"{len(ids):,} finished load(s), each a different dataset"))
    return out


def _count(ctx: _Ctx, table: str) -> int:
    """Rows of `table`: the big three from their table pass (which reads them anyway), the rest counted."""
    if table == "issue":
        return ctx.issue_facts().rows
    if table == "comment":
        return ctx.comment_facts().rows
    if table == "issueLabel":
        return ctx.per_issue("issueLabel").rows
    (n,) = ctx.one(sql.SQL("SELECT count(*) FROM {}").format(_q(table)))
    return int(n)


# ---- orphans -------------------------------------------------------------------------------------

def _fk_title(name: str, fk: schema.ForeignKey) -> str:
    def side(table: str, cols: tuple[str, ...]) -> str:
        return f"{table}.{cols[0]}" if len(cols) == 1 else f"{table}({', '.join(cols)})"
    return f"no orphans: {side(fk.table, fk.columns)} -> {side(fk.ref_table, fk.ref_columns)}"


def _orphan_where(fk: schema.ForeignKey) -> sql.Composable:
    """Rows of `c` (the child) whose non-NULL key finds no parent `p`: MATCH SIMPLE semantics."""
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(_q(col)) for col in fk.columns)
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(_q(r), _q(col))
                                  for col, r in zip(fk.columns, fk.ref_columns, strict=True))
    return sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(not_null, _q(fk.ref_table), match)


def _orphans(fk_name: str, fk: schema.ForeignKey) -> Callable[[_Ctx], list[Check]]:
    def run(ctx: _Ctx) -> list[Check]:
        title = _fk_title(fk_name, fk)
        rows = ctx.rows_of(fk.table)
        enforced = ctx.enforced_by(fk)
        if enforced is not None:
            of = f" in {rows:,} {fk.table} rows" if rows is not None else ""
            return [Check(title, PASS, f"0 orphans{of}: guaranteed by foreign key {enforced} (validated, enforced)",
                          numbers={"orphans": 0, "enforcedBy": enforced})]
        where = _orphan_where(fk)
        (n,) = ctx.one(sql.SQL("SELECT count(*) FROM {} c WHERE {}").format(_q(fk.table), where))
        n = int(n)
        if n == 0:
            return [Check(title, PASS, f"0 orphans in {rows:,} {fk.table} rows" if rows is not None else "0 orphans",
                          numbers={"orphans": 0})]
        shown = list(dict.fromkeys(_pk(fk.table) + fk.columns))
        sample_rows = ctx.all(sql.SQL("SELECT {} FROM {} c WHERE {} LIMIT %s").format(
            sql.SQL(", ").join(sql.SQL("c.{}").format(_q(col)) for col in shown), _q(fk.table), where),
            (ctx.samples,))
        samples = [f"{fk.table} " + " ".join(f"{col}={_show(v)}" for col, v in zip(shown, r, strict=True))
                   for r in sample_rows]
        return [Check(title, FAIL, f"{n:,} {fk.table} row(s){_pct(n, rows)} point at a missing {fk.ref_table} "
                                   f"(constraint {fk_name})", samples=samples, numbers={"orphans": n})]
    return run


def _label_project(parent: str, column: str) -> Callable[[_Ctx], list[Check]]:
    """issueLabel.projectID must equal the project of the issue (label) it names."""
    def run(ctx: _Ctx) -> list[Check]:
        title = f"issueLabel.projectID is its {parent}'s project"
        fk = next((f for f in schema.FOREIGN_KEYS.values() if f.table == "issueLabel" and f.ref_table == parent
                   and f.columns == (column, "projectID") and f.ref_columns == ("id", "projectID")), None)
        enforced = ctx.enforced_by(fk) if fk is not None else None
        if enforced is not None:
            return [Check(title, PASS, f"all {ctx.rows_of('issueLabel') or 0:,} issueLabel rows agree: guaranteed by "
                                       f"foreign key {enforced} (validated, enforced)",
                          numbers={"mismatched": 0, "enforcedBy": enforced})]
        base = sql.SQL('FROM "issueLabel" il JOIN {} x ON x.id = il.{} WHERE il."projectID" <> x."projectID"').format(
            _q(parent), _q(column))
        (n,) = ctx.one(sql.SQL("SELECT count(*) ") + base)
        if not n:
            return [Check(title, PASS, f"all {ctx.rows_of('issueLabel') or 0:,} issueLabel rows agree",
                          numbers={"mismatched": 0})]
        rows = ctx.all(sql.SQL('SELECT il."labelID", il."issueID", il."projectID", x."projectID" ') + base
                       + sql.SQL(" LIMIT %s"), (ctx.samples,))
        samples = [f"issueLabel labelID={_show(a)} issueID={_show(b)} projectID={_show(c)}, {parent} is in {_show(d)}"
                   for a, b, c, d in rows]
        return [Check(title, FAIL, f"{n:,} issueLabel row(s){_pct(n, ctx.rows_of('issueLabel'))} name another "
                                   f"project than their {parent}", samples=samples, numbers={"mismatched": int(n)})]
    return run


# ---- time order ----------------------------------------------------------------------------------

def _comment_times(ctx: _Ctx) -> list[Check]:
    title = "no comment older than its issue"
    facts = ctx.comment_facts()
    older, unknown, joined = facts.older, facts.unknown, facts.joined
    numbers = {"older": int(older), "unknown": int(unknown), "compared": int(joined)}
    note = f"; {unknown:,} without a created time" if unknown else ""
    if older:
        rows = ctx.all("""SELECT c.id, c."issueID", c.created, i.created
                            FROM comment c JOIN issue i ON i.id = c."issueID"
                           WHERE c.created < i.created LIMIT %s""", (ctx.samples,))
        samples = [f"comment {_show(c)} created {_ms(cc)} on issue {_show(i)} created {_ms(ic)}"
                   for c, i, cc, ic in rows]
        return [Check(title, FAIL, f"{older:,} of {joined:,} comments{_pct(older, joined)} were created before "
                                   f"their issue{note}", samples=samples, numbers=numbers)]
    if unknown:
        return [Check(title, WARN, f"none older among {joined - unknown:,} comments{note}", numbers=numbers)]
    return [Check(title, PASS, f"all {joined:,} comments are at or after their issue's creation", numbers=numbers)]


def _issue_times(ctx: _Ctx) -> list[Check]:
    title = "issue modified >= created"
    facts = ctx.issue_facts()
    bad, unknown, total = facts.modified_before_created, facts.unknown_times, facts.rows
    numbers = {"modifiedBeforeCreated": int(bad), "unknown": int(unknown), "issues": int(total)}
    note = f"; {unknown:,} without created/modified" if unknown else ""
    if bad:
        rows = ctx.all("SELECT id, created, modified FROM issue WHERE modified < created LIMIT %s", (ctx.samples,))
        samples = [f"issue {_show(i)} created {_ms(c)} modified {_ms(m)}" for i, c, m in rows]
        return [Check(title, FAIL, f"{bad:,} of {total:,} issues{_pct(bad, total)} were modified before they were "
                                   f"created{note}", samples=samples, numbers=numbers)]
    if unknown:
        return [Check(title, WARN, f"all known ones fine{note}", numbers=numbers)]
    return [Check(title, PASS, f"all {total:,} issues", numbers=numbers)]


# ---- what the disabled triggers enforce ----------------------------------------------------------

def _lower_case_names(ctx: _Ctx) -> list[Check]:
    # lower() of the server, as the project_set_lower_case_name trigger computes it.
    title = 'project "lowerCaseName" is lower(name)'
    cond = 'FROM project WHERE "lowerCaseName" IS DISTINCT FROM lower(name)'
    (n,) = ctx.one(f"SELECT count(*) {cond}")
    total = ctx.rows_of("project")
    if not n:
        return [Check(title, PASS, f"all {total or 0:,} projects", numbers={"mismatched": 0})]
    rows = ctx.all(f'SELECT id, name, "lowerCaseName" {cond} ORDER BY id LIMIT %s', (ctx.samples,))
    samples = [f"project {_show(i)} name {_show(name)} lowerCaseName {_show(low)}" for i, name, low in rows]
    return [Check(title, FAIL, f"{n:,} project(s){_pct(n, total)} have a lowerCaseName other than lower(name) "
                               "(the trigger that keeps them equal was off while they were written)",
                  samples=samples, numbers={"mismatched": int(n)})]


def _comment_lengths(ctx: _Ctx) -> list[Check]:
    """Both limits of comment_check_body_length, from the comment pass (passes.long_body says how it
    avoids reading every body); the samples are fetched only when a limit is broken."""
    long_body, limited = passes.long_body(COMMENT_MAX_CHARS), passes.limited_body()
    facts = ctx.comment_facts()
    too_long, too_long_limited, on_limited = facts.too_long, facts.too_long_limited, facts.on_limited
    comments = facts.rows

    def check(title: str, n: int, where: sql.Composable, limit: int, scope: str, of: int | None) -> Check:
        numbers = {"tooLong": int(n), "limit": limit}
        if not n:
            return Check(title, PASS, f"none of {of or 0:,} {scope} longer than {limit:,} characters", numbers=numbers)
        rows = ctx.all(sql.SQL('SELECT c.id, c."issueID", length(c.body) FROM comment c WHERE {} '
                               "ORDER BY c.id LIMIT %s").format(where), (ctx.samples,))
        samples = [f"comment {_show(c)} on issue {_show(i)}: {int(k):,} characters" for c, i, k in rows]
        return Check(title, FAIL, f"{n:,} {scope}{_pct(n, of)} longer than {limit:,} characters (the trigger "
                                  "that refuses them was off while they were written)",
                     samples=samples, numbers=numbers)

    return [
        check(f"comment body at most {COMMENT_MAX_CHARS:,} characters", too_long, long_body, COMMENT_MAX_CHARS,
              "comments", comments),
        check(f"comments on the one issue zbugs limits to {COMMENT_LIMITED_MAX_CHARS:,} characters "
              f"({COMMENT_LIMITED_ISSUE})",
              too_long_limited, limited, COMMENT_LIMITED_MAX_CHARS,
              f"comments on issue {COMMENT_LIMITED_ISSUE} (zbugs' comment_check_body_length trigger allows "
              f"at most {COMMENT_LIMITED_MAX_CHARS:,} characters on this one issue, {COMMENT_MAX_CHARS:,} elsewhere)",
              int(on_limited)),
    ]


def _ms(value: Any) -> str:
    """Epoch milliseconds as an ISO time (the raw number when it is not a sane timestamp)."""
    try:
        return datetime.fromtimestamp(float(value) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return _show(value)


# ---- ids shared between tables -------------------------------------------------------------------

def _shared_cond(sizes: dict[str, int], a: str, b: str) -> sql.Composable:
    # Probe the bigger table's primary key from the smaller one: cost ~ the smaller table.
    small, big = sorted((a, b), key=lambda t: sizes.get(t, 0))
    return sql.SQL("FROM {} s WHERE EXISTS (SELECT 1 FROM {} b WHERE b.id = s.id)").format(_q(small), _q(big))


def _shared_samples(conn: psycopg.Connection[Any], cond: sql.Composable, samples: int) -> list[Any]:
    return [r[0] for r in conn.execute(sql.SQL("SELECT s.id ") + cond + sql.SQL(" LIMIT %s"), (samples,)).fetchall()]


def _shared_id_pairs(conn: psycopg.Connection[Any], sizes: dict[str, int],
                     samples: int) -> list[tuple[str, str, int, list[Any]]]:
    """(table, table, ids shared, sample ids) for every pair of ID_TABLES sharing an id."""
    pairs: list[tuple[str, str, int, list[Any]]] = []
    for a, b in combinations(ID_TABLES, 2):
        cond = _shared_cond(sizes, a, b)
        row = conn.execute(sql.SQL("SELECT count(*) ") + cond).fetchone()
        n = int(row[0]) if row else 0
        if n:
            pairs.append((a, b, n, _shared_samples(conn, cond, samples)))
    return pairs


def _shared_ids(ctx: _Ctx) -> list[Check]:
    title = "ids not reused across tables"
    pairs = ctx.shared_ids()
    if not pairs:
        return [Check(title, PASS, f"no id appears in two of {', '.join(ID_TABLES)}", numbers={"shared": 0})]
    total = sum(n for *_, n, _ in pairs)
    details = [f"{a} and {b} share {n:,} id(s)" for a, b, n, _ in pairs]
    samples = [f"{_show(i)} is the id of a {a} row and of a {b} row" for a, b, _, ids in pairs for i in ids]
    samples = samples[:ctx.samples]
    return [Check(title, WARN, f"id reused across tables: {'; '.join(details)} (legal in PostgreSQL, but a "
                               "generator should make every id unique)", samples=samples, details=details,
                  numbers={"shared": total, "pairs": {f"{a}/{b}": n for a, b, n, _ in pairs}})]


# ---- distributions -------------------------------------------------------------------------------

def _issues_per_project(ctx: _Ctx) -> list[Check]:
    # From the issue pass's count per projectID, joined here with the (small) project table: projects
    # with no issue, and issues whose project is missing (name None), are both kept.
    names = dict(ctx.all("SELECT id, name FROM project"))
    per_project = ctx.issue_facts().per_project
    counts = {str(i): (None if n is None else str(n), 0) for i, n in names.items()}
    for pid, n in per_project.items():
        counts[pid] = (counts[pid][0] if pid in counts else None, n)
    ctx.report.projects = sorted((ProjectCount(i, name, n) for i, (name, n) in counts.items()),
                                 key=lambda p: (-p.issues, p.id))
    return []


def _per_issue(child: str, attr: str) -> Callable[[_Ctx], list[Check]]:
    """Histogram {k: issues with exactly k child rows}, from the child's per-issue pass."""
    def run(ctx: _Ctx) -> list[Check]:
        hist = dict(ctx.per_issue(child).histogram)
        issues = ctx.rows_of("issue")
        if issues is None:
            issues = ctx.issue_facts().rows
        without = int(issues) - sum(hist.values())
        if without:
            hist[0] = without
        setattr(ctx.report, attr, dict(sorted(hist.items())))
        return []
    return run
