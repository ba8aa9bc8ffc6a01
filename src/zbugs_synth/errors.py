"""Exceptions shared across the package: `UserError` means "the user gave us something wrong".

The CLI prints its message as a single line and exits with status 2; anything else that escapes is
a bug in this tool and keeps its traceback. Messages say what, which value, and what is expected.
"""


class UserError(Exception):
    """A problem the user can fix: bad configuration, bad input file, unreachable server, ..."""

    exit_code = 2


class PermanentError(UserError):
    """A UserError that retrying cannot cure (no credentials, access denied, no such bucket): a Dask
    task returns it instead of raising, so the cluster does not retry it (generate/cluster.py)."""


class Cancelled(Exception):
    """Raised inside a parallel worker that saw its `stop` event set because another worker failed."""
