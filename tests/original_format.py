"""Datasets and template directories in the ORIGINAL TypeScript tool's formats, written for tests.

Users already hold data made by the original zbugs generator, so the loader, verify, get-data and
TEMPLATES_DIR must accept it. The suite cannot rely on a copy of such data lying beside the checkout;
this module writes equivalent data instead: the same layout, the content our own (procedural, from a
seeded `random.Random`, so every write with the same shape is byte-identical).

The dataset layout, as the original writes it:
- one CSV per table and shard, `{table}_{shard:03d}.csv`, header line first, LF line ends, UTF-8;
- fields quoted only when they must be (a comma in a description or comment body); never `""` for
  an empty field: NULL (an unassigned issue's assigneeID) is the empty, unquoted field;
- booleans `true`/`false`; timestamps whole milliseconds since the epoch (13 digits, no decimals);
- 21-character nanoid-style ids (`A-Za-z0-9_-`); users `usr_0000`, `usr_0001`, … with `crew` for the
  first few and `user` after, githubID 10000 + n, avatar `https://robohash.org/{login}`;
- no manifest.json. A dataset fetched by the original getData.sh comes with `manifest.txt` (one file
  name per line) — `manifest_txt=True` writes one.

And its known defects, which verify must report rather than hide (both exact, see `OriginalShape`):
- `older_comments` comments (a `older_comment_share` of them, "about a quarter") are older than their
  issue;
- the first project and the first issue share one id (the only id reused across tables).

The template directory: one `{category}.json` per category with exactly the original's keys
(`category`, `projects[{name, components}]`, `labels`, `titleTemplates`, `descriptionTemplates`,
`commentTemplates`, with `{{slot}}` placeholders), 2-space indented, no final newline; plus a
`summary.json` (`categories[{category}]`, `totalProjects`) that readers must ignore.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# ---- the layout ----------------------------------------------------------------------------------

TABLES: tuple[str, ...] = ("user", "project", "label", "issue", "comment", "issueLabel")
# The original's headers, column order included (written out here, not imported: this is the
# contract our code is tested against).
HEADERS: dict[str, tuple[str, ...]] = {
    "user": ("id", "login", "name", "avatar", "role", "githubID", "email"),
    "project": ("id", "name", "lowerCaseName"),
    "label": ("id", "name", "projectID"),
    "issue": ("id", "title", "open", "modified", "created", "creatorID", "assigneeID", "description",
              "visibility", "projectID"),
    "comment": ("id", "issueID", "created", "body", "creatorID"),
    "issueLabel": ("labelID", "issueID", "projectID"),
}
MANIFEST_TXT = "manifest.txt"
SUMMARY_JSON = "summary.json"
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ID_LENGTH = 21
GITHUB_ID_BASE = 10000
AVATAR_PREFIX = "https://robohash.org/"
# Every timestamp lies in this window (ms since the epoch); issues start a day inside it so that an
# older comment always has room before its issue.
WINDOW_START_MS = int(datetime(2022, 11, 1, tzinfo=UTC).timestamp() * 1000)
WINDOW_END_MS = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class OriginalShape:
    """The parameters of a written dataset; every count below is exact, not approximate."""

    seed: int = 2024
    num_users: int = 30
    crew_users: int = 10  # the first ones get role crew, the rest role user
    num_projects: int = 20
    labels_per_project: int = 48
    num_issues: int = 2000
    num_comments: int = 5000
    older_comment_share: float = 0.25  # the original's defect: "about a quarter" predate their issue
    labels_per_issue: tuple[int, ...] = (1, 2, 3)  # issue n gets labels_per_issue[n % len] labels
    shard_rows: int = 500_000  # rows per shard file (the original's default: one shard here)

    def __post_init__(self) -> None:
        if not (1 <= self.crew_users <= self.num_users <= 10_000 and self.num_projects >= 1
                and self.num_issues >= 1 and self.shard_rows >= 1
                and 0 <= self.older_comment_share <= 1
                and all(0 < n <= self.labels_per_project for n in self.labels_per_issue)):
            raise ValueError(f"inconsistent shape: {self}")

    @property
    def older_comments(self) -> int:
        """How many comments are older than their issue."""
        return round(self.num_comments * self.older_comment_share)

    @property
    def issue_labels(self) -> int:
        cycle = self.labels_per_issue
        return sum(cycle[i % len(cycle)] for i in range(self.num_issues))

    @property
    def rows(self) -> dict[str, int]:
        """Data rows per table (headers not counted)."""
        return {"user": self.num_users, "project": self.num_projects,
                "label": self.num_projects * self.labels_per_project, "issue": self.num_issues,
                "comment": self.num_comments, "issueLabel": self.issue_labels}


@dataclass(frozen=True)
class OriginalDataset:
    directory: Path
    shape: OriginalShape
    shared_id: str  # the id of the first project and of the first issue (the original's defect)
    older_comment_ids: frozenset[str]  # exactly shape.older_comments of them
    files: tuple[str, ...]  # the CSV names written, in load order

    @property
    def rows(self) -> dict[str, int]:
        return self.shape.rows


# ---- word lists (ours) ---------------------------------------------------------------------------

_SYLLABLES = ("ka", "lo", "mi", "ren", "ta", "vo", "sel", "dru", "ne", "bi", "or", "wen", "fa", "qui", "zo",
              "hal", "pe", "tor", "ima", "gu", "sa", "bel", "cy", "ro")
_PROJECT_HEADS = ("Amber", "Basalt", "Cobalt", "Drift", "Ember", "Fable", "Garnet", "Harbor", "Indigo", "Juniper",
                  "Kestrel", "Lantern", "Meadow", "Nimbus", "Onyx", "Pylon", "Quartz", "Ripple", "Saffron",
                  "Tundra")
_PROJECT_TAILS = ("Relay", "Ledger", "Beacon", "Forge", "Loom", "Harbor", "Atlas", "Sprout", "Switch", "Vista",
                  "Anchor", "Circuit")
_LABEL_WORDS = ("urgent", "minor", "blocked", "triage", "regression", "ux", "perf", "docs", "flaky", "refactor",
                "backend", "frontend", "infra", "security", "a11y", "i18n", "billing", "search", "sync", "export")
_COMPONENTS = ("sidebar", "filter bar", "sync worker", "export queue", "avatar cache", "billing form", "rate limiter",
               "search index", "push relay", "token store", "upload widget", "settings page", "audit log",
               "job scheduler", "theme loader", "webhook sender")
_SYMPTOMS = ("freezes", "loses state", "shows stale data", "double-submits", "drops events", "times out",
             "renders blank", "leaks memory", "retries forever", "ignores the locale")
_CONTEXTS = ("after a reconnect", "on slow networks", "in dark mode", "behind a proxy", "for new accounts",
             "with many tabs open", "during a deploy", "on the second login", "when offline", "at midnight UTC")
_OBSERVATIONS = ("the request fires twice", "the cache key omits the tenant", "a timer is never cleared",
                 "the retry budget resets", "the index is rebuilt on every keystroke", "a lock is held too long")
_FIXES = ("pin the previous release", "clear the cache by hand", "raise the timeout", "turn the feature flag off",
          "reload the page", "split the batch")

# ---- the dataset ---------------------------------------------------------------------------------


def write_original_dataset(out: Path, shape: OriginalShape = OriginalShape(), *,
                           manifest_txt: bool = False) -> OriginalDataset:
    """Write a dataset in the original tool's CSV layout into `out` (created; must not hold one)."""
    rng = random.Random(shape.seed)
    used_ids: set[str] = set()

    def new_id() -> str:
        while True:
            text = "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))
            if text not in used_ids:
                used_ids.add(text)
                return text

    users = _users(rng, shape)
    user_ids = [u[0] for u in users]

    projects: list[tuple[str, ...]] = []
    names = rng.sample([h + t for h in _PROJECT_HEADS for t in _PROJECT_TAILS if h != t], shape.num_projects)
    for name in names:
        projects.append((new_id(), name, name.lower()))

    labels: list[tuple[str, ...]] = []
    labels_of: list[list[str]] = []
    vocabulary = _label_names(shape.labels_per_project)
    for pid, _, _ in projects:
        ids = [new_id() for _ in vocabulary]
        labels += [(lid, name, pid) for lid, name in zip(ids, vocabulary, strict=True)]
        labels_of.append(ids)

    # Issues across projects: skewed, the first project the busiest (as in the original's data).
    weights = [1.0 / (p + 1) for p in range(shape.num_projects)]
    issues: list[tuple[str, ...]] = []
    created_of: list[int] = []
    project_of: list[int] = []
    for n in range(shape.num_issues):
        # The defect: the first issue takes the first project's id.
        iid = projects[0][0] if n == 0 else new_id()
        p = rng.choices(range(shape.num_projects), weights)[0]
        created = rng.randint(WINDOW_START_MS + DAY_MS, WINDOW_END_MS - DAY_MS)
        modified = rng.randint(created, WINDOW_END_MS)
        assignee = rng.choice(user_ids) if rng.random() < 0.7 else ""  # "" is NULL: unassigned
        issues.append((iid, _title(rng), "true" if rng.random() < 0.7 else "false", str(modified), str(created),
                       rng.choice(user_ids), assignee, _description(rng),
                       "public" if rng.random() < 0.9 else "internal", projects[p][0]))
        created_of.append(created)
        project_of.append(p)

    issue_labels: list[tuple[str, ...]] = []
    cycle = shape.labels_per_issue
    for n, issue in enumerate(issues):
        for lid in rng.sample(labels_of[project_of[n]], cycle[n % len(cycle)]):
            issue_labels.append((lid, issue[0], issue[9]))

    # Comments: a heavy tail per issue (many issues have none), exactly `older_comments` of them
    # dated before their issue.
    activity = [rng.paretovariate(1.2) for _ in range(shape.num_issues)]
    targets = sorted(rng.choices(range(shape.num_issues), activity, k=shape.num_comments))
    older = set(rng.sample(range(shape.num_comments), shape.older_comments))
    comments: list[tuple[str, ...]] = []
    older_ids: set[str] = set()
    for k, n in enumerate(targets):
        cid = new_id()
        start = created_of[n]
        if k in older:
            created = start - rng.randint(1, min(start - WINDOW_START_MS, 120 * DAY_MS))
            older_ids.add(cid)
        else:
            created = rng.randint(start, WINDOW_END_MS)
        comments.append((cid, issues[n][0], str(created), _comment(rng, user_ids), rng.choice(user_ids)))

    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    for table, rows in (("user", users), ("project", projects), ("label", labels), ("issue", issues),
                        ("comment", comments), ("issueLabel", issue_labels)):
        files += _write_table(out, table, rows, shape.shard_rows)
    if manifest_txt:
        # What the original getData.sh flow reads: the data file names, one per line.
        (out / MANIFEST_TXT).write_text("".join(f"{name}\n" for name in sorted(files)), encoding="utf-8")
    return OriginalDataset(out, shape, projects[0][0], frozenset(older_ids), tuple(files))


def _users(rng: random.Random, shape: OriginalShape) -> list[tuple[str, ...]]:
    users = []
    for n in range(shape.num_users):
        first = _made_up_name(rng, 2)
        last = _made_up_name(rng, 3)
        if n % 7 == 4:
            last = "O'" + last  # an apostrophe, kept in the login and avatar as the original does
        elif n % 5 == 1:
            last = f"{last}-{_made_up_name(rng, 2)}"
        name = f"{first} {last}"
        login = f"{first}{last}".lower() + str(n)
        local = f"{first}{rng.choice('._')}{last.replace(chr(39), '')}" + (str(rng.randint(1, 99)) if n % 2 else "")
        email = f"{local}@{rng.choice(('example.com', 'example.org', 'example.net'))}"
        role = "crew" if n < shape.crew_users else "user"
        users.append((f"usr_{n:04d}", login, name, AVATAR_PREFIX + login, role, str(GITHUB_ID_BASE + n), email))
    return users


def _made_up_name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _label_names(count: int) -> list[str]:
    names = list(_LABEL_WORDS)
    for prefix in ("area", "team", "kind"):
        names += [f"{prefix}-{w}" for w in _LABEL_WORDS]
    if count > len(names):
        raise ValueError(f"at most {len(names)} labels per project")
    return names[:count]


def _version(rng: random.Random) -> str:
    return f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"


def _title(rng: random.Random) -> str:
    # Never a comma (the original's titles have none), at most 128 characters (the schema's limit).
    parts = [rng.choice(_COMPONENTS), rng.choice(_SYMPTOMS), rng.choice(_CONTEXTS)]
    if rng.random() < 0.3:
        parts.append(f"since {_version(rng)}")
    return " ".join(parts).capitalize()


def _description(rng: random.Random) -> str:
    # About a quarter carry a comma, so the quoting rule is exercised on real rows.
    text = (f"The {rng.choice(_COMPONENTS)} {rng.choice(_SYMPTOMS)} {rng.choice(_CONTEXTS)}. "
            f"Seen on build {_version(rng)}. Likely cause: {rng.choice(_OBSERVATIONS)}.")
    if rng.random() < 0.25:
        text += f" Until fixed, {rng.choice(_FIXES)}."
    return text


def _comment(rng: random.Random, user_ids: list[str]) -> str:
    text = f"Checked the {rng.choice(_COMPONENTS)}: {rng.choice(_OBSERVATIONS)}."
    if rng.random() < 0.15:
        text += f" Asked {rng.choice(user_ids)}, who suggests we {rng.choice(_FIXES)}."
    return text


def _csv_field(value: str) -> str:
    # The original quotes a field only when it has to; our text never holds a quote or a line break,
    # so a comma is the one reason (kept general anyway, doubling quotes as CSV does).
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _write_table(out: Path, table: str, rows: list[tuple[str, ...]], shard_rows: int) -> list[str]:
    names = []
    # A table always has its first shard, even when empty (header only).
    for shard, start in enumerate(range(0, max(len(rows), 1), shard_rows)):
        name = f"{table}_{shard:03d}.csv"
        lines = [",".join(HEADERS[table])]
        lines += [",".join(map(_csv_field, row)) for row in rows[start:start + shard_rows]]
        (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
        names.append(name)
    return names


# ---- the template directory ----------------------------------------------------------------------

TEMPLATE_CATEGORIES: tuple[str, ...] = ("mobile-app", "data-platform")
PROJECTS_PER_CATEGORY = 2
COMPONENTS_PER_PROJECT = 4
LABELS_PER_CATEGORY = 4
TITLE_TEMPLATES = 3
DESCRIPTION_TEMPLATES = 1
COMMENT_TEMPLATES = 2
TEMPLATE_KEYS = ("category", "projects", "labels", "titleTemplates", "descriptionTemplates", "commentTemplates")


@dataclass(frozen=True)
class OriginalTemplates:
    directory: Path
    categories: tuple[str, ...]
    projects: tuple[str, ...]  # every project name, all categories
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by category


def write_original_templates(out: Path, seed: int = 2024) -> OriginalTemplates:
    """Write a template directory in the original tool's JSON format into `out` (created)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    heads = rng.sample(_PROJECT_HEADS, len(TEMPLATE_CATEGORIES) * PROJECTS_PER_CATEGORY)
    all_projects: list[str] = []
    labels_by: dict[str, tuple[str, ...]] = {}
    for c, category in enumerate(TEMPLATE_CATEGORIES):
        components = rng.sample(_COMPONENTS, COMPONENTS_PER_PROJECT)
        projects = []
        for head in heads[c * PROJECTS_PER_CATEGORY:(c + 1) * PROJECTS_PER_CATEGORY]:
            name = head + rng.choice(_PROJECT_TAILS)
            projects.append({"name": name, "components": list(components)})
            all_projects.append(name)
        labels = ["bug", *rng.sample(_LABEL_WORDS[:10], LABELS_PER_CATEGORY - 1)]
        labels_by[category] = tuple(labels)
        body = {
            "category": category,
            "projects": projects,
            "labels": labels,
            "titleTemplates": rng.sample(_TITLE_TEMPLATES, TITLE_TEMPLATES),
            "descriptionTemplates": rng.sample(_DESCRIPTION_TEMPLATES, DESCRIPTION_TEMPLATES),
            "commentTemplates": rng.sample(_COMMENT_TEMPLATES, COMMENT_TEMPLATES),
        }
        (out / f"{category}.json").write_text(json.dumps(body, indent=2), encoding="utf-8")
    summary = {"categories": [{"category": c} for c in TEMPLATE_CATEGORIES], "totalProjects": len(all_projects)}
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return OriginalTemplates(out, TEMPLATE_CATEGORIES, tuple(all_projects), labels_by)


# Our own wording; every placeholder is one of the original's slot names.
_TITLE_TEMPLATES = (
    "{{error}} in {{component}} while {{action}}",
    "{{component}} needs {{feature}}",
    "{{metric}} got worse in {{component}} on {{environment}}",
    "{{component}} breaks for {{user_type}} after {{action}}",
)
_DESCRIPTION_TEMPLATES = (
    "On {{environment}}, {{action}} makes {{component}} report {{error}}. To reproduce: {{steps}}. "
    "We expected {{expected}} but saw {{actual}}. Build {{version}}, {{dependency}} underneath.",
    "{{component}} fails with {{error}} as soon as {{user_type}} tries {{action}} ({{environment}}, {{version}}).",
)
_COMMENT_TEMPLATES = (
    "Dug into {{component}} and found {{finding}}; proposal: {{suggestion}}.",
    "{{user}} reports that {{workaround}} helps on {{version}}.",
    "Same here on {{environment}}, {{finding}}.",
)
