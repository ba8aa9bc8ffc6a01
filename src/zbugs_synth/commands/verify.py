"""`zbugs-synth verify`: the guide's verification queries and many more checks, on the loaded database.

Prints a table of checks (PASS / WARN / FAIL with numbers and sample rows), the guide's query
results and a one-line verdict; exit 0 when nothing failed, 1 otherwise (warnings do not fail).
`--json` prints the same as JSON instead; `--report FILE.html` also writes a self-contained page
with charts. Progress (one line per check) goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import add_arguments, build
from zbugs_synth.config.verify import VerifyConfig
from zbugs_synth.errors import UserError

if TYPE_CHECKING:
    from zbugs_synth.db.verify.checks import Check, Report

MAX_DETAILS = 10  # per check, in the text output (JSON and HTML have them all)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="check the loaded database: counts, orphans, schema, time order (exit 1 on failure)",
        description="Run the guide's verification queries and more against the database: row counts against "
                    "every recorded load, orphans on every foreign-key path, every index/FK/trigger present and "
                    "enabled, no comment older than its issue, modified >= created. Exit 0 if every check "
                    "passes (warnings allowed), 1 if any fails, 2 if verify cannot run (no database, bad "
                    "flag or setting).")
    add_arguments(p, VerifyConfig)
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    p.add_argument("--full", action="store_true",
                   help="scan for orphan rows on every foreign-key path, even where a validated, enforced foreign "
                        "key already rules them out (rows written with session_replication_role=replica bypass "
                        "foreign keys)")
    add_progress_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return verify_database(build(VerifyConfig, args), args.progress, as_json=args.json, full=args.full)


def verify_database(cfg: VerifyConfig, progress_mode: str, *, as_json: bool = False, full: bool = False) -> int:
    """verify with explicit settings (quickstart calls this too)."""
    from zbugs_synth.db.connect import resolve_db_url
    from zbugs_synth.db.verify.checks import verify
    from zbugs_synth.progress import make_progress

    if cfg.report is not None:
        check_writable(cfg.report)
    url = resolve_db_url(cfg)
    progress = make_progress(progress_mode)
    try:
        report = verify(url, statement_timeout=cfg.statement_timeout, samples=cfg.samples, progress=progress,
                        full=full)
    finally:
        progress.close()
    # The results first: a page that cannot be written after all (the disk filled up meanwhile) loses
    # only itself.
    if as_json:
        print(dump_json(report), flush=True)
    else:
        print(render_text(report), flush=True)
    if cfg.report is not None:
        from zbugs_synth.db.verify.extra_charts import collect
        from zbugs_synth.db.verify.report import write_report

        # Only the page charts the extra tables: their queries run for --report alone.
        try:
            write_report(report, cfg.report, collect(url, report.counts, statement_timeout=cfg.statement_timeout,
                                                      loads=report.loads))
        except OSError as e:
            raise UserError(f"--report {cfg.report}: cannot write it: {e.strerror or e}") from None
        if not as_json:
            print(f"report written to {cfg.report}")
    return 0 if report.ok else 1


def check_writable(path: Path) -> None:
    """Refuse a report path we could not write before spending minutes on the checks (quickstart: before
    its first step). A file is made there and removed: permissions, a read-only or full file system and
    immutable directories all show, which no look at the mode bits would tell root."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"--report {path}: is a directory; expected a file name such as report.html")
    if not parent.is_dir():
        raise UserError(f"--report {path}: directory {parent} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise UserError(f"--report {path}: cannot write in {parent}: {e.strerror or e}") from None


# ---- text ----------------------------------------------------------------------------------------

def render_text(report: Report) -> str:
    lines = [f"zbugs-synth verify: {report.target}", ""]
    lines += _counts(report)
    lines += _loads(report)
    lines += ["Checks"]
    width = max((len(c.name) for c in report.checks), default=10)
    for c in report.checks:
        lines += _check(c, width)
    lines.append("")
    lines += _guide(report)
    lines.append(f"Verdict: {report.verdict}")
    return "\n".join(lines)


def _counts(report: Report) -> list[str]:
    exp = report.expected or {}
    out = ["Row counts", f"  {'table':<20}{'rows':>16}{'expected':>16}"]
    for table, n in report.counts.items():
        shown = "missing" if n is None else f"{n:,}"
        expected = f"{exp[table]:,}" if table in exp else "-"
        mark = "" if table not in exp else ("  ok" if exp[table] == n else "  MISMATCH")
        out.append(f"  {table:<20}{shown:>16}{expected:>16}{mark}")
    if "project" in exp:
        out.append("  (expected project rows include the built-in Zero project row the migrations insert)")
    return [*out, ""]


def _loads(report: Report) -> list[str]:
    if not report.loads:
        return []
    out = [f"Loaded datasets ({len(report.loads):,})"]
    for d in report.loads:
        state = f"finished {d.finished_at:%Y-%m-%d %H:%M:%S}" if d.finished_at else "NOT FINISHED"
        rows = sum(d.rows.values())
        out.append(f"  #{d.id} {d.dataset_id} ({d.mode}) from {d.source}: {rows:,} rows, {state}")
    return [*out, ""]


def _check(c: Check, width: int) -> list[str]:
    out = [f"  {c.status:<5} {c.name:<{width}}  {c.summary}"]
    pad = " " * (10 + width)
    if len(c.details) > 1:
        out += [f"{pad}- {d}" for d in c.details[:MAX_DETAILS]]
        if len(c.details) > MAX_DETAILS:
            out.append(f"{pad}  ... {len(c.details) - MAX_DETAILS:,} more")
    out += [f"{pad}e.g. {s}" for s in c.samples]
    return out


def _guide(report: Report) -> list[str]:
    issues = report.counts.get("issue")
    # Issues there but no figures: the table is missing (a database never migrated) or the query failed
    # (a timeout): a table of zeros would read as measured.
    unmeasured = "not measured (see the checks above)"
    if issues is None or (issues and not report.projects):
        out = [f"Issues per project: {unmeasured}"]
    else:
        out = [f"Issues per project (top {len(report.top_projects):,} of {len(report.projects):,} projects)",
               f"  {'projectID':<24}{'name':<28}{'issues':>12}"]
        for p in report.top_projects:
            name = p.name if p.name is not None else "(missing project)"
            out.append(f"  {p.id:<24}{name[:27]:<28}{p.issues:>12,}")
    total = sum(report.comments_per_issue.values())
    if issues is None or (issues and not total):
        out += ["", f"Comments per issue: {unmeasured}"]
    else:
        out += ["", "Comments per issue", f"  {'bucket':<10}{'issues':>14}{'share':>9}"]
        for label, n in report.comment_buckets:
            share = f"{100.0 * n / total:.1f}%" if total else "-"
            out.append(f"  {label:<10}{n:>14,}{share:>9}")
    if report.labels_per_issue:
        hist = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.labels_per_issue.items())[:12])
        out += ["", f"Labels per issue (labels: issues): {hist}"]
    return [*out, ""]


def dump_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)
