"""Which compiled kernel runs: the C extension `_ckernel` (built at install time) or numba.

Both write the same bytes (tests/generate/test_backends.py checks it). C is preferred because it
loads in milliseconds, while numba costs about 1.4 CPU-seconds on every run (its import plus LLVM's
initialisation on the first call of a cached function). The C extension is optional at build time
(no compiler: no extension); numba is the fallback, an optional dependency (`zbugs-synth[numba]`).

ZBUGS_KERNEL=c|numba forces one (unset or `auto`: C if importable, else numba). numba is imported
only when it is the backend selected: nothing else in the generator imports it at module level.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from zbugs_synth.errors import UserError
from zbugs_synth.generate import layout
from zbugs_synth.generate.ids import ALPHABET_BYTES, ID_LEN, ROUND_KEYS

ENV_VAR = "ZBUGS_KERNEL"
CHOICES = ("c", "numba")


class Backend(NamedTuple):
    name: str
    # generate_range(i0, i1, seed, keys, ip, fp, ..., id_scratch) -> (issue bytes, comments,
    # comment bytes, labels, label bytes), or (-1, 0, 0, 0, 0) when a buffer could overflow.
    generate_range: Callable[..., tuple[int, int, int, int, int]]
    # ids_into(seed, table, rows, round_keys, alphabet) -> 21 * len(rows) ASCII bytes (any buffer).
    ids_into: Callable[..., Any]


class Unavailable(ImportError):
    """The C extension is missing or does not match this source tree."""


def _load_c() -> Backend:
    try:
        from zbugs_synth.generate import _ckernel  # type: ignore[attr-defined]
    except ImportError as e:
        raise Unavailable(f"the C kernel is not built ({e}); reinstall with a C compiler: pip install -e .") from e
    # An editable install keeps an old .so after the sources change: refuse one whose calling
    # convention differs from layout.py rather than let it misread the parameter vectors.
    built = (_ckernel.IP_SIZE, _ckernel.FP_SIZE)
    expected = (layout.IP_SIZE, layout.FP_SIZE)
    if built != expected:
        raise Unavailable(f"the C kernel is stale (IP_SIZE, FP_SIZE = {built}, sources say {expected}); "
                          "rebuild it: pip install -e .")
    return Backend("c", _ckernel.generate_range, _ckernel.ids_into)


def _load_numba() -> Backend:
    try:
        import numba  # noqa: F401 - only to tell "not installed" apart from a broken kernel module
    except ImportError as e:
        raise Unavailable("numba is not installed (it is optional: pip install 'zbugs-synth[numba]')") from e
    from zbugs_synth.generate import kernel

    return Backend("numba", kernel.generate_range, kernel.ids_into)


@functools.cache
def load(name: str) -> Backend:
    """The backend called `name` ("c" or "numba"); raises Unavailable if C is not built."""
    if name == "c":
        return _load_c()
    if name == "numba":
        return _load_numba()
    raise ValueError(f"unknown kernel backend {name!r}")


def c_unavailable_reason() -> str | None:
    """None if the C kernel can be used, else why not (for tests and diagnostics)."""
    try:
        load("c")
    except Unavailable as e:
        return str(e)
    return None


def selected() -> Backend:
    """The backend ZBUGS_KERNEL asks for, or by default C when available, else numba."""
    return _resolve(os.environ.get(ENV_VAR, "").strip().lower() or "auto")


@functools.cache  # the auto choice too: a failed import is retried on every call otherwise
def _resolve(choice: str) -> Backend:
    if choice == "auto":
        try:
            return load("c")
        except Unavailable as c_error:
            try:
                return load("numba")
            except Unavailable as numba_error:
                raise UserError(f"no generator kernel: {c_error}; and the fallback: {numba_error}") from None
    if choice not in CHOICES:
        raise UserError(f"{ENV_VAR}={choice!r}: expected one of c, numba, auto (or leave it unset)")
    try:
        return load(choice)
    except Unavailable as e:
        other = "numba" if choice == "c" else "c"
        raise UserError(f"{ENV_VAR}={choice}: {e}; or use {ENV_VAR}={other}") from None


def make_ids(seed: int, table: int, rows: np.ndarray) -> list[str]:
    """Many ids at once through the selected compiled kernel (projects and labels; the same strings
    as `ids.make_id`, which is the pure-Python reference)."""
    raw = selected().ids_into(np.uint64(seed), table, rows.astype(np.uint64), ROUND_KEYS, ALPHABET_BYTES)
    text = bytes(raw).decode("ascii")
    return [text[ID_LEN * i: ID_LEN * (i + 1)] for i in range(rows.shape[0])]
