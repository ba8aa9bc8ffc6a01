"""Seam-free views of slot values, one per slot context, computed only where a context changes them.

textpool gives every slot context (the literal text left and right of a slot) its own view of the
slot's values: each value passed through `seams.adjust`, then any value that still doubles a word
across the slot's edges swapped for the next one that does not (`seam_free_view`, the reference).
Done value by value that is contexts x values calls of `adjust` and of a regex search: for the
components alone, 128 distinct contexts x 4,265 project components, 3-4 CPU-s of every run.

Yet in one context almost every value comes out as it went in. `adjust` changes a value only when
  * its first word is the word before the slot ("the the"),
  * its last word is the word after the slot,
  * it ends a sentence (.!?) and text follows the slot,
  * it starts with an ordinary lowercase word where a sentence starts (capitalised), or
  * `tidy` changes it (context-free, done once per value);
and a doubled word can only cross a slot's edge through the same first and last words, provided
no letter is glued to the slot (`{{component}}s`) and the edge words are plain ASCII (the regex is
case-insensitive, where a few non-ASCII letters match ASCII ones). So `SeamFreeViews` indexes the
values by first word, last word, sentence end and lowercase start once; per context it adjusts
and checks only the values the context can change, and every other value keeps its tidied text and
shares the context's own verdict (whether the literal text itself doubles a word). Contexts and
values outside that reasoning (a glued letter, non-ASCII edge words, an edge word cut by the
30-character window `doubled_at_edges` looks at; blank edges, or a doubled word inside the value)
take the reference path. A test checks both paths agree over every context of the bundled pack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from zbugs_synth.generate.seams import (
    DOUBLED_EDGE,
    SENTENCE_END,
    adjust,
    doubled_at_edges,
    first_word,
    has_doubled,
    last_word,
    ordinary_start,
    starts_sentence,
    tidy,
)

_WORD_CHAR = re.compile(r"\w")  # what the doubled-word regex's \b looks at
_TAIL = re.compile(r"[A-Za-z]*[ \t]*\Z")  # the letters and blanks a doubled word could reach from the left
_HEAD = re.compile(r"[ \t]*[A-Za-z]*")


def seam_free_view(values: tuple[str, ...], left: str | None, right: str | None) -> tuple[str, ...]:
    """Each value adjusted for its context; a value that would still double the word next to the
    slot ("tooltip" in "{{component}} tooltip ...") is swapped for the next value that does not
    (same size and order otherwise, so the draws are unchanged)."""
    view = [adjust(v, left, right) for v in values]
    return tuple(_swap(view, [not doubled_at_edges(v, left, right) for v in view]))


def _swap(view: list[str], ok: list[bool]) -> list[str]:
    if all(ok) or not any(ok):
        return view
    n = len(view)
    return [v if ok[i] else next(view[(i + k) % n] for k in range(1, n) if ok[(i + k) % n])
            for i, v in enumerate(view)]


def _ascii_edges(text: str) -> bool:
    tokens = text.split()
    return not tokens or (tokens[0].isascii() and tokens[-1].isascii())


def _simple_context(left: str | None, right: str | None) -> bool:
    """Whether the shortcut's reasoning holds for this context (see the module docstring)."""
    lw = (left or "")[-DOUBLED_EDGE:]
    rw = (right or "")[:DOUBLED_EDGE]
    if lw:
        tail = _TAIL.search(lw)
        if (_WORD_CHAR.match(lw[-1]) or not _ascii_edges(lw)
                or (tail is not None and tail.start() == 0 and len(lw) < len(left or ""))):
            return False
    if rw:
        head = _HEAD.match(rw)
        if (_WORD_CHAR.match(rw[0]) or not _ascii_edges(rw)
                or (head is not None and head.end() == len(rw) and len(rw) < len(right or ""))):
            return False
    return True


class SeamFreeViews:
    """`seam_free_view` of each of `groups` (tuples of values, e.g. one per project), for any
    context; a group no value of which the context changes comes back as None: its values tidied,
    as they are (`tidied`)."""

    def __init__(self, groups: Sequence[tuple[str, ...]]) -> None:
        self.groups = groups
        self.members = [frozenset(g) for g in groups]
        self.tidied: dict[str, str] = {}
        self.exact: set[str] = set()  # always adjusted and checked in full
        self.by_first: dict[str, set[str]] = {}
        self.by_last: dict[str, set[str]] = {}
        self.ends_sentence: set[str] = set()
        self.lower_start: set[str] = set()
        for v in dict.fromkeys(x for g in groups for x in g):
            t = self.tidied[v] = tidy(v)
            if not t or t != t.strip() or not _ascii_edges(t) or has_doubled(t):
                self.exact.add(v)
                continue
            if first_word(t):
                self.by_first.setdefault(first_word(t), set()).add(v)
            if last_word(t):
                self.by_last.setdefault(last_word(t), set()).add(v)
            if t[-1] in SENTENCE_END:
                self.ends_sentence.add(v)
            if ordinary_start(t):
                self.lower_start.add(v)

    def base(self, gi: int) -> list[str]:
        return [self.tidied[v] for v in self.groups[gi]]

    def views(self, left: str | None, right: str | None) -> Iterator[list[str] | None]:
        """For each group in order: its view in this context, or None when that is `base`."""
        if not _simple_context(left, right):
            for g in self.groups:
                yield list(seam_free_view(g, left, right))
            return
        changed = set(self.exact)
        if left is not None and left[-1:] in " \t" and last_word(left):
            changed |= self.by_first.get(last_word(left), set())
        if right:
            changed |= self.ends_sentence
            if right[:1] in " \t" and first_word(right.lstrip(" \t")):
                changed |= self.by_last.get(first_word(right.lstrip(" \t")), set())
        capitalise = self.lower_start if starts_sentence(left) else set()
        # An unchanged value doubles a word only where the literal text itself does.
        ctx_ok = not (has_doubled((left or "")[-DOUBLED_EDGE:]) or has_doubled((right or "")[:DOUBLED_EDGE]))
        tidied = self.tidied
        for g, members in zip(self.groups, self.members, strict=True):
            if members.isdisjoint(changed) and members.isdisjoint(capitalise):
                yield None
                continue
            view: list[str] = []
            ok: list[bool] = []
            for v in g:
                if v in changed:
                    a = adjust(v, left, right)
                    view.append(a)
                    ok.append(not doubled_at_edges(a, left, right))
                else:
                    t = tidied[v]
                    view.append(t[0].upper() + t[1:] if v in capitalise else t)
                    ok.append(ctx_ok)
            yield _swap(view, ok)
