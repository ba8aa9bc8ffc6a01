"""The compiled hot loop, numba backend: one call writes the CSV rows of issues [i0, i1) and of
their comments and issue labels into byte buffers. _ckernel.c is its C twin, byte for byte;
`backend` picks one, and imports this module (hence numba) only when numba is the one.

Everything is derived from (seed, stream, counter) — see `rng` — so the output of a range does
not depend on how the work is split into chunks, threads or shards. The kernel releases the GIL
(`nogil=True`), so the driver runs several calls at once on plain threads and no bytes cross a
process boundary. Text is copied as pre-escaped pieces (see `textpool`); there is no per-row
allocation.

If any buffer could overflow, the kernel stops and returns -1; the driver retries the same range
with bigger buffers (the retry produces the same bytes, since nothing depends on the attempt).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from zbugs_synth.generate.ids import MAGIC, T_COMMENT, T_EMOJI, T_ISSUE, T_LABEL
from zbugs_synth.generate.layout import (
    FP_ASSIGNED,
    FP_BODY_CODE,
    FP_BODY_IMAGE,
    FP_BODY_LINK,
    FP_BODY_MENTION,
    FP_BODY_MORE_CDF,
    FP_BODY_SHORT,
    FP_CREW_ASSIGNEE,
    FP_DESC_CODE,
    FP_DESC_EMPTY,
    FP_DESC_IMAGE,
    FP_DESC_LINK,
    FP_DESC_MORE_CDF,
    FP_OPEN,
    FP_PUBLIC,
    FP_REPLY_SCALE,
    FP_UNREAD,
    FP_UNSUBSCRIBED,
    IP_ALL_TABLES,
    IP_BODY_MAX,
    IP_COMMENT_BOUND,
    IP_CREW,
    IP_DESC_MAX,
    IP_EMOJI_BOUND,
    IP_EMOJI_MAX,
    IP_FOLLOWUPS_MAX,
    IP_ISSUE_BOUND,
    IP_LABEL_BOUND,
    IP_NOTIFY_BOUND,
    IP_SPAN,
    IP_T0,
    IP_TITLE_MAX,
    IP_USERS,
    IP_VIEW_BOUND,
    IP_VIEWERS_MAX,
    K_CODE,
    K_COMMENT,
    K_DESC,
    K_FOLLOWUP,
    K_IMAGE,
    K_LINK,
    K_MENTION,
    K_SHORT,
    K_TITLE,
    PART_CODE,
    PART_FOLLOWUP,
    PART_IMAGE,
    PART_LINK,
    PART_MENTION,
    PART_MORE,
    PART_SHAPE,
    PARTS_STRIDE,
    padded,
)
from zbugs_synth.generate.memcopy import copy16
from zbugs_synth.generate.rng import (
    S_ASSIGNED,
    S_ASSIGNEE,
    S_BODY_PART_SLOTS,
    S_BODY_PARTS,
    S_BODY_SHAPE,
    S_BODY_SLOTS,
    S_COMMENT,
    S_CREATED,
    S_CREATOR,
    S_DESC,
    S_DESC_PART_SLOTS,
    S_DESC_PARTS,
    S_DESC_SHAPE,
    S_DESC_SLOTS,
    S_EMOJI,
    S_EMOJI_TIME,
    S_LABELS,
    S_MODIFIED,
    S_NCOMMENTS,
    S_NLABELS,
    S_NOTIFY,
    S_OPEN,
    S_PROJECT,
    S_TITLE,
    S_TITLE_SLOTS,
    S_VIEW,
    S_VIEW_PICK,
    S_VISIBILITY,
)
from zbugs_synth.generate.textpool import TOK_COMPONENT

DAY_MS = 86_400_000.0
_TRUE = padded(b"true")
_FALSE = padded(b"false")
_PUBLIC = padded(b"public")
_INTERNAL = padded(b"internal")
_ELLIPSIS = np.frombuffer("…".encode(), dtype=np.uint8)


# ---- compiled twins of rng.py's reference functions ------------------------------------------------

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always", error_model="numpy")
def mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always", error_model="numpy")
def draw(k: np.uint64, counter: np.uint64) -> np.uint64:
    return mix64(k + (counter + np.uint64(1)) * GOLDEN)


@njit(cache=True, inline="always", error_model="numpy")
def uniform(k: np.uint64, counter: np.uint64) -> float:
    """A float in [0, 1) with 53 random bits."""
    return float(draw(k, counter) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always", error_model="numpy")
def below(k: np.uint64, counter: np.uint64, n: int) -> int:
    """An integer in [0, n) (Lemire's multiply-shift; bias < n / 2**64, far below anything visible)."""
    hi = (draw(k, counter) >> np.uint64(32)) * np.uint64(n)
    return int(hi >> np.uint64(32))


# ---- compiled twin of ids.make_id: writes the 21 bytes straight into the output buffer -------------

@njit(cache=True, inline="always", error_model="numpy")
def write_id(out: np.ndarray, pos: int, seed: np.uint64, table: int, row: np.uint64,
             keys: np.ndarray, alphabet: np.ndarray) -> int:
    # plaintext split into 63-bit halves: high = MAGIC(10) | seed bits 63..11 (53 bits);
    # low = seed bits 10..0 (11) | table (4) | row (48).
    hi = (np.uint64(MAGIC) << np.uint64(53)) | (seed >> np.uint64(11))
    lo = ((seed & np.uint64(0x7FF)) << np.uint64(52)) | (np.uint64(table) << np.uint64(48)) | row
    mask63 = np.uint64(0x7FFFFFFFFFFFFFFF)
    for r in range(keys.shape[0]):
        f = mix64(lo ^ keys[r]) & mask63
        hi, lo = lo, hi ^ f
    # 126 bits = hi(63) | lo(63): character i holds bits [120 - 6i, 126 - 6i).
    for i in range(21):
        shift = 120 - 6 * i
        if shift >= 63:
            v = (hi >> np.uint64(shift - 63)) & np.uint64(63)
        elif shift + 6 <= 63:
            v = (lo >> np.uint64(shift)) & np.uint64(63)
        else:  # straddles the halves
            low_bits = 63 - shift
            v = ((hi << np.uint64(low_bits)) | (lo >> np.uint64(shift))) & np.uint64(63)
        out[pos + i] = alphabet[v]
    return pos + 21


@njit(cache=True)
def ids_into(seed: np.uint64, table: int, rows: np.ndarray, keys: np.ndarray,
             alphabet: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0] * 21, dtype=np.uint8)
    for i in range(rows.shape[0]):
        write_id(out, 21 * i, seed, table, np.uint64(rows[i]), keys, alphabet)
    return out


# ---- the kernel ------------------------------------------------------------------------------------

@njit(cache=True, inline="always", error_model="numpy")
def _copy(out: np.ndarray, pos: int, src: np.ndarray, off: int, n: int) -> int:
    copy16(out, pos, src, off, n)  # sources are padded, destinations have slack: see layout
    return pos + n


@njit(cache=True, inline="always", error_model="numpy")
def _uint(out: np.ndarray, pos: int, v: int, width: int) -> int:
    """Decimal digits of v >= 0, zero-padded to at least `width`."""
    n = 1
    t = v
    while t >= 10:
        t //= 10
        n += 1
    if n < width:
        for _ in range(width - n):
            out[pos] = 48
            pos += 1
    end = pos + n
    p = end - 1
    while True:
        out[p] = 48 + v % 10
        v //= 10
        if v == 0:
            break
        p -= 1
    return end


@njit(cache=True, inline="always", error_model="numpy")
def _user_id(out: np.ndarray, pos: int, u: int) -> int:
    out[pos] = 117  # u
    out[pos + 1] = 115  # s
    out[pos + 2] = 114  # r
    out[pos + 3] = 95  # _
    return _uint(out, pos + 4, u, 4)


@njit(cache=True, inline="always", error_model="numpy")
def _skewed_user(k: np.uint64, ctr: np.uint64, n_users: int) -> int:
    # Density falls with the index: the first users (the crew) are the most active, as in zbugs.
    u = uniform(k, ctr)
    return min(int(n_users * u * u), n_users - 1)


@njit(cache=True, inline="always", error_model="numpy")
def _piece(t, k, ctr, tp, tok_a, tok_b, pool_items, comp_lo, comp_hi, comp_items, user_items) -> int:
    """The piece token t stands for: its literal, or a value drawn for its slot."""
    n = tok_b[t]
    if n == 0:
        return tok_a[t]
    if n > 0:  # a pool slot, its range resolved when the pack was compiled
        return pool_items[tok_a[t] + below(k, ctr, n)]
    if n == TOK_COMPONENT:  # tok_a selects the block of seam-free component views
        lo = comp_lo[tok_a[t] + tp]
        return comp_items[lo + below(k, ctr, comp_hi[tok_a[t] + tp] - lo)]
    return user_items[below(k, ctr, user_items.shape[0])]


@njit(cache=True, inline="always", error_model="numpy")
def _fill(out, pos, tpl, k, ctr0, limit, tp, blob, piece_off, piece_len, piece_chars, tok_start,
          tok_a, tok_b, pool_items, comp_lo, comp_hi, comp_items, user_items):
    """Write template `tpl` with its slots filled; at most `limit` characters (truncated with '…').
    Returns (end position, characters written)."""
    a = tok_start[tpl]
    b = tok_start[tpl + 1]
    start = pos
    total = 0
    for t in range(a, b):
        piece = _piece(t, k, ctr0 + np.uint64(t - a), tp, tok_a, tok_b, pool_items, comp_lo, comp_hi,
                       comp_items, user_items)
        total += piece_chars[piece]
        pos = _copy(out, pos, blob, piece_off[piece], piece_len[piece])
    if total <= limit:
        return pos, total
    pos = start  # too long: rewrite it truncated (the buffer bound covers the untruncated text)
    # Rare path (a pack whose longest fills exceed the column): cut on a character boundary,
    # never between the two bytes of an escaped quote, and mark the cut.
    budget = limit - 1
    for t in range(a, b):
        piece = _piece(t, k, ctr0 + np.uint64(t - a), tp, tok_a, tok_b, pool_items, comp_lo, comp_hi,
                       comp_items, user_items)
        if piece_chars[piece] <= budget:
            pos = _copy(out, pos, blob, piece_off[piece], piece_len[piece])
            budget -= piece_chars[piece]
            continue
        j = piece_off[piece]
        end = j + piece_len[piece]
        while j < end:
            c = blob[j]
            if (c & 0xC0) != 0x80:  # first byte of a character
                if budget == 0:
                    break
                budget -= 1
                if c == 34:  # '"' is stored doubled
                    out[pos] = 34
                    out[pos + 1] = 34
                    pos += 2
                    j += 2
                    continue
            out[pos] = c
            pos += 1
            j += 1
        break
    for e in range(_ELLIPSIS.shape[0]):
        out[pos] = _ELLIPSIS[e]
        pos += 1
    return pos, limit


@njit(cache=True, inline="always", error_model="numpy")
def _bisect(cdf: np.ndarray, u: float) -> int:
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo



@njit(cache=True, inline="always", error_model="numpy")
def _reply_gap(q: np.ndarray, u: float, remaining: float) -> float:
    """A gap from the quantile table q (ms, increasing), conditioned on being <= remaining:
    Q(u * F(remaining)), F and Q interpolated linearly between the table's points."""
    n = q.shape[0] - 1
    if remaining >= q[n]:
        f = 1.0
    elif remaining <= q[0]:
        f = 0.0
    else:
        j = _bisect(q, remaining) - 1  # q[j] <= remaining < q[j + 1]
        f = (j + (remaining - q[j]) / (q[j + 1] - q[j])) / n
    x = u * f * n
    j = int(x)
    if j >= n:
        return q[n]
    return q[j] + (q[j + 1] - q[j]) * (x - j)


@njit(cache=True, inline="always", error_model="numpy")
def _part(out, pos, budget, kind, cat, kp, pick_ctr, ks, tp, blob, piece_off, piece_len, piece_chars, tok_start,
          tok_a, tok_b, kind_lo, kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items):
    """One more paragraph of a composed field: a blank line and a template of `kind`, within the
    remaining `budget` of characters. Returns (end position, budget left)."""
    if budget < 3:
        return pos, budget
    out[pos] = 10
    out[pos + 1] = 10
    lo = kind_lo[kind, cat]
    tpl = lo + below(kp, pick_ctr, kind_hi[kind, cat] - lo)
    pos, used = _fill(out, pos + 2, tpl, ks, pick_ctr << np.uint64(8), budget - 2, tp, blob, piece_off, piece_len,
                      piece_chars, tok_start, tok_a, tok_b, pool_items, comp_lo, comp_hi, comp_items, user_items)
    return pos, budget - 2 - used


@njit(cache=True, inline="always", error_model="numpy")
def _touch(users: np.ndarray, first: np.ndarray, last: np.ndarray, n: int, u: int, t: int) -> int:
    """Record that user u touched the issue at time t; returns the number of distinct users."""
    for k in range(n):
        if users[k] == u:
            if t > last[k]:
                last[k] = t
            return n
    users[n] = u
    first[n] = t
    last[n] = t
    return n + 1


# The emoji, issueNotifications and viewState loops share these three steps: draw distinct
# subjects by rejection, start a row with its (user, issue) key, end a row with a timestamp.
@njit(cache=True, inline="always", error_model="numpy")
def _contains(items: np.ndarray, n: int, x: int) -> bool:
    """Whether x is among items[:n] (the rejection test of the distinct draws)."""
    for q in range(n):  # noqa: SIM110 - a plain loop: numba compiles any() over a generator slower
        if items[q] == x:
            return True
    return False


@njit(cache=True, inline="always", error_model="numpy")
def _user_issue(out: np.ndarray, pos: int, u: int, issue_id: np.ndarray) -> int:
    """`<user id>,<issue id>,`: the key that notification and view rows start with."""
    pos = _user_id(out, pos, u)
    out[pos] = 44
    pos = _copy(out, pos + 1, issue_id, 0, 21)
    out[pos] = 44
    return pos + 1


@njit(cache=True, inline="always", error_model="numpy")
def _row_end(out: np.ndarray, pos: int, t: int, ends: np.ndarray, n: int) -> int:
    """A row's last field, timestamp t, and its newline; records the row's end as row n."""
    pos = _uint(out, pos, t, 1)
    out[pos] = 10
    ends[n] = pos + 1
    return pos + 1


@njit(cache=True, nogil=True, error_model="numpy")
def generate_range(i0, i1, seed, keys, ip, fp, project_cdf, proj_tp, proj_cat, proj_ids, proj_nlabels,
                   comment_cdf, label_cdf, reply_q, round_keys, alphabet, label_ids, label_off,
                   blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi,
                   pool_items, comp_lo, comp_hi, comp_items, user_items,
                   emoji_issue_cdf, emoji_comment_cdf, emoji_value_cdf, emoji_blob, emoji_off, viewer_cdf,
                   ibuf, iend, cbuf, cend, lbuf, lend, ebuf, eend, nbuf, nend, vbuf, vend,
                   label_scratch, id_scratch, comment_scratch, touch_scratch, emoji_scratch):
    """Returns (issue bytes, comments, comment bytes, labels, label bytes, emoji, emoji bytes,
    notifications, notification bytes, views, view bytes), or (-1, 0, ...) on overflow."""
    n_users = ip[IP_USERS]
    n_crew = ip[IP_CREW]
    t0 = ip[IP_T0]
    span = ip[IP_SPAN]
    t_end = t0 + span
    all_tables = ip[IP_ALL_TABLES] != 0
    n_cmax = comment_scratch.shape[0] // 2
    n_tmax = touch_scratch.shape[0] // 3
    ipos = 0
    cpos = 0
    lpos = 0
    epos = 0
    npos = 0
    vpos = 0
    nc = 0
    nl = 0
    ne = 0
    nn = 0
    nv = 0
    for i in range(i0, i1):
        if (ipos + ip[IP_ISSUE_BOUND] > ibuf.shape[0] or cpos + ip[IP_COMMENT_BOUND] > cbuf.shape[0]
                or lpos + ip[IP_LABEL_BOUND] > lbuf.shape[0] or nc + 1024 > cend.shape[0]
                or nl + label_scratch.shape[0] > lend.shape[0]):
            return -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        if all_tables and (epos + ip[IP_EMOJI_BOUND] > ebuf.shape[0] or ne + 1024 > eend.shape[0]
                           or npos + ip[IP_NOTIFY_BOUND] > nbuf.shape[0] or nn + n_tmax > nend.shape[0]
                           or vpos + ip[IP_VIEW_BOUND] > vbuf.shape[0] or nv + n_tmax > vend.shape[0]):
            return -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ctr = np.uint64(i)
        write_id(id_scratch, 0, seed, T_ISSUE, ctr, round_keys, alphabet)  # reused by every row below
        p = _bisect(project_cdf, uniform(keys[S_PROJECT], ctr))
        cat = proj_cat[p]
        tp = proj_tp[p]

        # -- times: issues arrive faster as the tracker grows (density rising linearly) ------------
        created = t0 + int(span * math.sqrt(uniform(keys[S_CREATED], ctr)))
        n_comments = _bisect(comment_cdf, uniform(keys[S_NCOMMENTS], ctr))
        last = created

        # -- comments --------------------------------------------------------------------------------
        # The first reply comes after a heavy-tailed wait (minutes to months: reply_q); later ones
        # after the same law scaled down. Each is drawn conditioned on fitting before the window's
        # end, so created <= comment <= end holds without piling comments up at the end.
        kc = keys[S_COMMENT]
        kb = keys[S_BODY_SHAPE]
        kbp = keys[S_BODY_PARTS]
        kbs = keys[S_BODY_PART_SLOTS]
        for j in range(n_comments):
            cctr = (ctr << np.uint64(10)) | np.uint64(j)
            remaining = float(t_end - last)
            u = uniform(kc, cctr * np.uint64(4))
            if j == 0:
                gap = _reply_gap(reply_q, u, remaining)
            else:
                gap = _reply_gap(reply_q, u, remaining / fp[FP_REPLY_SCALE]) * fp[FP_REPLY_SCALE]
            last = min(last + int(gap), t_end)
            author = _skewed_user(kc, cctr * np.uint64(4) + np.uint64(2), n_users)
            if j < n_cmax:
                comment_scratch[j] = last
                comment_scratch[n_cmax + j] = author
            cpos = write_id(cbuf, cpos, seed, T_COMMENT, cctr, round_keys, alphabet)
            cbuf[cpos] = 44
            cpos = _copy(cbuf, cpos + 1, id_scratch, 0, 21)
            cbuf[cpos] = 44
            cpos = _uint(cbuf, cpos + 1, last, 1)
            cbuf[cpos] = 44
            cbuf[cpos + 1] = 34
            cpos += 2
            base = cctr * np.uint64(PARTS_STRIDE)
            budget = ip[IP_BODY_MAX]
            if uniform(kb, base + np.uint64(PART_SHAPE)) < fp[FP_BODY_SHORT]:
                lo = kind_lo[K_SHORT, cat]
                tpl = lo + below(kbp, base, kind_hi[K_SHORT, cat] - lo)
                cpos, used = _fill(cbuf, cpos, tpl, kbs, base << np.uint64(8), budget, tp, blob, piece_off,
                                   piece_len, piece_chars, tok_start, tok_a, tok_b, pool_items, comp_lo, comp_hi,
                                   comp_items, user_items)
            else:
                lo = kind_lo[K_COMMENT, cat]
                tpl = lo + below(kc, cctr * np.uint64(4) + np.uint64(1), kind_hi[K_COMMENT, cat] - lo)
                cpos, used = _fill(cbuf, cpos, tpl, keys[S_BODY_SLOTS], cctr << np.uint64(8), budget, tp, blob,
                                   piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, pool_items, comp_lo,
                                   comp_hi, comp_items, user_items)
                budget -= used
                if uniform(kb, base + np.uint64(PART_CODE)) < fp[FP_BODY_CODE]:
                    cpos, budget = _part(cbuf, cpos, budget, K_CODE, cat, kbp, base + np.uint64(PART_CODE), kbs, tp,
                                         blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo,
                                         kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
                n_more = _bisect(fp[FP_BODY_MORE_CDF:FP_BODY_MORE_CDF + ip[IP_FOLLOWUPS_MAX]],
                                 uniform(kb, base + np.uint64(PART_MORE)))
                for m in range(n_more):
                    cpos, budget = _part(cbuf, cpos, budget, K_FOLLOWUP, cat, kbp, base + np.uint64(PART_FOLLOWUP + m),
                                         kbs, tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b,
                                         kind_lo, kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
                if uniform(kb, base + np.uint64(PART_LINK)) < fp[FP_BODY_LINK]:
                    cpos, budget = _part(cbuf, cpos, budget, K_LINK, cat, kbp, base + np.uint64(PART_LINK), kbs, tp,
                                         blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo,
                                         kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
                if uniform(kb, base + np.uint64(PART_IMAGE)) < fp[FP_BODY_IMAGE]:
                    cpos, budget = _part(cbuf, cpos, budget, K_IMAGE, cat, kbp, base + np.uint64(PART_IMAGE), kbs, tp,
                                         blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo,
                                         kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
                if uniform(kb, base + np.uint64(PART_MENTION)) < fp[FP_BODY_MENTION]:
                    cpos, budget = _part(cbuf, cpos, budget, K_MENTION, cat, kbp, base + np.uint64(PART_MENTION), kbs,
                                         tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo,
                                         kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
            cbuf[cpos] = 34
            cbuf[cpos + 1] = 44
            cpos = _user_id(cbuf, cpos + 2, author)
            cbuf[cpos] = 10
            cpos += 1
            cend[nc] = cpos
            nc += 1

        # -- the issue row ---------------------------------------------------------------------------
        edit = created + int(-math.log(1.0 - uniform(keys[S_MODIFIED], ctr)) * 7.0 * DAY_MS)
        modified = min(max(edit, last), t_end)
        ipos = _copy(ibuf, ipos, id_scratch, 0, 21)
        ibuf[ipos] = 44
        ibuf[ipos + 1] = 34
        lo = kind_lo[K_TITLE, cat]
        tpl = lo + below(keys[S_TITLE], ctr, kind_hi[K_TITLE, cat] - lo)
        ipos, used = _fill(ibuf, ipos + 2, tpl, keys[S_TITLE_SLOTS], ctr << np.uint64(8),
                           ip[IP_TITLE_MAX], tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b,
                           pool_items, comp_lo, comp_hi, comp_items, user_items)
        ibuf[ipos] = 34
        ibuf[ipos + 1] = 44
        ipos += 2
        if uniform(keys[S_OPEN], ctr) < fp[FP_OPEN]:
            ipos = _copy(ibuf, ipos, _TRUE, 0, 4)
        else:
            ipos = _copy(ibuf, ipos, _FALSE, 0, 5)
        ibuf[ipos] = 44
        ipos = _uint(ibuf, ipos + 1, modified, 1)
        ibuf[ipos] = 44
        ipos = _uint(ibuf, ipos + 1, created, 1)
        ibuf[ipos] = 44
        creator = _skewed_user(keys[S_CREATOR], ctr, n_users)
        ipos = _user_id(ibuf, ipos + 1, creator)
        ibuf[ipos] = 44
        ipos += 1
        assignee = -1
        if uniform(keys[S_ASSIGNED], ctr) < fp[FP_ASSIGNED]:
            ka = keys[S_ASSIGNEE]
            if uniform(ka, ctr * np.uint64(2)) < fp[FP_CREW_ASSIGNEE]:
                assignee = below(ka, ctr * np.uint64(2) + np.uint64(1), n_crew)
            else:
                assignee = below(ka, ctr * np.uint64(2) + np.uint64(1), n_users)
            ipos = _user_id(ibuf, ipos, assignee)
        # else: an empty unquoted field, which COPY reads as NULL
        ibuf[ipos] = 44
        ibuf[ipos + 1] = 34
        ipos += 2
        # The description: empty for some issues; else a template, then maybe a code block,
        # follow-up paragraphs, a link and an image, so lengths get real tails.
        kd = keys[S_DESC_SHAPE]
        kdp = keys[S_DESC_PARTS]
        kds = keys[S_DESC_PART_SLOTS]
        base = ctr * np.uint64(PARTS_STRIDE)
        if uniform(kd, base + np.uint64(PART_SHAPE)) >= fp[FP_DESC_EMPTY]:
            budget = ip[IP_DESC_MAX]
            lo = kind_lo[K_DESC, cat]
            tpl = lo + below(keys[S_DESC], ctr, kind_hi[K_DESC, cat] - lo)
            ipos, used = _fill(ibuf, ipos, tpl, keys[S_DESC_SLOTS], ctr << np.uint64(8), budget, tp, blob,
                               piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, pool_items, comp_lo,
                               comp_hi, comp_items, user_items)
            budget -= used
            if uniform(kd, base + np.uint64(PART_CODE)) < fp[FP_DESC_CODE]:
                ipos, budget = _part(ibuf, ipos, budget, K_CODE, cat, kdp, base + np.uint64(PART_CODE), kds, tp, blob,
                                     piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi,
                                     pool_items, comp_lo, comp_hi, comp_items, user_items)
            n_more = _bisect(fp[FP_DESC_MORE_CDF:FP_DESC_MORE_CDF + ip[IP_FOLLOWUPS_MAX]],
                             uniform(kd, base + np.uint64(PART_MORE)))
            for m in range(n_more):
                ipos, budget = _part(ibuf, ipos, budget, K_FOLLOWUP, cat, kdp, base + np.uint64(PART_FOLLOWUP + m), kds,
                                     tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo,
                                     kind_hi, pool_items, comp_lo, comp_hi, comp_items, user_items)
            if uniform(kd, base + np.uint64(PART_LINK)) < fp[FP_DESC_LINK]:
                ipos, budget = _part(ibuf, ipos, budget, K_LINK, cat, kdp, base + np.uint64(PART_LINK), kds, tp, blob,
                                     piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi,
                                     pool_items, comp_lo, comp_hi, comp_items, user_items)
            if uniform(kd, base + np.uint64(PART_IMAGE)) < fp[FP_DESC_IMAGE]:
                ipos, budget = _part(ibuf, ipos, budget, K_IMAGE, cat, kdp, base + np.uint64(PART_IMAGE), kds, tp,
                                     blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi,
                                     pool_items, comp_lo, comp_hi, comp_items, user_items)
        ibuf[ipos] = 34
        ibuf[ipos + 1] = 44
        ipos += 2
        if uniform(keys[S_VISIBILITY], ctr) < fp[FP_PUBLIC]:
            ipos = _copy(ibuf, ipos, _PUBLIC, 0, 6)
        else:
            ipos = _copy(ibuf, ipos, _INTERNAL, 0, 8)
        ibuf[ipos] = 44
        ipos = _copy(ibuf, ipos + 1, proj_ids, 21 * p, 21)
        ibuf[ipos] = 10
        ipos += 1
        iend[i - i0] = ipos

        # -- labels: distinct, from the issue's own project ------------------------------------------
        n_labels = _bisect(label_cdf, uniform(keys[S_NLABELS], ctr))
        avail = proj_nlabels[p]
        if n_labels > avail:
            n_labels = avail
        kl = keys[S_LABELS]
        draws = np.uint64(0)
        for m in range(n_labels):
            while True:  # rejection: n_labels is small next to the labels available
                cand = below(kl, (ctr << np.uint64(16)) + draws, avail)
                draws += np.uint64(1)
                dup = False
                for q in range(m):
                    if label_scratch[q] == cand:
                        dup = True
                        break
                if not dup:
                    break
            label_scratch[m] = cand
            if label_ids.shape[0] > 0:  # precomputed when the table is small enough (it usually is)
                lpos = _copy(lbuf, lpos, label_ids, 21 * (label_off[p] + cand), 21)
            else:
                lpos = write_id(lbuf, lpos, seed, T_LABEL, (np.uint64(p) << np.uint64(12)) | np.uint64(cand),
                                round_keys, alphabet)
            lbuf[lpos] = 44
            lpos = _copy(lbuf, lpos + 1, id_scratch, 0, 21)
            lbuf[lpos] = 44
            lpos = _copy(lbuf, lpos + 1, proj_ids, 21 * p, 21)
            lbuf[lpos] = 10
            lpos += 1
            lend[nl] = lpos
            nl += 1

        if not all_tables:
            continue
        n_kept = min(n_comments, n_cmax)

        # -- emoji: reactions on the issue (subject 0) and its comments (subject j + 1) -------------
        # One per (value, subject, creator), by rejection; each after its subject and no later than
        # the issue's modification (zbugs bumps `modified` when a reaction arrives).
        ke = keys[S_EMOJI]
        ket = keys[S_EMOJI_TIME]
        n_values = emoji_value_cdf.shape[0]
        pairs = n_values * n_users
        e_total = 0
        for s in range(n_kept + 1):
            sbase = ((ctr << np.uint64(10)) | np.uint64(s)) << np.uint64(12)
            if s == 0:
                cnt = _bisect(emoji_issue_cdf, uniform(ke, sbase))
                subj_time = created
            else:
                cnt = _bisect(emoji_comment_cdf, uniform(ke, sbase))
                subj_time = comment_scratch[s - 1]
            cnt = min(cnt, ip[IP_EMOJI_MAX] - e_total, pairs, emoji_scratch.shape[0])
            d = np.uint64(1)
            for r in range(cnt):
                found = False
                while d < np.uint64(4000):
                    value = _bisect(emoji_value_cdf, uniform(ke, sbase + d))
                    who = _skewed_user(ke, sbase + d + np.uint64(1), n_users)
                    d += np.uint64(2)
                    pair = value * n_users + who
                    found = not _contains(emoji_scratch, r, pair)
                    if found:
                        break
                if not found:
                    break  # a subject whose likely pairs are all taken: it gets fewer reactions
                emoji_scratch[r] = pair
                u = uniform(ket, sbase + np.uint64(r))
                when = subj_time + int(float(modified - subj_time) * (u * u * u))
                epos = write_id(ebuf, epos, seed, T_EMOJI, (ctr << np.uint64(10)) | np.uint64(e_total), round_keys,
                                alphabet)
                ebuf[epos] = 44
                epos = _copy(ebuf, epos + 1, emoji_blob, emoji_off[value], emoji_off[value + 1] - emoji_off[value])
                ebuf[epos] = 44
                if s == 0:
                    epos = _copy(ebuf, epos + 1, id_scratch, 0, 21)
                else:
                    epos = write_id(ebuf, epos + 1, seed, T_COMMENT, (ctr << np.uint64(10)) | np.uint64(s - 1),
                                    round_keys, alphabet)
                ebuf[epos] = 44
                epos = _user_id(ebuf, epos + 1, who)
                ebuf[epos] = 44
                epos = _row_end(ebuf, epos + 1, when, eend, ne)
                ne += 1
                e_total += 1

        # -- who touched the issue, and when: creator, assignee, commenters --------------------------
        users = touch_scratch[:n_tmax]
        first = touch_scratch[n_tmax:2 * n_tmax]
        lastt = touch_scratch[2 * n_tmax:]
        kn = keys[S_NOTIFY]
        n_t = _touch(users, first, lastt, 0, creator, created)
        if assignee >= 0:
            assigned_at = created + int(float(modified - created) * uniform(kn, ctr << np.uint64(11)))
            n_t = _touch(users, first, lastt, n_t, assignee, assigned_at)
        for j in range(n_kept):
            n_t = _touch(users, first, lastt, n_t, comment_scratch[n_cmax + j], comment_scratch[j])

        # -- issueNotifications: everyone who touched it subscribed when they did; some left ---------
        for k in range(n_t):
            npos = _user_issue(nbuf, npos, users[k], id_scratch)
            if uniform(kn, (ctr << np.uint64(11)) | np.uint64(1 + k)) < fp[FP_UNSUBSCRIBED]:
                npos = _copy(nbuf, npos, _FALSE, 0, 5)
            else:
                npos = _copy(nbuf, npos, _TRUE, 0, 4)
            nbuf[npos] = 44
            npos = _row_end(nbuf, npos + 1, first[k], nend, nn)
            nn += 1

        # -- viewState: participants viewed it at or after their last touch (most saw the latest
        # change, some did not: "unread"), plus people who only browsed ------------------------------
        kv = keys[S_VIEW]
        for k in range(n_t):
            vctr = ((ctr << np.uint64(12)) | np.uint64(k)) * np.uint64(2)
            t_last = lastt[k]
            u = uniform(kv, vctr + np.uint64(1))
            if uniform(kv, vctr) < fp[FP_UNREAD] and modified > t_last:
                viewed = t_last + int(float(modified - t_last) * u)
            else:
                after = max(t_last, modified)
                viewed = after + int(float(t_end - after) * (u * u))
            vpos = _row_end(vbuf, _user_issue(vbuf, vpos, users[k], id_scratch), viewed, vend, nv)
            nv += 1
        n_part = n_t
        browsers = _bisect(viewer_cdf, uniform(kv, ((ctr << np.uint64(12)) | np.uint64(4095)) * np.uint64(2)))
        browsers = min(browsers, n_users - n_part, ip[IP_VIEWERS_MAX], n_tmax - n_part)
        kvp = keys[S_VIEW_PICK]
        d = np.uint64(0)
        for b in range(browsers):
            found = False
            while d < np.uint64(4096):
                who = _skewed_user(kvp, (ctr << np.uint64(12)) + d, n_users)
                d += np.uint64(1)
                found = not _contains(users, n_t, who)
                if found:
                    break
            if not found:
                break
            users[n_t] = who
            n_t += 1
            u = uniform(kv, ((ctr << np.uint64(12)) | np.uint64(2048 + b)) * np.uint64(2))
            viewed = created + int(float(t_end - created) * u)
            vpos = _row_end(vbuf, _user_issue(vbuf, vpos, who, id_scratch), viewed, vend, nv)
            nv += 1
    return ipos, nc, cpos, nl, lpos, ne, epos, nn, npos, nv, vpos
