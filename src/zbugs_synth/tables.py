"""The CSV layout zbugs tools exchange: table names, headers, shard file names.

Shared by the generator (writes it), the loader (reads it) and get-data (trusts nothing but it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Load order matters: every table comes after the tables its foreign keys point to.
TABLES: tuple[str, ...] = ("user", "project", "label", "issue", "comment", "issueLabel")

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
}

# `{table}_{shard}.csv` (shard: 3+ digits) or the unsharded `{table}.csv`.
SHARD_RE = re.compile(r"^(user|project|label|issue|comment|issueLabel)(?:_([0-9]{3,9}))?\.csv$")


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
