"""`generate-templates` end to end: the real anthropic SDK against a local Messages API server.

The server (tests/fakes/messages_api.py) writes its answers from each request's tool schema, so
these tests check that the requests ask for the right things as much as the handling of answers.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

# tests/ is not a package; the shared fakes live in tests/fakes.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.messages_api import (
    FakeMessagesAPI,
    Fault,
    malformed,
    too_few,
    unknown_slot,
)
from zbugs_synth import cli
from zbugs_synth.config import settings_of
from zbugs_synth.config.templates import TemplatesConfig
from zbugs_synth.templates import load_pack
from zbugs_synth.templates.model import POOL_SLOTS, SLOT_RE, SLOTS, LintRules, lint_category

# The ten categories, in its order.
ALL = ("web-frontend", "mobile-app", "api-service", "infrastructure", "data-platform",
       "developer-tools", "security", "ml-ai", "embedded-iot", "game-media")
SMALL = ["--num-projects", "10", "--components", "3", "--labels", "4", "--titles", "4",
         "--descriptions", "2", "--comments", "3", "--pool-values", "3"]
# With SMALL, per category: 1 projects call, 1 labels, 1 pools, 2 titles (bugs, features),
# 2 descriptions (bugs, features), 3 comments (investigation, fixes, reviews).
CALLS_SMALL = 10
SMALL_RULES = LintRules(min_projects=1, min_components=3, min_labels=4, min_titles=4, min_descriptions=2,
                        min_comments=3, min_description_slots=3, min_comment_slots=2)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for _, s in settings_of(TemplatesConfig):
        if s.env:
            monkeypatch.delenv(s.env, raising=False)
    monkeypatch.chdir(tmp_path)   # no stray .env
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeMessagesAPI() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        yield fake


def gen(capsys: pytest.CaptureFixture, out: Path, *args: str, small: bool = True) -> tuple[int, str, str]:
    argv = ["generate-templates", "--out", str(out), "--progress", "none", "--max-retries", "1",
            "--timeout", "10", *(SMALL if small else []), *args]
    rc = cli.main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def category_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("*.json") if p.name != "summary.json")


def last_total(stdout: str) -> list[int]:
    line = [ln for ln in stdout.splitlines() if ln.strip().startswith("total")][-1]
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line)]


def test_generates_every_category_and_load_pack_accepts_it(api: FakeMessagesAPI, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    api.delay = 0.02   # long enough for categories and calls to overlap
    out = tmp_path / "templates"
    rc, stdout, err = gen(capsys, out)
    assert rc == 0, err
    assert category_files(out) == sorted(f"{c}.json" for c in ALL)
    # Every answer was usable the first time: no follow-ups.
    assert Counter(r.category for r in api.seen()) == dict.fromkeys(ALL, CALLS_SMALL)
    assert all(r.status == 200 and api.authorized(r.headers) for r in api.seen())
    assert all(r.body["tool_choice"] == {"type": "tool", "name": r.tool} for r in api.seen())
    assert 1 < api.max_categories_in_flight <= 3
    assert api.max_in_flight_per_category <= 4

    pack = load_pack(out)
    assert sorted(c.name for c in pack.categories) == sorted(ALL)
    assert len(pack.project_templates) == 10
    for c in pack.categories:
        assert lint_category(pack, c, SMALL_RULES) == []
        assert all(len(p.components) == 3 for p in c.projects)
        assert (len(c.labels), len(c.titles), len(c.descriptions), len(c.comments)) == (4, 4, 2, 3)
        assert set(c.pools) == set(POOL_SLOTS) and all(len(v) == 3 for v in c.pools.values())
        for t in (*c.titles, *c.descriptions, *c.comments):
            assert set(SLOT_RE.findall(t)) <= set(SLOTS)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["totalProjects"] == 10
    rows = {e["category"]: e for e in summary["categories"]}
    assert set(rows) == set(ALL)
    assert all((e["components"], e["titleTemplates"], e["commentTemplates"]) == (3, 4, 3) for e in rows.values())

    # The usage report adds up what the server billed.
    assert last_total(stdout) == [10 * CALLS_SMALL, *api.usage_total()]

    # A rerun finds everything done: no request, no key needed.
    before = len(api.seen())
    rc, stdout, err = gen(capsys, out)
    assert rc == 0, err
    assert "nothing to do" in stdout and len(api.seen()) == before


def test_default_counts_make_a_pack_that_passes_the_lint(api: FakeMessagesAPI, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "security", small=False)
    assert rc == 0, err
    # 10 projects in 2 calls of 5, labels, pools, 2 title, 2 description and 3 comment batches.
    assert len(api.seen()) == 11
    pack = load_pack(out)
    (cat,) = pack.categories
    assert len(cat.projects) == 10 and all(len(p.components) == 100 for p in cat.projects)
    assert (len(cat.labels), len(cat.titles), len(cat.descriptions), len(cat.comments)) == (48, 200, 100, 150)
    assert all(len(v) == 20 for v in cat.pools.values())
    assert lint_category(pack, cat) == []


def test_dry_run_prints_the_plan_without_key_or_requests(api: FakeMessagesAPI, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    rc, stdout, err = gen(capsys, tmp_path / "t", "--dry-run", small=False)
    assert rc == 0, err
    assert api.seen() == [] and not (tmp_path / "t").exists()
    assert all(c in stdout for c in ALL)
    calls, tokens_in, tokens_out = last_total(stdout)[:3]
    assert calls == 110 and tokens_in > 0 and tokens_out > tokens_in


def test_without_api_key_one_line_says_how_to_set_it(api: FakeMessagesAPI, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    rc, _, err = gen(capsys, tmp_path / "t")
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert "ANTHROPIC_API_KEY" in line and "bundled template pack" in line
    assert api.seen() == []


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--categories", "web-frontend,nope"], {}, "--categories 'web-frontend,nope': expected a comma-separated"),
    ([], {"NUM_PROJECTS": "5"}, "NUM_PROJECTS='5': expected a whole number from 10"),
    (["--base-url", "localhost:1"], {}, "expected an http:// or https:// URL"),
])
def test_bad_settings_are_one_clear_line(api: FakeMessagesAPI, tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch, args: list[str],
                                         env: dict[str, str], says: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rc = cli.main(["generate-templates", "--out", str(tmp_path / "t"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert says in line
    assert api.seen() == []


def _rename_projects(name: str) -> Callable[[dict], dict]:
    return lambda answer: {"projects": [{**p, "name": name} for p in answer["projects"]]}


def _first_half(key: str, make: str) -> Callable[[dict], dict]:
    """The first half of `key`'s items replaced by `make` (formatted with the index)."""
    def bend(answer: dict) -> dict:
        items = answer[key]
        half = max(1, len(items) // 2)
        return {key: [make.format(i) if i < half else t for i, t in enumerate(items)]}
    return bend


SEC = {"category": "security"}


@pytest.mark.parametrize(("make", "problem", "reasked"), [
    (lambda: Fault.bend(malformed, tool="submit_titles", **SEC), "must be a JSON array", 2),
    (lambda: Fault.bend(too_few, tool="submit_titles", **SEC), "asked for", 1),
    (lambda: Fault.bend(unknown_slot, tool="submit_titles", **SEC), "bogus_slot", 1),
    # 77 characters as written; the fake writes phrase values (4-80 chars) of 19+ chars: >128 filled.
    (lambda: Fault.bend(_first_half("titles", "{{{{steps}}}} {{{{steps}}}} {{{{steps}}}} {{{{actual}}}} "
                                              "{{{{actual}}}} {{{{actual}}}} {{{{finding}}}} #{}"),
                        tool="submit_titles", **SEC), "longest values", 1),
    (lambda: Fault.bend(_first_half("descriptions", "{{{{component}}}} {{{{error}}}} {{{{version}}}} #{}"),
                        tool="submit_descriptions", **SEC), "expected 100-500", 1),
    (lambda: Fault.no_tool(tool="submit_titles", **SEC), "no call to submit_titles", 2),
    (lambda: Fault.bend(_rename_projects("Zero"), tool="submit_projects", **SEC), "reserved", 1),
], ids=["malformed", "too-few", "unknown-slot", "title-too-long-filled", "description-too-short",
        "no-tool-call", "reserved-name"])
def test_invalid_answer_is_reasked_with_the_problems(api: FakeMessagesAPI, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture, make: Callable[[], Fault],
                                                     problem: str, reasked: int) -> None:
    fault = make()   # a fresh fault per run: faults count down as they are used
    tool = fault.tool
    api.add(fault)
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "security")
    assert rc == 0, err
    assert len(api.seen()) == CALLS_SMALL + 1
    (followup,) = [r for r in api.seen(tool=tool) if len(r.body["messages"]) == 3]
    reply = followup.body["messages"][-1]["content"]
    if isinstance(reply, list):   # the answer had a tool call: the problems go back as its result
        assert reply[0]["type"] == "tool_result" and reply[0]["is_error"] is True
        reply = reply[0]["content"]
    assert problem in reply
    # Only what is still missing is asked for again (batches here hold 1 or 2 items).
    (array,) = followup.body["tools"][0]["input_schema"]["properties"].values()
    assert array["minItems"] == reasked
    (cat,) = load_pack(out).categories
    assert (len(cat.titles), len(cat.descriptions)) == (4, 2)
    assert not any("bogus" in t or "#" in t for t in (*cat.titles, *cat.descriptions))
    assert cat.projects[0].name.lower() != "zero"


def test_project_names_stay_unique_across_categories(api: FakeMessagesAPI, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t"
    assert gen(capsys, out, "--categories", "web-frontend")[0] == 0
    taken = json.loads((out / "web-frontend.json").read_text())["projects"][0]["name"]
    api.add(Fault.bend(_rename_projects(taken.upper()), category="security", tool="submit_projects"))
    rc, _, err = gen(capsys, out, "--categories", "security")
    assert rc == 0, err
    (followup,) = [r for r in api.seen(tool="submit_projects") if len(r.body["messages"]) == 3]
    assert "already taken" in followup.body["messages"][-1]["content"][0]["content"]
    assert len(load_pack(out).project_templates) == 2   # load_pack rejects duplicate names


def test_category_that_stays_invalid_fails_alone_and_rerun_retries_only_it(
        api: FakeMessagesAPI, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    api.add(Fault.bend(unknown_slot, category="security", tool="submit_titles", times=1000))
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "web-frontend,security", "--max-reasks", "2")
    assert rc == 2
    assert "security" in err and "titles" in err and "bogus_slot" in err
    assert category_files(out) == ["web-frontend.json"]
    # 1 request + 2 follow-ups (1, 3, 5 messages), never a fourth.
    lengths = {len(r.body["messages"]) for r in api.seen(category="security", tool="submit_titles")}
    assert max(lengths) == 5
    assert [e["category"] for e in json.loads((out / "summary.json").read_text())["categories"]] \
        == ["web-frontend"]

    api.faults.clear()
    before = len(api.seen())
    rc, _, err = gen(capsys, out, "--categories", "web-frontend,security")
    assert rc == 0, err
    assert Counter(r.category for r in api.seen()[before:]) == {"security": CALLS_SMALL}
    assert len(load_pack(out).categories) == 2

    # --force regenerates a complete category; summary.json follows what is on disk.
    before = len(api.seen())
    assert gen(capsys, out, "--categories", "web-frontend", "--force")[0] == 0
    assert len(api.seen()) - before == CALLS_SMALL
    (out / "security.json").unlink()
    assert gen(capsys, out, "--categories", "web-frontend")[0] == 0
    assert [e["category"] for e in json.loads((out / "summary.json").read_text())["categories"]] \
        == ["web-frontend"]


def test_truncated_answer_fails_that_category_with_a_clear_line(api: FakeMessagesAPI, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    api.add(Fault.truncate(category="security", tool="submit_descriptions"))
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "web-frontend,security")
    assert rc == 2
    assert re.search(r"security: the answer to descriptions-\w+ was cut off at max_tokens=16000", err)
    assert category_files(out) == ["web-frontend.json"]


@pytest.mark.parametrize(("status", "kind"), [(429, "rate_limit_error"), (529, "overloaded_error")])
def test_rate_limit_or_overload_once_is_retried_by_the_sdk(api: FakeMessagesAPI, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture, status: int,
                                                           kind: str) -> None:
    api.add(Fault.error(status, kind, retry_after_ms=20))
    rc, _, err = gen(capsys, tmp_path / "t", "--categories", "security")
    assert rc == 0, err
    assert len(api.seen(status=status)) == 1 and len(api.seen(status=200)) == CALLS_SMALL
    assert sum(r.headers.get("x-stainless-retry-count") == "1" for r in api.seen(status=200)) == 1


@pytest.mark.parametrize(("status", "kind", "says"), [
    (429, "rate_limit_error", "rate limited"), (529, "overloaded_error", "overloaded")])
def test_rate_limit_or_overload_that_outlasts_the_retries_stops_with_a_clear_line(
        api: FakeMessagesAPI, tmp_path: Path, capsys: pytest.CaptureFixture, status: int, kind: str,
        says: str) -> None:
    api.add(Fault.error(status, kind, retry_after_ms=10, times=1000))
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "security", "--max-retries", "1")
    assert rc == 2
    line = err.strip().splitlines()[-1]
    assert says in line and f"{status} {kind}" in line and "2 attempts" in line
    assert category_files(out) == []


@pytest.mark.parametrize("status", [200, 501])
def test_a_server_that_is_not_the_messages_api_gets_one_line(api: FakeMessagesAPI, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture, status: int) -> None:
    """A base URL naming a web server, or a proxy page: a 200 with HTML ended in a traceback (the SDK
    hands back text, not a Message), and a 501 said "try again later"."""
    api.add(Fault.web_page(status, times=1000))
    out = tmp_path / "t"
    rc, _, err = gen(capsys, out, "--categories", "security", "--max-retries", "0")
    assert rc == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert f"the server at {api.url}" in line and "check ANTHROPIC_BASE_URL" in line, line
    assert "try again later" not in line
    assert category_files(out) == []


def test_rejected_key_stops_with_a_clear_line_and_never_prints_the_key(
        api: FakeMessagesAPI, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-ant-wrong-key-do-not-print-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    out = tmp_path / "t"
    rc, stdout, err = gen(capsys, out)
    assert rc == 2
    assert "rejected the API key" in err and "401 authentication_error" in err
    assert secret not in stdout + err
    # Requests cancelled by the stop may still be in the server's hands: none got through, though.
    assert api.seen(status=401) and not api.seen(status=200)
    assert category_files(out) == []
    # With progress lines on, no category says "done": they were stopped.
    rc, _, err = gen(capsys, out, "--categories", "security,ml-ai", "--progress", "plain")
    assert rc == 2 and "security: 0 calls" in err and "stopped in" in err and "done in" not in err, err


def test_slow_answer_hits_the_timeout(api: FakeMessagesAPI, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    api.add(Fault.slow(5, times=1000))
    rc, _, err = gen(capsys, tmp_path / "t", "--categories", "security", "--timeout", "0.3",
                     "--max-retries", "0")
    assert rc == 2
    assert "no answer from the Anthropic API within 0.3s" in err


def test_one_slow_answer_is_retried(api: FakeMessagesAPI, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    api.add(Fault.slow(5, tool="submit_labels"))
    rc, _, err = gen(capsys, tmp_path / "t", "--categories", "security", "--timeout", "0.5")
    assert rc == 0, err
    assert len(api.seen(tool="submit_labels")) == 2


def test_unreachable_api_stops_with_a_clear_line(api: FakeMessagesAPI, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    rc, _, err = gen(capsys, tmp_path / "t", "--categories", "security", "--max-retries", "0")
    assert rc == 2
    assert f"cannot reach the Anthropic API at http://127.0.0.1:{port}" in err
    # Credentials in the base URL (a proxy's) are never shown.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://admin:hunter2@127.0.0.1:{port}/v?token=s3cret")
    rc, out, err = gen(capsys, tmp_path / "t", "--categories", "security", "--max-retries", "0")
    assert rc == 2 and f"cannot reach the Anthropic API at http://***@127.0.0.1:{port}/v?***" in err
    assert "hunter2" not in out + err and "s3cret" not in out + err and "admin" not in out + err


def test_model_refusing_forced_tool_choice_falls_back_to_auto(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              api: FakeMessagesAPI) -> None:
    with FakeMessagesAPI(reject_forced_tool=True) as strict:
        monkeypatch.setenv("ANTHROPIC_API_KEY", strict.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", strict.url)
        out = tmp_path / "t"
        rc, _, err = gen(capsys, out, "--categories", "security")
        assert rc == 0, err
        assert strict.seen(status=400)
        assert len(strict.seen(status=200)) == CALLS_SMALL
        assert all(r.body["tool_choice"] == {"type": "auto"} for r in strict.seen(status=200))
    assert len(load_pack(out).categories) == 1


def test_out_path_that_is_a_file_is_one_clear_line(api: FakeMessagesAPI, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "taken").write_text("")
    taken = tmp_path / "taken"
    for out, extra in ((taken, ()), (taken / "sub", ()), (taken, ("--dry-run",))):
        rc, stdout, err = gen(capsys, out, *extra)
        assert rc == 2
        (line,) = err.strip().splitlines()
        assert "--out" in line and f"{str(tmp_path / 'taken')!r} is a file, not a directory" in line, line
        assert "categories" not in stdout  # refused before the plan is printed (a walkthrough: after it)
    assert api.seen() == []


def test_broken_file_is_regenerated(api: FakeMessagesAPI, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t"
    out.mkdir()
    (out / "security.json").write_text("{not json")
    rc, stdout, err = gen(capsys, out, "--categories", "security")
    assert rc == 0, err
    assert "present but will be regenerated" in stdout
    assert len(load_pack(out).categories) == 1


def test_rerun_after_kill_asks_only_for_missing_categories(api: FakeMessagesAPI, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "t"
    for c in ALL[4:]:   # these never answer in the first run
        api.add(Fault.hang(category=c, times=1000))
    cmd = [sys.executable, "-m", "zbugs_synth", "generate-templates", "--out", str(out), "--progress", "none",
           *SMALL]
    proc = subprocess.Popen(cmd, env=dict(os.environ), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while len(category_files(out)) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert category_files(out) == sorted(f"{c}.json" for c in ALL[:4])
    assert api.seen(category=ALL[4])   # the kill really interrupted work in flight

    api.faults.clear()
    api.release()
    before = len(api.seen())
    rc, _, err = gen(capsys, out)
    assert rc == 0, err
    assert Counter(r.category for r in api.seen()[before:]) == dict.fromkeys(ALL[4:], CALLS_SMALL)
    assert len(load_pack(out).categories) == 10
    assert len(json.loads((out / "summary.json").read_text())["categories"]) == 10


def _run_limited(out: Path, cwd: Path, max_file_bytes: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with files capped at `max_file_bytes` (RLIMIT_FSIZE: a write past it fails with EFBIG,
    as a full disk fails with ENOSPC; root is not exempt), signal ignored so the write itself fails."""
    import resource
    import signal

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    cmd = [sys.executable, "-m", "zbugs_synth", "generate-templates", "--out", str(out), "--progress", "none",
           *SMALL, *args]
    return subprocess.run(cmd, env=dict(os.environ), cwd=cwd, capture_output=True, text=True, timeout=120,
                          preexec_fn=cap)


def test_a_category_that_cannot_be_written_stops_the_run_with_one_line_and_the_tokens(
        api: FakeMessagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "t"
    done = _run_limited(out, tmp_path, 1000, "--category-concurrency", "1")  # every category file is bigger
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot write into" in done.stderr and "File too large" in done.stderr
    assert "tokens used" in done.stdout  # what was spent is still said
    # One category's calls, then it stopped: no more calls paid for answers that could not be kept.
    assert {r.category for r in api.seen()} == {ALL[0]} and len(api.seen()) == CALLS_SMALL
    assert not list(out.glob(".*.tmp")) and not (out / "summary.json").exists() and category_files(out) == []


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_still_says_what_the_calls_so_far_cost(api: FakeMessagesAPI, tmp_path: Path, sig: str) -> None:
    """Ctrl-C, and SIGTERM the same way (its own words and exit code)."""
    import signal

    out = tmp_path / "t"
    for c in ALL[1:]:
        api.add(Fault.hang(category=c, times=1000))
    cmd = [sys.executable, "-m", "zbugs_synth", "generate-templates", "--out", str(out), "--progress", "none",
           *SMALL]
    # SIGINT as a terminal's Ctrl-C would: a suite run in the background has it ignored, and children
    # inherit that (how this test once hung for 30 s).
    proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONFAULTHANDLER="1"), cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                                                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)])
    try:
        deadline = time.monotonic() + 20
        while not category_files(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.Signals[sig])
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # the stacks of every thread say where
            proc.send_signal(signal.SIGABRT)
            stdout, stderr = proc.communicate(timeout=30)
            pytest.fail(f"still running 30 s after Ctrl-C:\n{stdout}\n{stderr}")
    finally:
        proc.kill()
        api.release()
    assert proc.returncode == 128 + signal.Signals[sig], stdout + stderr
    assert "tokens used" in stdout and f"{ALL[0]:<16} {CALLS_SMALL:>4} calls" in stdout, stdout
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == ("zbugs-synth generate-templates: interrupted" if sig == "SIGINT" else
                                               f"zbugs-synth generate-templates: stopped by {sig}"), stderr
