"""Untrusted-input checks: file names, manifest.txt, output paths, and URL redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbugs_synth.config import build
from zbugs_synth.config.remote import DEFAULT_DATA_URL, DEFAULT_OUT, GetDataConfig
from zbugs_synth.errors import UserError
from zbugs_synth.manifest import ManifestError, check_data_name, parse_manifest_txt
from zbugs_synth.remote.s3 import parse_s3_url
from zbugs_synth.remote.safety import partial_path, redact_url, scrub_urls, target_path


@pytest.mark.parametrize("name", ["issue_000.csv", "issueLabel_123.csv", "user.csv", "comment_1000000.csv"])
def test_dataset_names_are_accepted(name: str) -> None:
    assert check_data_name(name, "t") == name


@pytest.mark.parametrize(
    "name",
    ["", "..", ".", "../issue_000.csv", "/issue_000.csv", "a/issue_000.csv", "issue_000.csv/",
     "..\\issue_000.csv", "C:issue_000.csv", "issue_000.csv\x00", "issue\t_000.csv", "issue_000.csv.part",
     ".issue_000.csv.part", "manifest.json", "issues_000.csv", "issue_00.csv", "ISSUE_000.csv", "issue_000.CSV"],
)
def test_anything_else_is_rejected(name: str) -> None:
    with pytest.raises(ManifestError):
        check_data_name(name, "t")


def test_manifest_txt_parsing() -> None:
    text = b"user_000.csv\r\nissue_000.csv  \n\n  issue_001.csv\nmanifest.json\nmanifest.txt\n"
    assert parse_manifest_txt(text) == ["user_000.csv", "issue_000.csv", "issue_001.csv"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"issue_000.csv\nissue_000.csv\n", "line 2: 'issue_000.csv' is listed twice"),
        (b"issue_000.csv\n../x.csv\n", "line 2"),
        (b"\xff\xfe", "not UTF-8"),
        (b"issue_000.csv\x1cissue_001.csv\n", "control characters"),  # splitlines() would split here
        (b"issue_000.csv\x85\n", "not UTF-8"),
    ],
)
def test_bad_manifest_txt(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        parse_manifest_txt(data)


def test_manifest_txt_file_count_is_bounded() -> None:
    lines = "".join(f"comment_{i:06d}.csv\n" for i in range(100_001)).encode()
    with pytest.raises(ManifestError, match="more than 100,000 files"):
        parse_manifest_txt(lines)


@given(st.text(max_size=40))
def test_whatever_a_manifest_txt_holds_accepted_names_stay_inside_out(text: str) -> None:
    out = Path("/srv/out")
    try:
        names = parse_manifest_txt(text.encode("utf-8"))
    except ManifestError:
        return
    for name in names:
        assert target_path(out, name).parent == out.resolve()
        assert partial_path(out, name).parent == out.resolve()


def test_target_path_refuses_escapes(tmp_path: Path) -> None:
    for name in ("../x", "/etc/passwd", "a/b", ".."):
        with pytest.raises(ManifestError):
            target_path(tmp_path, name)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@host.example/prefix/", "https://***@host.example/prefix/"),
        ("https://host.example:8443/p/?X-Amz-Signature=abc&X-Amz-Credential=AKIA", "https://host.example:8443/p/?***"),
        ("s3://bucket/prefix/", "s3://bucket/prefix/"),
        ("http://[::1]:80/x", "http://[::1]:80/x"),
        ("http://tok@host/#frag", "http://***@host/"),
        ("s3://Bad_Bucket!!/x/", "s3://Bad_Bucket!!/x/"),  # as written: its case may be the mistake
        ("https://u:p@Host.Example:8443/a", "https://***@Host.Example:8443/a"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@given(user=st.text("abcxyz019-", min_size=3, max_size=10), pw=st.text("ABCXYZ019_", min_size=6, max_size=20),
       token=st.text("QRSTUV5678", min_size=6, max_size=20))
def test_redaction_never_leaks(user: str, pw: str, token: str) -> None:
    url = f"https://{user}:{pw}@h.example/p/?sig={token}"
    text = scrub_urls(f"failed to fetch {url} (retrying)")
    assert pw not in text and token not in text and user not in text
    assert "h.example/p/" in text


def test_s3_urls() -> None:
    loc = parse_s3_url("s3://rocinante-dev/synthetic_v1")
    assert (loc.bucket, loc.prefix, loc.key("issue_000.csv")) == ("rocinante-dev", "synthetic_v1/",
                                                                   "synthetic_v1/issue_000.csv")
    assert parse_s3_url("s3://bucket").key("x") == "x"
    for bad in ("s3://", "s3://a/", "s3://user:pw@bucket/x", "s3://bucket/x?y=1", "https://bucket/x"):
        with pytest.raises(UserError) as e:
            parse_s3_url(bad)
        assert "pw" not in str(e.value)


def test_get_data_defaults_follow_the_guide() -> None:
    cfg = build(GetDataConfig, environ={})
    assert cfg.source == DEFAULT_DATA_URL == "s3://rocinante-dev/synthetic_v1/"
    assert cfg.out == DEFAULT_OUT == Path("db/seed-data/synthetic")
    cfg = build(GetDataConfig, environ={"ZBUGS_DATA_URL": "https://mirror.example/d/", "OUTPUT_DIR": "x/y"})
    assert (cfg.source, cfg.out) == ("https://mirror.example/d/", Path("x/y"))
    with pytest.raises(UserError) as e:
        build(GetDataConfig, environ={"ZBUGS_DATA_URL": "ftp://u:secretpw@h/"})
    assert "ZBUGS_DATA_URL" in str(e.value) and "secretpw" not in str(e.value)
