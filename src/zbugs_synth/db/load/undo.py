"""Taking a load's rows out again (ZERO_SEED_RESET, or a CSV the server rejected)."""

from __future__ import annotations

from typing import Any

import psycopg

from zbugs_synth.db.names import qt

Conn = psycopg.Connection[Any]


def delete_rows(conn: Conn, table: str, where: str, params: tuple[Any, ...]) -> None:
    """DELETE FROM table WHERE `where`, inside the caller's transaction, whatever its keys' state.

    The zbugs tables are published with deletes, and PostgreSQL refuses DELETE on a published table
    without a replica identity, which is the case while its primary key is dropped. Then the
    identity is set to FULL for the delete and put back; where the publication lists columns
    ("user": no email), FULL is refused too and the rows to keep are copied aside, the table
    truncated (no identity needed) and the rows put back.
    """
    try:
        with conn.transaction():
            conn.execute(f"DELETE FROM {qt(table)} WHERE {where}", params)
        return
    except psycopg.errors.ObjectNotInPrerequisiteState:
        pass
    row = conn.execute("SELECT relreplident FROM pg_class WHERE oid = %s::regclass", (qt(table),)).fetchone()
    back = {"d": "DEFAULT", "f": "FULL", "n": "NOTHING"}.get(str(row[0]) if row else "d", "DEFAULT")
    try:
        with conn.transaction():
            conn.execute(f"ALTER TABLE {qt(table)} REPLICA IDENTITY FULL")
            conn.execute(f"DELETE FROM {qt(table)} WHERE {where}", params)
            conn.execute(f"ALTER TABLE {qt(table)} REPLICA IDENTITY {back}")
        return
    except (psycopg.errors.InvalidColumnReference, psycopg.errors.ObjectNotInPrerequisiteState):
        pass
    conn.execute(f"CREATE TEMP TABLE zbugs_seed_keep AS SELECT * FROM {qt(table)} WHERE NOT ({where})", params)
    conn.execute(f"TRUNCATE {qt(table)}")
    conn.execute(f"INSERT INTO {qt(table)} SELECT * FROM zbugs_seed_keep")
    conn.execute("DROP TABLE zbugs_seed_keep")
