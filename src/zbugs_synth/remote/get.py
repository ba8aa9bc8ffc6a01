"""`get-data`: download a published dataset into a directory, verified and resumable.

Order of events, chosen so that a crash at any point leaves nothing that looks complete:
1. fetch and validate the manifest (manifest.json, else the original tool's manifest.txt);
2. refuse a --out holding dataset files the manifest does not list (unless forced), so the
   directory ends up holding exactly the dataset and a loader never mixes two;
3. drop a local manifest that describes something else, mark the directory incomplete, then
   (forced) delete the unlisted dataset files;
4. verify files already present (skip those that match);
5. download the rest in parallel: each into a hidden `.NAME.part` file, resumed with a ranged
   request if one is there, checked for size and checksum, then renamed into place. Beside the
   part, `.NAME.part.version` records which version of the remote file it holds (ETag, else
   Last-Modified, and size): a part of another version is started over, never continued (for a
   manifest.txt dataset there is no checksum to catch a mix of two versions);
6. write manifest.txt (always: the loader honours it when there is no manifest.json) and
   manifest.json, then remove the incomplete marker.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

import xxhash

from zbugs_synth.checksum import file_checksum, hash_into, new_hasher
from zbugs_synth.errors import Cancelled, UserError
from zbugs_synth.manifest import (
    INCOMPLETE_MARKER,
    MANIFEST_NAME,
    MANIFEST_TXT,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    dataset_files,
    manifest_txt,
    parse_manifest,
    parse_manifest_txt,
    write_atomic,
)
from zbugs_synth.progress import NullProgress, Progress, Task
from zbugs_synth.remote.parallel import run_parallel
from zbugs_synth.remote.safety import check_size, partial_path, target_path
from zbugs_synth.remote.sources import (
    Forbidden,
    Interrupted,
    NotFound,
    RangeNotSatisfiable,
    Source,
    SourceError,
    Stream,
)

T = TypeVar("T")

RETRY_DELAYS = (0.5, 2.0, 5.0)  # seconds before the 1st, 2nd, 3rd retry of an interrupted file


class ManifestUnavailable(UserError):
    """No manifest could be fetched: the caller explains how to generate the data locally.
    `absent`: the source answered that there is none (else it could not be reached or read)."""

    def __init__(self, message: str, *, absent: bool = False) -> None:
        super().__init__(message)
        self.absent = absent


class TransferError(UserError):
    pass


@dataclass(frozen=True)
class Wanted:
    name: str
    size: int | None  # None until asked (manifest.txt lists names only)
    checksum: str | None  # xxh3-128 hex; None for manifest.txt datasets


@dataclass
class RemoteManifest:
    kind: str  # "json" or "txt"
    raw: bytes
    files: list[Wanted]
    manifest: Manifest | None  # parsed manifest.json


@dataclass
class GetResult:
    remote: RemoteManifest
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already present and verified
    resumed: list[str] = field(default_factory=list)  # continued from a partial file
    bytes_fetched: int = 0  # bytes received over the network in this run
    total_bytes: int = 0
    removed: list[str] = field(default_factory=list)  # stale dataset files deleted (--force)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _being_written(source: Source) -> bool:
    """Whether generate-synthetic's marker of an unfinished dataset is there (written first, removed
    last, when manifest.json is in)."""
    try:
        source.read_small(INCOMPLETE_MARKER, MAX_MANIFEST_BYTES)
    except SourceError:
        return False
    return True


def fetch_manifest(source: Source) -> RemoteManifest:
    """The dataset's manifest, validated as untrusted input."""
    kind, name = "json", MANIFEST_NAME
    try:
        raw = _retrying(lambda: source.read_small(MANIFEST_NAME, MAX_MANIFEST_BYTES))
    except (NotFound, Forbidden) as first:
        # Forbidden too: a bucket readable but not listable answers 403 for a missing key, and the
        # original tool's datasets have only manifest.txt.
        kind, name = "txt", MANIFEST_TXT
        try:
            raw = _retrying(lambda: source.read_small(MANIFEST_TXT, MAX_MANIFEST_BYTES))
        except NotFound:
            if isinstance(first, Forbidden):
                raise ManifestUnavailable(f"cannot fetch the manifest: {first}") from None
            if _being_written(source):  # not "not available": the user's own parts are not all in yet
                raise UserError(f"{source.display} holds a dataset that is not complete yet (no {MANIFEST_NAME}: "
                                "generate-synthetic is writing it or was stopped, or its parts were never "
                                "combined): finish it (the same generate-synthetic again, or the missing parts, "
                                f"--parts N --part K), or run `zbugs-synth combine-parts {source.display}`") from None
            raise ManifestUnavailable(f"no {MANIFEST_NAME} or {MANIFEST_TXT} at {source.display}",
                                      absent=True) from None
        except SourceError as e:
            raise ManifestUnavailable(f"cannot fetch the manifest: {e}") from None
    except SourceError as e:
        raise ManifestUnavailable(f"cannot fetch the manifest: {e}") from None
    try:
        if kind == "txt":
            files = [Wanted(n, None, None) for n in parse_manifest_txt(raw)]
            manifest = None
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ManifestError("manifest.json is not UTF-8 text") from None
            manifest = parse_manifest(text)
            if len(manifest.files) > MAX_FILES:
                raise ManifestError(f"manifest lists more than {MAX_FILES:,} files")
            files = [Wanted(f.name, f.bytes, f.checksum) for f in manifest.files]
    except ManifestError as e:
        raise UserError(f"refusing the {name} at {source.display}: {e}") from None
    if not files:
        raise UserError(f"the {name} at {source.display} lists no data files")
    return RemoteManifest(kind, raw, files, manifest)


def get_data(
    source: Source,
    out: Path,
    *,
    jobs: int = 8,
    progress: Progress | None = None,
    retries: int = len(RETRY_DELAYS),
    force: bool = False,
) -> GetResult:
    """Make `out` hold exactly the dataset at `source`.

    Dataset files in `out` that the manifest does not list are refused (nothing is fetched) unless
    `force`, which deletes them: otherwise the loader would load two datasets mixed together.
    """
    progress = progress or NullProgress()
    remote = fetch_manifest(source)
    result = GetResult(remote)
    stale = _stale_files(out, remote)
    if stale and not force:
        more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
        raise UserError(
            f"--out {out} holds dataset files the manifest at {source.display} does not list "
            f"({stale[0]}{more}); rerun with --force to delete them, or choose another --out"
        )
    other = _another_dataset(out, remote)
    if other and not force:
        raise UserError(f"--out {out} holds {other}; rerun with --force to replace it, or choose another --out")
    out = _prepare_out(out)
    try:
        _fill(source, out, remote, result, jobs, progress, retries, stale)
    except OSError as e:  # local disk trouble (network errors arrive as SourceError subclasses)
        where = f" ({e.filename})" if e.filename else ""
        raise UserError(f"cannot write into {out}: {e.strerror or e}{where}") from None
    return result


def _fill(
    source: Source, out: Path, remote: RemoteManifest, result: GetResult, jobs: int, progress: Progress,
    retries: int, stale: list[str],
) -> None:
    _drop_other_manifests(out, remote)
    # Marked incomplete from before we touch the first shard until after the manifest is written.
    write_atomic(out / INCOMPLETE_MARKER, "get-data in progress\n")
    _remove_stale(out, stale, result)

    files = remote.files
    if remote.kind == "txt":
        files = _probe_sizes(source, files, jobs)
    result.total_bytes = sum(f.size or 0 for f in files)

    todo = _verify_present(out, files, jobs, progress, result)
    _check_disk_space(out, todo)

    if todo:
        task = progress.task("download", sum(f.size or 0 for f in todo), unit="bytes")
        run_parallel(todo, lambda f, stop: _download(source, out, f, task, stop, result, retries), jobs)
        task.done()

    # Manifests last: a reader (or the loader) sees them only once every file is in place.
    write_atomic(out / MANIFEST_TXT, manifest_txt(f.name for f in files))
    if remote.kind == "json":
        write_atomic(out / MANIFEST_NAME, remote.raw)
    (out / INCOMPLETE_MARKER).unlink(missing_ok=True)


def _prepare_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the directory ({e.strerror})") from None
    return out


def _another_dataset(out: Path, remote: RemoteManifest) -> str | None:
    """What `out` holds if it is a dataset other than `remote` (None: nothing, the same one, or an
    unfinished download or generation to complete). Replacing one is what --force is for, as with
    generate-synthetic: same-named shards would otherwise be overwritten without a word."""
    if not out.is_dir():
        return None
    try:
        local_json = out / MANIFEST_NAME
        if local_json.is_file():
            raw = local_json.read_bytes()
            if remote.kind == "json" and raw == remote.raw:
                return None
            try:
                local = parse_manifest(raw.decode("utf-8"))
            except (ManifestError, UnicodeDecodeError):
                return f"a {MANIFEST_NAME} that does not parse"
            if remote.manifest is not None and local.dataset_id == remote.manifest.dataset_id:
                return None
            return f"another dataset ({local.dataset_id})"
        if (out / INCOMPLETE_MARKER).exists():
            return None  # a download (or generation) that did not finish: this run completes it
        local_txt = out / MANIFEST_TXT
        if local_txt.is_file():
            try:
                names = set(parse_manifest_txt(local_txt.read_bytes()))
            except ManifestError:
                return f"a {MANIFEST_TXT} that does not parse"
            return None if names == {f.name for f in remote.files} else f"another dataset (its {MANIFEST_TXT})"
        return None  # shards without a manifest: unlisted ones are refused as stale, listed ones verified
    except OSError as e:
        raise UserError(f"--out {out}: cannot read it ({e.strerror or e})") from None


def _stale_files(out: Path, remote: RemoteManifest) -> list[str]:
    """Dataset CSVs (by name pattern only) in `out` that the remote manifest does not list."""
    if not out.is_dir():
        return []
    listed = {f.name for f in remote.files}
    try:
        return [n for n in dataset_files(out) if n not in listed]
    except OSError as e:
        raise UserError(f"--out {out}: cannot list the directory ({e.strerror or e})") from None


def _remove_stale(out: Path, stale: list[str], result: GetResult) -> None:
    """Delete the stale dataset files (names matched the shard pattern; nothing else is touched)."""
    for name in stale:
        path = target_path(out, name)
        if path.is_dir() and not path.is_symlink():
            raise UserError(f"--out {out}: {name} is a directory, not a dataset file; remove it yourself")
        path.unlink(missing_ok=True)
        result.removed.append(name)


def _drop_other_manifests(out: Path, remote: RemoteManifest) -> None:
    """Remove a local manifest that would describe a different dataset than the one we fetch."""
    local_json = out / MANIFEST_NAME
    same = remote.kind == "json" and local_json.is_file() and local_json.read_bytes() == remote.raw
    if not same:
        local_json.unlink(missing_ok=True)
        (out / MANIFEST_TXT).unlink(missing_ok=True)


def _probe_sizes(source: Source, files: list[Wanted], jobs: int) -> list[Wanted]:
    """manifest.txt gives names only: ask the server for each size (caps the download, too)."""

    def probe(f: Wanted, stop: threading.Event) -> Wanted:
        if stop.is_set():
            raise Cancelled()
        try:
            size = _retrying(lambda: source.size(f.name), stop)
        except NotFound:
            missing = f"{f.name} is listed in manifest.txt but missing at {source.display}"
            raise TransferError(missing) from None
        except SourceError as e:
            raise TransferError(str(e)) from None
        try:
            return Wanted(f.name, check_size(size, f.name), None)
        except ManifestError as e:
            raise TransferError(str(e)) from None

    return run_parallel(files, probe, jobs)


def _verify_present(
    out: Path, files: list[Wanted], jobs: int, progress: Progress, result: GetResult
) -> list[Wanted]:
    """Files that still need downloading; those present with the right size (and checksum) are kept."""
    candidates = []
    for f in files:
        path = target_path(out, f.name)
        # A symlink is never trusted as a dataset file: the download replaces the link itself.
        if not path.is_symlink() and path.is_file() and path.stat().st_size == f.size:
            candidates.append(f)
    to_hash = sum(f.size or 0 for f in candidates if f.checksum)
    task = progress.task("verify present", to_hash, unit="bytes") if to_hash else None

    def matches(f: Wanted, stop: threading.Event) -> bool:
        if f.checksum is None:
            return True  # manifest.txt: the size is all we can check
        return file_checksum(target_path(out, f.name), task.advance if task else None, stop) == f.checksum

    verdicts = run_parallel(candidates, matches, jobs)
    present = {f.name for f, ok in zip(candidates, verdicts, strict=True) if ok}
    if task:
        task.done()
    result.skipped = [f.name for f in files if f.name in present]
    return [f for f in files if f.name not in present]


def _check_disk_space(out: Path, todo: list[Wanted]) -> None:
    needed = 0
    for f in todo:
        part = partial_path(out, f.name)
        have = part.stat().st_size if part.is_file() and not part.is_symlink() else 0
        needed += max((f.size or 0) - have, 0)
    free = shutil.disk_usage(out).free
    if needed > free:
        raise UserError(f"the dataset needs {needed:,} more bytes in {out} but only {free:,} are free")


def _download(
    source: Source, out: Path, f: Wanted, task: Task, stop: threading.Event, result: GetResult, retries: int
) -> None:
    for attempt in range(retries + 1):
        if stop.is_set():
            raise Cancelled()
        counted = _CountedTask(task)
        try:
            _attempt(source, out, f, counted, stop, result)
            return
        except Interrupted as e:
            counted.rewind()  # the next attempt re-counts the kept part
            part = partial_path(out, f.name)
            have = part.stat().st_size if part.is_file() else 0
            if attempt == retries:
                raise TransferError(
                    f"{e} (kept {have:,} of {f.size:,} bytes of {f.name}: run get-data again to resume)"
                ) from None
            stop.wait(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])


def _retrying(call: Callable[[], T], stop: threading.Event | None = None) -> T:
    """`call()`, retried after an `Interrupted` like a download is: the only retry layer (the S3
    client's own retries are off, so attempts are not multiplied)."""
    attempt = 0
    while True:
        try:
            return call()
        except Interrupted:
            if attempt == len(RETRY_DELAYS) or (stop is not None and stop.is_set()):
                raise
            (stop or threading.Event()).wait(RETRY_DELAYS[attempt])
            attempt += 1


class _CountedTask:
    """A task view that remembers how far one attempt advanced the shared bar."""

    def __init__(self, task: Task) -> None:
        self.task, self.count = task, 0

    def advance(self, n: float = 1) -> None:
        self.count += int(n)
        self.task.advance(n)

    def rewind(self) -> None:
        self.task.advance(-self.count)
        self.count = 0


def _attempt(
    source: Source, out: Path, f: Wanted, task: _CountedTask, stop: threading.Event, result: GetResult
) -> None:
    if f.size is None:  # sizes come from the manifest or a HEAD before any download starts
        raise UserError(f"{f.name}: size unknown (neither the manifest nor the server gave one)")
    final, part = target_path(out, f.name), partial_path(out, f.name)
    if part.is_symlink() or (part.exists() and not part.is_file()):
        part.unlink()  # never write through a link someone planted
    have = part.stat().st_size if part.exists() else 0
    if have > f.size or (have and have == f.size and f.checksum is None and not _same_version(source, f, part)):
        # Left over from another version of the file (a complete part of a manifest.txt dataset has
        # no checksum to tell: its recorded version must match the server's).
        _discard_part(part)
        have = 0
    hasher = new_hasher()
    if have:
        hash_into(hasher, part, task.advance, stop)
        with result.lock:
            if f.name not in result.resumed:
                result.resumed.append(f.name)
    if have < f.size:
        hasher = _fetch_rest(source, f, part, have, hasher, task, stop, result)
    elif not part.exists():
        part.touch()  # an empty file: nothing to fetch

    if f.checksum is not None and hasher.hexdigest() != f.checksum:
        _mismatch(part, f"{f.name}: checksum mismatch (xxh3_128 {hasher.hexdigest()}, manifest {f.checksum})")
    os.replace(part, final)
    _version_path(part).unlink(missing_ok=True)
    with result.lock:
        result.downloaded.append(f.name)


def _fetch_rest(
    source: Source,
    f: Wanted,
    part: Path,
    have: int,
    hasher: xxhash.xxh3_128,
    task: _CountedTask,
    stop: threading.Event,
    result: GetResult,
) -> xxhash.xxh3_128:
    """Append bytes `have`.. of `f` to `part`, feeding `hasher`; returns the hasher to finish with."""
    if f.size is None:
        raise UserError(f"{f.name}: size unknown (neither the manifest nor the server gave one)")
    stream = _open(source, f, part, have)
    try:
        if stream.total is not None and stream.total != f.size:
            told = f"{f.name}: the server has {stream.total:,} bytes, the manifest says {f.size:,}"
            _mismatch(part, told)
        if have and not _may_continue(f, _read_version(part), _version_tag(stream)):
            # The part holds another version of the file (or one we cannot vouch for): start over.
            stream.close()
            task.advance(-have)
            hasher, have = new_hasher(), 0
            with result.lock:
                if f.name in result.resumed:
                    result.resumed.remove(f.name)
            stream = _open(source, f, part, 0)
        if not have:
            _write_version(part, _version_tag(stream))
        if stream.start != have:
            if stream.start != 0:
                raise TransferError(f"{f.name}: asked for bytes from {have:,}, got from {stream.start:,}")
            # The server ignored our Range header and sends the whole file: start over.
            task.advance(-have)
            hasher, have = new_hasher(), 0
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        flags |= os.O_APPEND if have else os.O_TRUNC
        with os.fdopen(os.open(part, flags, 0o644), "wb") as sink:
            for chunk in stream.chunks:
                if stop.is_set():
                    raise Cancelled()  # the part file stays: a later run resumes from it
                if have + len(chunk) > f.size:
                    sink.close()
                    _mismatch(part, f"{f.name}: the server sent more than {f.size:,} bytes")
                sink.write(chunk)
                hasher.update(chunk)
                have += len(chunk)
                task.advance(len(chunk))
                with result.lock:
                    result.bytes_fetched += len(chunk)
            sink.flush()
            os.fsync(sink.fileno())
    finally:
        stream.close()
    if have < f.size:
        raise Interrupted(f"{f.name}: the connection ended after {have:,} of {f.size:,} bytes")
    return hasher


def _open(source: Source, f: Wanted, part: Path, offset: int) -> Stream:
    try:
        return source.open(f.name, offset)
    except RangeNotSatisfiable:
        # We asked from `offset` < the manifest's size and the server has no such bytes.
        _mismatch(part, f"{f.name}: the server's copy is shorter than the manifest's {f.size:,} bytes")
    except NotFound:
        missing = f"{f.name} is listed in the manifest but missing at {source.display}: {PUBLISH_HINT}"
        raise TransferError(missing) from None
    except Interrupted:
        raise
    except SourceError as e:
        raise TransferError(str(e)) from None


# ---- which version of the remote file a part holds ------------------------------------------------

def _version_path(part: Path) -> Path:
    return part.with_name(part.name + ".version")


def _version_tag(stream: Stream) -> str | None:
    """The remote file's version as the server names it (None: the server gives no validator)."""
    return None if stream.version is None else f"{stream.version} size={stream.total}"


def _read_version(part: Path) -> str | None:
    path = _version_path(part)
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _write_version(part: Path, tag: str | None) -> None:
    path = _version_path(part)
    path.unlink(missing_ok=True)  # (a planted symlink is replaced, not written through)
    if tag is not None:
        write_atomic(path, tag + "\n")


def _may_continue(f: Wanted, saved: str | None, current: str | None) -> bool:
    """Whether a part recorded as version `saved` may be continued from a server at version `current`."""
    if saved is not None and current is not None:
        return saved == current
    # Unknown on either side (a part from an older zbugs-synth, a server without ETag/Last-Modified):
    # only a checksum can vouch for the result, and manifest.txt datasets have none.
    return f.checksum is not None


def _same_version(source: Source, f: Wanted, part: Path) -> bool:
    """A complete part of a checksum-less file: does the server still have the version it holds?"""
    stream = _open(source, f, part, 0)
    stream.close()
    return _may_continue(f, _read_version(part), _version_tag(stream))


def _discard_part(part: Path) -> None:
    part.unlink(missing_ok=True)
    _version_path(part).unlink(missing_ok=True)


# Shards keep their names from one published dataset to the next: a file that disagrees with its
# manifest (or has gone) is most often one being replaced, or left half-replaced, by a publish there.
PUBLISH_HINT = ("a publish there is under way or was interrupted; run get-data again once it has finished "
                "(an interrupted publish is finished by running it again)")


def _mismatch(part: Path, message: str) -> NoReturn:
    _discard_part(part)
    raise TransferError(f"{message}; the partial file was deleted. The source's files do not match its "
                        f"manifest: {PUBLISH_HINT}")

