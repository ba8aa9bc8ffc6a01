"""manifest.json is untrusted input (get-data reads it from the network): every malformed shape is
a ManifestError with a message, never another exception."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbugs_synth.manifest import (
    MAX_FILE_BYTES,
    FileEntry,
    Manifest,
    ManifestError,
    manifest_txt,
    parse_manifest,
    read_manifest,
)
from zbugs_synth.tables import TABLES, shard_file_name

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
GOOD = Manifest("abc", {"seed": 1}, [FileEntry("issue_000.csv", "issue", 0, 2, 30, "ab12")], "0.1.0")


@st.composite
def valid_manifests(draw: st.DrawFn) -> Manifest:
    """Any manifest our writer could produce: tables, shard numbering, sizes and digests all over their range."""
    files = []
    for table in draw(st.lists(st.sampled_from(TABLES), unique=True, max_size=len(TABLES))):
        shards = draw(st.integers(1, 5))
        digits = draw(st.integers(max(3, len(str(shards - 1))), 6))
        for shard in range(shards):
            files.append(FileEntry(
                shard_file_name(table, shard, digits), table, shard,
                draw(st.integers(0, MAX_FILE_BYTES)), draw(st.integers(0, MAX_FILE_BYTES)),
                draw(st.text("0123456789abcdef", min_size=1, max_size=64))))
    config = draw(st.dictionaries(st.text(min_size=1, max_size=12), json_values, max_size=5))
    dataset_id = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40))
    return Manifest(dataset_id, config, files, draw(st.text(max_size=10)))


@settings(max_examples=100, deadline=None)
@given(valid_manifests())
def test_every_valid_manifest_parses_back_to_itself(m: Manifest) -> None:
    back = parse_manifest(m.to_json())
    assert back.files == m.files and back.dataset_id == m.dataset_id and back.config == m.config
    assert back.tool_version == m.tool_version and back.checksum_algorithm == m.checksum_algorithm


def _valid_fields() -> st.SearchStrategy[dict]:
    """Top-level fields taken from a valid manifest: mixed into the fuzz so the success path is reached too."""
    return valid_manifests().map(lambda m: json.loads(m.to_json())).flatmap(
        lambda d: st.dictionaries(st.sampled_from(sorted(d)), st.just(None)).map(
            lambda keys: {k: d[k] for k in keys}))


_parsed: list[bool] = []


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["format", "formatVersion", "checksumAlgorithm", "files", "tool",
                                        "datasetId", "config", "x"]), json_values), _valid_fields())
def test_any_json_object_parses_or_is_a_manifest_error(fields: dict, valid: dict) -> None:
    base = json.loads(GOOD.to_json())
    base.update(valid)
    base.update(fields)
    try:
        m = parse_manifest(json.dumps(base))
    except ManifestError as e:
        assert str(e)
        _parsed.append(False)
    else:
        assert all(f.name.endswith(".csv") and "/" not in f.name for f in m.files)
        _parsed.append(True)


def test_the_fuzz_reached_both_outcomes() -> None:
    """Runs after the fuzz above (file order): it must have seen manifests accepted and refused."""
    if not _parsed:
        pytest.skip("the fuzz test did not run in this session")
    assert any(_parsed) and not all(_parsed)


@settings(max_examples=200)
@given(json_values)
def test_any_file_entry_parses_or_is_a_manifest_error(entry: object) -> None:
    base = json.loads(GOOD.to_json())
    base["files"] = [entry]
    with contextlib.suppress(ManifestError):  # anything else escaping fails the test
        parse_manifest(json.dumps(base))


@pytest.mark.parametrize("tool", ["x", 5, None, ["v"], {"version": 7}])
def test_odd_tool_field_is_tolerated(tool: object) -> None:
    base = json.loads(GOOD.to_json())
    base["tool"] = tool
    assert parse_manifest(json.dumps(base)).tool_version == ""


def test_round_trip_and_manifest_txt(tmp_path) -> None:
    assert parse_manifest(GOOD.to_json()).files == GOOD.files
    assert manifest_txt(["a.csv", "b.csv"]) == "a.csv\nb.csv\n"
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(tmp_path)
    for bad in ("[", "{}", '{"format": "zbugs-synth-dataset"}', "1e999999"):
        with pytest.raises(ManifestError):
            parse_manifest(bad)
