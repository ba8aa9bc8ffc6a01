"""`zbugs-synth generate-templates`: the guide's Step 1, template JSON files written by Claude.

Shows the plan and its expected token use first (`--dry-run` stops there and needs no key), skips
categories whose files are already complete, writes each category as soon as it is finished, and
ends with the tokens each category used. The output directory works as TEMPLATES_DIR.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import ParseError, add_arguments, build
from zbugs_synth.config.templates import CATEGORIES, TemplatesConfig
from zbugs_synth.errors import UserError
from zbugs_synth.progress import make_progress
from zbugs_synth.templates.loader import load_default_pools
from zbugs_synth.templates.model import PackError
from zbugs_synth.templates.pack_dir import DirState, inspect, remove_stale_temp, write_summary
from zbugs_synth.templates.plan import (
    CategoryPlan,
    parse_categories,
    plan_all,
)
from zbugs_synth.templates.prompts import estimate

if TYPE_CHECKING:
    from zbugs_synth.templates.llm import RunReport, Usage

NO_KEY = ("ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=sk-ant-... (or put it in .env) to generate "
          "templates with Claude; generate-synthetic works without it, using the bundled template pack")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate-templates",
        help="write template JSON files with Claude (needs ANTHROPIC_API_KEY)",
        description="Generate the template pack (projects, components, labels, title/description/comment "
                    "templates, slot value pools) for the 10 software categories with the Claude API. "
                    "Finished categories are kept: a rerun only generates what is missing.",
    )
    add_arguments(p, TemplatesConfig)
    p.add_argument("--categories", metavar="A,B", default=None,
                   help="only these categories (default: all): " + ", ".join(CATEGORIES))
    p.add_argument("--force", action="store_true",
                   help="regenerate categories whose files are already present and valid")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (calls, expected tokens) and stop; needs no API key")
    add_progress_flag(p)
    p.set_defaults(func=run)


def _selected(args: argparse.Namespace) -> tuple[str, ...]:
    if args.categories is None:
        return CATEGORIES
    try:
        return parse_categories(args.categories)
    except ParseError as e:
        raise UserError(f"--categories {args.categories!r}: {e}") from None


def _describe_counts(cfg: TemplatesConfig) -> str:
    return (f"{cfg.num_projects} projects over the 10 categories, {cfg.components} components each; "
            f"per category {cfg.labels} labels, {cfg.titles} titles, {cfg.descriptions} descriptions, "
            f"{cfg.comments} comments, slot pools of {cfg.pool_values} values")


def _print_plan(cfg: TemplatesConfig, todo: Sequence[CategoryPlan], selected: Sequence[str],
                state: DirState, examples: dict, dry_run: bool) -> None:
    out = sys.stdout
    print(f"generate-templates{' (dry run: no API calls)' if dry_run else ''}: model {cfg.model}, "
          f"output {cfg.out}", file=out)
    todo_names = {p.name for p in todo}
    for name in selected:
        if name not in todo_names:
            print(f"  {name:<16} present and valid, skipped (--force regenerates it)", file=out)
    for name, why in state.stale.items():
        what = "present but will be regenerated" if name in todo_names else "present but invalid, not selected"
        print(f"  {name:<16} {what}: {why}", file=out)
    for name, why in state.broken.items():
        print(f"  warning: {name} is not a valid category file ({why}); load_pack will reject the directory",
              file=out)
    if not todo:
        return
    print(f"  {_describe_counts(cfg)}", file=out)
    total_calls = total_in = total_out = 0
    for plan in todo:
        est = [estimate(b, plan, examples) for b in plan.batches]
        t_in, t_out = sum(e[0] for e in est), sum(e[1] for e in est)
        total_calls, total_in, total_out = total_calls + len(est), total_in + t_in, total_out + t_out
        kinds: dict[str, int] = {}
        for b in plan.batches:
            kinds[b.key.split("-")[0]] = kinds.get(b.key.split("-")[0], 0) + 1
        detail = ", ".join(f"{k} {n}" for k, n in kinds.items())
        print(f"  {plan.name:<16} {len(est):>4} calls ({detail}; {plan.projects} projects), "
              f"~{t_in:,} input / ~{t_out:,} output tokens", file=out)
    print(f"  {'total':<16} {total_calls:>4} calls, ~{total_in:,} input / ~{total_out:,} output tokens "
          f"(estimate; follow-ups for invalid answers come on top), "
          f"{_at_a_time(min(cfg.category_concurrency, len(todo)))}", file=out)


def _at_a_time(n: int) -> str:
    return f"{n} categor{'y' if n == 1 else 'ies'} at a time"


def _print_usage(report: RunReport) -> None:
    if not report.results:
        return
    print("tokens used (input / output):")
    for name in (c for c in CATEGORIES if c in report.results):
        r = report.results[name]
        state = "written" if r.path else ("failed" if r.error else "stopped")
        _usage_line(name, r.usage, state)
    _usage_line("total", report.total, "")


def _usage_line(name: str, u: Usage, state: str) -> None:
    print(f"  {name:<16} {u.calls:>4} calls {u.input_tokens:>12,} / {u.output_tokens:>12,}  {state}".rstrip())


def _is_file(p: Path) -> bool:
    try:
        return p.exists() and not p.is_dir()
    except PermissionError:  # a parent we may not search: mkdir says so later, in one line
        return False


def run(args: argparse.Namespace) -> int:
    cfg = build(TemplatesConfig, args)
    # Before the plan is printed (and with --dry-run too): the plan would be for a place it cannot write.
    blocker = next((p for p in (cfg.out, *cfg.out.parents) if _is_file(p)), None)
    if blocker is not None:
        raise UserError(f"--out {str(cfg.out)!r}: {str(blocker)!r} is a file, not a directory; choose a directory")
    selected = _selected(args)
    try:
        default_pools, people = load_default_pools()
    except PackError as e:
        raise UserError(f"bundled slot pools: {e}") from None
    plans = plan_all(cfg)
    state = inspect(cfg.out, plans, default_pools, people)
    todo = [p for p in plans if p.name in selected and (args.force or p.name not in state.done)]
    _print_plan(cfg, todo, selected, state, dict(default_pools), args.dry_run)
    if args.dry_run:
        return 0
    if not todo:
        if cfg.out.is_dir():
            write_summary(cfg.out)
        print(f"nothing to do: {len(selected)} categories present and valid in {cfg.out}")
        return 0
    if not cfg.api_key:
        raise UserError(NO_KEY)
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {str(cfg.out)!r}: cannot create the directory ({e.strerror or e})") from None
    remove_stale_temp(cfg.out, [p.name for p in todo])
    skip = [p.name for p in todo]
    kept = [c for n, c in state.done.items() if n not in skip] + state.others
    # The SDK takes seconds to import: only pay for it when there is something to generate.
    from zbugs_synth.templates.llm import Interrupted, generate

    progress = make_progress(args.progress)
    report: RunReport | None = None
    try:
        report = generate(cfg, todo, progress, kept=kept, default_pools=default_pools, people=people)
    except Interrupted as stop:
        report = stop.report  # what the calls so far cost, printed before the interrupted line
        raise
    finally:
        progress.close()
        if report is not None:
            _print_usage(report)
    try:
        summary = write_summary(cfg.out)
    except OSError as e:
        raise UserError(f"cannot write {cfg.out / 'summary.json'}: {e.strerror or e} "
                        "(the category files written are complete; rerun to finish)") from None
    written = [r for r in report.results.values() if r.path]
    failed = [r for r in report.results.values() if r.error]
    on_disk = f"{len(summary['categories'])} category files in {cfg.out}"
    if report.fatal:
        raise UserError(f"{report.fatal} ({len(written)} of {len(todo)} categories written this run, "
                        f"{on_disk}; rerun to generate the rest)")
    if failed:
        for r in failed:
            print(f"zbugs-synth generate-templates: {r.error}", file=sys.stderr)
        names = ", ".join(r.name for r in failed)
        raise UserError(f"{len(failed)} of {len(todo)} categories failed ({names}); {on_disk}; "
                        "rerun to retry the missing ones")
    print(f"wrote {len(written)} categories; {on_disk} ({summary['totalProjects']} projects); "
          f"use them with TEMPLATES_DIR={cfg.out}")
    return 0
