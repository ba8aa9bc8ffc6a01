"""Load a template pack directory (the bundled one or `TEMPLATES_DIR`) into the typed model."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from zbugs_synth.errors import UserError
from zbugs_synth.templates.model import (
    POOL_SLOTS,
    Category,
    PackError,
    People,
    TemplatePack,
    check_pack,
    parse_category,
    parse_pools,
)

# Files in a template directory that are not categories. `summary.json` is written by
# generate-templates (and the original tool) for humans; it is never read.
NOT_CATEGORIES = frozenset({"summary.json"})


def bundled_pack_dir() -> Path:
    return Path(str(resources.files("zbugs_synth.templates") / "pack"))


def _pools_dir() -> Path:
    return Path(str(resources.files("zbugs_synth.templates") / "pools"))


def read_json(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PackError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise PackError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PackError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def load_default_pools() -> tuple[dict[str, tuple[str, ...]], People]:
    pools_path = _pools_dir() / "slots.json"
    pools = parse_pools(read_json(pools_path), str(pools_path))
    missing = [s for s in POOL_SLOTS if s not in pools]
    if missing:
        raise PackError(f"{pools_path}: no default pool for slot(s) {', '.join(missing)}")
    people_path = _pools_dir() / "people.json"
    raw = read_json(people_path)
    if not isinstance(raw, dict):
        raise PackError(f"{people_path}: expected an object")
    try:
        people = People(*(tuple(raw[k]) for k in ("firstNames", "lastNames", "emailDomains")))
    except KeyError as e:
        raise PackError(f"{people_path}: missing key {e}") from None
    return pools, people


def load_categories(directory: Path) -> list[Category]:
    if directory.exists() and not directory.is_dir():
        raise PackError(f"{directory}: is a file, not a template directory")
    if not directory.is_dir():
        raise PackError(f"{directory}: template directory not found")
    if (directory / "manifest.json").is_file() and not (directory / "summary.json").exists():
        # The commonest mix-up: OUTPUT_DIR (a generated dataset) given as TEMPLATES_DIR.
        raise PackError(f"{directory}: a generated dataset (manifest.json), not a template pack; TEMPLATES_DIR "
                        "is a directory written by `zbugs-synth generate-templates`")
    files = sorted(p for p in directory.glob("*.json") if p.name not in NOT_CATEGORIES)
    categories = [parse_category(read_json(p), str(p)) for p in files]
    check_pack(categories, str(directory))
    return categories


def load_pack(directory: Path | None = None) -> TemplatePack:
    """Load and validate a pack; `None` means the bundled pack. Errors become `UserError`s."""
    directory = directory or bundled_pack_dir()
    try:
        pools, people = load_default_pools()
        categories = load_categories(directory)
    except PackError as e:
        raise UserError(f"TEMPLATES_DIR: {e}") from None
    return TemplatePack(tuple(categories), pools, people, source=str(directory))
