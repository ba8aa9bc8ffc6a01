"""The kernel's calling convention, shared by both backends (the C extension and numba) and by the
plan that fills its parameter vectors and sizes its buffers.

Pure Python on purpose: importing this never loads numba (see `backend`).

Padding contract. Text is copied as short pieces (5-60 bytes). The numba kernel moves them in
16-byte blocks with unaligned loads and stores (numba's slice assignment is a byte loop), which
may touch up to 15 bytes past either end, so:

  * every source array handed to a piece copy carries `PAD` readable bytes past its last piece
    (`padded` makes one), and
  * every destination keeps spare bytes beyond the position being written (the kernels' room
    checks include `SLACK`); over-written spare bytes are overwritten by the next piece or never
    counted (only [0, end) of a buffer is ever written out).

The C kernel copies exactly (memcpy) and needs neither, but gets the same arguments.
"""

from __future__ import annotations

import numpy as np

PAD = 16
SLACK = 4 * PAD  # spare bytes every buffer keeps past the room checks

# Indexes into the int64 parameter vector `ip`. (_ckernel.c has the same enums; the backend checks
# the extension reports the same IP_SIZE and FP_SIZE before using it.)
IP_USERS, IP_CREW, IP_T0, IP_SPAN, IP_TITLE_MAX, IP_DESC_MAX, IP_BODY_MAX = range(7)
IP_LABEL_MAX, IP_ISSUE_BOUND, IP_COMMENT_BOUND, IP_LABEL_BOUND = range(7, 11)
IP_ALL_TABLES, IP_EMOJI_BOUND, IP_NOTIFY_BOUND, IP_VIEW_BOUND, IP_EMOJI_MAX, IP_VIEWERS_MAX = range(11, 17)
IP_FOLLOWUPS_MAX = 17
IP_SIZE = 18
# Indexes into the float64 parameter vector `fp`.
FP_OPEN, FP_ASSIGNED, FP_PUBLIC, FP_CREW_ASSIGNEE, FP_REPLY_SCALE = range(5)
FP_DESC_EMPTY, FP_DESC_CODE, FP_DESC_LINK, FP_DESC_IMAGE = range(5, 9)
FP_BODY_SHORT, FP_BODY_CODE, FP_BODY_LINK, FP_BODY_IMAGE, FP_BODY_MENTION = range(9, 14)
FP_UNSUBSCRIBED, FP_UNREAD = 14, 15
# The laws of the number of follow-up paragraphs of a description and of a comment: cumulative
# P(N <= n) for n = 0 .. MORE_LEN - 1 (the last is 1.0); ip[IP_FOLLOWUPS_MAX] holds MORE_LEN.
MORE_LEN = 25
FP_DESC_MORE_CDF = 16
FP_BODY_MORE_CDF = FP_DESC_MORE_CDF + MORE_LEN
FP_SIZE = FP_BODY_MORE_CDF + MORE_LEN
# Counters of a description's (comment's) parts: row counter * PARTS_STRIDE + offset; follow-up m
# at PART_FOLLOWUP + m.
PARTS_STRIDE = 64
PART_SHAPE, PART_CODE, PART_MORE, PART_LINK, PART_IMAGE, PART_MENTION, PART_FOLLOWUP = 0, 1, 2, 10, 11, 12, 16
# Template kinds (textpool.KINDS): where each kind's templates are in kind_lo / kind_hi.
K_TITLE, K_DESC, K_COMMENT, K_CODE, K_LINK, K_IMAGE, K_SHORT, K_FOLLOWUP, K_MENTION = range(9)


def padded(data: bytes | np.ndarray) -> np.ndarray:
    """A uint8 copy of `data` followed by PAD zero bytes (a valid source for piece copies)."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    out = np.zeros(raw.shape[0] + PAD, dtype=np.uint8)
    out[: raw.shape[0]] = raw
    return out
