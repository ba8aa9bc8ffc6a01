"""The installed `zbugs-synth` entry point: get-data and publish as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from remote_helpers import Dataset, Served

from zbugs_synth.cli import main

EXE = Path(sys.executable).with_name("zbugs-synth")


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=dict(os.environ), check=False)


def test_help_lists_both_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    assert "get-data" in proc.stdout and "publish" in proc.stdout


def test_get_data_subprocess_with_plain_progress_and_dotenv(
    http_server: Callable[..., Served], dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    ds = dataset()
    shutil.copytree(ds.directory, tmp_path / "www" / "v1")
    srv = http_server(tmp_path / "www")
    work = tmp_path / "project"
    work.mkdir()
    # The source comes from `.env`, the output directory is the default one under the project.
    (work / ".env").write_text(f"ZBUGS_DATA_URL={srv.url('v1/')}\n")
    proc = run("get-data", "--progress", "plain", cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = work / "db" / "seed-data" / "synthetic"
    for name, data in ds.files.items():
        assert (out / name).read_bytes() == data
    assert "download:" in proc.stderr and "B/s" in proc.stderr
    assert "next: zbugs-synth db-seed-synthetic" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["publish", "DIR", "--to", "https://example.invalid/x/"], "expected an s3://bucket/prefix/ URL"),
        (["publish", "DIR", "--to", "s3://b/x/"], "not a valid bucket name"),
        (["generate-synthetic", "--output-dir", "s3://Bad_Bucket!!/x/"],
         "error: --output-dir 's3://Bad_Bucket!!/x/': 'Bad_Bucket!!' is not a valid bucket name"),
        (["publish", "DIR", "--to", "s3://bucket/x/", "--part-size", "1"], "--part-size '1': expected"),
        (["get-data", "--jobs", "0"], "--jobs '0': expected"),
        (["get-data", "--out", "FILE"], "expected a directory ("),  # checked before anything is fetched
        (["get-data", "--out", "FILE/sub"], "is a file)"),
        (["get-data", "--from", "ftp://h/x/"], "--from: expected s3://bucket/prefix/ or https://host/prefix/"),
        (["get-data", "--from", "s3://bucket/x/", "--endpoint-url", "localhost:9000"], "--endpoint-url"),
        (["get-data", "--from", "s3://bucket/x/", "--endpoint-url", "http://[::1"], "--endpoint-url"),
        # db-seed-synthetic reads the same URLs with the same parsers (config/remote.py).
        (["db-seed-synthetic", "--seed-data-dir", "ftp://h/x/"],
         "--seed-data-dir: expected a directory, s3://bucket/prefix/ or https://host/prefix/"),
        (["db-seed-synthetic", "--seed-data-dir", "s3:///x/"], "--seed-data-dir: expected a directory"),
        (["db-seed-synthetic", "--endpoint-url", "localhost:9000"], "--endpoint-url"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    argv = [str(tmp_path) if a == "DIR" else a.replace("FILE", str(tmp_path / "a-file")) for a in argv]
    rc = main([*argv, "--progress", "none"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["generate-synthetic", "--output-dir", "s3://AKIAEXAMPLE:TopSecret@bucket/x/"],
    ["combine-parts", "s3://AKIAEXAMPLE:TopSecret@bucket/x/"],
    ["generate-synthetic", "--output-dir", "s3://bucket/x/?X-Amz-Signature=TopSecret"],
])
def test_a_destination_url_with_a_key_in_it_is_refused_without_showing_the_key(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--progress", "none"] if argv[0] != "combine-parts" else argv) == 2
    err = capsys.readouterr().err
    assert "TopSecret" not in err and "AKIAEXAMPLE" not in err and "takes no credentials" in err, err
