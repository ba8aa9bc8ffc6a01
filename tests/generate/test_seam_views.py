"""The seam-free views textpool compiles (the shortcut in `seam_views.SeamFreeViews`) equal the
reference `seam_free_view`, value for value, over every context of the bundled pack and over
contexts and values made to hit each edge of the shortcut's reasoning."""

from __future__ import annotations

import random

from zbugs_synth.generate.seam_views import SeamFreeViews, seam_free_view
from zbugs_synth.generate.seams import context_key, edge_words
from zbugs_synth.generate.textpool import _contexts, tokenize
from zbugs_synth.templates import load_pack
from zbugs_synth.templates.markdown import MARKDOWN_KINDS, load_markdown


def _same(groups: list[tuple[str, ...]], left: str | None, right: str | None) -> None:
    views = SeamFreeViews(groups)
    for gi, (g, view) in enumerate(zip(groups, views.views(left, right), strict=True)):
        got = tuple(views.base(gi) if view is None else view)
        assert got == seam_free_view(g, left, right), (left, right, g)


def test_every_context_of_the_bundled_pack() -> None:
    pack = load_pack()
    markdown = load_markdown()
    contexts: dict[str, dict[tuple[object, ...], tuple[str | None, str | None]]] = {}
    comp_contexts: dict[tuple[object, ...], tuple[str | None, str | None]] = {}
    comp_words = edge_words(tuple({x for _c, p in pack.project_templates for x in p.components}))
    for c in pack.categories:
        templates = [*c.titles, *c.descriptions, *c.comments, *(t for k in MARKDOWN_KINDS for t in markdown.kinds[k])]
        for t in templates:
            toks = tokenize(t)
            for (is_slot, name), (left, right) in zip(toks, _contexts(toks), strict=True):
                if not is_slot or name in ("user", "issue"):
                    continue
                if name == "component":  # the first context of each key, as compile_pack builds them
                    comp_contexts.setdefault(context_key(left, right, comp_words), (left, right))
                else:
                    contexts.setdefault(f"{c.name}\0{name}", {}).setdefault(context_key(left, right), (left, right))
    assert len(comp_contexts) > 50
    components = [p.components for _c, p in pack.project_templates]
    views = SeamFreeViews(components)
    checked = 0
    for left, right in comp_contexts.values():
        for gi, view in enumerate(views.views(left, right)):
            got = tuple(views.base(gi) if view is None else view)
            assert got == seam_free_view(components[gi], left, right), (left, right, gi)
            checked += 1
    by_name = {c.name: c for c in pack.categories}
    for key, ctxs in contexts.items():
        cat, slot = key.split("\0")
        for left, right in ctxs.values():
            _same([pack.pool(by_name[cat], slot)], left, right)
            checked += 1
    assert checked > 10_000


# Values and contexts at every edge of the shortcut: glued letters, non-ASCII letters that the
# case-insensitive regex matches to ASCII ones (ſ, K), words cut by the 30-character window,
# literal text that doubles a word itself, blank edges, sentence ends, lowercase starts.
VALUES = (
    "auth service", "the sync engine", "Sync engine", "sync", "tooltip", "Tooltip bar", "query cache.",
    "cache", "cache cache layer", " padded", "trailing ", "ſync engine", "engine ſ", "Kelvin K",
    "v2 api", "api v2", "_private", "naïve cache", "fix!", "Done.", "login page", "page", "the",
    "émigré view", "x", "row row", "1. open the app 2. click save", "e.g. the list", "multi\nline value",
    "\"quoted\" value", "data-grid", "grid data", "pagé", "sync_engine", "kelvin probe", "probe kelvin",
    "abcdefghijklmnopqrstuvwxyzabc tail", "head abcdefghijklmnopqrstuvwxyzabc", "\u212aelvin probe",
    "probe \u212aelvin",
)
CONTEXTS = (
    (None, None), ("", ""), ("The ", " is broken"), ("Open the ", " and click"), ("the ", " tooltip shows"),
    ("", " crashes."), ("Fixed. ", " now works"), ("See ", ". Then"), ("in ", "s are slow"),
    ("re", " again"), ("the sync ", " page"), ("the the ", " x"), ("x ", " page page"),
    ("ſync ", " engine"), ("Kelvin ", " K"), ("naïve ", " cache"), ("a" * 40 + " ", " b"),
    ("x " + "cache" * 8 + " ", " y"), ("y ", " " + "page" * 9), ("y ", " " * 35 + "page"),
    ("- ", ", and"), ("(", ")"), ("**", "**"), ("\n", "\n"), ("1. ", "\n2. "), ("the\t", "\tpage"),
    ("é ", " é"), ("the ", None), (None, " page"), ("v2 ", " v2"), ("Sync. ", "! sync"), ("\"", "\" page"),
    ("cache—", "—cache"), ("under_", "_score"), ("pagé ", " pagé"), ("sync_engine ", " sync_engine"),
    # The Kelvin sign: [A-Za-z] under re.I, and it lowercases to k.
    ("A \u212aelvin ", " b"), ("a ", " \u212aelvin b"), ("the kelvin ", " b"), ("a ", " kelvin b"),
    # Words cut by the 30-character window doubled_at_edges looks at.
    ("zz" + "abcdefghijklmnopqrstuvwxyzabc ", " b"), ("a ", " abcdefghijklmnopqrstuvwxyzabczz"),
)


def test_edge_values_and_contexts() -> None:
    groups = [VALUES, VALUES[::-1], VALUES[:5], VALUES[10:20], ("tooltip",), ("the", "tooltip")]
    for left, right in CONTEXTS:
        _same(groups, left, right)


def test_random_contexts() -> None:
    rng = random.Random(11)
    words = ["the", "sync", "engine", "cache", "page", "tooltip", "api", "v2", "ſ", "K", "é", "x"]
    seps = [" ", "  ", "\t", ". ", ", ", "\n", "", "-", "(", ")", "! ", "_", "…"]

    def text() -> str:
        return "".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randrange(0, 5)))

    groups = [VALUES, tuple(" ".join(rng.choice(words) for _ in range(rng.randrange(1, 4))) for _ in range(40))]
    for _ in range(400):
        left = None if rng.random() < 0.1 else text()
        right = None if rng.random() < 0.1 else text()
        _same(groups, left, right)
