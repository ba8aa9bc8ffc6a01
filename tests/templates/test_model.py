"""The template pack model: the bundled pack's quality bar, and clear errors for broken packs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from original_format import OriginalTemplates
from zbugs_synth.errors import UserError
from zbugs_synth.templates import load_pack
from zbugs_synth.templates.answers import TITLE_RULE, SlotLengths, template_problem
from zbugs_synth.templates.model import POOL_SLOTS, LintRules, lint_category, slots_in

CATEGORIES = {"web-frontend", "mobile-app", "api-service", "infrastructure", "data-platform",
              "developer-tools", "security", "ml-ai", "embedded-iot", "game-media"}


def test_bundled_pack_meets_the_bar() -> None:
    pack = load_pack()
    assert {c.name for c in pack.categories} == CATEGORIES
    for c in pack.categories:
        assert lint_category(pack, c, LintRules()) == [], c.name
        assert set(c.pools) == set(POOL_SLOTS), c.name  # domain-specific pools for every slot
        used = {s for t in (*c.titles, *c.descriptions, *c.comments) for s in slots_in(t)}
        assert {"component", "user", "error", "steps"} <= used


def test_bundled_titles_pass_the_generate_templates_rule() -> None:
    """The bundled pack is what generate-templates should produce: its short and long titles must
    pass the rule Claude's answers are checked against, or that rule would reject real titles."""
    pack = load_pack()
    for c in pack.categories:
        lengths = SlotLengths.of([x for p in c.projects for x in p.components],
                                 {s: pack.pool(c, s) for s in POOL_SLOTS})
        assert [t for t in c.titles if template_problem(t, TITLE_RULE, lengths)] == [], c.name
        assert min(map(len, c.titles)) <= 15 and max(map(len, c.titles)) >= 90, c.name


def test_original_format_directory_loads(original_templates: OriginalTemplates) -> None:
    pack = load_pack(original_templates.directory)
    assert (original_templates.directory / "summary.json").exists()
    assert sorted(c.name for c in pack.categories) == sorted(original_templates.categories)  # summary.json ignored
    assert sorted(p.name for c in pack.categories for p in c.projects) == sorted(original_templates.projects)
    assert {c.name: c.labels for c in pack.categories} == original_templates.labels


def write_category(d: Path, name: str = "cat", **changes: object) -> Path:
    base: dict[str, object] = {
        "category": name, "projects": [{"name": f"P-{name}", "components": ["a", "b"]}],
        "labels": ["bug"], "titleTemplates": ["{{component}} broke"],
        "descriptionTemplates": ["When {{action}}, {{component}} fails."],
        "commentTemplates": ["Seen on {{version}}."],
    }
    base.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del base[k]
    d.mkdir(exist_ok=True)
    (d / f"{name}.json").write_text(json.dumps(base))
    return d


@pytest.mark.parametrize("changes,needle", [
    ({"titleTemplates": ["{{colour}} is off"]}, "titleTemplates[0]: unknown slot {{colour}}"),
    ({"titleTemplates": ["{{component broke"]}, "titleTemplates[0]: malformed placeholder"),
    ({"labels": []}, "labels: must not be empty"),
    ({"labels": ["bug", "bug"]}, "labels[1]: duplicate of entry 0"),
    ({"commentTemplates": None}, "missing key 'commentTemplates'"),
    ({"projects": [{"name": "X"}]}, "projects[0]: expected an object with 'name' and 'components'"),
    ({"slotPools": {"error": []}}, "slotPools.error: must not be empty"),
    ({"slotPools": {"component": ["x"]}}, "slotPools.component: not a pool slot"),
    ({"descriptionTemplates": ["ok {{action}}", 5]}, "descriptionTemplates[1]: expected a string"),
    ({"labels": ["bug", "needs\ntriage"]}, "labels[1]: names must be one line"),
    ({"projects": [{"name": "Two\nLines", "components": ["a"]}]}, "projects[0].name[0]: names must be one line"),
    ({"projects": [{"name": "P", "components": ["a\tb"]}]}, "projects[0].components[0]: names must be one line"),
])
def test_broken_packs_name_file_and_entry(tmp_path: Path, changes: dict, needle: str) -> None:
    d = write_category(tmp_path / "pack", **changes)
    with pytest.raises(UserError) as e:
        load_pack(d)
    assert needle in str(e.value) and "cat.json" in str(e.value)


def test_bad_json_and_cross_file_rules(tmp_path: Path) -> None:
    d = tmp_path / "pack"
    d.mkdir()
    (d / "a.json").write_text('{"category": "a",')
    with pytest.raises(UserError, match=r"a\.json: invalid JSON at line 1"):
        load_pack(d)
    (d / "a.json").unlink()
    write_category(d, "one", projects=[{"name": "Same", "components": ["x"]}])
    write_category(d, "two", projects=[{"name": "same", "components": ["y"]}])
    with pytest.raises(UserError, match="project 'same' also appears in"):
        load_pack(d)
    with pytest.raises(UserError, match="no category files"):
        load_pack(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None
