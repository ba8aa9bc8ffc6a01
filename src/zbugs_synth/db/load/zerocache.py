"""Is a zero-cache replicating this database? What a load does to it, said before the load starts.

zero-cache replicates through a logical replication slot (pgoutput) on the upstream database; it
also creates its own schemas (named after its app id, e.g. `zero`, `zero_0`) and event triggers
that report schema changes. What matters to a load:

- an ACTIVE slot (a walsender is streaming it): zero-cache is running. A seed/force/reset rewrites
  the tables under it (TRUNCATE, dropped keys): refused unless ZERO_SEED_IGNORE_ACTIVE_SLOT, with the
  advice to stop zero-cache first (it resyncs from scratch on start). An append goes ahead: zero-cache
  streams the new rows as inserts; no index is rebuilt then (DDL would reach it as schema changes).
- an INACTIVE slot: zero-cache is stopped, but PostgreSQL keeps every WAL segment written after the
  slot's restart point until the slot is consumed or dropped. A load writes WAL for its rows and its
  indexes, about 1.75x the bytes of its data files: that much disk stays pinned. Said, with the
  statement that drops the slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]

# WAL a load writes at wal_level=logical per byte of its data files: the rows (as big in the heap as
# in CSV, give or take) plus every index, about 0.7 more (the database is 1.68x its CSV at 1 M and
# 10 M issues). A walkthrough saw 311 MB kept for 178.5 MB of CSV (1.74x).
WAL_PER_DATA_BYTE = 1.75


@dataclass(frozen=True)
class Slot:
    name: str
    plugin: str
    active: bool
    retained: int  # bytes of WAL kept for it now (current LSN - restart LSN)


@dataclass
class ZeroCache:
    slots: list[Slot] = field(default_factory=list)  # logical slots of this database
    schemas: list[str] = field(default_factory=list)  # zero-cache's own schemas here
    event_triggers: list[str] = field(default_factory=list)  # its event triggers
    senders: int = 0  # walsenders streaming from this database's logical slots

    @property
    def active(self) -> list[Slot]:
        return [s for s in self.slots if s.active]

    @property
    def inactive(self) -> list[Slot]:
        return [s for s in self.slots if not s.active]

    @property
    def present(self) -> bool:
        return bool(self.slots or self.schemas or self.event_triggers)


def detect(conn: Conn) -> ZeroCache:
    """Read-only: slots, zero's schemas and event triggers (catalog views anyone may read)."""
    found = ZeroCache()
    for name, plugin, active, retained in conn.execute(
            """SELECT slot_name::text, coalesce(plugin::text, ''), active,
                      coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint
                 FROM pg_replication_slots
                WHERE slot_type = 'logical' AND database = current_database()
                ORDER BY slot_name""").fetchall():
        found.slots.append(Slot(str(name), str(plugin), bool(active), int(retained)))
    # zero-cache's schemas: "<app>" with its "schemaVersions"/"permissions" tables, and "<app>_<shard>"
    # with "clients"/"replicas"; recognised by those tables, not by name alone.
    found.schemas = [r[0] for r in conn.execute(
        """SELECT DISTINCT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND c.relname IN ('schemaVersions', 'permissions', 'clients', 'replicas',
                                                   'shardConfig', 'versionHistory')
              AND n.nspname NOT IN ('public', 'pg_catalog', 'information_schema', 'zbugs_synth')
            ORDER BY 1""").fetchall()]
    found.event_triggers = [r[0] for r in conn.execute(
        "SELECT evtname::text FROM pg_event_trigger WHERE evtname LIKE 'zero%' ORDER BY 1").fetchall()]
    row = conn.execute("SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s "
                       "ON s.active_pid = r.pid WHERE s.slot_type = 'logical' "
                       "AND s.database = current_database()").fetchone()
    found.senders = int(row[0]) if row else 0
    return found


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"  # pragma: no cover


def refusal(zc: ZeroCache, mode: str) -> str:
    names = ", ".join(s.name for s in zc.active)
    what = {"seed": "a seed", "force": "a force load (it empties the zbugs tables)",
            "reset": "a reset (it deletes rows and rebuilds indexes)"}.get(mode, f"a {mode} load")
    return (f"a zero-cache is replicating this database (active logical replication slot {names}): {what} "
            "rewrites the tables under it. Stop zero-cache first (it resyncs from scratch when it starts "
            "again), or set ZERO_SEED_IGNORE_ACTIVE_SLOT=true to load anyway")


def inactive_note(zc: ZeroCache, load_bytes: int) -> list[str]:
    out = []
    for s in zc.inactive:
        out.append(f"warning: logical replication slot {s.name} is inactive (zero-cache stopped?): it keeps "
                   f"every WAL segment written after it ({size_text(s.retained)} now); this load writes "
                   f"about {size_text(load_bytes * WAL_PER_DATA_BYTE)} more (its rows and its indexes), kept on "
                   "disk until zero-cache consumes it or the slot is "
                   f"dropped: SELECT pg_drop_replication_slot('{s.name}'); (zero-cache then resyncs on start)")
    return out


def streaming_note(zc: ZeroCache) -> str:
    names = ", ".join(s.name for s in zc.active)
    return (f"note: zero-cache is replicating this database (active slot {names}): it will stream the "
            "appended rows as inserts; no index is rebuilt while it runs")


def trace_note(zc: ZeroCache) -> str:
    what = ", ".join([f"schema {s}" for s in zc.schemas] + [f"event trigger {t}" for t in zc.event_triggers])
    return (f"note: a zero-cache has used this database ({what}) but holds no replication slot now: "
            "it copies everything again (initial sync) when it starts")
