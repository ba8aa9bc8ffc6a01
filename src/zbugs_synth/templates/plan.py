"""What `generate-templates` asks for: its settings, and the API calls each category needs.

A category is generated in two phases. Phase 1 (independent calls, run concurrently): projects
with their components (a few projects per call), labels, and the slot value pools. Phase 2 needs
phase 1's components and pools (titles must fit 128 characters with the longest values, bodies
are measured with typical ones): title, description and comment batches, each on one theme so
the pool covers the kinds of issues a tracker really holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from zbugs_synth.config import ParseError
from zbugs_synth.config.templates import CATEGORIES, TemplatesConfig
from zbugs_synth.templates.answers import (
    COMMENT_MIN_SLOTS,
    DESCRIPTION_MIN_SLOTS,
)
from zbugs_synth.templates.model import POOL_SLOTS, LintRules

# Themes: the original asks for titles in 2 batches and comments in 3; descriptions follow titles.
TITLE_THEMES = ("bugs", "features")
DESCRIPTION_THEMES = ("bugs", "features")
COMMENT_THEMES = ("investigation", "fixes", "reviews")
# Largest batch per call, so one answer stays well under max_tokens (~100 tokens per description).
PER_CALL = {"labels": 100, "titleTemplates": 100, "descriptionTemplates": 50, "commentTemplates": 50}
POOL_VALUES_PER_CALL = 400


@dataclass(frozen=True)
class BatchPlan:
    """One call's worth of work (before any follow-up for invalid items)."""

    key: str            # unique within the category, e.g. "titles-bugs" or "projects-2"
    kind: str           # "projects", "labels", "pools" or a template kind of model.TEMPLATE_KINDS
    count: int          # items asked for (values per slot for pools)
    theme: str = ""
    slots: tuple[str, ...] = ()   # pools only
    part: tuple[int, int] = (1, 1)

    @property
    def phase(self) -> int:
        return 1 if self.kind in ("projects", "labels", "pools") else 2


@dataclass(frozen=True)
class CategoryPlan:
    name: str
    projects: int
    components: int
    labels: int
    titles: int
    descriptions: int
    comments: int
    pool_values: int
    batches: tuple[BatchPlan, ...]

    def rules(self) -> LintRules:
        """The pack lint rules a finished file must pass, with this plan's counts as minimums."""
        return LintRules(
            min_projects=self.projects, min_components=self.components, min_labels=self.labels,
            min_titles=self.titles, min_descriptions=self.descriptions, min_comments=self.comments,
            min_description_slots=DESCRIPTION_MIN_SLOTS, min_comment_slots=COMMENT_MIN_SLOTS,
        )


def split_even(n: int, parts: int) -> list[int]:
    """`n` split into `parts` sizes differing by at most one (larger first), zeros dropped."""
    base, extra = divmod(n, parts)
    return [s for s in (base + (1 if i < extra else 0) for i in range(parts)) if s]


def chunks(n: int, size: int) -> list[int]:
    k = -(-n // size)
    return split_even(n, k)


def projects_per_category(total: int) -> dict[str, int]:
    return dict(zip(CATEGORIES, split_even(total, len(CATEGORIES)), strict=True))


def _themed(kind: str, prefix: str, total: int, themes: tuple[str, ...]) -> list[BatchPlan]:
    out: list[BatchPlan] = []
    for theme, n in zip(themes, split_even(total, len(themes)), strict=False):
        parts = chunks(n, PER_CALL[kind])
        for i, size in enumerate(parts, 1):
            key = f"{prefix}-{theme}" + (f"-{i}" if len(parts) > 1 else "")
            out.append(BatchPlan(key, kind, size, theme=theme, part=(i, len(parts))))
    return out


def plan_category(cfg: TemplatesConfig, name: str, projects: int) -> CategoryPlan:
    batches: list[BatchPlan] = []
    project_parts = chunks(projects, cfg.projects_per_call)
    for i, size in enumerate(project_parts, 1):
        batches.append(BatchPlan(f"projects-{i}", "projects", size, part=(i, len(project_parts))))
    label_parts = chunks(cfg.labels, PER_CALL["labels"])
    for i, size in enumerate(label_parts, 1):
        batches.append(BatchPlan(f"labels-{i}", "labels", size, part=(i, len(label_parts))))
    slots_per_call = max(1, POOL_VALUES_PER_CALL // cfg.pool_values)
    slot_groups = [POOL_SLOTS[i:i + slots_per_call] for i in range(0, len(POOL_SLOTS), slots_per_call)]
    for i, group in enumerate(slot_groups, 1):
        batches.append(BatchPlan(f"pools-{i}", "pools", cfg.pool_values, slots=tuple(group),
                                 part=(i, len(slot_groups))))
    batches += _themed("titleTemplates", "titles", cfg.titles, TITLE_THEMES)
    batches += _themed("descriptionTemplates", "descriptions", cfg.descriptions, DESCRIPTION_THEMES)
    batches += _themed("commentTemplates", "comments", cfg.comments, COMMENT_THEMES)
    return CategoryPlan(
        name=name, projects=projects, components=cfg.components, labels=cfg.labels, titles=cfg.titles,
        descriptions=cfg.descriptions, comments=cfg.comments, pool_values=cfg.pool_values,
        batches=tuple(batches),
    )


def plan_all(cfg: TemplatesConfig) -> list[CategoryPlan]:
    """Plans for all ten categories (project counts depend on the whole NUM_PROJECTS split)."""
    return [plan_category(cfg, name, n) for name, n in projects_per_category(cfg.num_projects).items()]


def parse_categories(text: str) -> tuple[str, ...]:
    """`--categories a,b`: known names, in CATEGORIES order, no repeats."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown or not names:
        raise ParseError(f"expected a comma-separated list of: {', '.join(CATEGORIES)}")
    return tuple(c for c in CATEGORIES if c in names)
