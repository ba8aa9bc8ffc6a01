"""The schema objects a bulk load drops and rebuilds: indexes, constraints, foreign keys, trigger states.

Their definitions are read from the catalog (never hard-coded), saved in the database before
anything is dropped, and rebuilt from those saved definitions: whatever the live schema is, it
comes back as it was. The catalog is also the record of what is done: an index that exists is
built, a foreign key that is validated is checked, so a resumed load simply builds what is missing.

Constraint-backed indexes (primary keys, unique constraints) are built as plain unique indexes,
which run concurrently with the table's other index builds (ALTER TABLE ... ADD PRIMARY KEY would
lock the table exclusively for the whole sort), then attached with `ADD CONSTRAINT ... USING INDEX`.
Foreign keys come back `NOT VALID` first and are then validated: validation takes only light
locks, so foreign keys of different tables are checked at the same time.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import psycopg

from zbugs_synth.db.names import qi, qt
from zbugs_synth.db.schema import catalog
from zbugs_synth.db.schema.replica import Identity, identities
from zbugs_synth.errors import UserError
from zbugs_synth.tables import COLUMNS, FOREIGN_KEYS, INDEXES, TABLES

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class SavedIndex:
    table: str
    name: str
    definition: str  # pg_get_indexdef
    columns: tuple[str, ...]  # key columns (empty if any key is an expression)
    unique: bool
    constraint: str | None = None  # the constraint this index backs, if any
    constraint_type: str | None = None  # 'p' primary key, 'u' unique, 'x' exclusion
    constraint_def: str | None = None
    deferrable: bool = False
    deferred: bool = False
    kind: str = "index"

    @property
    def label(self) -> str:
        what = {"p": "primary key", "u": "unique constraint", "x": "exclusion constraint"}.get(
            self.constraint_type or "", "unique index" if self.unique else "index")
        return f"{what} {self.constraint or self.name} on {self.table}"

    def build_sql(self) -> str:
        # IF NOT EXISTS: a backend orphaned by a killed run may have finished the same build.
        return re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX IF NOT EXISTS ", self.definition, count=1)

    def attach_sql(self) -> str | None:
        if self.constraint is None:
            return None
        if self.constraint_type == "x":  # no USING INDEX form: the constraint builds its own index
            return f"ALTER TABLE {qt(self.table)} ADD CONSTRAINT {qi(self.constraint)} {self.constraint_def}"
        kind = "PRIMARY KEY" if self.constraint_type == "p" else "UNIQUE"
        tail = (" DEFERRABLE" + (" INITIALLY DEFERRED" if self.deferred else "")) if self.deferrable else ""
        return (f"ALTER TABLE {qt(self.table)} ADD CONSTRAINT {qi(self.constraint)} {kind} "
                f"USING INDEX {qi(self.name)}{tail}")

    def drop_sql(self) -> str:
        if self.constraint is not None:
            return f"ALTER TABLE {qt(self.table)} DROP CONSTRAINT {qi(self.constraint)}"
        return f"DROP INDEX public.{qi(self.name)}"


@dataclass(frozen=True)
class SavedForeignKey:
    table: str
    name: str
    ref_table: str
    definition: str  # pg_get_constraintdef: FOREIGN KEY (...) REFERENCES ...
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    validated: bool
    kind: str = "fk"

    @property
    def label(self) -> str:
        return f"foreign key {self.name} on {self.table}"

    def add_sql(self, *, not_valid: bool = True) -> str:
        definition = self.definition
        if not_valid and not definition.endswith("NOT VALID"):
            definition += " NOT VALID"
        return f"ALTER TABLE {qt(self.table)} ADD CONSTRAINT {qi(self.name)} {definition}"

    def validate_sql(self) -> str:
        return f"ALTER TABLE {qt(self.table)} VALIDATE CONSTRAINT {qi(self.name)}"

    def drop_sql(self) -> str:
        return f"ALTER TABLE {qt(self.table)} DROP CONSTRAINT {qi(self.name)}"


@dataclass(frozen=True)
class SavedTrigger:
    """A trigger the load turns off: disabled, or, with a definition, dropped and created again.

    A BEFORE ROW INSERT trigger, even disabled, makes COPY insert row by row (PostgreSQL buffers rows
    only for tables without one): slower, and a COPY FREEZE then leaves no page all-visible, so every
    later reader (verify, VACUUM, index-only scans) pays for it. Where the load drops indexes it drops
    those triggers too (pg_get_triggerdef saved beside the state)."""

    table: str
    name: str
    state: str  # pg_trigger.tgenabled: O (on), D (disabled), R (replica), A (always)
    kind: str = "trigger"
    definition: str | None = None  # set: dropped for the load, created again from this

    def restore_sql(self) -> str:
        verb = {"O": "ENABLE", "D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[self.state]
        return f"ALTER TABLE {qt(self.table)} {verb} TRIGGER {qi(self.name)}"

    def drop_sql(self) -> str:
        return f"DROP TRIGGER {qi(self.name)} ON {qt(self.table)}"


@dataclass(frozen=True)
class SavedOptions:
    """A table's autovacuum_enabled storage parameter, turned off while loading."""

    table: str
    autovacuum: str | None  # as it was (None: not set)
    kind: str = "options"

    def off_sql(self) -> str:
        return f"ALTER TABLE {qt(self.table)} SET (autovacuum_enabled = false)"

    def restore_sql(self) -> str:
        if self.autovacuum is None:
            return f"ALTER TABLE {qt(self.table)} RESET (autovacuum_enabled)"
        return f"ALTER TABLE {qt(self.table)} SET (autovacuum_enabled = {self.autovacuum})"


@dataclass(frozen=True)
class SavedIdentity:
    """A table's replica identity (pg_class.relreplident and, for USING INDEX, the index's name).

    zero-cache may have set USING INDEX on a unique index the load drops; dropping it would leave the
    identity naming nothing (UPDATE/DELETE refused). So before such an index is dropped the identity
    goes to DEFAULT, and once the index is rebuilt it is set back to exactly what was saved."""

    table: str
    mode: str  # d, f, n, i
    index: str | None
    kind: str = "identity"

    def restore_sql(self) -> str:
        return Identity(self.table, self.mode, self.index, True, True).sql()

    def default_sql(self) -> str:
        return f"ALTER TABLE {qt(self.table)} REPLICA IDENTITY DEFAULT"


Saved = SavedIndex | SavedForeignKey | SavedTrigger | SavedOptions | SavedIdentity
_KINDS: dict[str, type[Any]] = {"index": SavedIndex, "fk": SavedForeignKey, "trigger": SavedTrigger,
                                "options": SavedOptions, "identity": SavedIdentity}


# ---- what may be replayed ------------------------------------------------------------------------
#
# The saved definitions live in zbugs_synth.seed_objects and are run as DDL when a load rebuilds what
# it dropped. Why that is safe:
# 1. Only the owner of schema zbugs_synth (the role that ran db-migrate) and superusers can write it:
#    migration 0004 revokes everything from PUBLIC, and nothing is granted.
# 2. Even so, nothing is replayed unless it is exactly what the loader writes: `validated` accepts an
#    index only as `CREATE [UNIQUE] INDEX <name> ON public.<zbugs table> USING btree (<columns>)`
#    (plain column names, no expressions, predicates or options: nothing that could call a function
#    or end the statement), a foreign key only as `FOREIGN KEY (<columns>) REFERENCES <zbugs
#    table>(<columns>)` with the standard actions, and both must agree with the structured fields
#    saved beside them and, for the contract's own objects, with zbugs_synth.tables. Every other
#    statement (attach, drop, trigger state, identity, options) is built here from names quoted by
#    psycopg and values from fixed sets. `capture` never drops an object that would not pass: such an
#    index or constraint just stays in place during the load.

_IDENT = r'(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")'
_IDENTS = rf"{_IDENT}(?:, {_IDENT})*"
_INDEX_DEF = re.compile(rf"^CREATE (UNIQUE )?INDEX ({_IDENT}) ON public\.({_IDENT}) USING btree \(({_IDENTS})\)$")
_FK_DEF = re.compile(
    rf"^FOREIGN KEY \(({_IDENTS})\) REFERENCES (?:public\.)?({_IDENT})\(({_IDENTS})\)"
    r"(?: ON (?:UPDATE|DELETE) (?:CASCADE|RESTRICT|SET NULL|SET DEFAULT|NO ACTION))*"
    r"(?: DEFERRABLE(?: INITIALLY (?:DEFERRED|IMMEDIATE))?)?(?: NOT VALID)?$")
# What pg_get_triggerdef prints for the row triggers worth dropping: no WHEN clause, no arguments.
_BEFORE_INSERT_DEF = re.compile(
    rf"^CREATE TRIGGER ({_IDENT}) BEFORE INSERT(?: OR (?:UPDATE|DELETE))* ON public\.({_IDENT}) "
    rf"FOR EACH ROW EXECUTE FUNCTION (?:public\.)?{_IDENT}\(\)$")
_AUTOVACUUM = {None, "true", "false", "on", "off", "yes", "no", "1", "0"}


class UnsafeSavedObject(UserError):
    """A saved definition the loader would not have written: it is never replayed."""


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _names(text: str) -> tuple[str, ...]:
    return tuple(_unquote(m.group(0)) for m in re.finditer(_IDENT, text))


def _problem(obj: Saved) -> str | None:
    """Why `obj` must not be replayed, or None when it is one the loader writes."""
    if isinstance(obj, SavedIndex):
        m = _INDEX_DEF.match(obj.definition)
        if obj.table not in TABLES or m is None:
            return "not a plain CREATE INDEX on a zbugs table"
        if (_unquote(m.group(2)), _unquote(m.group(3)), _names(m.group(4)), bool(m.group(1))) != \
                (obj.name, obj.table, obj.columns, obj.unique):
            return "its definition does not match its name, table or columns"
        if obj.constraint_type not in (None, "p", "u"):
            return "an exclusion constraint"
        c = INDEXES.get(obj.name)
        if c is not None and (c.table, c.columns, c.unique) != (obj.table, obj.columns, obj.unique):
            return "it differs from zbugs' contract for that index"
        return None
    if isinstance(obj, SavedForeignKey):
        m = _FK_DEF.match(obj.definition)
        if obj.table not in COLUMNS or obj.ref_table not in COLUMNS or m is None:
            return "not a plain FOREIGN KEY between zbugs tables"
        if (_names(m.group(1)), _unquote(m.group(2)), _names(m.group(3))) != \
                (obj.columns, obj.ref_table, obj.ref_columns):
            return "its definition does not match its columns or referenced table"
        c = FOREIGN_KEYS.get(obj.name)
        if c is not None and (c.table, c.columns, c.ref_table, c.ref_columns) != \
                (obj.table, obj.columns, obj.ref_table, obj.ref_columns):
            return "it differs from zbugs' contract for that foreign key"
        return None
    if isinstance(obj, SavedTrigger):
        if obj.table not in COLUMNS or obj.state not in ("O", "D", "R", "A"):
            return "not a zbugs trigger state"
        if obj.definition is None:
            return None
        m = _BEFORE_INSERT_DEF.match(obj.definition)
        if m is None:
            return "not a plain BEFORE INSERT row trigger on a zbugs table"
        if (_unquote(m.group(1)), _unquote(m.group(2))) != (obj.name, obj.table):
            return "its definition does not match its name or table"
        return None
    if isinstance(obj, SavedOptions):
        return None if obj.table in COLUMNS and obj.autovacuum in _AUTOVACUUM else "not an autovacuum setting"
    if isinstance(obj, SavedIdentity):
        ok = obj.table in COLUMNS and obj.mode in ("d", "f", "n", "i")
        return None if ok else "not a replica identity of a zbugs table"
    return "unknown kind"  # pragma: no cover


def validated(obj: Saved) -> Saved:
    """`obj`, if it may be replayed; else UnsafeSavedObject (see the comment above)."""
    why = _problem(obj)
    if why is not None:
        label = getattr(obj, "name", obj.table)
        raise UnsafeSavedObject(
            f"refusing to replay {obj.kind} {label!r} saved in zbugs_synth.seed_objects: {why}. The loader "
            "never writes that: the table was changed by something else; restore the schema by hand "
            "(db-migrate's SQL shows zbugs' own) and delete the open load from zbugs_synth.seed_runs")
    return obj


def to_json(obj: Saved) -> dict[str, Any]:
    return asdict(obj)


def from_json(data: dict[str, Any]) -> Saved:
    cls = _KINDS[data["kind"]]
    fields = dict(data)
    for key in ("columns", "ref_columns"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return cls(**fields)  # type: ignore[no-any-return]


# ---- reading the catalog -------------------------------------------------------------------------

_ROW_BEFORE_INSERT = 1 | 2 | 4  # pg_trigger.tgtype bits: ROW, BEFORE, INSERT


def capture(conn: Conn, tables: tuple[str, ...], *, include_primary_keys: bool,
            autovacuum_off: bool = False, drop_before_triggers: bool = False) -> list[Saved]:
    """Every object a bulk load of `tables` drops, in drop order (foreign keys first); with
    `drop_before_triggers` (loads that rebuild everything) BEFORE INSERT row triggers are dropped
    rather than disabled (see SavedTrigger)."""
    out: list[Saved] = []
    wanted = set(tables)
    for f in catalog.foreign_keys(conn, definitions=True):
        if f.ref_schema != "public" or not {f.table, f.ref_table} & wanted:
            continue
        fk = SavedForeignKey(f.table, f.name, f.ref_table, f.definition or "", f.columns, f.ref_columns, f.validated)
        if _problem(fk) is None:  # one that could not be replayed is not dropped either
            out.append(fk)
    for x in catalog.indexes(conn, definitions=True):
        if x.table not in wanted or (x.primary and not include_primary_keys):
            continue
        ix = SavedIndex(x.table, x.name, x.definition or "", () if x.expressions else x.key_columns, x.unique,
                        x.constraint, x.constraint_type, x.constraint_def, x.deferrable, x.deferred)
        if _problem(ix) is None:  # an expression or partial index, say: left in place, not replayed
            out.append(ix)
    for t in catalog.triggers(conn):
        if t.table not in wanted:
            continue
        trigger = SavedTrigger(t.table, t.name, t.enabled)
        if drop_before_triggers and t.type & _ROW_BEFORE_INSERT == _ROW_BEFORE_INSERT:
            dropped = replace(trigger, definition=catalog.trigger_definition(conn, t.table, t.name))
            if _problem(dropped) is None:  # anything else (a WHEN clause, arguments) is only disabled
                trigger = dropped
        out.append(trigger)
    out += [SavedIdentity(t, i.mode, i.index if i.mode == "i" else None)
            for t, i in sorted(identities(conn, list(tables)).items())]
    if autovacuum_off:
        options = _autovacuum(conn)
        out += [SavedOptions(t, options.get(t)) for t in tables]
    return out


def _autovacuum(conn: Conn) -> dict[str, str | None]:
    """table -> its autovacuum_enabled storage parameter (absent: not set)."""
    out: dict[str, str | None] = {}
    for table, opts in conn.execute(
            "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchall():
        value = next((o.split("=", 1)[1] for o in opts or [] if o.startswith("autovacuum_enabled=")), None)
        out[table] = value
    return out


@dataclass
class Present:
    """What of the saved objects the catalog has right now."""

    indexes: set[str]  # index names in schema public
    constraints: dict[tuple[str, str], bool]  # (table, name) -> validated
    triggers: dict[tuple[str, str], str]  # (table, name) -> tgenabled
    autovacuum: dict[str, str | None]  # table -> autovacuum_enabled storage parameter
    identity: dict[str, Identity]  # table -> replica identity

    def has_index(self, ix: SavedIndex) -> bool:
        return ix.name in self.indexes or (ix.constraint is not None and (ix.table, ix.constraint) in self.constraints)

    def attached(self, ix: SavedIndex) -> bool:
        return ix.constraint is None or (ix.table, ix.constraint) in self.constraints

    def has_fk(self, fk: SavedForeignKey) -> bool:
        return (fk.table, fk.name) in self.constraints

    def fk_done(self, fk: SavedForeignKey) -> bool:
        return self.constraints.get((fk.table, fk.name), False) or (self.has_fk(fk) and not fk.validated)


def present(conn: Conn) -> Present:
    indexes = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('i', 'I')").fetchall()}
    constraints = {(t, n): bool(v) for t, n, v in conn.execute(
        "SELECT t.relname, c.conname, c.convalidated FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' "
        "AND c.contype IN ('p', 'u', 'x', 'f')").fetchall()}
    triggers = {(t.table, t.name): t.enabled for t in catalog.triggers(conn)}
    return Present(indexes, constraints, triggers, _autovacuum(conn), identities(conn))


def drop_statements(saved: list[Saved], now: Present) -> list[str]:
    """SQL that takes the schema to the bulk-load state: saved FKs and indexes gone, triggers off."""
    out: list[str] = []
    for obj in saved:
        if isinstance(obj, SavedForeignKey) and now.has_fk(obj):
            out.append(obj.drop_sql())
    # An identity index about to be dropped: DEFAULT first, so the identity never names a dropped index.
    dropping = {o.name for o in saved if isinstance(o, SavedIndex) and now.has_index(o)}
    for table, ident in sorted(now.identity.items()):
        if ident.mode == "i" and ident.index in dropping:
            out.append(f"ALTER TABLE {qt(table)} REPLICA IDENTITY DEFAULT")
    for obj in saved:
        if isinstance(obj, SavedIndex) and now.has_index(obj):
            if obj.constraint is not None and (obj.table, obj.constraint) not in now.constraints:
                out.append(f"DROP INDEX public.{qi(obj.name)}")  # built but not attached yet
            else:
                out.append(obj.drop_sql())
    out += [o.drop_sql() for o in saved
            if isinstance(o, SavedTrigger) and o.definition is not None and (o.table, o.name) in now.triggers]
    tables = sorted({o.table for o in saved if isinstance(o, SavedTrigger) and o.definition is None
                     and now.triggers.get((o.table, o.name), "D") != "D"})
    out += [f"ALTER TABLE {qt(t)} DISABLE TRIGGER USER" for t in tables]
    out += [o.off_sql() for o in saved if isinstance(o, SavedOptions) and now.autovacuum.get(o.table) != "false"]
    return out


def restore_statements(saved: list[Saved], now: Present) -> list[str]:
    """Trigger states, table options and replica identities back as saved.

    An identity index that could not be rebuilt (a failed load) is not named: the table keeps
    DEFAULT until a resumed load builds the index and sets it back."""
    out: list[str] = []
    for o in saved:
        if not isinstance(o, SavedTrigger):
            continue
        state = now.triggers.get((o.table, o.name))
        if state is None and o.definition is not None:
            out.append(o.definition)  # created enabled (O); validated when read back (state.reload) or captured
            state = "O"
        if state not in (None, o.state):
            out.append(o.restore_sql())
    for o in saved:
        if not isinstance(o, SavedIdentity) or o.table not in now.identity:
            continue
        cur = now.identity[o.table]
        if cur.mode == o.mode and (o.mode != "i" or cur.index == o.index):
            continue
        if o.mode == "i" and (o.index is None or o.index not in now.indexes):
            continue
        out.append(o.restore_sql())
    out += [o.restore_sql() for o in saved
            if isinstance(o, SavedOptions) and o.table in now.autovacuum and now.autovacuum[o.table] != o.autovacuum]
    return out


# ---- explaining a failed rebuild -----------------------------------------------------------------

def _row_label(conn: Conn, table: str, exclude: tuple[str, ...]) -> str:
    has_id = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id' AND NOT attisdropped",
        (qt(table),)).fetchone()
    return "id" if has_id and "id" not in exclude else "ctid"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def duplicate_sample(conn: Conn, ix: SavedIndex, limit: int = 3) -> str:
    """'lowerCaseName='x' in 2 rows (id: a, b); ...' for a unique index that cannot be built."""
    if not ix.columns:
        return ""
    cols = ", ".join(qi(c) for c in ix.columns)
    label = _row_label(conn, ix.table, ix.columns)
    not_null = " AND ".join(f"{qi(c)} IS NOT NULL" for c in ix.columns)
    rows = conn.execute(
        f"""SELECT {cols}, count(*), (array_agg({label}::text ORDER BY {label}::text))[1:3]
              FROM {qt(ix.table)} WHERE {not_null}
             GROUP BY {cols} HAVING count(*) > 1 ORDER BY count(*) DESC, {cols} LIMIT {int(limit) + 1}"""
    ).fetchall()
    parts = []
    for row in rows[:limit]:
        key = ", ".join(f"{c}={_show(v)}" for c, v in zip(ix.columns, row, strict=False))
        parts.append(f"{key} in {row[-2]} rows ({label}: {', '.join(row[-1])})")
    more = "; and more" if len(rows) > limit else ""
    return "; ".join(parts) + more


def orphan_sample(conn: Conn, fk: SavedForeignKey, limit: int = 3) -> str:
    """'N rows, e.g. issueID='x' (id: a); ...' for a foreign key that cannot be validated."""
    label = _row_label(conn, fk.table, ())
    cols = ", ".join(f"c.{qi(c)}" for c in fk.columns)
    not_null = " AND ".join(f"c.{qi(c)} IS NOT NULL" for c in fk.columns)
    match = " AND ".join(f"p.{qi(r)} = c.{qi(c)}" for c, r in zip(fk.columns, fk.ref_columns, strict=True))
    where = f"{not_null} AND NOT EXISTS (SELECT 1 FROM {qt(fk.ref_table)} p WHERE {match})"
    count = conn.execute(f"SELECT count(*) FROM {qt(fk.table)} c WHERE {where}").fetchone()
    rows = conn.execute(
        f"SELECT {cols}, c.{label}::text FROM {qt(fk.table)} c WHERE {where} LIMIT {int(limit)}").fetchall()
    parts = [", ".join(f"{c}={_show(v)}" for c, v in zip(fk.columns, row, strict=False)) + f" ({label} {row[-1]})"
             for row in rows]
    n = count[0] if count else 0
    return f"{n:,} row(s) of {fk.table} point to no row of {fk.ref_table}, e.g. " + "; ".join(parts) if parts else ""
