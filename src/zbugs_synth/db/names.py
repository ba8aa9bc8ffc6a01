"""SQL identifiers, quoted by psycopg's own rules (the one place the package quotes a name).

Most of the loader's SQL is text (saved DDL is replayed as text, and job labels show it), so these
return strings; code that builds statements with `psycopg.sql` composes `sql.Identifier` directly.
"""

from __future__ import annotations

from psycopg import sql


def qi(name: str) -> str:
    """A quoted identifier: `issueLabel` -> `"issueLabel"`."""
    return sql.Identifier(name).as_string()


def qt(table: str) -> str:
    """A zbugs table, schema-qualified: `issue` -> `"public"."issue"`."""
    return sql.Identifier("public", table).as_string()
