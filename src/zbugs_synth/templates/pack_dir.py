"""The output directory of `generate-templates`: what is already done, and writing results.

A category counts as done when its file parses with the pack model, names the right category,
passes the pack lint with the current plan's counts, and shares no project name with the other
files. Files are only ever replaced whole (temp file + rename), so a killed run leaves either the
old file, the new one, or a hidden `.name.json.tmp` the loader never reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zbugs_synth.config.templates import CATEGORIES
from zbugs_synth.manifest import write_atomic
from zbugs_synth.templates.answers import norm
from zbugs_synth.templates.loader import NOT_CATEGORIES, read_json
from zbugs_synth.templates.model import (
    Category,
    PackError,
    People,
    Pools,
    TemplatePack,
    lint_category,
    parse_category,
)
from zbugs_synth.templates.plan import CategoryPlan

SUMMARY_NAME = "summary.json"


def category_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.json"


def _json_files(out_dir: Path) -> list[Path]:
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.glob("*.json") if p.name not in NOT_CATEGORIES and p.is_file())


@dataclass
class DirState:
    done: dict[str, Category] = field(default_factory=dict)     # our categories that are complete
    stale: dict[str, str] = field(default_factory=dict)         # present but to be regenerated: why
    others: list[Category] = field(default_factory=list)        # valid files that are not ours
    broken: dict[str, str] = field(default_factory=dict)        # other files the loader would reject

    def project_names(self, skip: Sequence[str] = ()) -> set[str]:
        """Lower-cased project names in files that stay as they are."""
        cats = [c for n, c in self.done.items() if n not in skip] + self.others
        return {norm(p.name) for c in cats for p in c.projects}


def inspect(out_dir: Path, plans: Sequence[CategoryPlan], pools: Pools, people: People) -> DirState:
    state = DirState()
    ours = {category_path(out_dir, p.name).name for p in plans}
    seen: dict[str, str] = {}   # lower-cased project name -> file
    for path in _json_files(out_dir):
        if path.name in ours:
            continue
        try:
            cat = parse_category(read_json(path), str(path))
        except PackError as e:
            state.broken[path.name] = str(e)
            continue
        state.others.append(cat)
        seen.update({p.name.lower(): path.name for p in cat.projects})
    by_name = {p.name: p for p in plans}
    for name in (c for c in CATEGORIES if c in by_name):
        path = category_path(out_dir, name)
        if not path.is_file():
            continue
        try:
            cat = parse_category(read_json(path), str(path))
        except PackError as e:
            state.stale[name] = str(e)
            continue
        if cat.name != name:
            state.stale[name] = f"{path}: holds category {cat.name!r}, expected {name!r}"
            continue
        problems = lint_category(TemplatePack((cat,), pools, people), cat, by_name[name].rules())
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            state.stale[name] = problems[0] + more
            continue
        clash = next((p.name for p in cat.projects if p.name.lower() in seen), None)
        if clash:
            state.stale[name] = f"{path}: project {clash!r} also appears in {seen[clash.lower()]}"
            continue
        seen.update({p.name.lower(): path.name for p in cat.projects})
        state.done[name] = cat
    return state


def write_category(out_dir: Path, data: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = category_path(out_dir, data["category"])
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def remove_stale_temp(out_dir: Path, names: Sequence[str]) -> None:
    """Temp files a killed run left behind for categories about to be written again."""
    for name in names:
        tmp = out_dir / f".{name}.json.tmp"
        if tmp.is_file():
            tmp.unlink()


def write_summary(out_dir: Path) -> dict:
    """Rewrite summary.json from the category files on disk (it is for people; nothing reads it)."""
    entries, invalid = [], []
    for path in _json_files(out_dir):
        try:
            c = parse_category(read_json(path), str(path))
        except PackError as e:
            invalid.append({"file": path.name, "error": str(e)})
            continue
        entries.append({
            "category": c.name, "file": path.name, "projects": len(c.projects),
            "components": sum(len(p.components) for p in c.projects), "labels": len(c.labels),
            "titleTemplates": len(c.titles), "descriptionTemplates": len(c.descriptions),
            "commentTemplates": len(c.comments), "slotPools": len(c.pools),
        })
    order = {name: i for i, name in enumerate(CATEGORIES)}
    entries.sort(key=lambda e: (order.get(e["category"], len(order)), e["category"]))
    summary: dict = {"categories": entries, "totalProjects": sum(e["projects"] for e in entries)}
    if invalid:
        summary["invalidFiles"] = invalid
    # Not created for nothing (a run that wrote no category): an empty summary would look like a pack.
    if out_dir.is_dir() and (entries or invalid or (out_dir / SUMMARY_NAME).exists()):
        write_atomic(out_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    return summary
