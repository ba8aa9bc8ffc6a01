"""The typed model of a template pack, and the rules every pack must satisfy.

A pack is a directory with one JSON file per software category, in the original tool's format:

    {"category": "security",
     "projects": [{"name": "Keyward", "components": ["token service", ...]}, ...],
     "labels": ["bug", ...],
     "titleTemplates": ["{{component}} shows {{error}} after {{action}}", ...],
     "descriptionTemplates": [...], "commentTemplates": [...],
     "slotPools": {"error": ["token expired", ...], ...}}      <- optional, ours

`{{slot}}` placeholders name one of `SLOTS`. `component` is filled from the issue's project,
`user` from the dataset's user logins; every other slot from the category's `slotPools`, falling
back to the default pools shipped in `templates/pools/slots.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SLOTS: tuple[str, ...] = (
    "component", "action", "environment", "dependency", "version", "error", "feature", "metric",
    "user_type", "steps", "expected", "actual", "finding", "suggestion", "workaround", "user",
)
# Slots whose values do not come from pools.
DATASET_SLOTS = frozenset({"component", "user"})
POOL_SLOTS: tuple[str, ...] = tuple(s for s in SLOTS if s not in DATASET_SLOTS)

SLOT_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # newline and tab are fine in text

TEMPLATE_KINDS = ("titleTemplates", "descriptionTemplates", "commentTemplates")

Pools = Mapping[str, tuple[str, ...]]


class PackError(ValueError):
    """A pack violates a rule. The message names the file and the entry."""


@dataclass(frozen=True)
class ProjectTemplate:
    name: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Category:
    name: str
    projects: tuple[ProjectTemplate, ...]
    labels: tuple[str, ...]
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]
    comments: tuple[str, ...]
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # overrides, by slot
    source: str = ""

    def templates(self, kind: str) -> tuple[str, ...]:
        return {"titleTemplates": self.titles, "descriptionTemplates": self.descriptions,
                "commentTemplates": self.comments}[kind]


@dataclass(frozen=True)
class People:
    """Name pools for users (users do not depend on SEED, so neither do these)."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    email_domains: tuple[str, ...]


@dataclass(frozen=True)
class TemplatePack:
    categories: tuple[Category, ...]
    default_pools: Mapping[str, tuple[str, ...]]
    people: People
    source: str = ""

    def pool(self, category: Category, slot: str) -> tuple[str, ...]:
        return category.pools.get(slot) or self.default_pools[slot]

    @property
    def project_templates(self) -> list[tuple[Category, ProjectTemplate]]:
        """Every template project in a stable order (category file order, then project order)."""
        return [(c, p) for c in self.categories for p in c.projects]



def slots_in(template: str) -> list[str]:
    return SLOT_RE.findall(template)


def check_template(template: str, where: str) -> None:
    """Unknown slots and stray braces are errors: they would leak into generated text."""
    for name in slots_in(template):
        if name not in SLOTS:
            raise PackError(f"{where}: unknown slot {{{{{name}}}}} (known: {', '.join(SLOTS)})")
    rest = SLOT_RE.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise PackError(f"{where}: malformed placeholder in {template[:60]!r} (expected {{{{slot}}}})")


def _strings(value: object, where: str, *, allow_empty_list: bool = False,
             single_line: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PackError(f"{where}: expected a list of strings, got {type(value).__name__}")
    if not value and not allow_empty_list:
        raise PackError(f"{where}: must not be empty")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise PackError(f"{where}[{i}]: expected a string, got {type(item).__name__}")
        if not item.strip():
            raise PackError(f"{where}[{i}]: must not be blank")
        if _CONTROL.search(item):
            raise PackError(f"{where}[{i}]: contains a control character")
        if single_line and ("\n" in item or "\t" in item or item != item.strip()):
            raise PackError(f"{where}[{i}]: names must be one line without tabs or surrounding spaces")
        out.append(item)
    return tuple(out)


def _no_duplicates(items: Iterable[str], where: str, *, fold_case: bool = False) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = item.strip().lower() if fold_case else item.strip()
        if key in seen:
            raise PackError(f"{where}[{i}]: duplicate of entry {seen[key]} ({item[:60]!r})")
        seen[key] = i


def parse_pools(data: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(data, dict):
        raise PackError(f"{where}: expected an object mapping slot names to lists of values")
    pools: dict[str, tuple[str, ...]] = {}
    for slot, values in data.items():
        if slot not in POOL_SLOTS:
            raise PackError(f"{where}.{slot}: not a pool slot (pool slots: {', '.join(POOL_SLOTS)})")
        pools[slot] = _strings(values, f"{where}.{slot}")
        for i, v in enumerate(pools[slot]):
            if SLOT_RE.search(v) or "{{" in v:
                raise PackError(f"{where}.{slot}[{i}]: slot values must not contain placeholders")
        _no_duplicates(pools[slot], f"{where}.{slot}")
    return pools


def parse_category(data: object, source: str) -> Category:
    """Validate one category file's parsed JSON and build the typed model."""
    if not isinstance(data, dict):
        raise PackError(f"{source}: expected a JSON object at the top level")
    for key in ("category", "projects", "labels", *TEMPLATE_KINDS):
        if key not in data:
            raise PackError(f"{source}: missing key {key!r}")
    name = data["category"]
    if not isinstance(name, str) or not name.strip() or "\n" in name:
        raise PackError(f"{source}: 'category' must be a non-empty one-line string")
    projects_raw = data["projects"]
    if not isinstance(projects_raw, list) or not projects_raw:
        raise PackError(f"{source}: 'projects' must be a non-empty list")
    projects = []
    for i, p in enumerate(projects_raw):
        where = f"{source}: projects[{i}]"
        if not isinstance(p, dict) or "name" not in p or "components" not in p:
            raise PackError(f"{where}: expected an object with 'name' and 'components'")
        pname = _strings([p["name"]], f"{where}.name", single_line=True)[0]
        comps = _strings(p["components"], f"{where}.components", single_line=True)
        _no_duplicates(comps, f"{where}.components")
        projects.append(ProjectTemplate(pname.strip(), comps))
    _no_duplicates([p.name for p in projects], f"{source}: projects[].name", fold_case=True)
    labels = _strings(data["labels"], f"{source}: labels", single_line=True)
    _no_duplicates(labels, f"{source}: labels")
    kinds = {}
    for kind in TEMPLATE_KINDS:
        items = _strings(data[kind], f"{source}: {kind}")
        for i, t in enumerate(items):
            check_template(t, f"{source}: {kind}[{i}]")
        _no_duplicates(items, f"{source}: {kind}")
        kinds[kind] = items
    pools = parse_pools(data.get("slotPools", {}), f"{source}: slotPools")
    return Category(
        name=name.strip(), projects=tuple(projects), labels=labels,
        titles=kinds["titleTemplates"], descriptions=kinds["descriptionTemplates"],
        comments=kinds["commentTemplates"], pools=pools, source=source,
    )


def check_pack(categories: list[Category], source: str) -> None:
    """Rules that span files: unique category names, project names unique across categories."""
    if not categories:
        raise PackError(f"{source}: no category files (*.json other than summary.json)")
    _no_duplicates([c.name for c in categories], f"{source}: category names")
    seen: dict[str, str] = {}
    for c in categories:
        for p in c.projects:
            key = p.name.lower()
            if key in seen:
                raise PackError(f"{c.source}: project {p.name!r} also appears in {seen[key]}"
                                " (project names must be unique across categories)")
            seen[key] = c.source


# ---- quality lint (the bundled pack and LLM output must pass; user packs are only validated) -----

@dataclass(frozen=True)
class LintRules:
    min_projects: int = 10
    min_components: int = 40
    min_labels: int = 40
    min_titles: int = 100
    min_descriptions: int = 50
    min_comments: int = 80
    title_max_filled: int = 128          # with the LONGEST pool values: titles never get truncated
    description_chars: tuple[int, int] = (100, 500)  # raw template text
    comment_chars: tuple[int, int] = (50, 400)
    min_description_slots: int = 1
    min_comment_slots: int = 1


def filled_length(template: str, lengths: Mapping[str, int]) -> int:
    """Length in characters of `template` with every slot replaced by a value of the given length."""
    return len(SLOT_RE.sub("", template)) + sum(lengths[s] for s in slots_in(template))


def lint_category(pack: TemplatePack, c: Category, rules: LintRules = LintRules()) -> list[str]:
    """Return every way a category falls short of `rules` (empty list: it passes)."""
    problems: list[str] = []
    where = c.source or c.name

    def need(count: int, minimum: int, what: str) -> None:
        if count < minimum:
            problems.append(f"{where}: {count} {what}, need at least {minimum}")

    need(len(c.projects), rules.min_projects, "projects")
    for p in c.projects:
        need(len(p.components), rules.min_components, f"components in project {p.name!r}")
    need(len(c.labels), rules.min_labels, "labels")
    need(len(c.titles), rules.min_titles, "titleTemplates")
    need(len(c.descriptions), rules.min_descriptions, "descriptionTemplates")
    need(len(c.comments), rules.min_comments, "commentTemplates")

    longest = {s: max(len(v) for v in pack.pool(c, s)) for s in POOL_SLOTS}
    longest["component"] = max(len(x) for p in c.projects for x in p.components)
    longest["user"] = 24
    for i, t in enumerate(c.titles):
        n = filled_length(t, longest)
        if n > rules.title_max_filled:
            problems.append(f"{where}: titleTemplates[{i}] can fill to {n} chars (max {rules.title_max_filled})")
    for kind, items, (lo, hi), min_slots in (
        ("descriptionTemplates", c.descriptions, rules.description_chars, rules.min_description_slots),
        ("commentTemplates", c.comments, rules.comment_chars, rules.min_comment_slots),
    ):
        for i, t in enumerate(items):
            if not lo <= len(t) <= hi:
                problems.append(f"{where}: {kind}[{i}] is {len(t)} chars (expected {lo}-{hi})")
            if len(slots_in(t)) < min_slots:
                problems.append(f"{where}: {kind}[{i}] has {len(slots_in(t))} slots (need {min_slots})")
    return problems
