"""Properties of a generated dataset, each checked on real generated files."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import xxhash

from zbugs_synth.generate.ids import ALPHABET
from zbugs_synth.manifest import read_manifest
from zbugs_synth.tables import GUIDE_TABLES as TABLES
from zbugs_synth.tables import HEADERS

NANOID = re.compile(f"^[{re.escape(ALPHABET)}]{{21}}$")


def test_files_headers_and_shards(small_dataset) -> None:
    d = small_dataset
    for table in TABLES:
        files = d.files(table)
        assert files, table
        for f in files:
            assert re.fullmatch(rf"{table}_\d{{3}}\.csv", f.name)
            assert f.read_text(encoding="utf-8").split("\n", 1)[0] == ",".join(HEADERS[table])
    shard_rows = [e.rows for e in read_manifest(d.dir).files_of("issue")]
    assert shard_rows == [25000, 25000, 10000]
    assert not list(d.dir.glob(".*"))  # no temporary files or markers left behind


def test_manifest_describes_every_file_exactly(small_dataset, table_rows) -> None:
    m = read_manifest(small_dataset.dir)
    assert sorted(f.name for f in m.files) == sorted(p.name for t in TABLES for p in small_dataset.files(t))
    for f in m.files:
        data = (small_dataset.dir / f.name).read_bytes()
        assert len(data) == f.bytes
        assert xxhash.xxh3_128_hexdigest(data) == f.checksum
    assert {t: m.rows_by_table()[t] for t in TABLES} == {t: len(table_rows[t]) for t in TABLES}
    assert m.config["num_issues"] == 60000 and m.config["seed"] == 42
    assert (small_dataset.dir / "manifest.txt").read_text().split() == [f.name for f in m.files]


def test_row_counts(small_dataset, table_rows) -> None:
    assert len(table_rows["issue"]) == 60000
    assert len(table_rows["project"]) == 100
    assert len(table_rows["user"]) == 100


def test_ids_are_nanoids_unique_across_tables(table_rows) -> None:
    seen: set[str] = set()
    total = 0
    for table in ("project", "label", "issue", "comment"):
        for r in table_rows[table]:
            assert NANOID.match(r["id"]), r["id"]
            seen.add(r["id"])
            total += 1
    assert len(seen) == total


def test_users(table_rows) -> None:
    users = table_rows["user"]
    assert [u["id"] for u in users] == [f"usr_{i:04d}" for i in range(100)]
    assert [u["role"] for u in users] == ["crew"] * 10 + ["user"] * 90
    assert [int(u["githubID"]) for u in users] == list(range(10000, 10100))
    assert all(u["avatar"] == f"https://robohash.org/{u['login']}" for u in users)
    assert len({u["login"] for u in users}) == 100


def test_projects_and_labels(table_rows) -> None:
    projects = table_rows["project"]
    lower = [p["lowerCaseName"] for p in projects]
    assert len(set(lower)) == 100 and all(p["name"].lower() == p["lowerCaseName"] for p in projects)
    pairs = [(lab["projectID"], lab["name"]) for lab in table_rows["label"]]
    assert len(set(pairs)) == len(pairs)
    assert {p for p, _ in pairs} == {p["id"] for p in projects}  # every project has labels


def test_referential_integrity(table_rows) -> None:
    users = {u["id"] for u in table_rows["user"]}
    projects = {p["id"] for p in table_rows["project"]}
    label_project = {lab["id"]: lab["projectID"] for lab in table_rows["label"]}
    issue_project = {}
    for i in table_rows["issue"]:
        assert i["projectID"] in projects and i["creatorID"] in users
        assert i["assigneeID"] == "" or i["assigneeID"] in users
        issue_project[i["id"]] = i["projectID"]
    for c in table_rows["comment"]:
        assert c["issueID"] in issue_project and c["creatorID"] in users
    labels_of = defaultdict(list)
    for il in table_rows["issueLabel"]:
        assert il["projectID"] == issue_project[il["issueID"]]  # the issue's own project
        assert label_project[il["labelID"]] == il["projectID"]  # a label of that project
        labels_of[il["issueID"]].append(il["labelID"])
    assert all(len(v) == len(set(v)) for v in labels_of.values())  # distinct labels per issue


def test_null_only_for_unassigned(small_dataset) -> None:
    # An empty unquoted field is NULL for COPY; only assigneeID may be one. Titles and descriptions
    # are always quoted, so ",," can only be the empty assignee between creator and description.
    def unquoted(text: str) -> str:  # quoted fields (which may hold commas and newlines) as one letter
        return re.sub(r'"(?:[^"]|"")*"', "Q", text)

    for f in small_dataset.files("issue"):
        for line_no, line in enumerate(unquoted(f.read_text(encoding="utf-8")).splitlines()[1:]):
            if ",," in line:
                assert re.search(r",usr_\d{4,},,Q", line), (f.name, line_no)
    for table in ("comment", "issueLabel", "project", "label", "user"):
        for f in small_dataset.files(table):
            text = unquoted(f.read_text(encoding="utf-8"))
            assert ",," not in text and ",\n" not in text


def test_time_window_and_ordering(small_dataset, table_rows) -> None:
    cfg = small_dataset.cfg
    start = cfg.time_end - cfg.time_span_days * 86_400_000
    created = {}
    for i in table_rows["issue"]:
        c, m = int(i["created"]), int(i["modified"])
        assert start <= c <= m <= cfg.time_end
        created[i["id"]] = c
    for c in table_rows["comment"]:
        assert created[c["issueID"]] <= int(c["created"]) <= cfg.time_end


def test_text_limits(table_rows) -> None:
    assert max(len(i["title"]) for i in table_rows["issue"]) <= 128
    assert max(len(i["description"]) for i in table_rows["issue"]) <= 10240
    assert max(len(c["body"]) for c in table_rows["comment"]) <= 65536
    assert not any("{{" in i["title"] or "{{" in i["description"] for i in table_rows["issue"])
    assert not any("{{" in c["body"] for c in table_rows["comment"])


def test_fractions(table_rows) -> None:
    issues = table_rows["issue"]
    n = len(issues)
    # Binomial standard error at n=60000 is ~0.002: 0.015 is over 7 sigma.
    assert abs(sum(i["open"] == "true" for i in issues) / n - 0.7) < 0.015
    assert abs(sum(i["assigneeID"] != "" for i in issues) / n - 0.7) < 0.015
    assert abs(sum(i["visibility"] == "public" for i in issues) / n - 0.9) < 0.015
    assert {i["visibility"] for i in issues} == {"public", "internal"}


def test_labels_per_issue(table_rows) -> None:
    per_issue = Counter(il["issueID"] for il in table_rows["issueLabel"])
    counts = Counter(per_issue[i["id"]] for i in table_rows["issue"])
    n = len(table_rows["issue"])
    # zbugs' shape tilted to mean 1.5 (distributions.label_pmf): 0 -> 12.6 %, 1 -> 47.2 %, 2 -> 23.8 %.
    assert abs(sum(k * c for k, c in counts.items()) / n - 1.5) < 0.02
    for k, share in ((0, 0.126), (1, 0.472), (2, 0.238)):
        assert abs(counts[k] / n - share) < 0.015, (k, counts[k] / n)


def test_comments_per_issue(table_rows) -> None:
    per_issue = Counter(c["issueID"] for c in table_rows["comment"])
    counts = [per_issue[i["id"]] for i in table_rows["issue"]]
    mean = sum(counts) / len(counts)
    assert abs(mean - 3.0) / 3.0 < 0.05  # standard error here is ~1.3 %; the 1 M check is stricter
    assert sum(c <= 2 for c in counts) / len(counts) > 0.6
    assert max(counts) > 40  # a long tail


def test_issues_across_projects_are_pareto(table_rows) -> None:
    per_project = Counter(i["projectID"] for i in table_rows["issue"])
    sizes = sorted((per_project[p["id"]] for p in table_rows["project"]), reverse=True)
    assert 0.70 <= sum(sizes[:20]) / sum(sizes) <= 0.85
    assert sizes[0] > 10 * sizes[50]


def test_text_varies(table_rows) -> None:
    titles = {i["title"] for i in table_rows["issue"]}
    assert len(titles) > 0.5 * len(table_rows["issue"])
