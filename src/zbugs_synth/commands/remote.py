"""`get-data` (download a published dataset) and `publish` (upload one to S3)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zbugs_synth.commands import add_progress_flag
from zbugs_synth.config import add_arguments, build
from zbugs_synth.config.remote import DEFAULT_OUT, GetDataConfig, PublishConfig
from zbugs_synth.progress import human_bytes, make_progress
from zbugs_synth.remote import s3
from zbugs_synth.remote.get import GetResult, ManifestUnavailable, get_data
from zbugs_synth.remote.publish import check_dataset, publish
from zbugs_synth.remote.safety import redact_url
from zbugs_synth.remote.sources import open_source


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "get-data", help="download a pre-generated dataset (S3 or HTTPS), verified and resumable",
        description="Download a published dataset: reads its manifest, fetches the CSV shards in parallel, "
                    "checks sizes and checksums, resumes interrupted downloads and skips files already "
                    "present. AWS credentials and region come from the usual AWS environment/config; "
                    "public buckets work without credentials.",
    )
    add_arguments(p, GetDataConfig)
    add_progress_flag(p)
    p.set_defaults(func=run_get)

    p = sub.add_parser(
        "publish", help="upload a generated dataset to s3://bucket/prefix/",
        description="Upload every shard of a generated dataset, then manifest.txt and manifest.json (last). "
                    "Refuses a directory whose files do not match its manifest.json.",
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="dataset directory (with manifest.json)")
    p.add_argument("--to", required=True, metavar="s3://BUCKET/PREFIX/", help="destination")
    add_arguments(p, PublishConfig)
    add_progress_flag(p)
    p.set_defaults(func=run_publish)


def generate_locally_hint(out: Path, absent: bool = True) -> str:
    """What the original script tells you when there is nothing to download (`absent`: the source
    says there is none; else it could not be reached, which may be a typo worth checking first)."""
    custom = out != DEFAULT_OUT
    gen_env = f"OUTPUT_DIR={out} " if custom else ""
    seed_env = f"ZERO_SEED_DATA_DIR={out} " if custom else ""
    lead = ("The pre-generated dataset is not available. Generate it locally instead:" if absent else
            "Check --from, --endpoint-url and the network; or generate the dataset locally instead:")
    return (
        f"{lead}\n"
        f"  {gen_env}zbugs-synth generate-synthetic      # NUM_ISSUES=10000 for a small dataset\n"
        "then load it:\n"
        f"  {seed_env}zbugs-synth db-seed-synthetic\n"
        "(see `zbugs-synth generate-synthetic --help` for all settings)"
    )


def run_get(args: argparse.Namespace) -> int:
    cfg = build(GetDataConfig, args)
    source = open_source(cfg.source, endpoint_url=cfg.endpoint_url, jobs=cfg.jobs)
    progress = make_progress(args.progress)
    try:
        try:
            progress.log(f"get-data: {source.display} -> {cfg.out}")
            result = get_data(source, cfg.out, jobs=cfg.jobs, progress=progress, force=cfg.force)
        finally:
            progress.close()  # before printing anything else, so a live bar doesn't garble it
    except ManifestUnavailable as e:
        # The error line first (worded as the CLI words any UserError), then what to do about it.
        print(f"zbugs-synth {args.command}: error: {e}", file=sys.stderr)
        print(generate_locally_hint(cfg.out, e.absent), file=sys.stderr)
        return e.exit_code
    _report_get(result, cfg.out)
    return 0


def _report_get(result: GetResult, out: Path) -> None:
    remote = result.remote
    dataset_id = remote.manifest.dataset_id if remote.manifest else ""
    what = f"dataset {dataset_id}" if dataset_id else "dataset"
    print(
        f"{what}: {len(remote.files):,} files, {human_bytes(result.total_bytes)} in {out} "
        f"({len(result.downloaded):,} downloaded, {len(result.skipped):,} already present and verified, "
        f"{human_bytes(result.bytes_fetched)} transferred)"
    )
    if remote.kind == "txt":
        print("note: the source has only manifest.txt, so files were checked by size only (no checksums)")
    if result.removed:
        print(f"removed {len(result.removed):,} dataset file(s) the manifest does not list "
              f"(--force), e.g. {result.removed[0]}")
    seed_env = f"ZERO_SEED_DATA_DIR={out} " if out != DEFAULT_OUT else ""
    print(f"next: {seed_env}zbugs-synth db-seed-synthetic")


def run_publish(args: argparse.Namespace) -> int:
    cfg = build(PublishConfig, args)
    dest = s3.parse_s3_url(args.to)
    progress = make_progress(args.progress)
    try:
        dataset = check_dataset(args.directory, jobs=min(cfg.jobs, 4), progress=progress)
        client = s3.make_client(cfg.endpoint_url, jobs=cfg.jobs, require_credentials=True)
        progress.log(f"publish: {args.directory} -> {dest} ({len(dataset.manifest.files):,} files, "
                     f"{human_bytes(dataset.total_bytes)})")
        result = publish(dataset, dest, client, jobs=cfg.jobs, part_size=cfg.part_size_mib << 20,
                         progress=progress)
    finally:
        progress.close()
    where = f" --endpoint-url {redact_url(cfg.endpoint_url)}" if cfg.endpoint_url else ""
    shards = result.files - 2  # files counts manifest.txt and manifest.json too
    same = (f": {shards - result.unchanged:,} uploaded, {result.unchanged:,} already there with the same content"
            if result.unchanged else "")
    print(f"published {shards:,} shard(s) ({human_bytes(result.bytes)}) and the 2 manifests to "
          f"{result.location}{same}")
    if result.removed:
        print(f"removed {len(result.removed):,} shard(s) the new manifest does not list (left by a dataset "
              f"published there before), e.g. {result.removed[0]}")
    if result.not_removed:
        print(f"warning: shards of a dataset published there before could not be removed ({result.not_removed}); "
              "readers go by the new manifest and never fetch them", file=sys.stderr)
    print(f"fetch it with: zbugs-synth get-data --from {result.location}{where}")
    return 0
