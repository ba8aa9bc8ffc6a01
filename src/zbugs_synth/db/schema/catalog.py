"""The catalog rows of schema public's foreign keys, indexes and user triggers, read by one query
each: the schema contract check (db.schema) and the loader's save-and-rebuild (db.load.objects)
both use them, each taking the fields it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class ForeignKeyRow:
    name: str
    table: str
    ref_table: str
    ref_schema: str  # the referenced table's schema (the child's is always public)
    definition: str | None  # pg_get_constraintdef: FOREIGN KEY (...) REFERENCES ... (None: not asked for)
    validated: bool
    # No enforcement trigger of the key is disabled (ALTER TABLE ... DISABLE TRIGGER ALL): rows
    # written now are checked. Validated and enforced: no row can be an orphan (see db.verify).
    enforced: bool
    on_delete: str  # pg_constraint.confdeltype: a, r, c, n, d
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexRow:
    name: str
    table: str
    table_kind: str  # pg_class.relkind of the table: r (plain), p (partitioned), m ...
    definition: str | None  # pg_get_indexdef (None: not asked for)
    unique: bool
    primary: bool
    key_columns: tuple[str, ...]  # expression columns left out
    include_columns: tuple[str, ...]  # INCLUDE (...)
    expressions: bool  # some key is an expression
    constraint: str | None  # the primary key / unique / exclusion constraint it backs
    constraint_type: str | None  # p, u, x
    constraint_def: str | None  # (None also when not asked for)
    deferrable: bool
    deferred: bool


@dataclass(frozen=True)
class TriggerRow:
    table: str
    name: str
    type: int  # pg_trigger.tgtype bits: row-level, BEFORE, INSERT, DELETE, UPDATE ...
    enabled: str  # pg_trigger.tgenabled: O, D, R, A


# Column names of a constraint's (or an index's) attribute numbers, in their order.
_ATTNAMES = """array(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(n, i)
                       JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n {where} ORDER BY k.i)"""


def _def(function: str, definitions: bool) -> str:
    """pg_get_*def(oid) wait for a lock that another session's ALTER or LOCK TABLE holds on the
    table: whoever only compares names and columns (the contract check) does not call them."""
    return function if definitions else "NULL"


def foreign_keys(conn: psycopg.Connection[Any], *, definitions: bool = False) -> list[ForeignKeyRow]:
    """The foreign keys of the tables in schema public, by table and name (`definitions`: with
    pg_get_constraintdef)."""
    rows = conn.execute(
        f"""SELECT c.conname, t.relname, r.relname, rn.nspname, {_def("pg_get_constraintdef(c.oid)", definitions)},
                   c.convalidated,
                   NOT EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgconstraint = c.oid AND tg.tgenabled = 'D'),
                   c.confdeltype, {_ATTNAMES.format(keys="c.conkey", rel="c.conrelid", where="")},
                   {_ATTNAMES.format(keys="c.confkey", rel="c.confrelid", where="")}
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
              JOIN pg_class r ON r.oid = c.confrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
              JOIN pg_namespace rn ON rn.oid = r.relnamespace
             WHERE c.contype = 'f' AND n.nspname = 'public'
             ORDER BY t.relname, c.conname""").fetchall()
    return [ForeignKeyRow(name, table, ref, ref_schema, definition, bool(validated), bool(enforced), str(on_delete),
                          tuple(cols), tuple(ref_cols))
            for name, table, ref, ref_schema, definition, validated, enforced, on_delete, cols, ref_cols in rows]


def indexes(conn: psycopg.Connection[Any], *, definitions: bool = False) -> list[IndexRow]:
    """The indexes on the tables in schema public, by table and name (`definitions`: with
    pg_get_indexdef, and pg_get_constraintdef for the constraint an index backs)."""
    rows = conn.execute(
        f"""SELECT i.relname, t.relname, t.relkind, {_def("pg_get_indexdef(i.oid)", definitions)},
                   x.indisunique, x.indisprimary,
                   {_ATTNAMES.format(keys="x.indkey", rel="t.oid", where="WHERE k.i <= x.indnkeyatts")},
                   {_ATTNAMES.format(keys="x.indkey", rel="t.oid", where="WHERE k.i > x.indnkeyatts")},
                   x.indexprs IS NOT NULL,
                   con.conname, con.contype, {_def("pg_get_constraintdef(con.oid)", definitions)},
                   con.condeferrable, con.condeferred
              FROM pg_index x
              JOIN pg_class i ON i.oid = x.indexrelid
              JOIN pg_class t ON t.oid = x.indrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
              LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = t.oid
                                         AND con.contype IN ('p', 'u', 'x')
             WHERE n.nspname = 'public'
             ORDER BY t.relname, i.relname""").fetchall()
    return [IndexRow(name, table, str(kind), definition, bool(unique), bool(primary), tuple(keys), tuple(incl),
                     bool(exprs), con, None if contype is None else str(contype), condef, bool(deferrable),
                     bool(deferred))
            for (name, table, kind, definition, unique, primary, keys, incl, exprs, con, contype, condef,
                 deferrable, deferred) in rows]


def triggers(conn: psycopg.Connection[Any]) -> list[TriggerRow]:
    """The user (not internal) triggers on the tables in schema public, by table and name."""
    rows = conn.execute(
        """SELECT t.relname, tg.tgname, tg.tgtype, tg.tgenabled
             FROM pg_trigger tg
             JOIN pg_class t ON t.oid = tg.tgrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE NOT tg.tgisinternal AND n.nspname = 'public'
            ORDER BY t.relname, tg.tgname""").fetchall()
    return [TriggerRow(table, name, int(tgtype), str(enabled)) for table, name, tgtype, enabled in rows]


def trigger_definition(conn: psycopg.Connection[Any], table: str, name: str) -> str:
    """pg_get_triggerdef of a trigger on a table of schema public (it waits for locks on the table, as
    the other definitions do: only the loader asks)."""
    row = conn.execute(
        """SELECT pg_get_triggerdef(tg.oid)
             FROM pg_trigger tg
             JOIN pg_class t ON t.oid = tg.tgrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public' AND t.relname = %s AND tg.tgname = %s""", (table, name)).fetchone()
    return str(row[0]) if row else ""


def missing_tables(conn: psycopg.Connection[Any], tables: list[str]) -> list[str]:
    """Which of the public schema's `tables` do not exist."""
    rows = conn.execute("SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(format('public.%%I', t)) IS NULL",
                        (tables,)).fetchall()
    return [str(r[0]) for r in rows]
