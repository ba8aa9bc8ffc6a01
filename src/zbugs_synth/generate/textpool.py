"""Compile a template pack into flat arrays the kernel can fill templates from without Python.

Every literal run of a template and every slot value becomes a *piece*: a byte range of one blob,
already CSV-escaped (double quotes doubled), with its length in characters. A template becomes a
list of tokens: a piece index (>= 0) for literal text, or -(slot + 1) for a slot. Since the
kernel always writes text fields between quotes, concatenating escaped pieces gives a correctly
escaped field; filling is a few table lookups and memcpys per field.

Seams are removed here, once, not in the kernel: each slot of each template gets its own view of
its pool (`seams.adjust`), so a value that would start a sentence is capitalised, a value whose
first word repeats the word before the slot loses it ("the the"), and a value ending in a full
stop loses it before literal punctuation. The views keep the pool's size and order, so the draws
(and the bytes of every template without seams) are unchanged. `seam_views` builds them,
recomputing in each context only the values that context can change.

Besides the pack's three kinds (titles, descriptions, comments) the pool holds the markdown kinds
of `templates/pools/markdown.json` (code blocks, links, images, short replies, follow-up
paragraphs, mentions), compiled against each category's pools so their slots read naturally.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zbugs_synth.generate.layout import padded
from zbugs_synth.generate.seam_views import SeamFreeViews
from zbugs_synth.generate.seams import context_key, edge_words, tidy
from zbugs_synth.templates.markdown import MARKDOWN_KINDS, Markdown, load_markdown
from zbugs_synth.templates.model import SLOT_RE, SLOTS, TemplatePack

ALL_SLOTS = (*SLOTS, "issue")  # {{issue}}: a reference to another issue, markdown kinds only
SLOT_INDEX = {s: i for i, s in enumerate(ALL_SLOTS)}
SLOT_COMPONENT = SLOT_INDEX["component"]
SLOT_USER = SLOT_INDEX["user"]
SLOT_ISSUE = SLOT_INDEX["issue"]
TOK_COMPONENT, TOK_USER = -1, -2
KINDS = ("titles", "descriptions", "comments", *MARKDOWN_KINDS)  # layout.K_* index these
ISSUE_REF_START = 3000  # zbugs' issue_shortID_seq starts here: references name issues a fresh load has
ISSUE_REF_LIMIT = 4096


@dataclass
class TextPool:
    blob: np.ndarray         # uint8: all pieces, escaped
    piece_off: np.ndarray    # int64
    piece_len: np.ndarray    # int64, bytes
    piece_chars: np.ndarray  # int64, characters of the unescaped text
    tok_start: np.ndarray    # int64[n_templates + 1]
    tok_a: np.ndarray        # int64 tokens, see the module docstring
    tok_b: np.ndarray
    kind_lo: np.ndarray      # int64[len(KINDS), n_categories]: template index range per kind and category
    kind_hi: np.ndarray
    pool_items: np.ndarray   # int64 piece indices (one range per category, slot and seam-free view)
    comp_lo: np.ndarray      # int64[n_views * n_template_projects]: range in comp_items
    comp_hi: np.ndarray
    comp_items: np.ndarray
    user_items: np.ndarray   # piece indices of user logins that {{user}} mentions
    max_piece_bytes: int
    max_template_bytes: np.ndarray  # int64[len(KINDS)]: worst-case escaped bytes of a filled template
    mean_template_bytes: np.ndarray  # float64[len(KINDS)]: rough expectation, to size buffers


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


def _contexts(toks: list[tuple[bool, str]]) -> list[tuple[str | None, str | None]]:
    """(left, right) literal context of each token; None where the neighbour is another slot.
    A template's start is "" (a sentence starts there); its end is "" too."""
    out = []
    for i in range(len(toks)):
        left = "" if i == 0 else (None if toks[i - 1][0] else toks[i - 1][1])
        right = "" if i == len(toks) - 1 else (None if toks[i + 1][0] else toks[i + 1][1])
        out.append((left, right))
    return out


def compile_pack(pack: TemplatePack, user_logins: list[str], num_issues: int = ISSUE_REF_LIMIT,
                 markdown: Markdown | None = None) -> TextPool:
    markdown = markdown or load_markdown()
    b = _Builder()
    cats = pack.categories
    n_cat, n_slots = len(cats), len(ALL_SLOTS)
    pool_items: list[int] = []
    slot_max = np.zeros(n_slots, dtype=np.int64)
    slot_mean = np.zeros(n_slots, dtype=np.float64)
    issue_refs = tuple(f"#{ISSUE_REF_START + k}" for k in range(max(1, min(num_issues, ISSUE_REF_LIMIT))))
    mentions = tuple(f"@{u}" for u in user_logins) or ("@someone",)

    def values(ci: int, slot: str) -> tuple[str, ...]:
        if slot == "issue":
            return issue_refs
        return pack.pool(cats[ci], slot)

    for ci in range(n_cat):
        for s in ALL_SLOTS:
            if s in ("component", "user"):
                continue
            si = SLOT_INDEX[s]
            lens = [len(v.replace('"', '""').encode()) for v in values(ci, s)]
            slot_max[si] = max(slot_max[si], max(lens))
            slot_mean[si] = max(slot_mean[si], sum(lens) / len(lens))
    # A pool range per (category, slot, context key): each view is built once.
    ranges: dict[tuple[int, str, tuple[object, ...]], tuple[int, int]] = {}
    pool_views: dict[tuple[int, str], SeamFreeViews] = {}
    pool_base: dict[tuple[int, str], list[int]] = {}  # a pool's tidied values as pieces, once made

    def pool_range(ci: int, slot: str, left: str | None, right: str | None) -> tuple[int, int]:
        key = (ci, slot, context_key(left, right))
        found = ranges.get(key)
        if found is None:
            vkey = (-1 if slot == "issue" else ci, slot)  # the issue references are the same everywhere
            views = pool_views.get(vkey) or pool_views.setdefault(vkey, SeamFreeViews((values(ci, slot),)))
            view = next(views.views(left, right))
            lo = len(pool_items)
            if view is not None:
                pool_items.extend(b.piece(v) for v in view)
            else:
                if vkey not in pool_base:  # made (in order) the first time it is needed
                    pool_base[vkey] = [b.piece(v) for v in views.base(0)]
                pool_items.extend(pool_base[vkey])
            found = ranges[key] = (lo, len(pool_items) - lo)
        return found

    # Components: one block of ranges per adjusted view (the token's tok_a selects the block).
    comp_views: dict[tuple[object, ...], int] = {}
    component_words = edge_words(tuple({x for _c, p in pack.project_templates for x in p.components}))
    comp_lo: list[int] = []
    comp_hi: list[int] = []
    comp_items: list[int] = []
    for _c, p in pack.project_templates:
        lens = [len(x.replace('"', '""').encode()) for x in p.components]
        slot_max[SLOT_COMPONENT] = max(slot_max[SLOT_COMPONENT], max(lens))
        slot_mean[SLOT_COMPONENT] = max(slot_mean[SLOT_COMPONENT], sum(lens) / len(lens))

    comp_seams = SeamFreeViews([p.components for _c, p in pack.project_templates])
    comp_base: dict[int, list[int]] = {}  # a project's tidied components as pieces, once made

    def comp_block(left: str | None, right: str | None) -> int:
        key = context_key(left, right, component_words)
        found = comp_views.get(key)
        if found is None:
            found = comp_views[key] = len(comp_lo)
            for gi, view in enumerate(comp_seams.views(left, right)):
                comp_lo.append(len(comp_items))
                if view is not None:
                    comp_items.extend(b.piece(x) for x in view)
                else:
                    if gi not in comp_base:  # made (in order) the first time it is needed
                        comp_base[gi] = [b.piece(x) for x in comp_seams.base(gi)]
                    comp_items.extend(comp_base[gi])
                comp_hi.append(len(comp_items))
        return found

    comp_block(None, None)  # block 0: the components as written

    user_items = [b.piece(u) for u in mentions]
    ulens = [b.length[i] for i in user_items]
    slot_max[SLOT_USER], slot_mean[SLOT_USER] = max(ulens), sum(ulens) / len(ulens)

    tok_start = [0]
    tok_a: list[int] = []
    tok_b: list[int] = []
    n_kinds = len(KINDS)
    kind_lo = np.zeros((n_kinds, n_cat), dtype=np.int64)
    kind_hi = np.zeros((n_kinds, n_cat), dtype=np.int64)
    templates_by_kind: list[list[list[tuple[bool, str]]]] = [[] for _ in range(n_kinds)]
    n_tpl = 0
    for ki, kind in enumerate(KINDS):
        for ci, c in enumerate(cats):
            kind_lo[ki, ci] = n_tpl
            source = getattr(c, kind) if ki < 3 else markdown.kinds[kind]
            for t in source:
                toks = tokenize(t)
                if ci == 0 or ki < 3:
                    templates_by_kind[ki].append(toks)
                for (is_slot, text), (left, right) in zip(toks, _contexts(toks), strict=True):
                    if not is_slot:
                        tok_a.append(b.piece(tidy(text)))
                        tok_b.append(0)
                    elif text == "component":
                        tok_a.append(comp_block(left, right))
                        tok_b.append(TOK_COMPONENT)
                    elif text == "user":
                        tok_a.append(0)
                        tok_b.append(TOK_USER)
                    else:
                        lo, n = pool_range(ci, text, left, right)
                        tok_a.append(lo)
                        tok_b.append(n)
                tok_start.append(len(tok_a))
                n_tpl += 1
            kind_hi[ki, ci] = n_tpl

    max_tb = np.zeros(n_kinds, dtype=np.int64)
    mean_tb = np.zeros(n_kinds, dtype=np.float64)
    for ki in range(n_kinds):
        sizes_max, sizes_mean = [], []
        for toks in templates_by_kind[ki]:
            lit = sum(len(text.replace('"', '""').encode()) for is_slot, text in toks if not is_slot)
            sizes_max.append(lit + sum(int(slot_max[SLOT_INDEX[t]]) for s, t in toks if s))
            sizes_mean.append(lit + sum(float(slot_mean[SLOT_INDEX[t]]) for s, t in toks if s))
        max_tb[ki] = max(sizes_max)
        mean_tb[ki] = sum(sizes_mean) / len(sizes_mean)

    blob = padded(b"".join(b.parts) or b" ")  # piece copies may read up to 15 bytes past a piece
    i64 = np.int64
    # comp_lo/comp_hi are indexed by (block start + project template): tok_a holds the block start.
    return TextPool(
        blob=blob,
        piece_off=np.array(b.off, dtype=i64), piece_len=np.array(b.length, dtype=i64),
        piece_chars=np.array(b.chars, dtype=i64),
        tok_start=np.array(tok_start, dtype=i64), tok_a=np.array(tok_a, dtype=i64),
        tok_b=np.array(tok_b, dtype=i64),
        kind_lo=kind_lo, kind_hi=kind_hi,
        pool_items=np.array(pool_items, dtype=i64),
        comp_lo=np.array(comp_lo, dtype=i64), comp_hi=np.array(comp_hi, dtype=i64),
        comp_items=np.array(comp_items, dtype=i64), user_items=np.array(user_items, dtype=i64),
        max_piece_bytes=int(max(b.length)), max_template_bytes=max_tb, mean_template_bytes=mean_tb,
    )
