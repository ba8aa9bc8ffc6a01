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

from zbugs_synth.generate.ids import MAGIC, T_COMMENT, T_ISSUE, T_LABEL
from zbugs_synth.generate.layout import (
    FP_ASSIGNED,
    FP_CREW_ASSIGNEE,
    FP_LABEL_P,
    FP_OPEN,
    FP_PUBLIC,
    IP_BODY_MAX,
    IP_COMMENT_BOUND,
    IP_CREW,
    IP_DESC_MAX,
    IP_ISSUE_BOUND,
    IP_LABEL_BOUND,
    IP_LABEL_HIGH,
    IP_LABEL_LOW,
    IP_SPAN,
    IP_T0,
    IP_TITLE_MAX,
    IP_USERS,
    padded,
)
from zbugs_synth.generate.memcopy import copy16
from zbugs_synth.generate.rng import (
    S_ASSIGNED,
    S_ASSIGNEE,
    S_BODY_SLOTS,
    S_COMMENT,
    S_CREATED,
    S_CREATOR,
    S_DESC,
    S_DESC_SLOTS,
    S_LABELS,
    S_MODIFIED,
    S_NCOMMENTS,
    S_NLABELS,
    S_OPEN,
    S_PROJECT,
    S_TITLE,
    S_TITLE_SLOTS,
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
    if n == TOK_COMPONENT:
        lo = comp_lo[tp]
        return comp_items[lo + below(k, ctr, comp_hi[tp] - lo)]
    return user_items[below(k, ctr, user_items.shape[0])]


@njit(cache=True, inline="always", error_model="numpy")
def _fill(out, pos, tpl, k, ctr0, limit, tp, blob, piece_off, piece_len, piece_chars, tok_start,
          tok_a, tok_b, pool_items, comp_lo, comp_hi, comp_items, user_items):
    """Write template `tpl` with its slots filled; at most `limit` characters (truncated with '…')."""
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
        return pos
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
    return pos


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


@njit(cache=True, nogil=True, error_model="numpy")
def generate_range(i0, i1, seed, keys, ip, fp, project_cdf, proj_tp, proj_cat, proj_ids, proj_nlabels,
                   comment_cdf, round_keys, alphabet, label_ids, label_off,
                   blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b, kind_lo, kind_hi,
                   pool_items, comp_lo, comp_hi, comp_items, user_items,
                   ibuf, iend, cbuf, cend, lbuf, lend, label_scratch, id_scratch):
    """Returns (issue bytes, comments, comment bytes, labels, label bytes), or (-1, ...) on overflow."""
    n_users = ip[IP_USERS]
    n_crew = ip[IP_CREW]
    t0 = ip[IP_T0]
    span = ip[IP_SPAN]
    t_end = t0 + span
    ipos = 0
    cpos = 0
    lpos = 0
    nc = 0
    nl = 0
    for i in range(i0, i1):
        if (ipos + ip[IP_ISSUE_BOUND] > ibuf.shape[0] or cpos + ip[IP_COMMENT_BOUND] > cbuf.shape[0]
                or lpos + ip[IP_LABEL_BOUND] > lbuf.shape[0] or nc + 1024 > cend.shape[0]
                or nl + label_scratch.shape[0] > lend.shape[0]):
            return -1, 0, 0, 0, 0
        ctr = np.uint64(i)
        write_id(id_scratch, 0, seed, T_ISSUE, ctr, round_keys, alphabet)  # reused by every row below
        p = _bisect(project_cdf, uniform(keys[S_PROJECT], ctr))
        cat = proj_cat[p]
        tp = proj_tp[p]

        # -- times: issues arrive faster as the tracker grows (density rising linearly) ------------
        created = t0 + int(span * math.sqrt(uniform(keys[S_CREATED], ctr)))
        n_comments = _bisect(comment_cdf, uniform(keys[S_NCOMMENTS], ctr))
        # Comments follow their issue: gaps ~ exponential, mean a few days or less when little
        # time remains; each clamped to the window, so created <= comment <= end always holds.
        remaining = float(t_end - created)
        scale = min(3.0 * DAY_MS, remaining / (n_comments + 1.0))
        last = created

        # -- comments --------------------------------------------------------------------------------
        kc = keys[S_COMMENT]
        for j in range(n_comments):
            cctr = (ctr << np.uint64(10)) | np.uint64(j)
            gap = -math.log(1.0 - uniform(kc, cctr * np.uint64(4))) * scale
            last = min(last + int(gap), t_end)
            cpos = write_id(cbuf, cpos, seed, T_COMMENT, cctr, round_keys, alphabet)
            cbuf[cpos] = 44
            cpos = _copy(cbuf, cpos + 1, id_scratch, 0, 21)
            cbuf[cpos] = 44
            cpos = _uint(cbuf, cpos + 1, last, 1)
            cbuf[cpos] = 44
            cbuf[cpos + 1] = 34
            lo = kind_lo[2, cat]
            tpl = lo + below(kc, cctr * np.uint64(4) + np.uint64(1), kind_hi[2, cat] - lo)
            cpos = _fill(cbuf, cpos + 2, tpl, keys[S_BODY_SLOTS], cctr << np.uint64(8),
                         ip[IP_BODY_MAX], tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b,
                         pool_items, comp_lo, comp_hi, comp_items, user_items)
            cbuf[cpos] = 34
            cbuf[cpos + 1] = 44
            cpos = _user_id(cbuf, cpos + 2, _skewed_user(kc, cctr * np.uint64(4) + np.uint64(2), n_users))
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
        lo = kind_lo[0, cat]
        tpl = lo + below(keys[S_TITLE], ctr, kind_hi[0, cat] - lo)
        ipos = _fill(ibuf, ipos + 2, tpl, keys[S_TITLE_SLOTS], ctr << np.uint64(8),
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
        ipos = _user_id(ibuf, ipos + 1, _skewed_user(keys[S_CREATOR], ctr, n_users))
        ibuf[ipos] = 44
        ipos += 1
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
        lo = kind_lo[1, cat]
        tpl = lo + below(keys[S_DESC], ctr, kind_hi[1, cat] - lo)
        ipos = _fill(ibuf, ipos + 2, tpl, keys[S_DESC_SLOTS], ctr << np.uint64(8),
                     ip[IP_DESC_MAX], tp, blob, piece_off, piece_len, piece_chars, tok_start, tok_a, tok_b,
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
        n_labels = ip[IP_LABEL_LOW]
        if uniform(keys[S_NLABELS], ctr) < fp[FP_LABEL_P]:
            n_labels = ip[IP_LABEL_HIGH]
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
    return ipos, nc, cpos, nl, lpos
