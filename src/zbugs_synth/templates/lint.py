"""`python -m zbugs_synth.templates.lint [DIR]`: validate a pack and report quality-rule shortfalls."""

from __future__ import annotations

import sys
from pathlib import Path

from zbugs_synth.errors import UserError
from zbugs_synth.templates.loader import load_pack
from zbugs_synth.templates.model import lint_category


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else None
    try:
        pack = load_pack(directory)
    except UserError as e:
        print(e, file=sys.stderr)
        return 2
    problems = [p for c in pack.categories for p in lint_category(pack, c)]
    for p in problems:
        print(p)
    print(f"{len(pack.categories)} categories, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
