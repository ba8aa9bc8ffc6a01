"""`zbugs-synth generate-synthetic`: spec Step 2, sharded CSVs for the six zbugs tables."""

from __future__ import annotations

import argparse

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import add_arguments, build
from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.progress import human_bytes, make_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate-synthetic",
        help="generate sharded CSVs (user, project, label, issue, comment, issueLabel)",
        description="Generate a synthetic zbugs dataset as sharded CSV files plus manifest.json. "
        "Every flag has an environment variable (the guide's names); flags win, then the environment, "
        "then .env, then the default. The same settings always give byte-identical files.",
    )
    add_arguments(p, GenerateConfig)
    add_progress_flag(p)
    p.set_defaults(func=run)


def print_summary(result) -> None:  # type: ignore[no-untyped-def]
    print(f"\nDataset written to {result.directory}/ (datasetId {result.manifest.dataset_id})")
    print(f"{'table':<12}{'rows':>14}{'shards':>8}{'bytes':>12}")
    for table, s in result.tables.items():
        print(f"{table:<12}{s.rows:>14,}{s.shards:>8}{human_bytes(s.bytes):>12}")
    secs = max(result.elapsed, 1e-9)
    print(f"{'total':<12}{result.rows:>14,}{sum(s.shards for s in result.tables.values()):>8}"
          f"{human_bytes(result.bytes):>12}")
    print(f"elapsed {secs:.2f}s, {result.rows / secs:,.0f} rows/s, {result.bytes / secs / 1e6:,.0f} MB/s"
          + "".join(f"; {k} {v:.2f}s" for k, v in result.phases.items()))


def run(args: argparse.Namespace) -> int:
    return generate_dataset(build(GenerateConfig, args), args.progress)


def generate_dataset(cfg: GenerateConfig, progress_mode: str) -> int:
    """generate-synthetic with explicit settings (quickstart calls this too)."""
    from zbugs_synth.generate.driver import generate  # numba loads only when generating

    progress = make_progress(progress_mode)
    try:
        result = generate(cfg, progress)
    finally:
        progress.close()
    print_summary(result)
    return 0
