"""The small tables — users, projects, labels — built in plain Python.

They are tiny next to issues and comments (hundreds to thousands of rows), and they must be known
before the kernel runs: issues point at projects and labels by id, and `{{user}}` mentions name
user logins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from zbugs_synth.generate.backend import make_ids
from zbugs_synth.generate.ids import LABEL_BITS, T_LABEL, T_PROJECT
from zbugs_synth.generate.rng import S_USER_NAME, S_USER_PREF, py_below, py_draw, py_key
from zbugs_synth.templates.model import Category, People, ProjectTemplate, TemplatePack

# Users do not depend on SEED: batches made with different seeds share them (`SKIP_USERS`).
USER_KEY = py_key(0x75736572, S_USER_NAME)
PREF_KEY = py_key(0x75736572, S_USER_PREF)
SKIN_TONES = 6  # zbugs' emojiSkinTone: 0 (none) .. 5, stored as the number's text
CREW = 10  # zbugs gives its first users the `crew` role


def csv_field(text: str) -> str:
    """RFC 4180: quote when needed; an empty string is quoted so COPY does not read it as NULL."""
    if text == "" or any(c in text for c in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def user_id(i: int) -> str:
    return f"usr_{i:04d}"


@dataclass(frozen=True)
class User:
    id: str
    login: str
    name: str
    role: str
    github_id: int
    email: str

    def row(self) -> str:
        avatar = f"https://robohash.org/{self.login}"
        return ",".join((self.id, csv_field(self.login), csv_field(self.name), csv_field(avatar),
                         self.role, str(self.github_id), csv_field(self.email))) + "\n"


def make_user(i: int, people: People) -> User:
    first = people.first_names[py_below(USER_KEY, 3 * i, len(people.first_names))]
    last = people.last_names[py_below(USER_KEY, 3 * i + 1, len(people.last_names))]
    domain = people.email_domains[py_below(USER_KEY, 3 * i + 2, len(people.email_domains))]
    login = f"{first}{last}{i}".lower().replace(" ", "").replace("'", "")
    return User(
        id=user_id(i), login=login, name=f"{first} {last}",
        role="crew" if i < CREW else "user", github_id=10000 + i,
        email=f"{first}.{last}{i}@{domain}".replace(" ", ""),
    )


def user_rows(n: int, people: People) -> Iterator[str]:
    for i in range(n):
        yield make_user(i, people).row()


def user_prefs(i: int, fraction: float) -> list[tuple[str, str]]:
    """The (key, value) preferences user i stored: emojiSkinTone (the key zbugs reads) for a share
    of users. Like users, it does not depend on SEED."""
    if (py_draw(PREF_KEY, 2 * i) >> 11) * (1.0 / (1 << 53)) >= fraction:
        return []
    return [("emojiSkinTone", str(py_below(PREF_KEY, 2 * i + 1, SKIN_TONES)))]


def user_pref_rows(n: int, fraction: float, batch: int = 10000) -> Iterator[tuple[int, str]]:
    """(rows, csv text) of userPref, in batches."""
    for start in range(0, n, batch):
        rows = [f"{k},{v},{user_id(i)}\n" for i in range(start, min(n, start + batch))
                for k, v in user_prefs(i, fraction)]
        yield len(rows), "".join(rows)


def mention_logins(n_users: int, people: People, limit: int = 4096) -> list[str]:
    """Logins `{{user}}` may mention: the first `limit` users (keeps memory flat for huge N)."""
    return [make_user(i, people).login for i in range(min(n_users, limit))]


@dataclass(frozen=True)
class ProjectPlan:
    """Which template project and category each generated project comes from, and its id."""

    ids: list[str]
    names: list[str]
    template_index: np.ndarray  # int64[num_projects]: index into pack.project_templates
    category_index: np.ndarray  # int64[num_projects]
    label_counts: np.ndarray    # int64[num_projects]


def project_name(template: ProjectTemplate, seed: int, repeat: int) -> str:
    # Unique by construction: template names are unique case-insensitively (the pack model checks
    # that) and (seed, repeat) differs between any two projects of any two datasets, so batches
    # with different SEEDs never clash on zbugs' unique index on lower(name).
    return f"{template.name} s{seed}-{repeat}"


def plan_projects(pack: TemplatePack, num_projects: int, seed: int) -> ProjectPlan:
    templates = pack.project_templates
    cat_index = {c.name: i for i, c in enumerate(pack.categories)}
    t_idx = np.arange(num_projects, dtype=np.int64) % len(templates)
    names = [project_name(templates[t][1], seed, p // len(templates)) for p, t in enumerate(t_idx.tolist())]
    cats: list[Category] = [templates[t][0] for t in t_idx.tolist()]
    return ProjectPlan(
        ids=make_ids(seed, T_PROJECT, np.arange(num_projects, dtype=np.uint64)),
        names=names,
        template_index=t_idx,
        category_index=np.array([cat_index[c.name] for c in cats], dtype=np.int64),
        label_counts=np.array([len(c.labels) for c in cats], dtype=np.int64),
    )


def project_rows(plan: ProjectPlan) -> Iterator[str]:
    for pid, name in zip(plan.ids, plan.names, strict=True):
        yield f"{pid},{csv_field(name)},{csv_field(name.lower())}\n"


def label_ids(plan: ProjectPlan, pack: TemplatePack, seed: int, most: int) -> list[str] | None:
    """The ids label_rows gives, in its order, without the rows' text: one vectorised call where the
    rows take seconds at 100,000 projects. None past `most` labels (the kernel derives them then)."""
    counts = np.array([len(pack.categories[int(c)].labels) for c in plan.category_index], dtype=np.int64)
    total = int(counts.sum())
    if total > most:
        return None
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(total, dtype=np.int64) - starts
    project = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    return make_ids(seed, T_LABEL, (project << np.uint64(LABEL_BITS)) | within.astype(np.uint64))


def label_rows(plan: ProjectPlan, pack: TemplatePack, seed: int) -> Iterator[tuple[list[str], str]]:
    """(ids, csv text) per project: its category's labels, ids from (seed, label, project << 12 | l)."""
    for p, pid in enumerate(plan.ids):
        labels = pack.categories[int(plan.category_index[p])].labels
        rows = (np.uint64(p) << np.uint64(LABEL_BITS)) | np.arange(len(labels), dtype=np.uint64)
        ids = make_ids(seed, T_LABEL, rows)
        yield ids, "".join(f"{lid},{csv_field(name)},{pid}\n" for lid, name in zip(ids, labels, strict=True))
