"""Replica identity of the published zbugs tables: what it is, and whether logical replication can use it.

PostgreSQL refuses UPDATE and DELETE on a table published with those actions unless the table has a
usable replica identity: DEFAULT with a primary key, FULL, or USING INDEX naming a valid unique
index. zero-cache relies on it too (it halts on a table "missing its REPLICA IDENTITY INDEX"), and
it changes the identity itself: for a published table without a primary key but with a unique NOT
NULL index it runs `ALTER TABLE ... REPLICA IDENTITY USING INDEX`. Dropping that index later leaves
`relreplident = 'i'` naming no index at all, which PostgreSQL treats as NOTHING. This module finds
such tables and says how to repair them; the loader saves and restores the identity (db.load.objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from zbugs_synth.db.names import qi, qt
from zbugs_synth.tables import INDEXES, PUBLICATION

Conn = psycopg.Connection[Any]
MODES = {"d": "DEFAULT", "f": "FULL", "n": "NOTHING", "i": "USING INDEX"}


@dataclass(frozen=True)
class Identity:
    table: str
    mode: str  # pg_class.relreplident: d, f, n, i
    index: str | None  # the index marked indisreplident (mode i), if one exists
    index_valid: bool  # that index is valid and ready
    has_primary_key: bool

    def sql(self) -> str:
        """The statement that sets this identity (for mode i: on its index)."""
        tail = f"USING INDEX {qi(self.index)}" if self.mode == "i" and self.index else MODES[self.mode]
        return f"ALTER TABLE {qt(self.table)} REPLICA IDENTITY {tail}"


def identities(conn: Conn, tables: list[str] | None = None) -> dict[str, Identity]:
    """table -> its replica identity, for the tables of schema public (or just `tables`)."""
    rows = conn.execute(
        """SELECT c.relname, c.relreplident,
                  (SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                    WHERE x.indrelid = c.oid AND x.indisreplident LIMIT 1),
                  coalesce((SELECT x.indisvalid AND x.indisready FROM pg_index x
                             WHERE x.indrelid = c.oid AND x.indisreplident LIMIT 1), false),
                  EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
              AND (%s::text[] IS NULL OR c.relname = ANY(%s::text[]))""", (tables, tables)).fetchall()
    return {t: Identity(t, str(m), ix, bool(valid), bool(pk)) for t, m, ix, valid, pk in rows}


def published_tables(conn: Conn) -> list[str]:
    """Tables of schema public in zbugs' publication, whatever it publishes (read from the catalog)."""
    return [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = %s AND schemaname = 'public' ORDER BY 1",
        (PUBLICATION,)).fetchall()]


@dataclass(frozen=True)
class Problem:
    table: str
    what: str  # one line: what is wrong
    repair: str  # SQL that repairs it (or, without a primary key, what to do)
    repairable: bool  # `repair` is SQL the loader may run as it is


def _primary_key_sql(table: str) -> str:
    cols = INDEXES.get(f"{table}_pkey")
    if cols is None:
        return f"add a primary key to {qt(table)}"
    return (f"ALTER TABLE {qt(table)} ADD CONSTRAINT {qi(table + '_pkey')} PRIMARY KEY "
            f"({', '.join(qi(c) for c in cols.columns)})")


def problem(ident: Identity) -> Problem | None:
    """What stops UPDATE/DELETE of a published table with this identity from replicating, if anything."""
    t = ident.table
    default = f"ALTER TABLE {qt(t)} REPLICA IDENTITY DEFAULT"
    if ident.mode == "f":
        return None
    if ident.mode == "d":
        if ident.has_primary_key:
            return None
        return Problem(t, "replica identity DEFAULT but no primary key (UPDATE/DELETE are refused)",
                       _primary_key_sql(t), False)
    if ident.mode == "n":
        what = "replica identity NOTHING (UPDATE/DELETE are refused)"
    elif ident.index is None:
        what = "replica identity USING INDEX names an index that no longer exists (UPDATE/DELETE are refused)"
    elif not ident.index_valid:
        what = f"replica identity index {ident.index} is not valid (UPDATE/DELETE are refused)"
    else:
        return None
    if ident.has_primary_key:
        return Problem(t, what, default, True)
    return Problem(t, what + " and it has no primary key", f"{_primary_key_sql(t)}; {default}", False)


def problems(conn: Conn) -> list[Problem]:
    """The published tables whose replica identity cannot replicate UPDATE/DELETE, in table order."""
    found = identities(conn, published_tables(conn))
    return [p for t in sorted(found) if (p := problem(found[t])) is not None]


def repair(conn: Conn) -> tuple[list[str], list[Problem]]:
    """Set DEFAULT where a table's identity is unusable but it has a primary key (the caller commits).

    Returns (the statements run, the problems left that need a primary key first)."""
    done: list[str] = []
    left: list[Problem] = []
    for p in problems(conn):
        if p.repairable:
            conn.execute(p.repair)
            done.append(p.repair)
        else:
            left.append(p)
    return done, left
