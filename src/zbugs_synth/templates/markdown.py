"""The markdown kinds: text pieces that give descriptions and comments the shapes of real tracker
text (fenced code blocks, links, images, short replies, follow-up paragraphs, @mentions).

They ship with the tool in `pools/markdown.json`, the same for every category and every pack; their
`{{slot}}`s are filled from the issue's category pools, `{{user}}` with a user's @login and
`{{issue}}` with a reference to an earlier issue (`#3000`, zbugs' first short id, and on).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zbugs_synth.templates.model import SLOTS, PackError, _no_duplicates, _strings, check_template

MARKDOWN_KINDS: tuple[str, ...] = ("codeBlocks", "links", "images", "shortComments", "followUps", "mentions")


@dataclass(frozen=True)
class Markdown:
    kinds: dict[str, tuple[str, ...]]

    def digest_text(self) -> str:
        return repr(sorted(self.kinds.items()))


def markdown_path() -> Path:
    return Path(str(resources.files("zbugs_synth.templates") / "pools" / "markdown.json"))


def parse_markdown(data: object, source: str) -> Markdown:
    if not isinstance(data, dict):
        raise PackError(f"{source}: expected an object")
    kinds: dict[str, tuple[str, ...]] = {}
    for kind in MARKDOWN_KINDS:
        items = _strings(data.get(kind), f"{source}: {kind}")
        for i, t in enumerate(items):
            check_template(t.replace("{{issue}}", ""), f"{source}: {kind}[{i}]")
        _no_duplicates(items, f"{source}: {kind}")
        kinds[kind] = items
    assert "issue" not in SLOTS
    return Markdown(kinds)


def load_markdown() -> Markdown:
    from zbugs_synth.templates.loader import read_json

    path = markdown_path()
    return parse_markdown(read_json(path), str(path))
