"""Everything the kernel needs, computed once per run from the configuration and the pack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zbugs_synth.config.generate import GenerateConfig
from zbugs_synth.generate import backend, emoji, layout
from zbugs_synth.generate.distributions import cdf_table, comment_pmf, label_pmf, project_cdf, reply_quantiles
from zbugs_synth.generate.ids import ALPHABET_BYTES, EMOJI_BITS, ROUND_KEYS
from zbugs_synth.generate.layout import K_CODE, K_COMMENT, K_DESC, K_FOLLOWUP, K_IMAGE, K_LINK, K_MENTION, K_SHORT
from zbugs_synth.generate.rng import N_STREAMS, py_key
from zbugs_synth.generate.small_tables import CREW, ProjectPlan
from zbugs_synth.generate.textpool import TextPool

TITLE_MAX, DESCRIPTION_MAX, BODY_MAX = 128, 10240, 65536  # the schema's and triggers' limits
DAY_MS = 86_400_000

# Text shapes, calibrated on zbugs' own data (issue 11): probabilities of each part of a field.
# A description is empty, or a template, then maybe a code block (some of them long: stack traces,
# logs), then follow-up paragraphs, a link and an image. A comment is a short reply, or a template
# with the same optional parts and maybe an @mention at the end.
DESC_EMPTY, DESC_CODE, DESC_LINK, DESC_IMAGE = 0.05, 0.13, 0.38, 0.28
BODY_SHORT, BODY_CODE, BODY_LINK, BODY_IMAGE, BODY_MENTION = 0.12, 0.08, 0.22, 0.14, 0.09
# Follow-up paragraphs per field, heavy-tailed so lengths get zbugs' long tails: none with
# probability NONE, else n = 1 .. MORE_LEN - 1 with P(n) proportional to n^-ALPHA.
DESC_MORE_NONE, DESC_MORE_ALPHA = 0.76, 0.75
BODY_MORE_NONE, BODY_MORE_ALPHA = 0.7, 1.0
FOLLOWUPS_MAX = layout.MORE_LEN - 1


def more_law(none: float, alpha: float) -> tuple[np.ndarray, float]:
    """The follow-up count law: its CDF over 0 .. MORE_LEN - 1 (for the kernel) and its mean."""
    n = np.arange(1, layout.MORE_LEN, dtype=np.float64)
    w = n ** -alpha
    p = np.concatenate([[none], (1 - none) * w / w.sum()])
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return cdf, float((p * np.arange(layout.MORE_LEN)).sum())
REPLY_SCALE = 0.1  # later replies wait a tenth of the first reply's law
EMOJI_ALPHA, EMOJI_CAP = 1.5, 64  # tail and cap of reactions per subject
VIEWERS_ALPHA, VIEWERS_CAP = 1.5, 64  # tail and cap of browsing viewers per issue
EMOJI_PER_ISSUE_MAX = (1 << EMOJI_BITS) - 1


class Buffers:
    """One chunk's output buffers, reused from chunk to chunk.

    Reuse matters: fresh multi-megabyte arrays for every chunk cost ~1 CPU-second of page faults
    per million issues. The driver keeps a fixed set of these, which also bounds memory.
    """

    NAMES = ("issue", "issue_ends", "comment", "comment_ends", "label", "label_ends", "emoji", "emoji_ends",
             "notify", "notify_ends", "view", "view_ends", "label_scratch", "comment_scratch", "touch_scratch",
             "emoji_scratch")

    def __init__(self) -> None:
        e8, e64 = np.empty(0, np.uint8), np.empty(0, np.int64)
        for name in self.NAMES:
            setattr(self, name, e64 if name.endswith(("_ends", "_scratch")) else e8)
        self.id_scratch = np.zeros(21 + layout.PAD, np.uint8)

    def ensure(self, sizes: tuple[int, ...]) -> None:
        for name, size in zip(self.NAMES, sizes, strict=True):
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
    n_emoji: int = 0
    n_notify: int = 0
    n_view: int = 0


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
        self.label_pmf = label_pmf(cfg.labels_per_issue, int(projects.label_counts.min()))
        self.label_cdf = cdf_table(self.label_pmf)
        self.label_high = len(self.label_pmf) - 1
        self.reply_q = reply_quantiles()
        self.emoji_issue_cdf = cdf_table(comment_pmf(cfg.emoji_per_issue, EMOJI_ALPHA, EMOJI_CAP))
        self.emoji_comment_cdf = cdf_table(comment_pmf(cfg.emoji_per_comment, EMOJI_ALPHA, EMOJI_CAP))
        self.viewer_cdf = cdf_table(comment_pmf(cfg.viewers_per_issue, VIEWERS_ALPHA, VIEWERS_CAP))
        self.emoji_value_cdf = emoji.value_cdf()
        self.emoji_blob, self.emoji_off = emoji.value_pieces()
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

        # Worst-case bytes of one issue row, of one issue's comments, labels, reactions,
        # notifications and views: the kernel refuses to start an issue unless this much room is
        # left. (The untruncated size: an over-long field is first written whole, then rewritten cut.)
        mx = [int(b) + 8 for b in text.max_template_bytes]
        title_max = mx[0]
        extras = mx[K_CODE] + FOLLOWUPS_MAX * mx[K_FOLLOWUP] + mx[K_LINK] + mx[K_IMAGE] + 2 * (FOLLOWUPS_MAX + 4)
        desc_max = mx[K_DESC] + extras
        body_max = max(mx[K_COMMENT] + extras + mx[K_MENTION], mx[K_SHORT])
        self.issue_bound = 21 * 2 + title_max + desc_max + 2 * 20 + 2 * 16 + 40 + layout.SLACK
        self.comment_row_bound = 21 * 2 + 20 + body_max + 16 + 10
        self.comment_bound = cfg.comments_max * self.comment_row_bound + layout.SLACK
        self.label_bound = max(self.label_high, 1) * 70 + layout.SLACK
        self.touch_max = cfg.comments_max + 2 + VIEWERS_CAP
        user_id_max = 4 + len(str(max(cfg.num_users - 1, 0))) + 4
        emoji_piece = int(np.diff(self.emoji_off).max())
        self.emoji_row_bound = 21 * 3 + emoji_piece + user_id_max + 20 + 6
        self.emoji_bound = EMOJI_PER_ISSUE_MAX * self.emoji_row_bound + layout.SLACK
        self.notify_bound = self.touch_max * (user_id_max + 21 + 5 + 20 + 4) + layout.SLACK
        self.view_bound = self.touch_max * (user_id_max + 21 + 20 + 3) + layout.SLACK
        m = text.mean_template_bytes
        desc_more, desc_more_mean = more_law(DESC_MORE_NONE, DESC_MORE_ALPHA)
        body_more, body_more_mean = more_law(BODY_MORE_NONE, BODY_MORE_ALPHA)
        desc_mean = (1 - DESC_EMPTY) * (m[K_DESC] + DESC_CODE * m[K_CODE] + desc_more_mean * m[K_FOLLOWUP]
                                        + DESC_LINK * m[K_LINK] + DESC_IMAGE * m[K_IMAGE])
        body_mean = (BODY_SHORT * m[K_SHORT] + (1 - BODY_SHORT) * (
            m[K_COMMENT] + BODY_CODE * m[K_CODE] + body_more_mean * m[K_FOLLOWUP]
            + BODY_LINK * m[K_LINK] + BODY_IMAGE * m[K_IMAGE] + BODY_MENTION * m[K_MENTION]))
        self.issue_mean = 21 * 2 + float(m[0] + desc_mean) + 100
        self.comment_mean = 21 * 2 + float(body_mean) + 40

        t0 = cfg.time_end - int(cfg.time_span_days * DAY_MS)
        self.ip = np.zeros(layout.IP_SIZE, dtype=np.int64)
        self.ip[layout.IP_USERS] = cfg.num_users
        self.ip[layout.IP_CREW] = min(CREW, cfg.num_users)
        self.ip[layout.IP_T0] = t0
        self.ip[layout.IP_SPAN] = cfg.time_end - t0
        self.ip[layout.IP_TITLE_MAX] = TITLE_MAX
        self.ip[layout.IP_DESC_MAX] = DESCRIPTION_MAX
        self.ip[layout.IP_BODY_MAX] = BODY_MAX
        self.ip[layout.IP_LABEL_MAX] = self.label_high
        self.ip[layout.IP_ISSUE_BOUND] = self.issue_bound
        self.ip[layout.IP_COMMENT_BOUND] = self.comment_bound
        self.ip[layout.IP_LABEL_BOUND] = self.label_bound
        self.ip[layout.IP_ALL_TABLES] = int(cfg.all_tables)
        self.ip[layout.IP_EMOJI_BOUND] = self.emoji_bound
        self.ip[layout.IP_NOTIFY_BOUND] = self.notify_bound
        self.ip[layout.IP_VIEW_BOUND] = self.view_bound
        self.ip[layout.IP_EMOJI_MAX] = EMOJI_PER_ISSUE_MAX
        self.ip[layout.IP_VIEWERS_MAX] = VIEWERS_CAP
        self.ip[layout.IP_FOLLOWUPS_MAX] = layout.MORE_LEN  # the length of each count law
        self.fp = np.zeros(layout.FP_SIZE, dtype=np.float64)
        fp = self.fp
        fp[layout.FP_OPEN] = cfg.open_fraction
        fp[layout.FP_ASSIGNED] = cfg.assigned_fraction
        fp[layout.FP_PUBLIC] = cfg.public_fraction
        fp[layout.FP_CREW_ASSIGNEE] = 0.6  # most issues are assigned to the core team
        fp[layout.FP_REPLY_SCALE] = REPLY_SCALE
        fp[layout.FP_DESC_EMPTY], fp[layout.FP_DESC_CODE] = DESC_EMPTY, DESC_CODE
        fp[layout.FP_DESC_LINK], fp[layout.FP_DESC_IMAGE] = DESC_LINK, DESC_IMAGE
        fp[layout.FP_BODY_SHORT], fp[layout.FP_BODY_CODE] = BODY_SHORT, BODY_CODE
        fp[layout.FP_DESC_MORE_CDF:layout.FP_DESC_MORE_CDF + layout.MORE_LEN] = desc_more
        fp[layout.FP_BODY_MORE_CDF:layout.FP_BODY_MORE_CDF + layout.MORE_LEN] = body_more
        fp[layout.FP_BODY_LINK], fp[layout.FP_BODY_IMAGE] = BODY_LINK, BODY_IMAGE
        fp[layout.FP_BODY_MENTION] = BODY_MENTION
        fp[layout.FP_UNSUBSCRIBED] = cfg.unsubscribed_fraction
        fp[layout.FP_UNREAD] = cfg.unread_fraction

    def sizes(self, n: int, scale: float) -> tuple[int, ...]:
        cfg = self.cfg
        exp_c = n * max(cfg.comments_per_issue, 0.05)
        if cfg.all_tables:
            exp_e = n * (cfg.emoji_per_issue + cfg.comments_per_issue * cfg.emoji_per_comment) + 16
            exp_t = n * (3.0 + cfg.comments_per_issue)
            exp_v = exp_t + n * cfg.viewers_per_issue
            extra = (
                int(exp_e * self.emoji_row_bound * 1.5 * scale) + self.emoji_bound + 64,
                int(exp_e * 1.6 * scale) + 2048,
                int(exp_t * 60 * scale) + self.notify_bound + 64,
                int(exp_t * 1.6 * scale) + self.touch_max + 64,
                int(exp_v * 55 * scale) + self.view_bound + 64,
                int(exp_v * 1.6 * scale) + self.touch_max + 64,
            )
        else:
            extra = (0, 0, 0, 0, 0, 0)
        return (
            int(n * self.issue_mean * 1.3 * scale) + self.issue_bound + 64,
            n,
            int(exp_c * self.comment_mean * 1.5 * scale) + self.comment_bound + 64,
            int(exp_c * 1.6 * scale) + 2048,
            int(n * max(self.label_high, 1) * 70 * scale) + self.label_bound + 64,
            max(n * max(self.label_high, 1), 1) + 64,
            *extra,
            max(self.label_high, 1),
            2 * cfg.comments_max,
            3 * self.touch_max,
            EMOJI_CAP,
        )

    def kernel_args(self, i0: int, i1: int, bufs: Buffers) -> tuple[Any, ...]:
        """generate_range's arguments for issues [i0, i1) into `bufs` (the same for both backends)."""
        t = self.text
        return (
            i0, i1, self.seed, self.keys, self.ip, self.fp, self.project_cdf, self.proj_tp,
            self.proj_cat, self.proj_ids, self.proj_nlabels, self.comment_cdf, self.label_cdf, self.reply_q,
            ROUND_KEYS, ALPHABET_BYTES, self.label_ids, self.label_off, t.blob, t.piece_off, t.piece_len,
            t.piece_chars, t.tok_start, t.tok_a, t.tok_b, t.kind_lo, t.kind_hi, t.pool_items,
            t.comp_lo, t.comp_hi, t.comp_items, t.user_items,
            self.emoji_issue_cdf, self.emoji_comment_cdf, self.emoji_value_cdf, self.emoji_blob, self.emoji_off,
            self.viewer_cdf,
            bufs.issue, bufs.issue_ends, bufs.comment, bufs.comment_ends, bufs.label, bufs.label_ends,
            bufs.emoji, bufs.emoji_ends, bufs.notify, bufs.notify_ends, bufs.view, bufs.view_ends,
            bufs.label_scratch, bufs.id_scratch, bufs.comment_scratch, bufs.touch_scratch, bufs.emoji_scratch,
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
            # (The extra tables' buffers have no closed-form worst case: with ALL_TABLES only MAX_SCALE stops it.)
            at_worst = not self.cfg.all_tables and all(
                have >= need for have, need in zip(sizes[:len(worst)], worst, strict=True))
            if scale >= MAX_SCALE or at_worst:
                raise RuntimeError(f"the generator kernel ({self.backend.name}) reported full buffers for issues "
                                   f"[{i0:,}, {i1:,}) even with buffers of the worst-case size (scale {scale:g}); "
                                   "this is a bug: please report it with your settings")
            scale *= 2.0  # a chunk denser than the estimate: same range, bigger buffers, same bytes
        return Chunk(i0, i1, bufs, r[1], r[3], r[5], r[7], r[9])

    def worst_sizes(self, n: int) -> tuple[int, int, int, int, int, int]:
        """Sizes of the guide's six-table buffers (Buffers.NAMES[:6]) that hold `n` issues whatever the
        draws: every row at its longest, every cap hit."""
        most_comments = n * self.cfg.comments_max
        return (
            n * self.issue_bound + 64,
            n,
            n * self.comment_bound + 64,
            most_comments + 2048,
            n * self.label_bound + 64,
            max(n * max(self.label_high, 1), 1) + 64,
        )

    def expected_rows(self) -> tuple[float, float]:
        cfg = self.cfg
        mean_labels = cfg.labels_per_issue
        return cfg.num_issues * cfg.comments_per_issue, cfg.num_issues * mean_labels


MAX_SCALE = 2.0 ** 20  # past this many doublings of the estimate, give up whatever the worst case says


def chunk_ranges(num_issues: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk, num_issues)) for a in range(0, num_issues, chunk)]

