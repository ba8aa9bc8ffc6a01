"""Seams: what filling a slot can break in the text around it, found and avoided.

A seam is one of
  * a doubled word ("the the"), across a slot's edge or anywhere in prose;
  * a lowercase sentence start: a sentence (a field, a paragraph, or text after ". ", "! ", "? ")
    that starts with an ordinary lowercase word (letters a-z only: "v1.2", "iOS" or "@ada" are
    names, not sentence starts);
  * broken punctuation: punctuation doubled or stacked (".." "?." ",." ";,"), a space before a
    comma or full stop, or two spaces inside a line.
Code (fenced blocks, `inline`), URLs, HTML tags and markdown link targets are not prose and are
skipped. `find` reports seams in a text (the tests count them over generated rows); `adjust` is
what textpool applies to every slot value, given the literal text on either side of the slot, so
that filled templates have none.
"""

from __future__ import annotations

import functools
import re

_FENCE = re.compile(r"```.*?```", re.S)
_INLINE = re.compile(r"`[^`\n]*`")
_HTML = re.compile(r"<[^>\n]*>")
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
_URL = re.compile(r"https?://\S+")
_PATH = re.compile(r"\w+::\S+")  # net::ERR_..., std::io: identifiers, not punctuation
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|cf)\.", re.I)
_DOUBLED = re.compile(r"\b([A-Za-z]+)[ \t]+\1\b", re.I)
DOUBLED_EDGE = 30  # characters of context on either side that `doubled_at_edges` looks at
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"')\]]?[ \t]+|\n[ \t]*)([^\s]+)")
_ORDINARY = re.compile(r"[a-z]+[,.;:!?]?")
_PUNCT = re.compile(r"(?<!\.)\.\.(?!\.)|[!?,;:][.,;:]|\.[,;:]|,[!?]|[ \t][,.;:!?](?![A-Za-z0-9./=])|\S[ \t]{2,}\S")

SENTENCE_END = ".!?"


def prose(text: str) -> str:
    """`text` with code, URLs, tags and link targets replaced by neutral names (Ref0, Ref1, ...)."""
    n = 0

    def ref(_m: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"Ref{n}"

    for rx in (_FENCE, _INLINE, _HTML, _LINK_TARGET, _URL, _PATH):
        text = rx.sub(ref, text)
    return _ABBREV.sub("abbr", text)


def find(text: str) -> list[str]:
    """Every seam in `text`, each as a short description with its context."""
    out: list[str] = []
    p = prose(text)
    for m in _DOUBLED.finditer(p):
        out.append(f"doubled word {m.group(0)!r}")
    for m in _SENTENCE_START.finditer(p):
        word = m.group(1)
        if _ORDINARY.fullmatch(word):
            out.append(f"lowercase sentence start {p[max(0, m.start() - 10):m.end() + 10]!r}")
    for m in _PUNCT.finditer(p):
        out.append(f"broken punctuation {p[max(0, m.start() - 10):m.end() + 10]!r}")
    return out


@functools.lru_cache(maxsize=1 << 18)
def _first_word(text: str) -> str:
    m = re.match(r"[A-Za-z]+", text)
    return m.group(0).lower() if m else ""


@functools.lru_cache(maxsize=1 << 18)
def _last_word(text: str) -> str:
    m = re.search(r"([A-Za-z]+)[ \t]*$", text)
    return m.group(1).lower() if m else ""


def first_word(text: str) -> str:
    """The ASCII letters `text` starts with, lowercased ("" when it starts otherwise)."""
    return _first_word(text)


def last_word(text: str) -> str:
    """The ASCII letters `text` ends with (trailing blanks aside), lowercased."""
    return _last_word(text)


def ordinary_start(text: str) -> bool:
    """Whether `text`'s first token is an ordinary lowercase word (what `adjust` capitalises)."""
    word = re.match(r"[^\s]+", text)
    return bool(word and _ORDINARY.fullmatch(word.group(0)))


@functools.lru_cache(maxsize=1 << 18)
def starts_sentence(left: str | None) -> bool:
    """True when a slot after the literal `left` begins a sentence ("" is a field's start)."""
    if left is None:
        return False
    stripped = left.rstrip(" \t")
    return stripped == "" or stripped.endswith("\n") or (stripped[-1] in SENTENCE_END and stripped != left)


_INNER_START = re.compile(r"((?:[.!?][ \t]+|\n[ \t]*))([a-z]+)(?=[\s,.;:!?]|$)")


@functools.lru_cache(maxsize=1 << 16)
def tidy(text: str) -> str:
    """Capitalise the ordinary lowercase words that start sentences inside `text` (pool values such
    as "1. open the app 2. ..." are written by people and models who do not always)."""
    if "```" in text or "`" in text or "://" in text:
        return text
    masked = _ABBREV.sub(lambda m: "\0" * len(m.group(0)), text)  # keep abbreviations out

    def up(m: re.Match[str]) -> str:
        return m.group(1) + m.group(2)[0].upper() + m.group(2)[1:]

    fixed = _INNER_START.sub(up, masked)
    return "".join(o if f == "\0" else f for o, f in zip(text, fixed, strict=True))


@functools.lru_cache(maxsize=1 << 18)
def adjust(value: str, left: str | None, right: str | None) -> str:
    """`value` as it should read between the literals `left` and `right` (None: another slot)."""
    v = tidy(value)
    if right and v[-1:] in SENTENCE_END and re.match(r"[\"')\]]?[ \t]+[a-z]", right):
        v = v.rstrip(SENTENCE_END)  # "Script error." + " in the console": the sentence goes on
    if left is not None and left[-1:] in " \t" and _last_word(left) and _first_word(v) == _last_word(left):
        rest = v[len(_first_word(v)):].lstrip(" ")
        if rest:
            v = rest
    if right and right[:1] in " \t" and _first_word(right.lstrip(" \t")) == _last_word(v) and _last_word(v):
        head = re.sub(r"[ \t]*[A-Za-z]+[ \t]*$", "", v)
        if head:
            v = head
    if right and right[:1] in ".,;:!?" and v[-1:] in SENTENCE_END:
        v = v.rstrip(SENTENCE_END)
    if starts_sentence(left):
        word = re.match(r"[^\s]+", v)
        if word and _ORDINARY.fullmatch(word.group(0)):
            v = v[0].upper() + v[1:]
    return v


@functools.lru_cache(maxsize=1 << 18)
def doubled_at_edges(value: str, left: str | None, right: str | None) -> bool:
    """Whether `value` between `left` and `right` still repeats a word across the slot's edges."""
    return bool(_DOUBLED.search((left or "")[-DOUBLED_EDGE:] + value + (right or "")[:DOUBLED_EDGE]))


def has_doubled(text: str) -> bool:
    """Whether `text` alone repeats a word ("the the")."""
    return bool(_DOUBLED.search(text))


def edge_words(values: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The first words and the last words of `values` (for `context_key`)."""
    return frozenset(_first_word(v) for v in values), frozenset(_last_word(v) for v in values)


def context_key(left: str | None, right: str | None,
                words: tuple[frozenset[str], frozenset[str]] | None = None) -> tuple[object, ...]:
    """What `adjust` and `doubled_at_edges` look at in a slot's context: two contexts with the same
    key give every value the same view (textpool builds one view per key, not per template). With
    `words` (edge_words of the values), a neighbouring word that starts or ends none of them is
    left out of the key."""
    firsts, lasts = words if words is not None else (None, None)
    lk = rk = None
    if left is not None:
        lw = _last_word(left)
        lk = (left[-1:] in " \t", lw if firsts is None or lw in firsts else "", starts_sentence(left))
    if right is not None:
        rw = _first_word(right.lstrip(" \t"))
        first = right[:1]
        if words is not None:  # only what can change a value: punctuation after it, or a space
            first = first if first in ".,;:!?" else (" " if first in " \t" else "x")
        rk = (first, rw if lasts is None or rw in lasts else "", bool(re.match(r"[\"')\]]?[ \t]+[a-z]", right)))
    return (lk, rk)
