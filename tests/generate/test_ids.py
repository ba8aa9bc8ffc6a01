import csv

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from original_format import OriginalDataset
from zbugs_synth.generate import backend, ids

seeds = st.integers(0, ids.SEED_MAX)
tables = st.sampled_from([ids.T_PROJECT, ids.T_LABEL, ids.T_ISSUE, ids.T_COMMENT])
rows = st.integers(0, ids.ROW_MAX)


@given(seeds, tables, rows)
def test_decode_inverts_make_id(seed: int, table: int, row: int) -> None:
    row %= ids.ROW_LIMIT[table] + 1
    text = ids.make_id(seed, table, row)
    assert len(text) == 21 and set(text) <= set(ids.ALPHABET)
    assert ids.decode(text) == (seed, table, row)


@given(st.integers(0, (1 << 126) - 1))
def test_feistel_is_a_permutation(word: int) -> None:
    assert ids.unpermute(ids.permute(word)) == word
    assert ids.permute(ids.unpermute(word)) == word


@settings(max_examples=50)
@given(seeds, tables, st.lists(rows, min_size=1, max_size=50))
def test_compiled_ids_match_reference(seed: int, table: int, row_list: list[int]) -> None:
    row_list = [r % (ids.ROW_LIMIT[table] + 1) for r in row_list]
    compiled = backend.make_ids(seed, table, np.array(row_list, dtype=np.uint64))
    assert compiled == [ids.make_id(seed, table, r) for r in row_list]


def test_seeds_and_tables_never_share_ids() -> None:
    n = np.arange(50_000, dtype=np.uint64)
    a = set(backend.make_ids(42, ids.T_ISSUE, n))
    b = set(backend.make_ids(99, ids.T_ISSUE, n))
    c = set(backend.make_ids(42, ids.T_PROJECT, n))
    assert len(a) == len(b) == len(c) == 50_000
    assert not a & b and not a & c and not b & c


def test_foreign_ids_are_outside_our_image(original_dataset: OriginalDataset) -> None:
    # The built-in Zero project id can be produced by no seed at all.
    assert ids.decode("iCNlS2qEpzYWEes1RTf-D") is None
    # Ids as the original tool writes them (random nanoids): a random 126-bit word lands in our image
    # about once in 2**14, but never at a seed anyone types (below 2**32), so its datasets and ours
    # cannot collide.
    found = 0
    for f in sorted(original_dataset.directory.glob("*.csv")):
        with open(f, newline="") as fh:
            for row in csv.DictReader(fh):
                for key in ("id", "labelID"):
                    if key in row and len(row[key]) == 21:
                        decoded = ids.decode(row[key])
                        assert decoded is None or decoded[0] >= 1 << 32, (f.name, row[key], decoded)
                        found += 1
    assert found > 1000


def test_field_ranges_are_enforced() -> None:
    for bad in ((-1, 1, 0), (ids.SEED_MAX + 1, 1, 0), (0, 16, 0), (0, 4, ids.ROW_MAX + 1),
                (0, ids.T_ISSUE, ids.ISSUE_MAX + 1), (0, ids.T_PROJECT, ids.PROJECT_MAX + 1)):
        try:
            ids.pack(*bad)
        except ValueError:
            continue
        raise AssertionError(f"pack{bad} accepted")
