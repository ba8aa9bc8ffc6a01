"""Check one answer from the model (the input of its tool call) and keep what is usable.

Every check returns the items it accepted plus a list of problems, one line each, worded for the
model: `generate-templates` sends the problems back and asks only for the missing items, so a
mostly-good answer costs a small follow-up instead of a full retry.

The rules are the pack rules of `templates.model` (known slots, no malformed placeholders, no
duplicates, length bounds, slot counts) plus a few of our own that keep the text realistic.
Accepted items are claimed in the `taken` set passed in, so concurrent batches of one kind (and
project names across categories) never overlap; asyncio runs each check without interruption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

from zbugs_synth.templates.model import (
    POOL_SLOTS,
    LintRules,
    PackError,
    check_template,
    filled_length,
    slots_in,
)

_LINT = LintRules()

PROJECT_NAME_CHARS = (2, 40)
COMPONENT_CHARS = (2, 40)
LABEL_CHARS = (2, 30)
# Values of these slots are phrases, not names; titles that use them get less room for other words.
LONG_SLOTS = frozenset({"steps", "expected", "actual", "finding", "suggestion", "workaround"})
SHORT_VALUE_CHARS = (2, 40)
LONG_VALUE_CHARS = (4, 80)
# Raw template text. Real trackers' titles run from two words ("GPU OOM") to a long sentence
# (zbugs' own: p5 / p50 / p95 = 17 / 44 / 85 characters); max_filled still caps the column.
TITLE_CHARS = (6, 110)
TITLE_MAX_FILLED = _LINT.title_max_filled       # the issue.title column is varchar(128)
DESCRIPTION_CHARS = _LINT.description_chars     # raw and filled with typical values
DESCRIPTION_MIN_SLOTS = 3
COMMENT_CHARS = _LINT.comment_chars
COMMENT_MIN_SLOTS = 2
# `user` is filled with a login; lint assumes at most 24 characters, logins are usually ~10.
USER_LONGEST = 24
USER_TYPICAL = 10
# The built-in zbugs project; `project.lowerCaseName` is unique, so no template project may take it.
RESERVED_PROJECT_NAMES = frozenset({"zero"})


def value_chars(slot: str) -> tuple[int, int]:
    return LONG_VALUE_CHARS if slot in LONG_SLOTS else SHORT_VALUE_CHARS


def norm(text: str) -> str:
    """The key two strings collide on: case and runs of whitespace do not make text different."""
    return " ".join(text.split()).lower()


@dataclass
class Checked:
    """What an answer gave us: usable items, problems to report, and what is still missing."""

    accepted: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SlotLengths:
    """Lengths of slot values of one category, for the title and body length rules."""

    longest: Mapping[str, int]
    typical: Mapping[str, int]

    @classmethod
    def of(cls, components: Sequence[str], pools: Mapping[str, Sequence[str]]) -> SlotLengths:
        longest = {s: max(len(v) for v in pools[s]) for s in POOL_SLOTS}
        typical = {s: round(median(len(v) for v in pools[s])) for s in POOL_SLOTS}
        longest["component"] = max(len(c) for c in components)
        typical["component"] = round(median(len(c) for c in components))
        longest["user"], typical["user"] = USER_LONGEST, USER_TYPICAL
        return cls(longest, typical)


@dataclass(frozen=True)
class TemplateRule:
    """The rules for one kind of template (titles, descriptions, comments)."""

    noun: str                       # "title", used in problem lines
    chars: tuple[int, int]          # raw text length bounds
    min_slots: int
    max_filled: int | None = None   # with the longest values (titles)
    typical_chars: tuple[int, int] | None = None  # with typical values (descriptions, comments)
    multiline: bool = False


TITLE_RULE = TemplateRule("title", TITLE_CHARS, 0, max_filled=TITLE_MAX_FILLED)
DESCRIPTION_RULE = TemplateRule("description", DESCRIPTION_CHARS, DESCRIPTION_MIN_SLOTS,
                                typical_chars=DESCRIPTION_CHARS, multiline=True)
COMMENT_RULE = TemplateRule("comment", COMMENT_CHARS, COMMENT_MIN_SLOTS,
                            typical_chars=COMMENT_CHARS, multiline=True)


# ---- shape ---------------------------------------------------------------------------------------

def _list_field(answer: object, key: str, problems: list[str]) -> list | None:
    if not isinstance(answer, dict):
        problems.append(f"the tool input must be an object with the key {key!r}")
        return None
    value = answer.get(key)
    if value is None:
        problems.append(f"missing {key!r}: expected a JSON array")
        return None
    if not isinstance(value, list):
        problems.append(f"{key!r} must be a JSON array, got {type(value).__name__}")
        return None
    return value


def _short(text: str, n: int = 50) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _plain_text_problem(value: object, where: str, bounds: tuple[int, int]) -> str | None:
    """Names, components, labels and slot values: one line of plain text within bounds."""
    if not isinstance(value, str):
        return f"{where}: expected a string, got {type(value).__name__}"
    text = value.strip()
    if "{{" in text or "}}" in text:
        return f"{where} {_short(text)}: must not contain placeholders or double braces"
    if any(ord(ch) < 32 for ch in text):
        return f"{where} {_short(text)}: must be a single line without control characters"
    lo, hi = bounds
    if not lo <= len(text) <= hi:
        return f"{where} {_short(text)}: is {len(text)} characters, expected {lo}-{hi}"
    return None


def _distinct_strings(values: list, where: str, bounds: tuple[int, int], want: int,
                      problems: list[str], taken: set[str] | None = None) -> list[str]:
    """Valid, mutually distinct strings of `values` (at most `want`), reporting the rest."""
    seen = set() if taken is None else taken
    out: list[str] = []
    for i, v in enumerate(values):
        if len(out) == want:
            break
        problem = _plain_text_problem(v, f"{where}[{i}]", bounds)
        if problem:
            problems.append(problem)
            continue
        text = v.strip()
        if norm(text) in seen:
            problems.append(f"{where}[{i}] {_short(text)}: duplicate")
            continue
        seen.add(norm(text))
        out.append(text)
    return out


# ---- phase 1: projects, labels, slot pools -------------------------------------------------------

@dataclass(frozen=True)
class ProjectAnswer:
    name: str
    components: tuple[str, ...]


def check_projects(answer: object, want: int, components: int, taken_names: set[str]) -> Checked:
    """Projects with a free name and `components` valid distinct components (extras dropped)."""
    checked = Checked()
    items = _list_field(answer, "projects", checked.problems)
    if items is None:
        return checked
    for i, p in enumerate(items):
        if len(checked.accepted) == want:
            break
        where = f"projects[{i}]"
        if not isinstance(p, dict):
            checked.problems.append(f"{where}: expected an object with 'name' and 'components'")
            continue
        problem = _plain_text_problem(p.get("name"), f"{where}.name", PROJECT_NAME_CHARS)
        if problem:
            checked.problems.append(problem)
            continue
        name = p["name"].strip()
        if norm(name) in RESERVED_PROJECT_NAMES:
            checked.problems.append(f"{where}.name {name!r}: reserved (the built-in zbugs project)")
            continue
        if norm(name) in taken_names:
            checked.problems.append(f"{where}.name {name!r}: already taken by another project")
            continue
        comp_problems: list[str] = []
        raw = _list_field(p, "components", comp_problems)
        comps = [] if raw is None else _distinct_strings(
            raw, f"{where}.components", COMPONENT_CHARS, components, comp_problems)
        if len(comps) < components:
            got = 0 if raw is None else len(raw)
            detail = "; ".join(comp_problems[:3])
            checked.problems.append(f"{where} {name!r}: {len(comps)} valid distinct components of {got},"
                                    f" need {components}" + (f" ({detail})" if detail else ""))
            continue
        taken_names.add(norm(name))
        checked.accepted.append(ProjectAnswer(name, tuple(comps)))
    if len(checked.accepted) < want and len(items) < want:
        checked.problems.append(f"{len(items)} projects given, {want} asked for")
    return checked


def check_labels(answer: object, want: int, taken: set[str]) -> Checked:
    checked = Checked()
    items = _list_field(answer, "labels", checked.problems)
    if items is None:
        return checked
    checked.accepted = _distinct_strings(items, "labels", LABEL_CHARS, want, checked.problems, taken)
    if len(checked.accepted) < want and len(items) < want:
        checked.problems.append(f"{len(items)} labels given, {want} asked for")
    return checked


def check_pools(answer: object, slots: Sequence[str], values: int) -> Checked:
    """Accepted items are `(slot, values)` pairs for slots with `values` valid distinct values."""
    checked = Checked()
    if not isinstance(answer, dict):
        checked.problems.append("the tool input must be an object with one array per slot")
        return checked
    for slot in slots:
        raw = answer.get(slot)
        if not isinstance(raw, list):
            checked.problems.append(f"{slot!r}: missing or not a JSON array")
            continue
        slot_problems: list[str] = []
        good = _distinct_strings(raw, slot, value_chars(slot), values, slot_problems)
        if len(good) < values:
            detail = "; ".join(slot_problems[:3])
            checked.problems.append(f"{slot!r}: {len(good)} valid distinct values of {len(raw)},"
                                    f" need {values}" + (f" ({detail})" if detail else ""))
            continue
        checked.accepted.append((slot, tuple(good)))
    return checked


# ---- phase 2: templates --------------------------------------------------------------------------

def template_problem(text: str, rule: TemplateRule, lengths: SlotLengths) -> str | None:
    """Why one template breaks `rule` (None: it is fine). `text` is already stripped."""
    try:
        check_template(text, rule.noun)
    except PackError as e:
        return str(e).removeprefix(f"{rule.noun}: ")
    bad = [ch for ch in text if ord(ch) < 32 and not (rule.multiline and ch in "\n\t")]
    if bad:
        return "must be a single line" if not rule.multiline else "contains a control character"
    used = slots_in(text)
    if len(used) < rule.min_slots:
        return f"has {len(used)} placeholders, needs at least {rule.min_slots}"
    lo, hi = rule.chars
    if not lo <= len(text) <= hi:
        return f"is {len(text)} characters, expected {lo}-{hi}"
    if rule.max_filled is not None:
        n = filled_length(text, lengths.longest)
        if n > rule.max_filled:
            return (f"can grow to {n} characters when the placeholders take their longest values"
                    f" (max {rule.max_filled}); shorten it or use shorter placeholders")
    if rule.typical_chars is not None:
        n = filled_length(text, lengths.typical)
        tlo, thi = rule.typical_chars
        if not tlo <= n <= thi:
            return f"is {n} characters with typical placeholder values, expected {tlo}-{thi}"
    return None


def check_templates(answer: object, key: str, want: int, rule: TemplateRule, lengths: SlotLengths,
                    taken: set[str]) -> Checked:
    checked = Checked()
    items = _list_field(answer, key, checked.problems)
    if items is None:
        return checked
    for i, t in enumerate(items):
        if len(checked.accepted) == want:
            break
        if not isinstance(t, str) or not t.strip():
            checked.problems.append(f"{key}[{i}]: expected a non-empty string")
            continue
        text = t.strip()
        problem = template_problem(text, rule, lengths)
        if problem:
            checked.problems.append(f"{key}[{i}] {_short(text)}: {problem}")
            continue
        if norm(text) in taken:
            checked.problems.append(f"{key}[{i}] {_short(text)}: duplicate of another {rule.noun}")
            continue
        taken.add(norm(text))
        checked.accepted.append(text)
    if len(checked.accepted) < want and len(items) < want:
        checked.problems.append(f"{len(items)} {key} given, {want} asked for")
    return checked

