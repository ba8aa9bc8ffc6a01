"""`publish`: upload a generated dataset to an S3 prefix, safely.

Only a complete, self-consistent dataset is published: it must have a manifest.json, no
incomplete marker, and every listed file present with the listed size and checksum (and no
unlisted shards mixed in). Order of uploads, so a reader never sees a manifest for missing files:
1. remove the prefix's old manifest.json and manifest.txt (readers then see "no dataset yet"
   rather than an old manifest next to new shards);
2. upload all shards in parallel (multipart for big ones);
3. upload manifest.txt, then manifest.json last.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zbugs_synth.checksum import file_checksum
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    Manifest,
    ManifestError,
    dataset_files,
    manifest_txt,
    parse_manifest,
)
from zbugs_synth.progress import NullProgress, Progress, Task
from zbugs_synth.remote import s3
from zbugs_synth.remote.parallel import run_parallel
from zbugs_synth.remote.s3 import S3Location

MIN_PART_SIZE = 5 << 20  # S3's minimum multipart part size
DEFAULT_PART_SIZE = 64 << 20

CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}


@dataclass
class CheckedDataset:
    directory: Path
    manifest: Manifest
    manifest_json: bytes  # uploaded exactly as it is on disk

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.manifest.files)


@dataclass
class PublishResult:
    location: S3Location
    files: int
    bytes: int


def check_dataset(directory: Path, *, jobs: int = 4, progress: Progress | None = None) -> CheckedDataset:
    """Refuse anything but a complete dataset whose files match its manifest.json exactly."""
    try:
        return _check(directory, jobs, progress or NullProgress())
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        raise UserError(f"cannot read {directory}: {e.strerror or e}{where}") from None


def _check(directory: Path, jobs: int, progress: Progress) -> CheckedDataset:
    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory")
    if (directory / INCOMPLETE_MARKER).exists():
        raise UserError(
            f"{directory}: incomplete dataset ({INCOMPLETE_MARKER} exists: a run did not finish); "
            "rerun the command that wrote it (generate-synthetic or get-data)"
        )
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise UserError(
            f"{directory}: no {MANIFEST_NAME}; only datasets written by `zbugs-synth generate-synthetic` "
            "(which lists sizes and checksums) can be published"
        )
    raw = path.read_bytes()
    try:
        manifest = parse_manifest(raw.decode("utf-8", errors="strict"))
    except (ManifestError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: {e}") from None
    if not manifest.files:
        raise UserError(f"{path}: lists no data files")

    listed = {f.name for f in manifest.files}
    extra = [n for n in dataset_files(directory) if n not in listed]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise UserError(
            f"{directory}: {extra[0]}{more} is not listed in {MANIFEST_NAME}; "
            "refusing to publish a directory that mixes datasets"
        )
    for f in manifest.files:
        p = directory / f.name
        if not p.is_file():
            raise UserError(f"{directory}: {f.name} is listed in {MANIFEST_NAME} but missing")
        size = p.stat().st_size
        if size != f.bytes:
            raise UserError(f"{p}: {size:,} bytes, {MANIFEST_NAME} says {f.bytes:,}; refusing to publish")

    task = progress.task("verify", sum(f.bytes for f in manifest.files), unit="bytes")

    def verify(entry: Any, stop: threading.Event) -> None:
        got = file_checksum(directory / entry.name, task.advance, stop)
        if got != entry.checksum:
            raise UserError(
                f"{directory / entry.name}: checksum {got} does not match {MANIFEST_NAME} "
                f"({entry.checksum}); refusing to publish"
            )

    run_parallel(manifest.files, verify, jobs)
    task.done()
    return CheckedDataset(directory, manifest, raw)


class _ProgressSubscriber:
    """s3transfer subscriber feeding our progress task (bytes may go negative on a retried part)."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        pass

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self.task.advance(bytes_transferred)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        pass


def publish(
    dataset: CheckedDataset,
    dest: S3Location,
    client: Any,
    *,
    jobs: int = 8,
    part_size: int = DEFAULT_PART_SIZE,
    progress: Progress | None = None,
) -> PublishResult:
    from boto3.s3.transfer import TransferConfig, create_transfer_manager
    from botocore.exceptions import BotoCoreError, ClientError

    progress = progress or NullProgress()
    part_size = max(part_size, MIN_PART_SIZE)
    try:
        # Step 1: no stale manifest may describe the prefix while its shards change.
        for name in (MANIFEST_NAME, MANIFEST_TXT):
            client.delete_object(Bucket=dest.bucket, Key=dest.key(name))

        # Step 2: shards. s3transfer shares one pool of `jobs` threads across files and parts, and
        # switches to multipart above `part_size` (raising the part size past 10,000 parts).
        config = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=jobs,
            use_threads=True,
        )
        task = progress.task("upload", dataset.total_bytes, unit="bytes")
        manager = create_transfer_manager(client, config)
        try:
            futures = [
                manager.upload(
                    str(dataset.directory / f.name), dest.bucket, dest.key(f.name),
                    extra_args={"ContentType": CONTENT_TYPES[".csv"]},
                    subscribers=[_ProgressSubscriber(task)],
                )
                for f in dataset.manifest.files
            ]
            for fut in futures:
                fut.result()
        except BaseException:
            manager.shutdown(cancel=True)
            raise
        manager.shutdown()
        task.done()

        # Step 3: manifests, JSON last.
        names_txt = manifest_txt(f.name for f in dataset.manifest.files).encode()
        client.put_object(Bucket=dest.bucket, Key=dest.key(MANIFEST_TXT), Body=names_txt,
                          ContentType=CONTENT_TYPES[".txt"])
        client.put_object(Bucket=dest.bucket, Key=dest.key(MANIFEST_NAME), Body=dataset.manifest_json,
                          ContentType=CONTENT_TYPES[".json"])
    except (BotoCoreError, ClientError, OSError) as e:
        raise UserError(
            f"publishing to {dest} failed: {s3.describe_error(e)} (manifest.json was not uploaded, so "
            "readers will not see a partial dataset; run publish again)"
        ) from None
    return PublishResult(dest, len(dataset.manifest.files) + 2, dataset.total_bytes)
