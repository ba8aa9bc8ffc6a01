"""Compile a template pack into flat arrays the kernel can fill templates from without Python.

Every literal run of a template and every slot value becomes a *piece*: a byte range of one blob,
already CSV-escaped (double quotes doubled), with its length in characters. A template becomes a
list of tokens: a piece index (>= 0) for literal text, or -(slot + 1) for a slot. Since the
kernel always writes text fields between quotes, concatenating escaped pieces gives a correctly
escaped field; filling is a few table lookups and memcpys per field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zbugs_synth.generate.layout import padded
from zbugs_synth.templates.model import SLOT_RE, SLOTS, TemplatePack

SLOT_INDEX = {s: i for i, s in enumerate(SLOTS)}
SLOT_COMPONENT = SLOT_INDEX["component"]
SLOT_USER = SLOT_INDEX["user"]
TOK_COMPONENT, TOK_USER = -1, -2
KINDS = ("titles", "descriptions", "comments")


@dataclass
class TextPool:
    blob: np.ndarray         # uint8: all pieces, escaped
    piece_off: np.ndarray    # int64
    piece_len: np.ndarray    # int64, bytes
    piece_chars: np.ndarray  # int64, characters of the unescaped text
    tok_start: np.ndarray    # int64[n_templates + 1]
    tok_a: np.ndarray        # int64 tokens, see the module docstring
    tok_b: np.ndarray
    kind_lo: np.ndarray      # int64[3, n_categories]: template index range per kind and category
    kind_hi: np.ndarray
    pool_lo: np.ndarray      # int64[n_categories, n_slots]: range in pool_items
    pool_hi: np.ndarray
    pool_items: np.ndarray   # int64 piece indices
    comp_lo: np.ndarray      # int64[n_template_projects]: range in comp_items
    comp_hi: np.ndarray
    comp_items: np.ndarray
    user_items: np.ndarray   # piece indices of user logins that {{user}} mentions
    max_piece_bytes: int
    max_template_bytes: np.ndarray  # int64[3]: worst-case escaped bytes of a filled template per kind
    mean_template_bytes: np.ndarray  # float64[3]: rough expectation, to size buffers


class _Builder:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.off: list[int] = []
        self.length: list[int] = []
        self.chars: list[int] = []
        self.size = 0
        self.cache: dict[str, int] = {}

    def piece(self, text: str) -> int:
        found = self.cache.get(text)
        if found is not None:
            return found
        data = text.replace('"', '""').encode("utf-8")
        idx = len(self.off)
        self.parts.append(data)
        self.off.append(self.size)
        self.length.append(len(data))
        self.chars.append(len(text))
        self.size += len(data)
        self.cache[text] = idx
        return idx


def tokenize(template: str) -> list[tuple[bool, str]]:
    """[(is_slot, text_or_slot_name), ...] in order."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for m in SLOT_RE.finditer(template):
        if m.start() > pos:
            out.append((False, template[pos:m.start()]))
        out.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        out.append((False, template[pos:]))
    return out


def compile_pack(pack: TemplatePack, user_logins: list[str]) -> TextPool:
    b = _Builder()
    cats = pack.categories
    n_cat, n_slots = len(cats), len(SLOTS)
    pool_lo = np.zeros((n_cat, n_slots), dtype=np.int64)
    pool_hi = np.zeros((n_cat, n_slots), dtype=np.int64)
    pool_items: list[int] = []
    slot_max = np.zeros(n_slots, dtype=np.int64)
    slot_mean = np.zeros(n_slots, dtype=np.float64)
    for ci, c in enumerate(cats):
        for s in SLOTS:
            if s in ("component", "user"):
                continue
            si = SLOT_INDEX[s]
            pool_lo[ci, si] = len(pool_items)
            values = pack.pool(c, s)
            pool_items.extend(b.piece(v) for v in values)
            pool_hi[ci, si] = len(pool_items)
            lens = [len(v.replace('"', '""').encode()) for v in values]
            slot_max[si] = max(slot_max[si], max(lens))
            slot_mean[si] = max(slot_mean[si], sum(lens) / len(lens))

    tok_start = [0]
    tok_a: list[int] = []
    tok_b: list[int] = []
    kind_lo = np.zeros((3, n_cat), dtype=np.int64)
    kind_hi = np.zeros((3, n_cat), dtype=np.int64)
    templates_by_kind: list[list[list[tuple[bool, str]]]] = [[], [], []]
    n_tpl = 0
    for ki, kind in enumerate(KINDS):
        for ci, c in enumerate(cats):
            kind_lo[ki, ci] = n_tpl
            for t in getattr(c, kind):
                toks = tokenize(t)
                templates_by_kind[ki].append(toks)
                for is_slot, text in toks:
                    if not is_slot:
                        tok_a.append(b.piece(text))
                        tok_b.append(0)
                    elif text == "component":
                        tok_a.append(0)
                        tok_b.append(TOK_COMPONENT)
                    elif text == "user":
                        tok_a.append(0)
                        tok_b.append(TOK_USER)
                    else:
                        lo, hi = pool_lo[ci, SLOT_INDEX[text]], pool_hi[ci, SLOT_INDEX[text]]
                        tok_a.append(int(lo))
                        tok_b.append(int(hi - lo))
                tok_start.append(len(tok_a))
                n_tpl += 1
            kind_hi[ki, ci] = n_tpl

    comp_lo, comp_hi, comp_items = [], [], []
    for _c, p in pack.project_templates:
        comp_lo.append(len(comp_items))
        comp_items.extend(b.piece(x) for x in p.components)
        comp_hi.append(len(comp_items))
        lens = [len(x.replace('"', '""').encode()) for x in p.components]
        slot_max[SLOT_COMPONENT] = max(slot_max[SLOT_COMPONENT], max(lens))
        slot_mean[SLOT_COMPONENT] = max(slot_mean[SLOT_COMPONENT], sum(lens) / len(lens))
    user_items = [b.piece(u) for u in user_logins] or [b.piece("someone")]
    ulens = [b.length[i] for i in user_items]
    slot_max[SLOT_USER], slot_mean[SLOT_USER] = max(ulens), sum(ulens) / len(ulens)

    max_tb = np.zeros(3, dtype=np.int64)
    mean_tb = np.zeros(3, dtype=np.float64)
    for ki in range(3):
        sizes_max, sizes_mean = [], []
        for toks in templates_by_kind[ki]:
            lit = sum(len(text.replace('"', '""').encode()) for is_slot, text in toks if not is_slot)
            sizes_max.append(lit + sum(int(slot_max[SLOT_INDEX[t]]) for s, t in toks if s))
            sizes_mean.append(lit + sum(float(slot_mean[SLOT_INDEX[t]]) for s, t in toks if s))
        max_tb[ki] = max(sizes_max)
        mean_tb[ki] = sum(sizes_mean) / len(sizes_mean)

    blob = padded(b"".join(b.parts) or b" ")  # piece copies may read up to 15 bytes past a piece
    i64 = np.int64
    return TextPool(
        blob=blob,
        piece_off=np.array(b.off, dtype=i64), piece_len=np.array(b.length, dtype=i64),
        piece_chars=np.array(b.chars, dtype=i64),
        tok_start=np.array(tok_start, dtype=i64), tok_a=np.array(tok_a, dtype=i64),
        tok_b=np.array(tok_b, dtype=i64),
        kind_lo=kind_lo, kind_hi=kind_hi, pool_lo=pool_lo, pool_hi=pool_hi,
        pool_items=np.array(pool_items, dtype=i64),
        comp_lo=np.array(comp_lo, dtype=i64), comp_hi=np.array(comp_hi, dtype=i64),
        comp_items=np.array(comp_items, dtype=i64), user_items=np.array(user_items, dtype=i64),
        max_piece_bytes=int(max(b.length)), max_template_bytes=max_tb, mean_template_bytes=mean_tb,
    )
