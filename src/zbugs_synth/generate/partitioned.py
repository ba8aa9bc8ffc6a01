"""Partitioned runs in this process: `--parts N` (every part, one after the other) or `--parts N --part K`.

Either way each part is written by `driver.generate_part` into the destination (a directory or an
S3 prefix), parts already complete there are skipped, and the dataset's manifest.json is written
as soon as every part is there, by whichever run completes the set (combining is deterministic,
so two runs finishing together write the same bytes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.errors import UserError
from zbugs_synth.generate.driver import (
    Prepared,
    _announce,
    dataset_manifest,
    drop_dataset_manifest,
    generate_part,
    parts_key,
    parts_manifest,
    prepare,
)
from zbugs_synth.generate.parts import (
    Combined,
    PartSpec,
    combine,
    key_difference,
    list_parts,
    missing_files,
    part_key,
    part_manifest_name,
    read_part,
)
from zbugs_synth.generate.sink import LocalSink, Sink, open_sink
from zbugs_synth.progress import NullProgress, Progress

DEFAULT_PART_ISSUES = 10_000_000  # --scheduler without --parts: parts of about this many issues


@dataclass
class PartsOutcome:
    destination: str
    parts: int
    written: int = 0  # parts written by this run
    skipped: int = 0  # parts already complete
    rows: int = 0  # rows and bytes written by this run
    bytes: int = 0
    combined: Combined | None = None
    present: int = 0  # part manifests found at the end
    elapsed: float = 0.0

    def add(self, skipped: bool, rows: int, size: int) -> None:
        if skipped:
            self.skipped += 1
        else:
            self.written += 1
            self.rows += rows
            self.bytes += size


def destination_of(cfg: GenerateConfig) -> str | Path:
    # Absolute, so that Dask workers (whose working directory is their own) write where we mean.
    return cfg.output_dir if isinstance(cfg.output_dir, str) else Path(cfg.output_dir).absolute()


def open_destination(cfg: GenerateConfig) -> Sink:
    sink = open_sink(destination_of(cfg), endpoint_url=cfg.endpoint_url)
    if isinstance(sink, LocalSink):
        sink.ensure()
    return sink


def parts_of(cfg: GenerateConfig) -> int:
    if cfg.part and not cfg.parts:
        raise UserError(f"--part {cfg.part}: needs --parts N (how many parts the dataset has)")
    parts = cfg.parts or max(1, -(-cfg.num_issues // DEFAULT_PART_ISSUES))
    if parts > cfg.num_issues:
        raise UserError(f"--parts {parts}: expected at most NUM_ISSUES ({cfg.num_issues:,}) parts")
    if cfg.part > parts:  # here, before anything is announced or written
        raise UserError(f"--part {cfg.part}: expected a whole number from 1 to {parts} (--parts)")
    return parts


def combine_if_complete(sink: Sink, parts: int, cfg: GenerateConfig, prep: Prepared) -> tuple[Combined | None, int]:
    """Combine when all `parts` part manifests are present; (None, how many are) otherwise. A dataset
    already combined is left as it is (a rerun writes nothing)."""
    _, done = dataset_manifest(sink)
    if done is not None and done.dataset_id == prep.dataset_id:
        return Combined(done, parts, written=False), parts
    names = list_parts(sink)
    present = sum(1 for k in range(1, parts + 1) if part_manifest_name(k, parts) in names)
    if present < parts:
        return None, present
    combined = combine(sink, force=cfg.force, expect=(parts_key(cfg, prep), parts))
    if combined is None:  # --force deleted parts made with other settings
        present = sum(1 for k in range(1, parts + 1) if part_manifest_name(k, parts) in list_parts(sink))
    return combined, present


def check_parts_destination(cfg: GenerateConfig, sink: Sink, prep: Prepared, parts: int,
                            progress: Progress) -> bool:
    """Before a parts run writes anything: True if this very dataset is complete in `sink` (every file
    its manifest.json lists, at the listed size). A damaged one loses its manifest.json, so that it no
    longer looks complete and the parts whose files are damaged are written again. Another
    configuration's dataset, or part manifests of one, are refused unless --force (a part would
    otherwise overwrite files that another configuration's parts list)."""
    dataset_id = prep.dataset_id
    present, old = dataset_manifest(sink)
    if old is not None and old.dataset_id == dataset_id:
        damaged = missing_files(old, sink.list())
        if not damaged:
            return True
        progress.log(f"{sink.display}: {len(damaged):,} file(s) of this dataset missing or of another size "
                     f"({damaged[0]}{', ...' if len(damaged) > 1 else ''}): manifest.json removed; the parts "
                     "they belong to are written again by any run that includes them")
        drop_dataset_manifest(cfg, sink, ours=True)
        return False
    if present:
        drop_dataset_manifest(cfg, sink, parsed=old is not None)  # not ours: refused unless --force
    if cfg.force:
        return False  # other configurations' part manifests go when the parts are combined
    names = sorted(list_parts(sink))
    ours = {part_manifest_name(k, parts) for k in range(1, parts + 1)}
    other_counts = [n for n in names if n not in ours]
    if other_counts:
        raise UserError(f"OUTPUT_DIR={sink.display!r}: holds parts of a dataset in another number of parts "
                        f"({other_counts[0].rpartition('/')[2]}); use --force to replace them or choose "
                        "another OUTPUT_DIR")
    if names:  # one manifest says whose parts these are (all agree, or combining will say so)
        first = read_part(sink, names[0])
        mine = parts_manifest(cfg, prep)
        if part_key(first.manifest) != part_key(mine):
            whose = ("another configuration's dataset" if first.manifest.dataset_id != dataset_id
                     else "this dataset made with other settings")
            raise UserError(f"OUTPUT_DIR={sink.display!r}: holds parts of {whose} ({first.name}: "
                            f"{key_difference(first.manifest, mine)} here); make every part with the same "
                            "settings, or use --force to replace them, or choose another OUTPUT_DIR")
    return False


def run_parts(cfg: GenerateConfig, progress: Progress | None = None, prep: Prepared | None = None) -> PartsOutcome:
    progress = progress or NullProgress()
    started = time.perf_counter()
    parts = parts_of(cfg)
    prep = prep or prepare(cfg)
    sink = open_destination(cfg)
    selected = [cfg.part] if cfg.part else list(range(1, parts + 1))
    which = f"part {cfg.part} of {parts}" if cfg.part else f"{parts} part{'s' if parts > 1 else ''}"
    _announce(cfg, progress, f"{sink.display} ({which})")
    outcome = PartsOutcome(sink.display, parts)
    try:
        with sink.hold("", "", shared=True):  # other runs of parts may write here too; no whole run
            _run_selected(cfg, sink, prep, parts, selected, outcome, progress)
    finally:
        close = getattr(sink, "close", None)
        if close:
            close()
    outcome.elapsed = time.perf_counter() - started
    return outcome


def _run_selected(cfg: GenerateConfig, sink: Sink, prep: Prepared, parts: int, selected: list[int],
                  outcome: PartsOutcome, progress: Progress) -> None:
    if check_parts_destination(cfg, sink, prep, parts, progress):
        progress.log("this dataset is already complete there: nothing to do")
        selected = []
    for k in selected:
        r = generate_part(cfg, PartSpec(k, parts), sink, progress, prep)
        if r.skipped:
            progress.log(f"part {k} of {parts}: already complete, skipped")
        outcome.add(r.skipped, r.result.rows, r.result.bytes)
    outcome.combined, outcome.present = combine_if_complete(sink, parts, cfg, prep)
