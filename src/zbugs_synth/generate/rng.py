"""Counter-based randomness: every random value is a pure function of (seed, stream, counter).

There is no RNG state to carry from row to row, so any chunk of any table can be generated alone,
in any order, on any thread, and match a sequential run byte for byte (the tpchgen-rs model).

The mixer is SplitMix64's finalizer (Steele, Lea & Flood 2014), a bijection on 64-bit words with
good avalanche; `key(seed, stream)` folds the seed and a per-purpose stream constant into a key,
and `draw(key, counter)` mixes the counter under that key. uint64 arithmetic wraps, by design.
"""

from __future__ import annotations

GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1

# Streams: one constant per independent purpose, so e.g. an issue's project and its title
# never reuse the same draws.
S_PROJECT, S_TITLE, S_DESC, S_OPEN, S_CREATED, S_CREATOR, S_ASSIGNED, S_ASSIGNEE = range(1, 9)
S_VISIBILITY, S_NCOMMENTS, S_COMMENT, S_NLABELS, S_LABELS, S_MODIFIED = range(9, 15)
S_TITLE_SLOTS, S_DESC_SLOTS, S_BODY_SLOTS = range(15, 18)
S_PROJECT_RANK, S_USER_NAME = 18, 19
S_DESC_SHAPE, S_DESC_PARTS, S_DESC_PART_SLOTS, S_BODY_SHAPE, S_BODY_PARTS, S_BODY_PART_SLOTS = range(20, 26)
S_EMOJI, S_EMOJI_TIME, S_NOTIFY, S_VIEW, S_VIEW_PICK, S_USER_PREF = range(26, 32)
N_STREAMS = 32


# ---- the reference functions in plain Python, for small tables and tests ---------------------------
# Their compiled twins live with each kernel backend (kernel.py for numba, _ckernel.c for C), so
# importing this module never loads numba.

def py_mix64(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _M1) & _MASK64
    z = ((z ^ (z >> 27)) * _M2) & _MASK64
    return z ^ (z >> 31)


def py_key(seed: int, stream: int) -> int:
    return py_mix64((py_mix64(seed ^ 0x5DEECE66D) + stream * GOLDEN) & _MASK64)


def py_draw(k: int, counter: int) -> int:
    return py_mix64((k + (counter + 1) * GOLDEN) & _MASK64)


def py_below(k: int, counter: int, n: int) -> int:
    return ((py_draw(k, counter) >> 32) * n) >> 32
