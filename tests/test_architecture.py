"""The package's shape: no import cycles, and data flowing one way (templates -> generate -> db/remote -> cli).

Read from the source with `ast` (nothing is imported), so a violation fails here with the offending
modules named, instead of surfacing later as an import-order bug.
"""

from __future__ import annotations

import ast
from pathlib import Path

import zbugs_synth

ROOT = Path(zbugs_synth.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file, function-level imports too)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zbugs_synth"):
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("zbugs_synth")]
            for t in targets:
                # importing a.b.c runs a.b's __init__ too (but a package's own modules don't count for it)
                pieces = t.split(".")
                for i in range(2, len(pieces) + 1):
                    dep = ".".join(pieces[:i])
                    if dep in mods and dep != name and not name.startswith(dep + "."):
                        found.add(dep)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _violations(graph: dict[str, set[str]], layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {d}" for m, deps in graph.items() if m == layer or m.startswith(layer + ".")
                  for d in deps if any(d == f or d.startswith(f + ".") for f in forbidden))


def test_layers_import_only_downstream() -> None:
    graph = _imports(_modules())
    later = ("zbugs_synth.cli", "zbugs_synth.commands")
    assert _violations(graph, "zbugs_synth.templates", ("zbugs_synth.generate", "zbugs_synth.db",
                                                       "zbugs_synth.remote", *later)) == []
    assert _violations(graph, "zbugs_synth.generate", ("zbugs_synth.db", *later)) == []
    assert _violations(graph, "zbugs_synth.db", later) == []
    assert _violations(graph, "zbugs_synth.remote", later) == []
    # The shared leaves import nothing of the pipeline.
    for leaf in ("zbugs_synth.tables", "zbugs_synth.errors", "zbugs_synth.manifest", "zbugs_synth.checksum",
                 "zbugs_synth.progress", "zbugs_synth.redact"):
        assert _violations(graph, leaf, ("zbugs_synth.templates", "zbugs_synth.generate", "zbugs_synth.db",
                                         "zbugs_synth.remote", *later)) == []
