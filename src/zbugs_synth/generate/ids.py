"""Entity IDs: 21-character nanoid-shaped strings that are unique *by construction*.

An ID is the image of the tuple (seed, table, row) under a bijection of 126-bit words, written as
21 characters of 6 bits each over the nanoid alphabet `0-9A-Za-z_-`:

    plaintext = MAGIC (10 bits) | seed (64 bits) | table (4 bits) | row (48 bits)   = 126 bits
    id        = base64url(Feistel(plaintext))

Why this is collision-free, with no luck involved:
  * The plaintext packing is injective: distinct (seed, table, row) give distinct 126-bit words
    (each field has its own bit range and is range-checked).
  * A Feistel network is a permutation for *any* round function: each round maps (L, R) to
    (R, L xor F(R)), which is undone by (L, R) = (R' xor F(L'), L'). A composition of
    permutations is a permutation.
  * The base-64 rendering of 126 bits in 21 digits is a bijection.
So two IDs are equal only if seed, table and row are all equal: IDs never collide within a
dataset, across its tables, or across datasets made with different SEEDs (the guide's batches).
The key is a fixed constant, not derived from the seed — a seed-dependent key would break the
cross-seed argument. `decode` inverts the mapping; the tests check round trips and that foreign
ids zbugs itself uses (the built-in Zero project) lie outside our image.

Rows: issues use their index; a comment of issue i is row (i << 10 | j) with j < 1024; a label
of project p is row (p << 12 | l); the e-th reaction on issue i or its comments is emoji row
(i << 10 | e). issueNotifications and viewState have no id: their keys (user, issue) are distinct
within an issue by construction and issue ids never repeat. Users are `usr_0000`, ... and do not depend on the seed.
"""

from __future__ import annotations

import numpy as np

from zbugs_synth.generate.rng import py_mix64

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
ALPHABET_BYTES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8).copy()
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
ID_LEN = 21

T_PROJECT, T_LABEL, T_ISSUE, T_COMMENT, T_EMOJI = 1, 2, 3, 4, 5
MAGIC = 0x2B5  # 10 bits: foreign ids decode to a valid tuple only if they also hit this
SEED_MAX = (1 << 64) - 1
ROW_BITS = 48
ROW_MAX = (1 << ROW_BITS) - 1
COMMENT_BITS = 10  # comments per issue < 1024
LABEL_BITS = 12    # labels per project < 4096
ISSUE_MAX = (1 << (ROW_BITS - COMMENT_BITS)) - 1
PROJECT_MAX = (1 << (ROW_BITS - LABEL_BITS)) - 1

EMOJI_BITS = 10    # reactions per issue (on it and its comments together) < 1024
ROW_LIMIT = {T_PROJECT: PROJECT_MAX, T_LABEL: ROW_MAX, T_ISSUE: ISSUE_MAX, T_COMMENT: ROW_MAX, T_EMOJI: ROW_MAX}
_MASK63 = (1 << 63) - 1
# Four rounds: with a strong round function that is the Luby-Rackoff bound for a pseudo-random
# permutation; the bijection itself holds for any number of rounds.
ROUND_KEYS = np.array(
    [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89], dtype=np.uint64)
_PY_KEYS = [int(k) for k in ROUND_KEYS]
ROUNDS = len(_PY_KEYS)


def pack(seed: int, table: int, row: int) -> int:
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} out of range")
    if not 0 <= table < 16:
        raise ValueError(f"table {table} out of range")
    if not 0 <= row <= ROW_LIMIT.get(table, ROW_MAX):
        raise ValueError(f"row {row} out of range for table {table}")
    return (MAGIC << 116) | (seed << 52) | (table << 48) | row


def unpack(word: int) -> tuple[int, int, int, int]:
    return word >> 116, (word >> 52) & SEED_MAX, (word >> 48) & 0xF, word & ROW_MAX


def _f(r: int, k: int) -> int:
    return py_mix64(r ^ k) & _MASK63


def permute(word: int) -> int:
    left, right = word >> 63, word & _MASK63
    for k in _PY_KEYS:
        left, right = right, left ^ _f(right, k)
    return (left << 63) | right


def unpermute(word: int) -> int:
    left, right = word >> 63, word & _MASK63
    for k in reversed(_PY_KEYS):
        left, right = right ^ _f(left, k), left
    return (left << 63) | right


def to_text(word: int) -> str:
    return "".join(ALPHABET[(word >> (6 * (ID_LEN - 1 - i))) & 63] for i in range(ID_LEN))


def from_text(text: str) -> int:
    if len(text) != ID_LEN or any(c not in _INDEX for c in text):
        raise ValueError(f"not a 21-character nanoid: {text!r}")
    word = 0
    for c in text:
        word = (word << 6) | _INDEX[c]
    return word


def make_id(seed: int, table: int, row: int) -> str:
    return to_text(permute(pack(seed, table, row)))


def decode(text: str) -> tuple[int, int, int] | None:
    """(seed, table, row) if `text` is an id this tool can produce, else None."""
    magic, seed, table, row = unpack(unpermute(from_text(text)))
    if magic != MAGIC or table not in ROW_LIMIT or row > ROW_LIMIT[table]:
        return None
    return seed, table, row


def comment_row(issue: int, j: int) -> int:
    return (issue << COMMENT_BITS) | j


def label_row(project: int, label: int) -> int:
    return (project << LABEL_BITS) | label
