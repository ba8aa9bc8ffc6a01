"""verify's table passes: every fact verify needs about a big table, from one read of it.

At 10 M issues the tables are 10 M issues, 30 M comments and 15 M issueLabel rows; reading one
of them costs seconds, so each is read once and every check that needs it gets its numbers from
that one read:

- issue (heap, one sequential pass): its row count, issues per project, and modified >= created;
- comment (heap, in chunks of pages, each hash-joined to the stretch of issue's heap that holds
  its issues' (id, created); see comment_chunks): its row count, the comment time order, both
  body-length limits and the number of comments on the one limited issue;
- comments per issue and labels per issue: from the (issueID) index of comment and issueLabel alone
  (an index-only scan in issueID order, counted group by group as it streams: no hash table of
  10 M issues) when the table is all-visible; else the planner reads the heap, same result. A seed
  leaves all three all-visible (COPY FREEZE, into tables whose insert triggers it dropped for the
  load: PostgreSQL writes row by row, without setting the visibility map, into a table with a
  BEFORE INSERT trigger, even a disabled one); an append's rows become so when autovacuum (or a
  VACUUM) has been over them.

The passes run on their own connections, two at a time, while verify's catalog checks run on its
main connection; a check waits for the pass it reads. A pass that fails (timeout, missing table)
fails the checks that read it, with its error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from zbugs_synth.db.connect import connect

# comment_check_body_length (migration 0002): the body limit, and the one issue with a lower one.
COMMENT_MAX_CHARS = 65536
COMMENT_LIMITED_ISSUE = "duuW9Nyj5cTNLlimp9Qje"
COMMENT_LIMITED_MAX_CHARS = 1024

# The session of every pass connection: read-only like verify's own; work_mem so the comment
# pass's hash of issue (id, created) fits in a few batches instead of hundreds.
PASS_WORK_MEM = "512MB"
# The share of a table's pages that must be all-visible for the per-issue histogram to be read from
# its (issueID) index alone (below it, every index entry would cost a heap visit: the heap is read).
ALL_VISIBLE_FOR_INDEX = 0.9
CONNECTIONS = 2


@dataclass
class IssueFacts:
    rows: int
    modified_before_created: int
    unknown_times: int  # created or modified NULL
    per_project: dict[str, int]  # projectID -> issues (projectID is NOT NULL in the contract)


@dataclass
class CommentFacts:
    rows: int
    joined: int  # comments whose issue exists
    older: int  # ... created before it
    unknown: int  # ... with a NULL created on either side
    too_long: int  # bodies over COMMENT_MAX_CHARS characters
    too_long_limited: int  # bodies over COMMENT_LIMITED_MAX_CHARS on COMMENT_LIMITED_ISSUE
    on_limited: int  # comments on COMMENT_LIMITED_ISSUE


@dataclass
class PerIssue:
    rows: int  # every row of the child table (NULL issueID and orphans included): its row count
    histogram: dict[int, int]  # k -> issues with exactly k child rows (k >= 1; 0 is added by the caller)


# Comment bodies: octet_length() of a TOASTed value is read from its header (no decompression),
# and a body has at least as many bytes as characters, so only bodies over the limit in bytes get
# their characters counted.
def long_body(limit: int) -> sql.Composable:
    return sql.SQL("octet_length(c.body) > {m} AND length(c.body) > {m}").format(m=sql.Literal(limit))


def limited_body() -> sql.Composable:
    return sql.SQL('c."issueID" = {i} AND ').format(i=sql.Literal(COMMENT_LIMITED_ISSUE)) + \
        long_body(COMMENT_LIMITED_MAX_CHARS)


_ISSUE_PASS = """SELECT "projectID", count(*), count(*) FILTER (WHERE modified < created),
                        count(*) FILTER (WHERE modified IS NULL OR created IS NULL)
                   FROM issue GROUP BY 1"""


def issue_pass(conn: psycopg.Connection[Any]) -> IssueFacts:
    rows = conn.execute(_ISSUE_PASS).fetchall()
    return IssueFacts(rows=sum(int(r[1]) for r in rows), modified_before_created=sum(int(r[2]) for r in rows),
                      unknown_times=sum(int(r[3]) for r in rows),
                      per_project={str(r[0]): int(r[1]) for r in rows})


# The comment pass in chunks: CHUNK_PAGES of comment's heap (128 MB) each, joined to the stretch of
# issue's heap that holds their issues (see comment_chunks); a chunk's hash of issue is ~12 MB, so
# its probes mostly hit the CPU caches (a hash of 10 M issues is 760 MB), and the chunks spread
# over the pass connections.
CHUNK_PAGES = 16384
# Comments whose issue was not in their chunk's stretch of issue are looked up one by one, up to
# this many; more (a table not loaded in issue order): the time order is joined over whole tables.
MAX_LEFTOVERS = 200_000


@dataclass(frozen=True)
class Chunk:
    comment: tuple[int, int | None]  # heap pages [from, to) of comment (None: to the end)
    issue: tuple[int, int | None] | None  # the heap pages of issue its issues are looked for in; None: all


def comment_chunks(conn: psycopg.Connection[Any]) -> list[Chunk]:
    """The comment pass's chunks: comment's heap cut in equal page ranges, each with the proportional
    page range of issue's heap widened by a sixteenth of it on either side.

    The generator writes an issue's comments as it writes the issue, and a load appends both tables
    in that order, so a comment's issue sits at about the same fraction of issue's heap as the
    comment does of comment's (measured at 10 M issues: within 0.05 %). Nothing relies on it for
    the answer: a comment whose issue is not in its chunk's range is looked up in the whole of issue
    afterwards (combine_chunks); the ranges only make that rare."""
    # pg_class's page counts (as of the last ANALYZE or VACUUM: a load ends with one) take no lock,
    # unlike pg_relation_size: a locked table must fail its pass, not verify. Stale counts cost only
    # speed (more comments looked up afterwards); the last chunk is open-ended.
    row = conn.execute("""SELECT (SELECT relpages FROM pg_class WHERE oid = to_regclass('public.comment')),
                                 (SELECT relpages FROM pg_class WHERE oid = to_regclass('public.issue'))""").fetchone()
    comment_pages, issue_pages = (max(int(v or 0), 0) for v in row) if row else (0, 0)
    k = comment_pages // CHUNK_PAGES
    if k < 2 or issue_pages < k:
        return [Chunk((0, None), None)]
    margin = max(64, issue_pages // k // 16)
    chunks = []
    for j in range(k):
        last = j == k - 1  # open-ended: rows written since the sizes were read are in it too
        chunks.append(Chunk((j * comment_pages // k, None if last else (j + 1) * comment_pages // k),
                            (max(0, j * issue_pages // k - margin),
                             None if last else (j + 1) * issue_pages // k + margin)))
    return chunks


def _pages(alias: str, pages: tuple[int, int | None]) -> sql.Composable:
    lo, hi = pages
    cond = sql.SQL("{}.ctid >= {}::tid").format(sql.Identifier(alias), sql.Literal(f"({lo},0)"))
    if hi is not None:
        cond += sql.SQL(" AND {}.ctid < {}::tid").format(sql.Identifier(alias), sql.Literal(f"({hi},0)"))
    return cond


@dataclass
class ChunkFacts:
    facts: CommentFacts
    leftovers: int  # comments with an issueID whose issue is not in the chunk's range of issue


def comment_chunk(chunk: Chunk) -> Callable[[psycopg.Connection[Any]], ChunkFacts]:
    """One chunk of the comment pass: its comments, hash-joined to its stretch of issue (id, created).

    LEFT JOIN: every comment is counted and its body checked; the time order where the issue was
    found (orphans are the orphan check's)."""
    def run(conn: psycopg.Connection[Any]) -> ChunkFacts:
        in_range = sql.SQL("") if chunk.issue is None else sql.SQL(" AND ") + _pages("i", chunk.issue)
        row = conn.execute(sql.SQL(
            """SELECT count(*), count(i.id), count(*) FILTER (WHERE c.created < i.created),
                      count(*) FILTER (WHERE i.id IS NOT NULL AND (c.created IS NULL OR i.created IS NULL)),
                      count(*) FILTER (WHERE {long}), count(*) FILTER (WHERE {limited}),
                      count(*) FILTER (WHERE c."issueID" = {issue}),
                      count(*) FILTER (WHERE i.id IS NULL AND c."issueID" IS NOT NULL)
                 FROM comment c LEFT JOIN issue i ON i.id = c."issueID"{in_range}
                WHERE {c_range}""").format(
            long=long_body(COMMENT_MAX_CHARS), limited=limited_body(), issue=sql.Literal(COMMENT_LIMITED_ISSUE),
            in_range=in_range, c_range=_pages("c", chunk.comment))).fetchone()
        assert row is not None
        *facts, leftovers = (int(v) for v in row)
        # Without a range, a comment not joined has no issue anywhere: nothing to look up.
        return ChunkFacts(CommentFacts(*facts), leftovers if chunk.issue is not None else 0)
    return run


_WHOLE_TIME_ORDER = """SELECT count(i.id), count(*) FILTER (WHERE c.created < i.created),
                              count(*) FILTER (WHERE i.id IS NOT NULL AND (c.created IS NULL OR i.created IS NULL))
                         FROM comment c LEFT JOIN issue i ON i.id = c."issueID" """


def combine_chunks(conn: psycopg.Connection[Any], chunks: list[Chunk], results: list[ChunkFacts]) -> CommentFacts:
    """The comment facts of all chunks, the comments not found in their chunk's stretch of issue
    looked up in the whole of issue (by its primary key, or one join over both tables if many)."""
    total = CommentFacts(*(sum(getattr(r.facts, f) for r in results) for f in CommentFacts.__dataclass_fields__))
    leftovers = sum(r.leftovers for r in results)
    if not leftovers:
        return total
    if leftovers > MAX_LEFTOVERS:
        row = conn.execute(_WHOLE_TIME_ORDER).fetchone()
        assert row is not None
        total.joined, total.older, total.unknown = (int(v) for v in row)
        return total
    ids: list[str] = []
    created: list[float | None] = []
    for chunk, r in zip(chunks, results, strict=True):
        if r.leftovers and chunk.issue is not None:
            for iid, when in conn.execute(sql.SQL(
                    """SELECT c."issueID", c.created FROM comment c
                        WHERE {} AND c."issueID" IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM issue i WHERE i.id = c."issueID" AND {})""").format(
                    _pages("c", chunk.comment), _pages("i", chunk.issue))).fetchall():
                ids.append(iid)
                created.append(when)
    row = conn.execute("""SELECT count(i.id), count(*) FILTER (WHERE l.created < i.created),
                                 count(*) FILTER (WHERE i.id IS NOT NULL AND (l.created IS NULL OR i.created IS NULL))
                            FROM unnest(%s::text[], %s::float8[]) l(iid, created)
                            LEFT JOIN issue i ON i.id = l.iid""", (ids, created)).fetchone()
    assert row is not None
    total.joined += int(row[0])
    total.older += int(row[1])
    total.unknown += int(row[2])
    return total


def per_issue_pass(child: str, *, only_known: bool) -> Callable[[psycopg.Connection[Any]], PerIssue]:
    """Histogram {k: issues with k rows of `child`} and the child's row count, in one read of it.

    The inner aggregate reads only "issueID", which the (issueID) index holds: an index-only scan in
    key order feeds a streaming group aggregate (NULLs are a group too: the count includes them).
    `only_known`: a group whose issue does not exist is counted as rows but is no issue (without an
    enforced foreign key orphans may exist; with one there are none and the probe is left out)."""
    def run(conn: psycopg.Connection[Any]) -> PerIssue:
        known = sql.SQL('g."issueID" IS NOT NULL')
        if only_known:
            known += sql.SQL(' AND EXISTS (SELECT 1 FROM issue i WHERE i.id = g."issueID")')
        query = sql.SQL(
            """SELECT g.n, count(*) FILTER (WHERE {}), sum(g.n)
                 FROM (SELECT "issueID", count(*) AS n FROM {} GROUP BY 1) g
                GROUP BY 1""").format(known, sql.Identifier(child))
        with conn.transaction():
            if _mostly_all_visible(conn, child):
                # The planner underestimates distinct issueIDs (ANALYZE samples) and then prefers a
                # hash of the heap's rows; the index-only scan in key order is the cheaper read.
                conn.execute("SET LOCAL enable_seqscan = off")
            rows = conn.execute(query).fetchall()
        return PerIssue(rows=sum(int(r) for _, _, r in rows),
                        histogram={int(n): int(c) for n, c, _ in sorted(rows) if c})
    return run


def _mostly_all_visible(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT relpages, relallvisible FROM pg_class WHERE oid = to_regclass(%s)",
                       (f'public."{table}"',)).fetchone()
    return row is not None and row[0] > 0 and row[1] >= ALL_VISIBLE_FOR_INDEX * row[0]


@dataclass
class Passes:
    """The table passes, run on up to CONNECTIONS connections of their own (see the module docstring)."""

    url: str
    statement_timeout_ms: int
    seconds: dict[str, float] = field(default_factory=dict)  # pass -> its own query time
    _futures: dict[str, Future[Any]] = field(default_factory=dict)
    _conns: list[psycopg.Connection[Any]] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None

    def _conn(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.url, autocommit=True)
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("SET application_name = 'zbugs-synth verify'")
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(self.statement_timeout_ms)))
            conn.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(PASS_WORK_MEM)))
            # The passes already keep both cores busy; parallel workers would only contend.
            conn.execute("SET max_parallel_workers_per_gather = 0")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def start(self, name: str, run: Callable[[psycopg.Connection[Any]], Any]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="verify-pass")

        def task() -> Any:
            t0 = time.monotonic()
            try:
                return run(self._conn())
            finally:
                self.seconds[name] = time.monotonic() - t0

        self._futures[name] = self._pool.submit(task)

    def get(self, name: str) -> Any:
        """The pass's result; its exception (a psycopg error, or a UserError on connecting) if it failed."""
        return self._futures[name].result()

    def close(self) -> None:
        """Stop: passes not started are dropped; running ones (verify was interrupted, or a check
        failed before reading them) are cancelled on the server rather than waited for."""
        if self._pool is not None:
            for f in self._futures.values():
                f.cancel()
            if not all(f.done() for f in self._futures.values()):
                with self._lock:
                    conns = list(self._conns)
                for conn in conns:
                    with contextlib.suppress(psycopg.Error):
                        conn.cancel_safe(timeout=5)
            self._pool.shutdown(wait=True)
        for conn in self._conns:
            conn.close()
