"""Prompt text and tool schemas for `generate-templates`.

Answers come back as the input of a tool call (the tool's `input_schema` is a JSON Schema), never
as text to scrape. Schemas state counts (`minItems`/`maxItems`) and lengths; the item descriptions
of template strings list the allowed `{{placeholders}}` and their minimum number. Strings that must
not contain placeholders never mention double braces in their descriptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zbugs_synth.templates.answers import (
    COMMENT_RULE,
    COMPONENT_CHARS,
    DESCRIPTION_RULE,
    LABEL_CHARS,
    PROJECT_NAME_CHARS,
    TITLE_RULE,
    ProjectAnswer,
    SlotLengths,
    TemplateRule,
    value_chars,
)
from zbugs_synth.templates.model import POOL_SLOTS, SLOTS
from zbugs_synth.templates.plan import BatchPlan, CategoryPlan

SYSTEM = (
    "You write source material for a synthetic-data generator. It fills an issue tracker (zbugs, the "
    "bug tracker used to load-test Rocicorp's Zero sync engine) with millions of realistic issues and "
    "comments about software projects. Write what engineers really put in issue trackers: specific, "
    "technical, varied in tone, structure and length; never lorem ipsum, no real people's names, no "
    "real products or trademarks as project names. Answer only by calling the tool you are given, "
    "once, with every field filled."
)

CATEGORY_BRIEFS: Mapping[str, str] = {
    "web-frontend": "browser applications: single-page apps, UI component libraries, rendering and "
                    "CSS, routing, forms, accessibility, bundling",
    "mobile-app": "iOS and Android apps: native and cross-platform UI, push notifications, offline "
                  "sync, background tasks, app store releases, device permissions",
    "api-service": "backend services behind REST, GraphQL or gRPC APIs: authentication, rate "
                   "limiting, pagination, database access, webhooks, versioning",
    "infrastructure": "cloud infrastructure and operations: Kubernetes, networking, load balancers, "
                      "CI/CD pipelines, infrastructure as code, observability, on-call",
    "data-platform": "data pipelines and storage: batch and streaming ingestion, ETL jobs, "
                     "warehouses, query engines, schemas, data quality",
    "developer-tools": "tools for developers: CLIs, IDE extensions, build systems, linters, "
                       "formatters, package managers, SDKs, test runners",
    "security": "security products and practices: identity and access, secrets management, "
                "vulnerability scanning, audit logging, encryption, compliance",
    "ml-ai": "machine learning systems: training pipelines, model serving and inference, feature "
             "stores, evaluation, labeling, GPU scheduling, MLOps",
    "embedded-iot": "embedded and IoT software: firmware, sensors, device fleets, over-the-air "
                    "updates, RTOS, low-power radios, gateways",
    "game-media": "games and media software: game engines, rendering, physics, audio and video "
                  "pipelines, streaming, multiplayer netcode, asset tools",
}

SLOT_MEANINGS: Mapping[str, str] = {
    "component": "a component of the issue's project",
    "action": "what the user or system was doing, as a gerund phrase",
    "environment": "where it happens: deployment stage, browser or OS, device, cluster",
    "dependency": "a library, service or tool the project depends on",
    "version": "a version string of the project or of a dependency",
    "error": "an error message, exception or status code, as it would be quoted",
    "feature": "a product capability or feature name",
    "metric": "a quantity engineers measure and track",
    "user_type": "a kind of user or role",
    "steps": "short reproduction steps on one line",
    "expected": "what should happen, as a short clause",
    "actual": "what happens instead, as a short clause",
    "finding": "a result of investigating the problem, as a short clause",
    "suggestion": "a proposed fix or next step, as an imperative clause",
    "workaround": "a temporary workaround, as a short clause",
    "user": "the login of a teammate, to mention them",
}
if set(SLOT_MEANINGS) != set(SLOTS):  # checked at import even under `python -O`: a packaging mistake
    raise RuntimeError(f"every slot needs a meaning for the prompts: {sorted(set(SLOTS) ^ set(SLOT_MEANINGS))}")

THEME_BRIEFS: Mapping[tuple[str, str], str] = {
    ("titleTemplates", "bugs"): "Bug reports: crashes, errors, wrong results, regressions, performance "
                                "and reliability problems, flaky behaviour.",
    ("titleTemplates", "features"): "Feature requests and enhancements: new capabilities, improvements to "
                                    "existing behaviour, refactors, documentation and tooling work.",
    ("descriptionTemplates", "bugs"): "Bodies of bug reports: what goes wrong and where, how to reproduce "
                                      "it, expected versus actual behaviour, environment and version.",
    ("descriptionTemplates", "features"): "Bodies of feature requests: the problem or use case, who needs "
                                          "it, the proposed change, alternatives or open questions.",
    ("commentTemplates", "investigation"): "Comments made while investigating: reproduction attempts, "
                                           "findings from logs and traces, bisecting, narrowing down the "
                                           "cause, asking the reporter for details.",
    ("commentTemplates", "fixes"): "Comments about fixes and workarounds: a fix up for review, a workaround "
                                   "to use meanwhile, backports, confirmation that a fix works or not.",
    ("commentTemplates", "reviews"): "Questions and reviews: clarifying questions, code-review remarks, "
                                     "triage and priority decisions, duplicate notices, status pings.",
}

TOOL_NAMES: Mapping[str, str] = {
    "projects": "submit_projects", "labels": "submit_labels", "pools": "submit_slot_values",
    "titleTemplates": "submit_titles", "descriptionTemplates": "submit_descriptions",
    "commentTemplates": "submit_comments",
}
# The array key inside each tool's input.
ANSWER_KEYS: Mapping[str, str] = {
    "projects": "projects", "labels": "labels", "titleTemplates": "titles",
    "descriptionTemplates": "descriptions", "commentTemplates": "comments",
}
RULES: Mapping[str, TemplateRule] = {
    "titleTemplates": TITLE_RULE, "descriptionTemplates": DESCRIPTION_RULE, "commentTemplates": COMMENT_RULE,
}
_SAMPLE_COMPONENTS = 24   # components shown to phase-2 prompts, for the domain's flavour
_SAMPLE_PROJECTS = 30
_SAMPLE_VALUES = 3


@dataclass(frozen=True)
class Phase2Context:
    """What phase 1 produced that the template prompts show and the checks measure against."""

    projects: Sequence[ProjectAnswer]
    pools: Mapping[str, Sequence[str]]
    lengths: SlotLengths


def _tool(name: str, description: str, properties: dict, required: Sequence[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "input_schema": {"type": "object", "properties": properties, "required": list(required),
                         "additionalProperties": False},
    }


def _string_list(count: int, item: dict, description: str) -> dict:
    return {"type": "array", "minItems": count, "maxItems": count, "uniqueItems": True,
            "description": description, "items": item}


def _plain(bounds: tuple[int, int], description: str) -> dict:
    return {"type": "string", "minLength": bounds[0], "maxLength": bounds[1], "description": description}


# ---- tools ---------------------------------------------------------------------------------------

def projects_tool(want: int, components: int) -> dict:
    project = {
        "type": "object",
        "properties": {
            "name": _plain(PROJECT_NAME_CHARS, "invented project name, plain text"),
            "components": _string_list(components, _plain(COMPONENT_CHARS, "component name, lower-case, "
                                                                            "plain text"),
                                       f"exactly {components} distinct components"),
        },
        "required": ["name", "components"],
        "additionalProperties": False,
    }
    props = {"projects": {"type": "array", "minItems": want, "maxItems": want, "items": project,
                          "description": f"exactly {want} projects with distinct names"}}
    return _tool(TOOL_NAMES["projects"], f"Submit {want} projects with their components.", props,
                 ["projects"])


def labels_tool(want: int) -> dict:
    props = {"labels": _string_list(want, _plain(LABEL_CHARS, "issue label, lower-case, plain text"),
                                    f"exactly {want} distinct labels")}
    return _tool(TOOL_NAMES["labels"], f"Submit {want} issue labels.", props, ["labels"])


def pools_tool(slots: Sequence[str], values: int) -> dict:
    props = {
        s: _string_list(values, _plain(value_chars(s), f"a value for the {s} slot, plain text"),
                        f"exactly {values} distinct values: {SLOT_MEANINGS[s]}")
        for s in slots
    }
    return _tool(TOOL_NAMES["pools"], f"Submit {values} values for each of {len(slots)} slots.", props, slots)


def _placeholder_note(rule: TemplateRule) -> str:
    allowed = ", ".join(f"{{{{{s}}}}}" for s in SLOTS)
    note = f"Placeholders allowed: {allowed}."
    if rule.min_slots:
        note += f" Use at least {rule.min_slots} placeholders."
    return note


def templates_tool(kind: str, want: int) -> dict:
    rule = RULES[kind]
    item = {"type": "string", "minLength": rule.chars[0], "maxLength": rule.chars[1],
            "description": f"an issue {rule.noun} template. {_placeholder_note(rule)}"}
    key = ANSWER_KEYS[kind]
    props = {key: _string_list(want, item, f"exactly {want} distinct {rule.noun} templates")}
    return _tool(TOOL_NAMES[kind], f"Submit {want} {rule.noun} templates.", props, [key])


Want = int | tuple[str, ...]   # items still needed, or (pools) the slots still missing


def tool_for(batch: BatchPlan, want: Want, plan: CategoryPlan) -> dict:
    """The tool for the (remaining) part of `batch`."""
    if isinstance(want, tuple):
        return pools_tool(want, batch.count)
    if batch.kind == "projects":
        return projects_tool(want, plan.components)
    if batch.kind == "labels":
        return labels_tool(want)
    return templates_tool(batch.kind, want)


# ---- prompts -------------------------------------------------------------------------------------

def _header(category: str) -> str:
    # "Category: <name>" on the first line is also how request logs and test servers tell calls apart.
    return f"Category: {category}\nThe category covers {CATEGORY_BRIEFS[category]}.\n"


def _part(batch: BatchPlan) -> str:
    i, k = batch.part
    return f" (This is request {i} of {k} of this kind for the category.)" if k > 1 else ""


def projects_prompt(category: str, batch: BatchPlan, components: int, taken_names: Sequence[str]) -> str:
    lo, hi = PROJECT_NAME_CHARS
    clo, chi = COMPONENT_CHARS
    taken = ", ".join(sorted(taken_names)[:300]) or "none yet"
    return (
        f"{_header(category)}\n"
        f"Invent {batch.count} software projects that belong to this category, each with exactly "
        f"{components} components.{_part(batch)}\n"
        f"- Project names: invented product names or codenames ({lo}-{hi} characters), in the style of "
        f"\"Quillmark\" or \"Harbor Relay\"; not real products or companies, and not \"Zero\".\n"
        f"- Names already taken, which you must not reuse in any letter case: {taken}.\n"
        f"- Components: the parts engineers file issues against in that project (modules, services, "
        f"screens, subsystems, endpoints, jobs, drivers), specific to the project; lower-case noun "
        f"phrases of {clo}-{chi} characters, all {components} distinct within the project.\n"
        f"Call the {TOOL_NAMES['projects']} tool once with all {batch.count} projects."
    )


def labels_prompt(category: str, batch: BatchPlan) -> str:
    lo, hi = LABEL_CHARS
    return (
        f"{_header(category)}\n"
        f"Write {batch.count} issue labels that a team working on projects in this category would use: "
        f"issue type (bug, enhancement), area or subsystem, priority, triage status, platform or "
        f"environment, effort.{_part(batch)} Lower-case single words or kebab-case such as "
        f"\"needs-repro\" or \"p1\", {lo}-{hi} characters, all distinct.\n"
        f"Call the {TOOL_NAMES['labels']} tool once with all {batch.count} labels."
    )


def pools_prompt(category: str, batch: BatchPlan, examples: Mapping[str, Sequence[str]]) -> str:
    lines = []
    for s in batch.slots:
        lo, hi = value_chars(s)
        eg = ", ".join(json.dumps(v) for v in list(examples.get(s, ()))[:2])
        lines.append(f"  {s}: {SLOT_MEANINGS[s]}; {lo}-{hi} characters" + (f" (generic examples: {eg})"
                                                                           if eg else ""))
    return (
        f"{_header(category)}\n"
        f"The generator fills placeholders in issue text with values from pools. Write this "
        f"category's pools so filled-in issues sound like they come from this domain.{_part(batch)} "
        f"Give exactly {batch.count} distinct values for each slot:\n" + "\n".join(lines) + "\n"
        "Values are plain text: no placeholders or braces, no surrounding quotes, no final period.\n"
        f"Call the {TOOL_NAMES['pools']} tool once with every slot filled."
    )


def _slot_lines(ctx: Phase2Context) -> list[str]:
    comps = [c for p in ctx.projects for c in p.components]
    out = []
    for s in SLOTS:
        if s == "component":
            values: Sequence[str] = comps
        elif s == "user":
            values = ()
        else:
            values = ctx.pools[s]
        eg = ", ".join(json.dumps(v) for v in list(values)[:_SAMPLE_VALUES])
        out.append(f"  {{{{{s}}}}}: {SLOT_MEANINGS[s]}" + (f", e.g. {eg}" if eg else "")
                   + f" (up to {ctx.lengths.longest[s]} characters)")
    return out


def _rule_lines(kind: str) -> list[str]:
    rule = RULES[kind]
    lo, hi = rule.chars
    if kind == "titleTemplates":
        return [
            f"One line of {lo}-{hi} characters as written, and at most {rule.max_filled} characters once "
            "every placeholder holds its longest value (lengths above).",
            "Use up to three placeholders; most titles name the {{component}}.",
            "Vary the length the way real issue titles do: some are just a few words with no placeholder "
            "(\"Crash on save\"), most are a short sentence, a few spell out a whole situation.",
        ]
    lines = [f"{lo}-{hi} characters as written, and also with typical values filled in.",
             f"At least {rule.min_slots} different placeholders."]
    if kind == "descriptionTemplates":
        lines.append("Read like the body of a real issue; line breaks are fine, Markdown headings are not.")
    else:
        lines.append("Sound like a teammate's comment on the issue; {{user}} mentions someone.")
    return lines


def templates_prompt(category: str, batch: BatchPlan, ctx: Phase2Context) -> str:
    rule = RULES[batch.kind]
    names = ", ".join(p.name for p in ctx.projects[:_SAMPLE_PROJECTS])
    if len(ctx.projects) > _SAMPLE_PROJECTS:
        names += f" and {len(ctx.projects) - _SAMPLE_PROJECTS} more"
    # A few components of every project rather than all of the first one.
    depth = max(len(p.components) for p in ctx.projects)
    sample = [p.components[i] for i in range(depth) for p in ctx.projects
              if i < len(p.components)][:_SAMPLE_COMPONENTS]
    rules = "\n".join(f"- {line}" for line in [
        *_rule_lines(batch.kind),
        f"Every {rule.noun} differs from the others in wording and structure, not just in one word.",
        "Never name a specific project or component: write {{component}} instead.",
        "Plain text: no code fences, no surrounding quotes.",
    ])
    return (
        f"{_header(category)}Its projects: {names}. Some of their components: {', '.join(sample)}.\n\n"
        f"Write {batch.count} issue {rule.noun} templates for this category. "
        f"{THEME_BRIEFS[(batch.kind, batch.theme)]}{_part(batch)}\n\n"
        f"The generator picks a template at random for an issue of any project in the category and "
        f"replaces each placeholder with a random value, so every template must read naturally with "
        f"any value. Use only these placeholders, spelled exactly like this:\n"
        + "\n".join(_slot_lines(ctx)) + "\n\n"
        f"Rules for each {rule.noun}:\n{rules}\n"
        f"Call the {TOOL_NAMES[batch.kind]} tool once with all {batch.count} {rule.noun}s."
    )


_MAX_PROBLEM_LINES = 25


def feedback(tool_name: str, problems: Sequence[str], accepted: int, asked: int, remaining: Want) -> str:
    """The follow-up after an invalid answer: what was wrong, and exactly what is still needed."""
    shown = list(problems[:_MAX_PROBLEM_LINES])
    if len(problems) > _MAX_PROBLEM_LINES:
        shown.append(f"... and {len(problems) - _MAX_PROBLEM_LINES} more problems of the same kinds")
    if isinstance(remaining, int):
        need = f"exactly {remaining} new items"
        kept = f"{accepted} of the {asked} items were accepted and kept. "
    else:
        need = "values for these slots only: " + ", ".join(remaining)
        kept = ""
    problem_text = "\n".join(f"- {p}" for p in shown) or "- the tool was not called"
    return (f"That answer could not be used as is:\n{problem_text}\n{kept}Call {tool_name} again with "
            f"{need}, fixing the problems above and not repeating anything already accepted.")


# ---- estimates (for --dry-run and the plan shown before starting) --------------------------------

CHARS_PER_TOKEN = 3.5
TOOL_USE_OVERHEAD = 400   # tokens the API adds for tool definitions and forced tool use
_OUT_CHARS = {"labels": 14, "titleTemplates": 75, "descriptionTemplates": 320, "commentTemplates": 200}


def _tokens(chars: float) -> int:
    return int(chars / CHARS_PER_TOKEN)


def example_context(plan: CategoryPlan, examples: Mapping[str, Sequence[str]]) -> Phase2Context:
    """A stand-in for phase 1's output, to size phase-2 prompts before anything is generated."""
    projects = [ProjectAnswer(f"Project {i}", tuple(f"component {i}.{j}" for j in range(plan.components)))
                for i in range(plan.projects)]
    pools = {s: tuple(examples[s]) for s in POOL_SLOTS}
    comps = [c for p in projects for c in p.components]
    return Phase2Context(projects, pools, SlotLengths.of(comps, pools))


def estimate(batch: BatchPlan, plan: CategoryPlan, examples: Mapping[str, Sequence[str]]) -> tuple[int, int]:
    """Expected (input, output) tokens of one call, without follow-ups."""
    if batch.kind == "projects":
        prompt = projects_prompt(plan.name, batch, plan.components, ["Example Name"] * 20)
        out_chars = batch.count * (30 + plan.components * 24)
    elif batch.kind == "labels":
        prompt = labels_prompt(plan.name, batch)
        out_chars = batch.count * _OUT_CHARS["labels"]
    elif batch.kind == "pools":
        prompt = pools_prompt(plan.name, batch, examples)
        out_chars = sum(batch.count * (45 if value_chars(s)[1] > 40 else 18) for s in batch.slots)
    else:
        prompt = templates_prompt(plan.name, batch, example_context(plan, examples))
        out_chars = batch.count * _OUT_CHARS[batch.kind]
    tool = tool_for(batch, batch.slots if batch.kind == "pools" else batch.count, plan)
    in_chars = len(SYSTEM) + len(prompt) + len(json.dumps(tool))
    return _tokens(in_chars) + TOOL_USE_OVERHEAD, _tokens(out_chars) + 40
