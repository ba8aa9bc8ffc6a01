"""`zbugs-synth generate-synthetic` as a user runs it: flags, env, .env, errors, crash safety."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from original_format import OriginalTemplates
from zbugs_synth.cli import main
from zbugs_synth.manifest import INCOMPLETE_MARKER, read_manifest


def run_cli(monkeypatch, tmp_path: Path, env: dict[str, str], *args: str) -> int:
    monkeypatch.chdir(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return main(["generate-synthetic", "--progress", "none", *args])


@pytest.mark.parametrize("var,value,needle", [
    ("NUM_ISSUES", "-1", "NUM_ISSUES='-1': expected a whole number"),
    ("NUM_ISSUES", "abc", "NUM_ISSUES='abc': expected a whole number"),
    ("NUM_ISSUES", "2147480649", "NUM_ISSUES='2147480649': at most 2,147,480,648: issue.shortID is a 4-byte integer"),
    ("SHARD_SIZE", "0", "SHARD_SIZE='0': expected a whole number from 1"),
    ("COMMENTS_PER_ISSUE", "-2", "COMMENTS_PER_ISSUE='-2': expected a number >= 0"),
    ("SEED", "x", "SEED='x': expected a whole number from 0"),
    ("SKIP_USERS", "maybe", "SKIP_USERS='maybe': expected true or false"),
    ("TEMPLATES_DIR", "/nonexistent/templates", "template directory not found"),
    ("TEMPLATES_DIR", "/etc/passwd", "/etc/passwd: is a file, not a template directory"),
    ("LABELS_PER_ISSUE", "60", "LABELS_PER_ISSUE=60: expected at most"),
    ("TIME_END", "5", "TIME_END=5 with TIME_SPAN_DAYS=1461: expected a window inside 1970-01-01"),
    ("TIME_END", "yesterday", "TIME_END='yesterday': expected an ISO-8601 date"),
    ("NUM_ISSUES", "\u0661\u0662\u0663", "expected a whole number"),  # Arabic-Indic digits were read as 123
    # 10^8 projects ran out of memory without a word (from an audit).
    ("NUM_PROJECTS", "100000001", "NUM_PROJECTS='100000001': expected a whole number from 1 to 100,000"),
    # A URL with a slash missing made a directory named "postgres:" (from an audit).
    ("OUTPUT_DIR", "postgres:/x", "OUTPUT_DIR='postgres:/x': expected a directory or s3://bucket/prefix/"),
])
def test_bad_values_give_one_line_and_exit_2(monkeypatch, tmp_path, capsys, var, value, needle) -> None:
    assert run_cli(monkeypatch, tmp_path, {var: value, "NUM_ISSUES": "100"} if var != "NUM_ISSUES"
                   else {var: value}) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "db").exists() or not list((tmp_path / "db").rglob("*.csv"))


def test_unwritable_output_dir(monkeypatch, tmp_path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    assert run_cli(monkeypatch, tmp_path, {"OUTPUT_DIR": str(tmp_path / "afile" / "out")}) == 2
    err = capsys.readouterr().err
    assert "OUTPUT_DIR=" in err and f"{str(tmp_path / 'afile')!r} is a file, not a directory" in err
    assert run_cli(monkeypatch, tmp_path, {"OUTPUT_DIR": str(tmp_path / "afile")}) == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err and "File exists" not in err and len(err.splitlines()) == 1


def test_a_dataset_given_as_template_dir_is_named_as_such(monkeypatch, tmp_path, capsys) -> None:
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "50", "OUTPUT_DIR": str(tmp_path / "data")}) == 0
    capsys.readouterr()
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "50", "OUTPUT_DIR": str(tmp_path / "more"),
                                           "TEMPLATES_DIR": str(tmp_path / "data")}) == 2
    err = capsys.readouterr().err
    assert "a generated dataset (manifest.json), not a template pack" in err and len(err.strip().splitlines()) == 1


def test_broken_template_dir(monkeypatch, tmp_path, capsys) -> None:
    bad = tmp_path / "tpl"
    bad.mkdir()
    (bad / "x.json").write_text("{not json")
    assert run_cli(monkeypatch, tmp_path, {"TEMPLATES_DIR": str(bad)}) == 2
    err = capsys.readouterr().err
    assert "x.json: invalid JSON at line 1" in err and "Traceback" not in err


def test_flags_win_over_env_and_dotenv_is_read(monkeypatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("NUM_ISSUES=300\nSEED=7\n")
    monkeypatch.delenv("SEED", raising=False)
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "200"}, "--output-dir", "a") == 0
    m = read_manifest(tmp_path / "a")
    assert m.config["num_issues"] == 200 and m.config["seed"] == 7  # env beats .env; .env beats default
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "200"}, "--output-dir", "b", "--num-issues", "150") == 0
    assert read_manifest(tmp_path / "b").config["num_issues"] == 150


def test_a_bad_value_from_dotenv_says_it_came_from_there(monkeypatch, tmp_path, capsys) -> None:
    (tmp_path / ".env").write_text("NUM_ISSUES=10k\nSEED=abc\n")
    monkeypatch.delenv("NUM_ISSUES", raising=False)
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "a") == 2
    err = capsys.readouterr().err
    assert "NUM_ISSUES='10k' (from .env): expected" in err and len(err.strip().splitlines()) == 1, err
    # The same value from the environment is not said to come from .env.
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "10k"}, "--output-dir", "a") == 2
    err = capsys.readouterr().err
    assert "NUM_ISSUES='10k': expected" in err and ".env" not in err, err


def test_a_dotenv_line_that_does_not_parse_is_named_with_its_file_and_not_shown(monkeypatch, tmp_path,
                                                                              capsys) -> None:
    (tmp_path / ".env").write_text("SEED=7\nthe password is hunter2\nNUM_ISSUES=150\n")
    monkeypatch.delenv("SEED", raising=False)
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "a") == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / '.env'}: line 2 is not NAME=value; ignored" in err
    assert "hunter2" not in err and "could not parse" not in err
    m = read_manifest(tmp_path / "a")
    assert m.config["seed"] == 7 and m.config["num_issues"] == 150  # the other lines still count


def test_a_dotenv_line_setting_a_setting_of_the_command_that_does_not_parse_stops_it(monkeypatch, tmp_path,
                                                                                      capsys) -> None:
    """NUM_ISSUES="50 with its quote left open was a warning, and the run went on with 1 M issues
    (a walkthrough). A broken line of a name the command does not use stays a warning."""
    (tmp_path / ".env").write_text('SEED=7\nNUM_ISSUES="50\n')
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "a") == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"zbugs-synth generate-synthetic: error: {tmp_path / '.env'}: line 2 sets "
                                        "NUM_ISSUES but does not parse (a quote left open?); fix it or remove it"]
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").iterdir())
    (tmp_path / ".env").write_text('ANTHROPIC_MODEL="x"\nOTHER="y\nNUM_ISSUES=150\n')
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "b") == 0
    assert "line 2 sets OTHER but does not parse; ignored" in capsys.readouterr().err
    # A quote left open runs on over the next lines: a setting of the command among them is lost too
    # (a review: the first line's name alone let NUM_ISSUES and SEED go unnoticed).
    (tmp_path / ".env").write_text("ANTHROPIC_MODEL='claude\nNUM_ISSUES=50\nSEED=7\nOUTPUT_DIR='out'\n")
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "c") == 2
    assert "line 1 sets NUM_ISSUES but does not parse" in capsys.readouterr().err


def test_a_dotenv_that_is_not_utf8_is_one_line_and_a_bom_is_fine(monkeypatch, tmp_path, capsys) -> None:
    """A .env saved as UTF-16 (some Windows tools do) ended in a traceback (from an audit)."""
    (tmp_path / ".env").write_bytes("NUM_ISSUES=150\n".encode("utf-16"))
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "a") == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"zbugs-synth generate-synthetic: error: {tmp_path / '.env'}: not UTF-8 "
                                        "text (byte 0xff at offset 0); save it as UTF-8"], err
    (tmp_path / ".env").write_bytes("NUM_ISSUES=150\n".encode("utf-8-sig"))
    assert run_cli(monkeypatch, tmp_path, {}, "--output-dir", "b") == 0
    assert read_manifest(tmp_path / "b").config["num_issues"] == 150


def test_default_output_dir_and_rerun_rules(monkeypatch, tmp_path, capsys) -> None:
    env = {"NUM_ISSUES": "500"}
    assert run_cli(monkeypatch, tmp_path, env) == 0
    out = tmp_path / "db" / "seed-data" / "synthetic"
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run_cli(monkeypatch, tmp_path, env) == 0  # same configuration: safe to rerun
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "600"}) == 2  # another configuration
    assert "use --force" in capsys.readouterr().err
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "600"}, "--force") == 0
    assert read_manifest(out).config["num_issues"] == 600


def test_skip_users(monkeypatch, tmp_path) -> None:
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "100", "SKIP_USERS": "true"}) == 0
    out = tmp_path / "db" / "seed-data" / "synthetic"
    assert not list(out.glob("user_*.csv")) and list(out.glob("issue_*.csv"))


def test_original_template_directory_works(monkeypatch, tmp_path, capsys,
                                           original_templates: OriginalTemplates) -> None:
    env = {"NUM_ISSUES": "2000", "TEMPLATES_DIR": str(original_templates.directory), "NUM_PROJECTS": "20"}
    assert run_cli(monkeypatch, tmp_path, env) == 0
    out = tmp_path / "db" / "seed-data" / "synthetic"
    assert len(original_templates.projects) < 20
    assert read_manifest(out).rows_by_table()["project"] == 20  # not capped at the template projects
    assert "summary" not in (out / "label_000.csv").read_text()
    # --progress none: nothing above the summary to keep apart from, so no blank first line.
    assert capsys.readouterr().out.startswith("Dataset written to")


def test_killed_run_leaves_nothing_that_looks_complete(tmp_path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "NUM_ISSUES": "3000000", "SHARD_SIZE": "20000", "OUTPUT_DIR": str(out), "WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob(".issue_*.csv.partial"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(out.glob(".issue_*.csv.partial"))) >= 3, "the run never got going"
    assert not list(out.glob("*.csv")) and not (out / "manifest.json").exists()
    assert (out / INCOMPLETE_MARKER).exists()
    # Rerunning cleans up and completes (no manifest was written, so no --force is needed).
    env["NUM_ISSUES"] = "1000"
    subprocess.run([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    assert not list(out.glob(".*")) and read_manifest(out).rows_by_table()["issue"] == 1000


def _signalled_run(out: Path, issues: int, sig: int, *, ignored: int | None = None) -> subprocess.Popen[str]:
    """generate-synthetic into `out`, sent `sig` once its first partial issue shard is there. SIGINT is
    the default in the child, as under a terminal (a suite run in the background has it ignored, and
    children inherit that); `ignored` is set to ignored, as nohup does."""
    def dispositions() -> None:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # nohup'd suites ignore some
            signal.signal(s, signal.SIG_DFL)
        if ignored is not None:
            signal.signal(ignored, signal.SIG_IGN)

    env = {**os.environ, "NUM_ISSUES": str(issues), "SHARD_SIZE": "20000", "OUTPUT_DIR": str(out), "WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "zbugs_synth", "generate-synthetic", "--progress", "none"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=dispositions)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(".issue_*.csv.partial")) and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_says_so_and_leaves_nothing_that_looks_complete(tmp_path, sig) -> None:
    """Ctrl-C, and SIGTERM (kill, timeout, a cancelled CI job) the same way: one line, 128 + the signal."""
    out = tmp_path / "out"
    proc = _signalled_run(out, 3_000_000, sig)
    _out, err = proc.communicate(timeout=60)
    name = {signal.SIGINT: "interrupted", signal.SIGTERM: "stopped by SIGTERM"}[sig]
    assert proc.returncode == 128 + sig and err.strip().splitlines() == [f"zbugs-synth generate-synthetic: {name}"], err
    assert not list(out.glob("*.csv")) and not (out / "manifest.json").exists()
    assert (out / INCOMPLETE_MARKER).exists()


def test_a_hang_up_that_nohup_ignores_stays_ignored(tmp_path) -> None:
    """`nohup` (or `trap '' HUP`) sets SIGHUP to ignored so that a run outlives its terminal: the
    command's own stop handling must not take that back."""
    out = tmp_path / "out"
    proc = _signalled_run(out, 300_000, signal.SIGHUP, ignored=signal.SIGHUP)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert read_manifest(out).rows_by_table()["issue"] == 300_000


def test_help_lists_every_guide_variable(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["generate-synthetic", "--help"])
    text = capsys.readouterr().out
    for var in ("NUM_ISSUES", "NUM_PROJECTS", "NUM_USERS", "COMMENTS_PER_ISSUE", "LABELS_PER_ISSUE",
                "SHARD_SIZE", "OUTPUT_DIR", "SEED", "SKIP_USERS", "TEMPLATES_DIR", "WORKERS"):
        assert var in text


def test_summary_table_columns_line_up_with_every_table(monkeypatch, tmp_path, capsys) -> None:
    for k, v in {"NUM_ISSUES": "300", "ALL_TABLES": "true"}.items():
        monkeypatch.setenv(k, v)
    assert main(["generate-synthetic", "--progress", "none", "--output-dir", str(tmp_path / "d")]) == 0
    lines = capsys.readouterr().out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("table "))
    table = lines[top:next(i for i in range(top, len(lines)) if lines[i].startswith("total")) + 1]
    assert any(line.startswith("issueNotifications ") for line in table)
    assert len({len(line) for line in table}) == 1, "\n".join(table)  # right-aligned columns: equal widths
    assert len({line.index(line.split()[1]) + len(line.split()[1]) for line in table}) == 1


def test_a_tiny_run_reports_a_throughput_not_zero(monkeypatch, tmp_path, capsys) -> None:
    assert run_cli(monkeypatch, tmp_path, {"NUM_ISSUES": "20", "OUTPUT_DIR": str(tmp_path / "tiny")}) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("elapsed "))
    m = re.search(r"rows/s, ([\d.,]+) (B|KB|MB|GB|TB)/s", line)
    assert m and float(m[1].replace(",", "")) > 0, line
