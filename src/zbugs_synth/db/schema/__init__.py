"""The zbugs schema contract as data, and a catalog check against it.

`differences(conn)` reads the live catalog and lists every way the database differs from the
contract in docs (zbugs-schema.md): columns (type, nullability, default), the shortID identity,
indexes, foreign keys, triggers (present *and enabled*: a bulk load that forgot to re-enable them
shows up here) and the publication. An empty list means "indistinguishable from zbugs' own".
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from zbugs_synth.db.schema import catalog
from zbugs_synth.tables import (
    COLUMNS,
    FOREIGN_KEYS,
    IDENTITY,
    INDEXES,
    NOW_MS,
    PUBLICATION,
    PUBLISHED,
    TRIGGERS,
    ZERO_PROJECT_ID,
    Column,
    ForeignKey,
    Index,
)

# The contract itself lives in zbugs_synth.tables; these names are this module's API too.
__all__ = [
    "COLUMNS", "FOREIGN_KEYS", "IDENTITY", "INDEXES", "PUBLICATION", "PUBLISHED", "TRIGGERS", "ZERO_PROJECT_ID",
    "Column", "ForeignKey", "Index", "differences",
]


# ---- reading the catalog -------------------------------------------------------------------------

def _normalise_default(expr: str | None) -> str | None:
    """Server-version-independent form of a column default."""
    if expr is None:
        return None
    if re.search(r"EXTRACT\(epoch FROM CURRENT_TIMESTAMP\) \* \(?1000\)?(::numeric)?", expr):
        return NOW_MS
    return re.sub(r"::character varying$", "", expr)


def columns(conn: psycopg.Connection[Any], table: str) -> list[Column]:
    rows = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid)
             FROM pg_attribute a
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace ns ON ns.oid = c.relnamespace
            WHERE ns.nspname = 'public' AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""", (table,)).fetchall()
    return [Column(n, t, nn, _normalise_default(d)) for n, t, nn, d in rows]


def indexes(conn: psycopg.Connection[Any]) -> dict[str, Index]:
    return {r.name: Index(r.table, r.key_columns + r.include_columns, r.unique)
            for r in catalog.indexes(conn) if r.table_kind == "r"}


def foreign_keys(conn: psycopg.Connection[Any]) -> dict[str, ForeignKey]:
    actions = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
    return {r.name: ForeignKey(r.table, r.columns, r.ref_table, r.ref_columns, actions[r.on_delete])
            for r in catalog.foreign_keys(conn)}


def triggers(conn: psycopg.Connection[Any]) -> dict[tuple[str, str, str], bool]:
    """(table, timing, events) -> enabled, for the user row-level triggers on public tables."""
    found: dict[tuple[str, str, str], bool] = {}
    for r in catalog.triggers(conn):
        if not r.type & 1:  # statement-level: not part of the contract
            continue
        timing = "BEFORE" if r.type & 2 else "AFTER"
        events = " OR ".join(e for bit, e in ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE")) if r.type & bit)
        key = (r.table, timing, events)
        found[key] = found.get(key, True) and r.enabled != "D"
    return found


def published(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, ...] | None]:
    """table -> published column list (None when the publication has no column list for it)."""
    rows = conn.execute(
        """SELECT c.relname, pr.prattrs IS NOT NULL,
                  array(SELECT a.attname FROM unnest(pr.prattrs) k(n)
                          JOIN pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.n ORDER BY a.attnum)
             FROM pg_publication p
             JOIN pg_publication_rel pr ON pr.prpubid = p.oid
             JOIN pg_class c ON c.oid = pr.prrelid
            WHERE p.pubname = %s""", (PUBLICATION,)).fetchall()
    return {t: tuple(cols) if has_list else None for t, has_list, cols in rows}


def identity(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    row = conn.execute(
        """SELECT a.attidentity, s.relname, q.seqstart, q.seqincrement, q.seqmin, q.seqmax
             FROM pg_attribute a
             JOIN pg_depend d ON d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
             JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             JOIN pg_sequence q ON q.seqrelid = s.oid
            WHERE a.attrelid = to_regclass('public.issue') AND a.attname = 'shortID'""").fetchone()
    if row is None:
        return None
    kind, seq, start, inc, lo, hi = row
    return {"table": "issue", "column": "shortID", "kind": kind, "sequence": seq,
            "start": start, "increment": inc, "min": lo, "max": hi}


# ---- comparing -----------------------------------------------------------------------------------

def differences(conn: psycopg.Connection[Any]) -> list[str]:
    """Every way the database behind `conn` differs from the contract (empty: it matches)."""
    out: list[str] = []
    present = {r[0] for r in conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchall()}
    for table, expected in COLUMNS.items():
        if table not in present:
            out.append(f"table {table!r} is missing")
            continue
        actual = columns(conn, table)
        if actual != list(expected):
            out.append(f"table {table!r} columns differ: expected {_cols(expected)}, found {_cols(actual)}")
    out += [f"unexpected table {t!r} in schema public" for t in sorted(present - COLUMNS.keys())]
    if (ident := identity(conn)) != IDENTITY:
        out.append(f"issue.shortID identity differs: expected {IDENTITY}, found {ident}")
    out += _compare("index", INDEXES, indexes(conn))
    out += _compare("foreign key", FOREIGN_KEYS, foreign_keys(conn))
    # Definitions can match while the object does not do its job: a failed CREATE INDEX leaves an
    # invalid index, ADD CONSTRAINT ... NOT VALID a key that never checked the existing rows.
    out += [f"index {n!r} is not valid (a failed build: drop and recreate it)" for (n,) in conn.execute(
        """SELECT i.relname FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
             JOIN pg_namespace ns ON ns.oid = i.relnamespace
            WHERE ns.nspname = 'public' AND NOT (ix.indisvalid AND ix.indisready) ORDER BY 1""").fetchall()]
    out += [f"foreign key {n!r} is NOT VALID (existing rows were never checked)" for (n,) in conn.execute(
        """SELECT c.conname FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace
            WHERE ns.nspname = 'public' AND c.contype = 'f' AND NOT c.convalidated ORDER BY 1""").fetchall()]
    found = triggers(conn)
    out += [f"trigger {t} {w} {e} is missing" for t, w, e in sorted(TRIGGERS - found.keys())]
    out += [f"trigger {t} {w} {e} is disabled" for (t, w, e), on in sorted(found.items()) if not on]
    out += [f"unexpected trigger {t} {w} {e}" for t, w, e in sorted(found.keys() - TRIGGERS)]
    out += _compare(f"publication {PUBLICATION} table", PUBLISHED, published(conn))
    return out


def _compare(kind: str, expected: dict[Any, Any], actual: dict[Any, Any]) -> list[str]:
    out = [f"{kind} {k!r} is missing" for k in expected if k not in actual]
    out += [f"{kind} {k!r}: expected {expected[k]}, found {actual[k]}"
            for k in expected if k in actual and actual[k] != expected[k]]
    out += [f"unexpected {kind} {k!r}: {actual[k]}" for k in actual if k not in expected]
    return out


def _cols(cols: Any) -> str:
    return ", ".join(f"{c.name} {c.type}{' NOT NULL' if c.not_null else ''}"
                     f"{f' DEFAULT {c.default}' if c.default else ''}" for c in cols)
