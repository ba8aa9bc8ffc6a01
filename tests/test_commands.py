"""The top-level command line: every guide step is a subcommand, and each loads only what it needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import zbugs_synth
from zbugs_synth.cli import COMMAND_MODULE, COMMAND_MODULES, main


def test_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in COMMAND_MODULE:
        assert command in out
    assert set(COMMAND_MODULE.values()) == set(COMMAND_MODULES)


@pytest.mark.parametrize("command", sorted(COMMAND_MODULE))
def test_every_subcommand_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and command in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["generate-synthetc"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_mistyped_flag_shows_the_subcommand_usage_and_the_nearest_flag(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["generate-synthetic", "--num-isues", "5"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err == ("zbugs-synth generate-synthetic: error: unrecognized argument: --num-isues (did you mean "
                   "--num-issues?) (see zbugs-synth generate-synthetic --help)\n")
    with pytest.raises(SystemExit):
        main(["verify", "--jsn"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "zbugs-synth verify: error:" in err and "did you mean --json?" in err


@pytest.mark.parametrize("argv,needle", [
    (["db-seed-synthetic", "--progress", "fancy"], "argument --progress: invalid choice: 'fancy'"),
    (["verify", "--report"], "argument --report: expected one argument"),
    (["generate-synthetc"], "invalid choice: 'generate-synthetc'"),
])
def test_a_usage_error_is_one_line_that_points_at_help(argv: list[str], needle: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and err.count("\n") == 1 and "--help)" in err, err


def test_generating_imports_no_database_or_cloud_client() -> None:
    code = ("import sys; from zbugs_synth.cli import build_parser; build_parser(['generate-synthetic']); "
            "print(sorted(m for m in ('psycopg', 'boto3', 'anthropic', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_quickstart_help_says_it_is_hermetic(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["quickstart", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "quickstart is hermetic" in out and "NUM_ISSUES, SEED, SKIP_USERS" in out and "are ignored" in out


def test_quickstart_never_reenters_the_cli_nor_edits_the_environment() -> None:
    source = (Path(zbugs_synth.__file__).parent / "commands" / "quickstart.py").read_text()
    assert "cli import" not in source and "os.environ" not in source


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys) -> None:
    """Ctrl-C in the first moments (the command's modules still importing) ends like a later one:
    one line and 130, not a traceback (seen when interrupting right after pressing Enter)."""
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(zbugs_synth.cli.importlib, "import_module", interrupted)
    assert main(["verify"]) == 130
    err = capsys.readouterr().err
    assert err == "zbugs-synth: interrupted\n"


@pytest.fixture
def unwritable_dir(tmp_path: Path):
    """A directory nobody, root included, can create files in (chattr +i; root ignores mode bits)."""
    d = tmp_path / "locked"
    d.mkdir()
    if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    yield d
    subprocess.run(["chattr", "-i", str(d)], check=True)


@pytest.mark.parametrize("command", [["verify"], ["quickstart"]])
def test_a_report_that_cannot_be_written_is_refused_before_any_work(unwritable_dir: Path, command: list[str],
                                                                    capsys, monkeypatch, tmp_path: Path) -> None:
    """verify ran every check, then failed on the page with a traceback; quickstart replaced the
    database's data first (from an audit). Both now stop at once, with one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZBUGS_PG_DATA", str(tmp_path / "no-server"))
    monkeypatch.delenv("ZERO_UPSTREAM_DB", raising=False)
    assert main([*command, "--report", str(unwritable_dir / "r.html")]) == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"zbugs-synth {command[0]}: error: --report {unwritable_dir / 'r.html'}: "
                                        f"cannot write in {unwritable_dir}: Operation not permitted"], err
    assert "==" not in out  # no quickstart step started


def test_a_dataset_url_with_a_slash_missing_is_not_taken_for_a_directory(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["db-seed-synthetic", "--seed-data-dir", "s3:/bucket/x"]) == 2
    err = capsys.readouterr().err
    assert "--seed-data-dir" in err and "expected a directory, s3://bucket/prefix/" in err, err


def test_quickstart_refuses_an_output_dir_that_is_a_file_before_any_step(capsys, monkeypatch, tmp_path) -> None:
    """It ran steps 1 and 2 first and failed at step 3 (from an audit)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZBUGS_PG_DATA", str(tmp_path / "no-server"))
    (tmp_path / "afile").write_text("x")
    assert main(["quickstart", "--output-dir", str(tmp_path / "afile"), "--force"]) == 2
    out, err = capsys.readouterr()
    assert "--output-dir" in err and "is a file" in err and "==" not in out, (out, err)


LONG_NAME = "a" * 300  # over any file system's 255-byte limit for one name


@pytest.mark.parametrize("args", [
    ["generate-synthetic", "--output-dir", "{long}"],
    ["generate-templates", "--dry-run", "--out", "{long}"],
    ["db-status", "--data-dir", "{long}"],
    ["db-status", "--data-dir", "{loop}"],
    ["combine-parts", "{long}"],
    ["get-data", "--out", "{long}"],
    ["verify", "--report", "{long}/report.html"],
])
def test_a_path_no_file_system_takes_is_one_line_not_a_traceback(args: list[str], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Names over 255 bytes and symlink loops ended 11 of 12 commands in a traceback (a walkthrough)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    values = {"long": str(tmp_path / LONG_NAME), "loop": str(tmp_path / "loop" / "state")}
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert ("File name too long" in err or "Too many levels of symbolic links" in err) and "usable path" in err
