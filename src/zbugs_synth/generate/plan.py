"""Everything the kernel needs, computed once per run from the configuration and the pack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate import backend, layout
from zbugs_synth.generate.distributions import cdf_table, comment_pmf, label_count_law, project_cdf
from zbugs_synth.generate.ids import ALPHABET_BYTES, ROUND_KEYS
from zbugs_synth.generate.rng import N_STREAMS, py_key
from zbugs_synth.generate.small_tables import CREW, ProjectPlan
from zbugs_synth.generate.textpool import TextPool

TITLE_MAX, DESCRIPTION_MAX, BODY_MAX = 128, 10240, 65536  # the schema's and triggers' limits
DAY_MS = 86_400_000


class Buffers:
    """One chunk's output buffers, reused from chunk to chunk.

    Reuse matters: fresh multi-megabyte arrays for every chunk cost ~1 CPU-second of page faults
    per million issues. The driver keeps a fixed set of these, which also bounds memory.
    """

    def __init__(self) -> None:
        e8, e64 = np.empty(0, np.uint8), np.empty(0, np.int64)
        self.issue, self.issue_ends, self.comment, self.comment_ends = e8, e64, e8, e64
        self.label, self.label_ends = e8, e64
        self.label_scratch = e64
        self.id_scratch = np.zeros(21 + layout.PAD, np.uint8)

    def ensure(self, sizes: tuple[int, int, int, int, int, int, int]) -> None:
        names = ("issue", "issue_ends", "comment", "comment_ends", "label", "label_ends", "label_scratch")
        for name, size in zip(names, sizes, strict=True):
            arr = getattr(self, name)
            if arr.shape[0] < size:
                setattr(self, name, np.empty(size, arr.dtype))


@dataclass
class Chunk:
    i0: int
    i1: int
    buffers: Buffers
    n_comments: int
    n_labels: int


class KernelPlan:
    def __init__(self, cfg: GenerateConfig, projects: ProjectPlan, text: TextPool,
                 label_ids: list[str] | None = None) -> None:
        self.cfg, self.text = cfg, text
        self.backend = backend.selected()  # C or numba: the same bytes either way
        self.seed = np.uint64(cfg.seed)
        self.keys = np.array([py_key(cfg.seed, s) for s in range(N_STREAMS)], dtype=np.uint64)
        self.project_cdf = project_cdf(cfg.num_projects, cfg.project_alpha, cfg.seed)
        self.comment_pmf = comment_pmf(cfg.comments_per_issue, cfg.comment_alpha, cfg.comments_max)
        self.comment_cdf = cdf_table(self.comment_pmf)
        low, high, p_high = label_count_law(cfg.labels_per_issue)
        self.label_high = high
        ids_blob = "".join(projects.ids).encode("ascii")
        self.proj_ids = layout.padded(ids_blob)
        self.proj_tp = projects.template_index
        self.proj_cat = projects.category_index
        self.proj_nlabels = projects.label_counts
        self.label_off = np.zeros(len(projects.ids), dtype=np.int64)
        np.cumsum(projects.label_counts[:-1], out=self.label_off[1:])
        self.label_ids = np.zeros(0, dtype=np.uint8)
        if label_ids is not None:
            self.label_ids = layout.padded("".join(label_ids).encode("ascii"))

        # Worst-case bytes of one issue row, of one issue's comments, of one issue's labels: the
        # kernel refuses to start an issue unless this much room is left.
        # (The untruncated size: an over-long field is first written whole, then rewritten cut.)
        title_max = int(text.max_template_bytes[0]) + 8
        desc_max = int(text.max_template_bytes[1]) + 8
        body_max = int(text.max_template_bytes[2]) + 8
        self.issue_bound = 21 * 2 + title_max + desc_max + 2 * 20 + 2 * 16 + 40 + layout.SLACK
        self.comment_row_bound = 21 * 2 + 20 + body_max + 16 + 10
        self.comment_bound = cfg.comments_max * self.comment_row_bound + layout.SLACK
        self.label_bound = max(high, 1) * 70 + layout.SLACK
        self.issue_mean = 21 * 2 + float(text.mean_template_bytes[0] + text.mean_template_bytes[1]) + 100
        self.comment_mean = 21 * 2 + float(text.mean_template_bytes[2]) + 40

        t0 = cfg.time_end - int(cfg.time_span_days * DAY_MS)
        self.ip = np.zeros(layout.IP_SIZE, dtype=np.int64)
        self.ip[layout.IP_USERS] = cfg.num_users
        self.ip[layout.IP_CREW] = min(CREW, cfg.num_users)
        self.ip[layout.IP_T0] = t0
        self.ip[layout.IP_SPAN] = cfg.time_end - t0
        self.ip[layout.IP_TITLE_MAX] = TITLE_MAX
        self.ip[layout.IP_DESC_MAX] = DESCRIPTION_MAX
        self.ip[layout.IP_BODY_MAX] = BODY_MAX
        self.ip[layout.IP_LABEL_LOW] = low
        self.ip[layout.IP_LABEL_HIGH] = high
        self.ip[layout.IP_ISSUE_BOUND] = self.issue_bound
        self.ip[layout.IP_COMMENT_BOUND] = self.comment_bound
        self.ip[layout.IP_LABEL_BOUND] = self.label_bound
        self.fp = np.zeros(layout.FP_SIZE, dtype=np.float64)
        self.fp[layout.FP_OPEN] = cfg.open_fraction
        self.fp[layout.FP_ASSIGNED] = cfg.assigned_fraction
        self.fp[layout.FP_PUBLIC] = cfg.public_fraction
        self.fp[layout.FP_LABEL_P] = p_high
        self.fp[layout.FP_CREW_ASSIGNEE] = 0.6  # most issues are assigned to the core team

    def sizes(self, n: int, scale: float) -> tuple[int, int, int, int, int, int, int]:
        exp_c = n * max(self.cfg.comments_per_issue, 0.05)
        return (
            int(n * self.issue_mean * 1.3 * scale) + self.issue_bound + 64,
            n,
            int(exp_c * self.comment_mean * 1.5 * scale) + self.comment_bound + 64,
            int(exp_c * 1.6 * scale) + 2048,
            int(n * self.label_high * 70 * scale) + self.label_bound + 64,
            max(n * max(self.label_high, 1), 1) + 64,
            max(self.label_high, 1),
        )

    def kernel_args(self, i0: int, i1: int, bufs: Buffers) -> tuple[Any, ...]:
        """generate_range's arguments for issues [i0, i1) into `bufs` (the same for both backends)."""
        t = self.text
        return (
            i0, i1, self.seed, self.keys, self.ip, self.fp, self.project_cdf, self.proj_tp,
            self.proj_cat, self.proj_ids, self.proj_nlabels, self.comment_cdf, ROUND_KEYS,
            ALPHABET_BYTES, self.label_ids, self.label_off, t.blob, t.piece_off, t.piece_len,
            t.piece_chars, t.tok_start, t.tok_a, t.tok_b, t.kind_lo, t.kind_hi, t.pool_items,
            t.comp_lo, t.comp_hi, t.comp_items, t.user_items,
            bufs.issue, bufs.issue_ends, bufs.comment, bufs.comment_ends, bufs.label, bufs.label_ends,
            bufs.label_scratch, bufs.id_scratch,
        )

    def run(self, i0: int, i1: int, bufs: Buffers | None = None) -> Chunk:
        """Generate issues [i0, i1) with their comments and labels (thread-safe, releases the GIL)."""
        bufs = bufs or Buffers()
        scale = 1.0
        worst = self.worst_sizes(i1 - i0)
        while True:
            sizes = self.sizes(i1 - i0, scale)
            bufs.ensure(sizes)
            r = self.backend.generate_range(*self.kernel_args(i0, i1, bufs))
            if r[0] >= 0:
                break
            # Buffers as big as the largest rows the settings allow cannot be too small: a kernel
            # that still says "full" is broken, and doubling forever would only exhaust memory.
            if scale >= MAX_SCALE or all(have >= need for have, need in zip(sizes, worst, strict=True)):
                raise RuntimeError(f"the generator kernel ({self.backend.name}) reported full buffers for issues "
                                   f"[{i0:,}, {i1:,}) even with buffers of the worst-case size (scale {scale:g}); "
                                   "this is a bug: please report it with your settings")
            scale *= 2.0  # a chunk denser than the estimate: same range, bigger buffers, same bytes
        return Chunk(i0, i1, bufs, r[1], r[3])

    def worst_sizes(self, n: int) -> tuple[int, int, int, int, int, int, int]:
        """Buffer sizes that hold `n` issues whatever the draws: every row at its longest, every cap hit."""
        most_comments = n * self.cfg.comments_max
        return (
            n * self.issue_bound + 64,
            n,
            n * self.comment_bound + 64,
            most_comments + 2048,
            n * self.label_bound + 64,
            max(n * max(self.label_high, 1), 1) + 64,
            max(self.label_high, 1),
        )

    def expected_rows(self) -> tuple[float, float]:
        cfg = self.cfg
        mean_labels = cfg.labels_per_issue
        return cfg.num_issues * cfg.comments_per_issue, cfg.num_issues * mean_labels


MAX_SCALE = 2.0 ** 20  # past this many doublings of the estimate, give up whatever the worst case says


def chunk_ranges(num_issues: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk, num_issues)) for a in range(0, num_issues, chunk)]

