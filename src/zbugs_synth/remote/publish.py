"""`publish`: upload a generated dataset to an S3 prefix, safely.

Only a complete, self-consistent dataset is published: it must have a manifest.json, no
incomplete marker, and every listed file present with the listed size and checksum (and no
unlisted shards mixed in). Order, so that a reader never sees a manifest for missing files and a
failed re-publish never takes the published dataset down:
1. upload the shards in parallel (multipart for big ones), each with its checksum as object
   metadata; a shard whose object already holds exactly that content is not uploaded again;
2. verify every shard object (size and recorded checksum);
3. only then replace manifest.txt, and manifest.json last;
4. remove shards the new manifest does not list (a republished dataset with fewer shards): only
   objects named like a shard (`{table}_{shard}.csv`) directly under the prefix, nothing else.
Until step 3 the manifest already published stays live. Step 4 is cleanup: the new dataset is
already complete, so a failure there (a store that grants no DeleteObject) is reported, not fatal.
Shards are named `{table}_{shard}.csv` whatever the dataset, so one that changed is overwritten in
place during step 1: a manifest.json reader meanwhile gets a checksum mismatch on it (and retries),
never a wrong file; one still reading the old manifest in step 4 finds a stale shard gone (and
reruns, getting the new manifest).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zbugs_synth.checksum import file_checksum
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    FileEntry,
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
from zbugs_synth.tables import parse_shard_name

MIN_PART_SIZE = 5 << 20  # S3's minimum multipart part size
DEFAULT_PART_SIZE = 64 << 20

CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}
CHECKSUM_META = "xxh3-128"  # S3 user metadata (x-amz-meta-xxh3-128): the shard's checksum, set at upload


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
    unchanged: int = 0  # shards already there with the same content: not uploaded again
    removed: list[str] = field(default_factory=list)  # stale shards of a dataset published before
    not_removed: str | None = None  # why step 4 failed (the dataset itself is published)


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


def _matching_objects(client: Any, dest: S3Location, files: list[FileEntry], jobs: int) -> list[str]:
    """Names of `files` whose S3 object has the listed size and the listed checksum in its metadata."""
    from botocore.exceptions import ClientError

    def check(f: FileEntry, stop: threading.Event) -> str | None:
        try:
            head = client.head_object(Bucket=dest.bucket, Key=dest.key(f.name))
        except ClientError as e:
            if s3.http_status(e) == 404 or s3.error_code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        same_size = int(head.get("ContentLength", -1)) == f.bytes
        return f.name if same_size and head.get("Metadata", {}).get(CHECKSUM_META) == f.checksum else None

    return [name for name in run_parallel(files, check, jobs) if name is not None]


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
        # Step 1: shards not already there. s3transfer shares one pool of `jobs` threads across files
        # and parts, and switches to multipart above `part_size` (raising it past 10,000 parts).
        present = set(_matching_objects(client, dest, dataset.manifest.files, jobs))
        todo = [f for f in dataset.manifest.files if f.name not in present]
        config = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=jobs,
            use_threads=True,
        )
        task = progress.task("upload", sum(f.bytes for f in todo), unit="bytes")
        manager = create_transfer_manager(client, config)
        futures: list[Any] = []
        try:
            for f in todo:
                futures.append(manager.upload(
                    str(dataset.directory / f.name), dest.bucket, dest.key(f.name),
                    extra_args={"ContentType": CONTENT_TYPES[".csv"], "Metadata": {CHECKSUM_META: f.checksum}},
                    subscribers=[_ProgressSubscriber(task)],
                ))
            for fut in futures:
                fut.result()
        except BaseException:
            # Cancel each transfer ourselves: this s3transfer's shutdown(cancel=True) passes its arguments
            # in the wrong order and dies with a TypeError that would hide the real error.
            for fut in futures:
                fut.cancel()
            manager.shutdown()
            raise
        manager.shutdown()
        task.done()

        # Step 2: every shard object is what the new manifest says, before any reader is sent to it.
        wrong = sorted({f.name for f in dataset.manifest.files} - set(
            _matching_objects(client, dest, dataset.manifest.files, jobs)))
        if wrong:
            raise UserError(
                f"publishing to {dest} failed: after the upload, {wrong[0]}"
                + (f" and {len(wrong) - 1} more" if len(wrong) > 1 else "")
                + " do not match the manifest (size or checksum); the manifest already published there "
                "was left in place; run publish again")

        # Step 3: manifests, JSON last (each replaces the previous one in a single PUT).
        names_txt = manifest_txt(f.name for f in dataset.manifest.files).encode()
        client.put_object(Bucket=dest.bucket, Key=dest.key(MANIFEST_TXT), Body=names_txt,
                          ContentType=CONTENT_TYPES[".txt"])
        client.put_object(Bucket=dest.bucket, Key=dest.key(MANIFEST_NAME), Body=dataset.manifest_json,
                          ContentType=CONTENT_TYPES[".json"])
    except (BotoCoreError, ClientError, OSError) as e:
        raise UserError(
            f"publishing to {dest} failed: {s3.describe_error(e)} (the new manifest was not uploaded and the one "
            "already published there, if any, was left in place; run publish again)"
        ) from None
    result = PublishResult(dest, len(dataset.manifest.files) + 2, dataset.total_bytes, len(present))
    try:
        result.not_removed = remove_stale_shards(client, dest, {f.name for f in dataset.manifest.files},
                                                 result.removed)
    except (BotoCoreError, ClientError, OSError) as e:
        result.not_removed = s3.describe_error(e)
    result.removed.sort()
    return result


DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request


def remove_stale_shards(client: Any, dest: S3Location, listed: set[str], removed: list[str]) -> str | None:
    """Delete the shard objects directly under `dest` that `listed` (the live manifest) does not name,
    adding the names removed to `removed`; returns why some could not be, if so.

    Only names that parse as a shard are candidates: a prefix may hold the publisher's own files
    (a README, other datasets in sub-prefixes), and those are never touched. A store refusing a
    delete answers 200 with the keys in `Errors` (DeleteObjects does not fail as a whole)."""
    stale: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=dest.bucket, Prefix=dest.prefix,
                                                                   Delimiter="/"):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(dest.prefix):]
            if name not in listed and parse_shard_name(name) is not None:
                stale.append(name)
    for i in range(0, len(stale), DELETE_BATCH):
        batch = stale[i:i + DELETE_BATCH]
        reply = client.delete_objects(Bucket=dest.bucket, Delete={
            "Objects": [{"Key": dest.key(n)} for n in batch], "Quiet": True})
        errors = reply.get("Errors") or []
        failed = {e.get("Key") for e in errors}
        removed.extend(n for n in batch if dest.key(n) not in failed)
        if errors:
            first = errors[0]
            return (f"{first.get('Key', '?')}: {first.get('Code', 'error')} ({first.get('Message', 'not deleted')})"
                    + (f", and {len(errors) - 1} more" if len(errors) > 1 else ""))
    return None
