"""The zbugs tables in one place: the schema contract as data (columns, keys, indexes, foreign keys,
triggers, publication; docs: zbugs-schema.md) and the CSV layout zbugs tools exchange (the tables a
dataset holds, in load order, their header columns, shard file names).

Shared by the generator (writes the CSV), the loader (reads it), get-data (trusts nothing but it) and
`db.schema` (compares a live catalog with the contract). No database imports: the generator loads
this module too. The migrations' SQL is this contract's DDL; tests/db/schema check that a migrated
database matches it exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Load order matters: every table comes after the tables its foreign keys point to.
# The guide's six tables; `ALL_TABLES=true` adds the other four of zbugs' schema.
GUIDE_TABLES: tuple[str, ...] = ("user", "project", "label", "issue", "comment", "issueLabel")
EXTRA_TABLES: tuple[str, ...] = ("emoji", "issueNotifications", "viewState", "userPref")
TABLES: tuple[str, ...] = GUIDE_TABLES + EXTRA_TABLES

HEADERS: dict[str, tuple[str, ...]] = {
    "user": ("id", "login", "name", "avatar", "role", "githubID", "email"),
    "project": ("id", "name", "lowerCaseName"),
    "label": ("id", "name", "projectID"),
    "issue": (
        "id", "title", "open", "modified", "created", "creatorID",
        "assigneeID", "description", "visibility", "projectID",
    ),
    "comment": ("id", "issueID", "created", "body", "creatorID"),
    "issueLabel": ("labelID", "issueID", "projectID"),
    "emoji": ("id", "value", "annotation", "subjectID", "creatorID", "created"),
    "issueNotifications": ("userID", "issueID", "subscribed", "created"),
    "viewState": ("userID", "issueID", "viewed"),
    "userPref": ("key", "value", "userID"),
}

# `{table}_{shard}.csv` (shard: 3+ digits) or the unsharded `{table}.csv`.
SHARD_RE = re.compile(r"^(" + "|".join(TABLES) + r")(?:_([0-9]{3,9}))?\.csv$")


@dataclass(frozen=True, order=True)
class ShardName:
    table: str
    shard: int
    name: str


def parse_shard_name(name: str) -> ShardName | None:
    """Return the table and shard number of a dataset file name, or None if it is not one."""
    m = SHARD_RE.match(name)
    if not m:
        return None
    return ShardName(m.group(1), int(m.group(2)) if m.group(2) else 0, name)


def shard_digits(num_shards: int) -> int:
    """Zero-padding width: at least 3, and enough that names sort in shard order."""
    return max(3, len(str(max(num_shards - 1, 0))))


def shard_file_name(table: str, shard: int, digits: int) -> str:
    return f"{table}_{shard:0{digits}d}.csv"


# ---- the schema contract -------------------------------------------------------------------------

ZERO_PROJECT_ID = "iCNlS2qEpzYWEes1RTf-D"
PUBLICATION = "zero_zbugs"
NOW_MS = "now_ms"  # a default of "now in epoch milliseconds", however the server prints it

VC = "character varying"
DP = "double precision"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as format_type() prints it
    not_null: bool = False
    default: str | None = None  # normalised, see db.schema._normalise_default


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"


def _c(name: str, type_: str = VC, not_null: bool = False, default: str | None = None) -> Column:
    return Column(name, type_, not_null, default)


_PROJ = f"'{ZERO_PROJECT_ID}'"
COLUMNS: dict[str, tuple[Column, ...]] = {
    "user": (
        _c("id", not_null=True), _c("login", not_null=True), _c("name"), _c("avatar"),
        _c("role", not_null=True, default="'user'"), _c("githubID", "integer", True), _c("email"),
    ),
    "project": (
        _c("id", not_null=True), _c("name", not_null=True), _c("lowerCaseName", not_null=True, default="''"),
        _c("issueCountEstimate", "integer"), _c("supportsSearch", "boolean", default="true"),
        _c("markURL"), _c("logoURL"),
    ),
    "label": (
        _c("id", not_null=True), _c("name", not_null=True), _c("projectID", not_null=True, default=_PROJ),
    ),
    "issue": (
        _c("id", not_null=True), _c("shortID", "integer", True), _c("title", f"{VC}(128)", True),
        _c("open", "boolean", True), _c("modified", DP, default=NOW_MS), _c("created", DP, default=NOW_MS),
        _c("creatorID", not_null=True), _c("assigneeID"), _c("description", f"{VC}(10240)", default="''"),
        _c("visibility", not_null=True, default="'public'"), _c("projectID", not_null=True, default=_PROJ),
    ),
    "comment": (
        _c("id", not_null=True), _c("issueID"), _c("created", DP), _c("body", "text", True), _c("creatorID"),
    ),
    "issueLabel": (
        _c("labelID", not_null=True), _c("issueID", not_null=True),
        _c("projectID", not_null=True, default=_PROJ),
    ),
    "emoji": (
        _c("id", not_null=True), _c("value", not_null=True), _c("annotation"),
        _c("subjectID", not_null=True), _c("creatorID"), _c("created", DP, default=NOW_MS),
    ),
    "issueNotifications": (
        _c("userID", not_null=True), _c("issueID", not_null=True),
        _c("subscribed", "boolean", default="true"), _c("created", DP, default=NOW_MS),
    ),
    "userPref": (_c("key", not_null=True), _c("value", not_null=True), _c("userID", not_null=True)),
    "viewState": (_c("userID", not_null=True), _c("issueID", not_null=True), _c("viewed", DP)),
}

# shortID: generated BY DEFAULT as identity, from this sequence.
IDENTITY = {"table": "issue", "column": "shortID", "kind": "d", "sequence": "issue_shortID_seq",
            "start": 3000, "increment": 1, "min": 1, "max": 2147483647}

# How many issues a database can hold: shortID is int4, numbered from the identity's start.
MAX_ISSUES = int(IDENTITY["max"]) - int(IDENTITY["start"]) + 1

_ISSUE_IDX = {
    "issue_created_idx": ("created",),
    "issue_shortID_idx": ("shortID",),
    "issue_creatorID_idx": ("creatorID", "id"),
    "issue_assigneeID_idx": ("assigneeID", "id"),
    "issue_projectID_modified_idx": ("projectID", "modified", "id"),
    "issue_projectID_open_modified_idx": ("projectID", "open", "modified", "id"),
    "issue_projectID_creatorID_modified_idx": ("projectID", "creatorID", "modified", "id"),
    "issue_projectID_assigneeID_modified_idx": ("projectID", "assigneeID", "modified", "id"),
    "issue_projectID_open_creatorID_modified_idx": ("projectID", "open", "creatorID", "modified", "id"),
    "issue_projectID_open_assigneeID_modified_idx": ("projectID", "open", "assigneeID", "modified", "id"),
}
INDEXES: dict[str, Index] = {
    "user_pkey": Index("user", ("id",), True),
    "user_login_idx": Index("user", ("login",), True),
    "user_githubid_idx": Index("user", ("githubID",), True),
    "project_pkey": Index("project", ("id",), True),
    "project_lower_case_name_idx": Index("project", ("lowerCaseName",), True),
    "label_pkey": Index("label", ("id",), True),
    "label_project_idx": Index("label", ("id", "projectID"), True),
    "label_name_project_idx": Index("label", ("projectID", "name"), True),
    "issue_pkey": Index("issue", ("id",), True),
    "issue_project_idx": Index("issue", ("id", "projectID"), True),
    **{name: Index("issue", cols) for name, cols in _ISSUE_IDX.items()},
    "comment_pkey": Index("comment", ("id",), True),
    "comment_issueid_idx": Index("comment", ("issueID",)),
    "issueLabel_pkey": Index("issueLabel", ("labelID", "issueID"), True),
    "issuelabel_issueid_idx": Index("issueLabel", ("issueID",)),
    "emoji_pkey": Index("emoji", ("id",), True),
    "emoji_subjectID_creatorID_value_key": Index("emoji", ("value", "subjectID", "creatorID"), True),
    "emoji_created_idx": Index("emoji", ("created",)),
    "emoji_subject_id_idx": Index("emoji", ("subjectID",)),
    "issueNotifications_pkey": Index("issueNotifications", ("userID", "issueID"), True),
    "userPref_pkey": Index("userPref", ("key", "userID"), True),
    "viewState_pkey": Index("viewState", ("userID", "issueID"), True),
}

_CASCADE = "CASCADE"
FOREIGN_KEYS: dict[str, ForeignKey] = {
    "label_projectID_fkey": ForeignKey("label", ("projectID",), "project", ("id",)),
    "issue_creatorID_fkey": ForeignKey("issue", ("creatorID",), "user", ("id",)),
    "issue_assigneeID_fkey": ForeignKey("issue", ("assigneeID",), "user", ("id",)),
    "issue_projectID_fkey": ForeignKey("issue", ("projectID",), "project", ("id",)),
    "comment_issueID_fkey": ForeignKey("comment", ("issueID",), "issue", ("id",), _CASCADE),
    "comment_creatorID_fkey": ForeignKey("comment", ("creatorID",), "user", ("id",)),
    "issueLabel_labelID_projectID_fkey": ForeignKey("issueLabel", ("labelID", "projectID"), "label",
                                                    ("id", "projectID")),
    "issueLabel_issueID_projectID_fkey": ForeignKey("issueLabel", ("issueID", "projectID"), "issue",
                                                    ("id", "projectID"), _CASCADE),
    "emoji_creatorID_fkey": ForeignKey("emoji", ("creatorID",), "user", ("id",), _CASCADE),
    "issueNotifications_userID_fkey": ForeignKey("issueNotifications", ("userID",), "user", ("id",),
                                                 _CASCADE),
    "issueNotifications_issueID_fkey": ForeignKey("issueNotifications", ("issueID",), "issue", ("id",),
                                                  _CASCADE),
    "userPref_userID_fkey": ForeignKey("userPref", ("userID",), "user", ("id",), _CASCADE),
    "viewState_userID_fkey": ForeignKey("viewState", ("userID",), "user", ("id",), _CASCADE),
    "viewState_issueID_fkey": ForeignKey("viewState", ("issueID",), "issue", ("id",), _CASCADE),
}

# Row-level triggers as (table, timing, events); names are not part of the contract.
TRIGGERS: frozenset[tuple[str, str, str]] = frozenset({
    ("issue", "BEFORE", "INSERT OR UPDATE"),  # modified := now
    ("issue", "BEFORE", "INSERT"),  # created := now
    ("issue", "AFTER", "DELETE"),  # delete the issue's emoji
    ("comment", "BEFORE", "INSERT"),  # created := now
    ("comment", "AFTER", "INSERT"),  # bump the issue's modified
    ("comment", "BEFORE", "INSERT OR UPDATE"),  # body length limit
    ("comment", "AFTER", "DELETE"),  # delete the comment's emoji
    ("project", "BEFORE", "INSERT OR UPDATE"),  # lowerCaseName := lower(name)
    ("emoji", "BEFORE", "INSERT OR UPDATE"),  # subject must exist; bump the issue's modified
    ("emoji", "BEFORE", "INSERT"),  # created := now
})

PUBLISHED: dict[str, tuple[str, ...] | None] = {  # None: every column
    **{t: None for t in ("issue", "viewState", "comment", "label", "issueLabel", "emoji", "userPref",
                         "issueNotifications", "project")},
    "user": ("id", "login", "name", "avatar", "role", "githubID"),
}


def _check_headers() -> None:
    """Every CSV header column is a column of its table (checked at import: a typo fails loudly)."""
    for table, header in HEADERS.items():
        missing = set(header) - {c.name for c in COLUMNS[table]}
        if missing:
            raise RuntimeError(f"HEADERS[{table!r}] names columns the table does not have: {sorted(missing)}")


_check_headers()
