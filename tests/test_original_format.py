"""The original-format writer (tests/original_format.py) writes what the original tool writes: its file
names, headers, quoting, value formats and known defects, exactly as many as its parameters say; and
our readers (the loader's dataset check, manifest.txt parser, template loader) accept it."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from original_format import (
    AVATAR_PREFIX,
    GITHUB_ID_BASE,
    HEADERS,
    MANIFEST_TXT,
    TEMPLATE_CATEGORIES,
    TEMPLATE_KEYS,
    OriginalShape,
    write_original_dataset,
    write_original_templates,
)
from zbugs_synth import tables
from zbugs_synth.db.load.dataset import inspect_dataset
from zbugs_synth.manifest import parse_manifest_txt
from zbugs_synth.templates import load_pack
from zbugs_synth.templates.model import SLOTS, slots_in

NANOID = re.compile(r"^[A-Za-z0-9_-]{21}$")
MS = re.compile(r"^[0-9]{13}$")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def minimal_csv_line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(fields)
    return buf.getvalue().removesuffix("\n")


def test_dataset_has_the_original_layout(tmp_path: Path) -> None:
    shape = OriginalShape()
    ds = write_original_dataset(tmp_path / "ds", shape, manifest_txt=True)
    names = [f"{t}_000.csv" for t in tables.GUIDE_TABLES]
    assert ds.files == tuple(names)
    assert sorted(p.name for p in ds.directory.iterdir()) == sorted([*names, MANIFEST_TXT])  # no manifest.json
    assert {t: tables.HEADERS[t] for t in tables.GUIDE_TABLES} == HEADERS  # the columns our loader expects

    data: dict[str, list[dict[str, str]]] = {}
    for table, name in zip(tables.GUIDE_TABLES, names, strict=True):
        raw = (ds.directory / name).read_bytes().decode("utf-8")
        assert raw.endswith("\n") and "\r" not in raw
        lines = raw.removesuffix("\n").split("\n")
        assert lines[0] == ",".join(HEADERS[table])
        records = list(csv.reader(io.StringIO(raw, newline="")))[1:]
        assert len(records) == shape.rows[table] == len(lines) - 1  # one line per record
        # Quoted only when needed (a comma): each line is exactly the minimal CSV of its fields.
        assert [minimal_csv_line(r) for r in records] == lines[1:]
        data[table] = read_rows(ds.directory / name)
    for table in ("issue", "comment"):  # the quoting rule is exercised on real rows
        assert any('"' in line for line in (ds.directory / f"{table}_000.csv").read_text().splitlines())

    users = data["user"]
    assert [u["id"] for u in users] == [f"usr_{n:04d}" for n in range(shape.num_users)]
    assert [u["role"] for u in users] == ["crew"] * shape.crew_users + ["user"] * (shape.num_users - shape.crew_users)
    assert [int(u["githubID"]) for u in users] == [GITHUB_ID_BASE + n for n in range(shape.num_users)]
    assert all(u["avatar"] == AVATAR_PREFIX + u["login"] and "@" in u["email"] for u in users)
    assert any("'" in u["login"] for u in users)  # unquoted apostrophes, as in the original's names
    assert len({u["login"] for u in users}) == shape.num_users

    projects = data["project"]
    assert all(p["lowerCaseName"] == p["name"].lower() for p in projects)
    assert len({p["lowerCaseName"] for p in projects}) == shape.num_projects
    assert Counter(lb["projectID"] for lb in data["label"]) == dict.fromkeys(
        (p["id"] for p in projects), shape.labels_per_project)

    issues = data["issue"]
    user_ids = {u["id"] for u in users}
    assert {i["open"] for i in issues} == {"true", "false"}
    assert {i["visibility"] for i in issues} == {"public", "internal"}
    assert all(MS.match(i["created"]) and MS.match(i["modified"]) and int(i["modified"]) >= int(i["created"])
               for i in issues)
    assert all(len(i["title"]) <= 128 and "," not in i["title"] for i in issues)
    assert {i["assigneeID"] for i in issues} - user_ids == {""}  # NULL: the empty field...
    issue_lines = (ds.directory / "issue_000.csv").read_text().splitlines()
    assert '""' not in "".join(issue_lines)  # ...never quoted

    # Defect 1: exactly `older_comments` comments predate their issue, and they are the ones reported.
    created = {i["id"]: int(i["created"]) for i in issues}
    comments = data["comment"]
    assert all(MS.match(c["created"]) and c["creatorID"] in user_ids for c in comments)
    older = {c["id"] for c in comments if int(c["created"]) < created[c["issueID"]]}
    assert older == ds.older_comment_ids and len(older) == shape.older_comments == 1250
    assert len({c["issueID"] for c in comments}) < shape.num_issues  # some issues have no comment

    # Defect 2: the first project and the first issue share one id, and no other id is reused.
    assert projects[0]["id"] == issues[0]["id"] == ds.shared_id
    ids = [r["id"] for t in ("project", "label", "issue", "comment") for r in data[t]]
    assert all(NANOID.match(i) for i in ids)
    assert [i for i, n in Counter(ids).items() if n > 1] == [ds.shared_id]

    label_project = {lb["id"]: lb["projectID"] for lb in data["label"]}
    issue_project = {i["id"]: i["projectID"] for i in issues}
    pairs = [(il["labelID"], il["issueID"]) for il in data["issueLabel"]]
    assert len(set(pairs)) == len(pairs) == shape.issue_labels
    assert all(label_project[il["labelID"]] == il["projectID"] == issue_project[il["issueID"]]
               for il in data["issueLabel"])

    # manifest.txt as getData.sh reads it; the loader's dataset check takes it (rows unknown, as the original's).
    assert parse_manifest_txt((ds.directory / MANIFEST_TXT).read_bytes()) == sorted(names)
    inspected = inspect_dataset(ds.directory)
    assert [f.name for f in inspected.files] == names and inspected.manifest is None
    assert all(f.rows is None for f in inspected.files)


def test_dataset_is_reproducible_and_shape_driven(tmp_path: Path) -> None:
    a = write_original_dataset(tmp_path / "a")
    b = write_original_dataset(tmp_path / "b")
    other = write_original_dataset(tmp_path / "c", OriginalShape(seed=7))
    for name in a.files:
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes()
    assert (a.directory / "issue_000.csv").read_bytes() != (other.directory / "issue_000.csv").read_bytes()
    assert not (a.directory / MANIFEST_TXT).exists()  # the original generator writes no manifest

    shape = OriginalShape(num_issues=1500, num_comments=999, older_comment_share=0.1, shard_rows=700,
                          labels_per_issue=(2,))
    small = write_original_dataset(tmp_path / "small", shape)
    assert [n for n in small.files if n.startswith("issue_")] == ["issue_000.csv", "issue_001.csv", "issue_002.csv"]
    assert len(small.older_comment_ids) == shape.older_comments == 100
    assert shape.rows["issueLabel"] == 3000 and shape.rows["comment"] == 999
    for table in tables.GUIDE_TABLES:
        got = sum(len(read_rows(small.directory / n)) for n in small.files if n.startswith(f"{table}_"))
        assert got == shape.rows[table], table
    with pytest.raises(ValueError):
        OriginalShape(labels_per_project=2, labels_per_issue=(3,))


def test_templates_have_the_original_layout(tmp_path: Path) -> None:
    written = write_original_templates(tmp_path / "t")
    d = written.directory
    assert sorted(p.name for p in d.iterdir()) == sorted([*(f"{c}.json" for c in TEMPLATE_CATEGORIES), "summary.json"])
    for category in TEMPLATE_CATEGORIES:
        text = (d / f"{category}.json").read_text(encoding="utf-8")
        body = json.loads(text)
        assert text == json.dumps(body, indent=2)  # 2-space indent, no final newline
        assert tuple(body) == TEMPLATE_KEYS and body["category"] == category
        assert all(list(p) == ["name", "components"] and len(p["components"]) == 4 for p in body["projects"])
        templates = [*body["titleTemplates"], *body["descriptionTemplates"], *body["commentTemplates"]]
        assert all(slots_in(t) and set(slots_in(t)) <= set(SLOTS) for t in templates)
        assert "{{component}}" in "".join(body["titleTemplates"])
    summary = json.loads((d / "summary.json").read_text())
    assert summary == {"categories": [{"category": c} for c in TEMPLATE_CATEGORIES],
                       "totalProjects": len(written.projects)}
    pack = load_pack(d)  # summary.json is not taken for a category
    assert tuple(c.name for c in pack.categories) == tuple(sorted(TEMPLATE_CATEGORIES))
    assert sorted(p.name for c in pack.categories for p in c.projects) == sorted(written.projects)
    assert (d / "summary.json").read_bytes() == (write_original_templates(tmp_path / "again").directory
                                                 / "summary.json").read_bytes()
