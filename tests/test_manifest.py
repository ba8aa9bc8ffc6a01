"""manifest.json is untrusted input (get-data reads it from the network): every malformed shape is
a ManifestError with a message, never another exception."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbugs_synth.manifest import FileEntry, Manifest, ManifestError, manifest_txt, parse_manifest, read_manifest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
GOOD = Manifest("abc", {"seed": 1}, [FileEntry("issue_000.csv", "issue", 0, 2, 30, "ab12")], "0.1.0")


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["format", "formatVersion", "checksumAlgorithm", "files", "tool",
                                        "datasetId", "config", "x"]), json_values))
def test_any_json_object_parses_or_is_a_manifest_error(fields: dict) -> None:
    base = json.loads(GOOD.to_json())
    base.update(fields)
    try:
        m = parse_manifest(json.dumps(base))
    except ManifestError as e:
        assert str(e)
    else:
        assert all(f.name.endswith(".csv") and "/" not in f.name for f in m.files)


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
