"""`zbugs-synth generate-synthetic`: spec Step 2, sharded CSVs for the six zbugs tables.

Also its partitioned forms (`--parts N [--part K]`, `--scheduler ADDRESS`) and `combine-parts`.
"""

from __future__ import annotations

import argparse

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import add_arguments, build
from zbugs_synth.config.generate import GenerateConfig, output_location
from zbugs_synth.config.remote import endpoint
from zbugs_synth.errors import UserError
from zbugs_synth.generate.sink import is_remote
from zbugs_synth.progress import NullProgress, human_bytes, make_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate-synthetic",
        help="generate sharded CSVs (user, project, label, issue, comment, issueLabel)",
        description="Generate a synthetic zbugs dataset as sharded CSV files plus manifest.json. "
        "Every flag has an environment variable (the guide's names); flags win, then the environment, "
        "then .env, then the default. The same settings always give byte-identical files. "
        "--parts N splits the dataset into N parts written independently (--part K: only part K; "
        "--scheduler: every part as a task on a Dask cluster); an s3:// OUTPUT_DIR is written as parts.",
    )
    add_arguments(p, GenerateConfig)
    add_progress_flag(p)
    p.set_defaults(func=run)

    c = sub.add_parser(
        "combine-parts", help="write manifest.json for a dataset generated in parts, once every part is there",
        description="Combine the part manifests (parts/part-K-of-N.json) of a partitioned dataset into its "
        "manifest.json and manifest.txt. Refuses while a part is missing or incomplete, and part manifests "
        "of different configurations.",
    )
    c.add_argument("destination", metavar="DIR_OR_S3_URL", help="the dataset directory or s3://bucket/prefix/")
    c.add_argument("--endpoint-url", default=None, metavar="VALUE", help="S3 API endpoint of an S3-compatible store "
                   "[env AWS_ENDPOINT_URL]")
    c.add_argument("--force", action="store_true",
                   help="delete dataset CSVs in the destination that no part lists")
    c.set_defaults(func=run_combine)


def print_summary(result, lead: str = "\n") -> None:  # type: ignore[no-untyped-def]
    """`lead`: a blank line apart from the progress display above, none when there was none."""
    print(f"{lead}Dataset written to {result.directory}/ (datasetId {result.manifest.dataset_id})")
    _print_tables(result)
    secs = max(result.elapsed, 1e-9)
    print(f"elapsed {secs:.2f}s, {result.rows / secs:,.0f} rows/s, {human_bytes(result.bytes / secs)}/s"
          + "".join(f"; {k} {v:.2f}s" for k, v in result.phases.items()))


def _print_tables(result) -> None:  # type: ignore[no-untyped-def]
    w = max(12, *(len(t) + 2 for t in result.tables))  # issueNotifications (ALL_TABLES) is 18 wide
    print(f"{'table':<{w}}{'rows':>14}{'shards':>8}{'bytes':>12}")
    for table, s in result.tables.items():
        print(f"{table:<{w}}{s.rows:>14,}{s.shards:>8}{human_bytes(s.bytes):>12}")
    print(f"{'total':<{w}}{result.rows:>14,}{sum(s.shards for s in result.tables.values()):>8}"
          f"{human_bytes(result.bytes):>12}")


def print_parts_summary(outcome, lead: str = "\n") -> None:  # type: ignore[no-untyped-def]
    from zbugs_synth.generate.driver import _result

    skipped, rows, size = outcome.skipped, outcome.rows, outcome.bytes
    secs = max(outcome.elapsed, 1e-9)
    if outcome.written:
        print(f"{lead}{outcome.written} part(s) written to {outcome.destination}"
              + (f", {skipped} already complete" if skipped else "")
              + f": {rows:,} rows, {human_bytes(size)} in {secs:.2f}s ({rows / secs:,.0f} rows/s, "
                f"{human_bytes(size / secs)}/s)")
    elif outcome.combined is None or not outcome.combined.written:
        print(f"{lead}nothing written to {outcome.destination}: what this run asked for was already there")
    else:
        print(f"{lead}every part was already in {outcome.destination}")
    if outcome.combined is not None:
        m = outcome.combined.manifest
        done = "manifest.json written" if outcome.combined.written else "manifest.json in place"
        print(f"The dataset is complete: {done} (datasetId {m.dataset_id}, {outcome.parts} part(s))")
        _print_tables(_result(outcome.destination, m, 0.0, {}))
    else:
        print(f"{outcome.present} of {outcome.parts} parts present; manifest.json is written when the last "
              f"one finishes (or run `zbugs-synth combine-parts {outcome.destination}`)")


def run(args: argparse.Namespace) -> int:
    return generate_dataset(build(GenerateConfig, args), args.progress)


def generate_dataset(cfg: GenerateConfig, progress_mode: str) -> int:
    """generate-synthetic with explicit settings (quickstart calls this too)."""
    progress = make_progress(progress_mode)
    try:
        if cfg.scheduler:
            from zbugs_synth.generate.cluster import run_on_cluster

            if cfg.part:
                raise UserError("--part: not with --scheduler (the cluster runs every part; "
                                "parts already complete are skipped)")
            outcome = run_on_cluster(cfg, progress)
        elif cfg.parts or cfg.part or is_remote(cfg.output_dir):
            from zbugs_synth.generate.partitioned import run_parts

            outcome = run_parts(cfg, progress)
        else:
            from zbugs_synth.generate.driver import generate  # numba loads only when generating

            result = generate(cfg, progress)
            progress.close()
            print_summary(result, _lead(progress))
            return 0
    finally:
        progress.close()
    print_parts_summary(outcome, _lead(progress))
    return 0


def _lead(progress: object) -> str:
    return "" if isinstance(progress, NullProgress) else "\n"


def run_combine(args: argparse.Namespace) -> int:
    import os

    from zbugs_synth.config import ParseError
    from zbugs_synth.generate.parts import combine
    from zbugs_synth.generate.sink import LocalSink, open_sink
    from zbugs_synth.remote.safety import redact_url

    try:
        dest = output_location(args.destination)
    except ParseError as e:
        raise UserError(f"{redact_url(args.destination)!r}: {e}") from None
    given = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "")
    try:
        url = endpoint(given)
    except ParseError as e:  # named for the flag or the variable it came from; never echoed (may hold a key)
        raise UserError(f"{'--endpoint-url' if args.endpoint_url else 'AWS_ENDPOINT_URL'}: {e}") from None
    sink = open_sink(dest, endpoint_url=url)
    if isinstance(sink, LocalSink) and not sink.directory.is_dir():
        raise UserError(f"{args.destination}: not a directory")
    combined = combine(sink, force=args.force)
    if combined is None:  # only for a generate run's expected configuration
        raise RuntimeError("combine without an expected configuration returned nothing")
    m = combined.manifest
    print(f"{sink.display}: {combined.parts} parts combined into manifest.json ({len(m.files)} files, "
          f"{sum(f.rows for f in m.files):,} rows, {human_bytes(sum(f.bytes for f in m.files))}; "
          f"datasetId {m.dataset_id})")
    return 0
