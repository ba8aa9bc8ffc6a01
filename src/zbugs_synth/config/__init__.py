"""Typed configuration from flags, environment variables and a `.env` file.

Each command declares a frozen dataclass whose fields carry a `Setting` (via `setting(...)`):
the guide's environment variable name, the flag, a parser and a default. Precedence, highest first:
command-line flag, process environment, `.env` in the working directory, default.

Every parse error becomes one `UserError` line naming the source (`NUM_ISSUES=abc` or
`--num-issues abc`), the value and what is expected.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from zbugs_synth.errors import UserError

T = TypeVar("T")


class ParseError(ValueError):
    """Raised by a parser; its message is the 'expected ...' part of the user-facing line."""


@dataclass(frozen=True)
class Setting:
    env: str | None
    flag: str | None
    parse: Callable[[str], Any]
    help: str
    secret: bool = False  # never echo the value back (API keys, URLs with passwords)
    shown: str | None = None  # the default as --help shows it, when str(default) would not read well


def setting(
    default: Any,
    *,
    env: str | None,
    flag: str | None = None,
    parse: Callable[[str], Any],
    help: str,
    secret: bool = False,
    shown: str | None = None,
) -> Any:
    """Declare a dataclass field backed by an env var and/or a flag."""
    meta = {"setting": Setting(env=env, flag=flag, parse=parse, help=help, secret=secret, shown=shown)}
    return dataclasses.field(default=default, metadata=meta)


# ---- parsers -------------------------------------------------------------------------------------

def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        s = text.strip().replace("_", "")
        try:
            if not s.isascii():  # int() takes other scripts' digits too: '١٢٣' is 123
                raise ValueError(s)
            value = int(s, 10)
        except ValueError:
            raise ParseError(_int_expectation(lo, hi)) from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ParseError(_int_expectation(lo, hi))
        return value

    return parse


def _int_expectation(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"expected a whole number from {lo:,} to {hi:,}"
    if lo is not None:
        return "expected a positive whole number" if lo == 1 else f"expected a whole number >= {lo:,}"
    if hi is not None:
        return f"expected a whole number <= {hi:,}"
    return "expected a whole number"


def number(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ParseError(_num_expectation(lo, hi, lo_open)) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ParseError(_num_expectation(lo, hi, lo_open))
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise ParseError(_num_expectation(lo, hi, lo_open))
        if hi is not None and value > hi:
            raise ParseError(_num_expectation(lo, hi, lo_open))
        return value

    return parse


def _num_expectation(lo: float | None, hi: float | None, lo_open: bool) -> str:
    op = ">" if lo_open else ">="
    if lo is not None and hi is not None:
        return f"expected a number {op} {lo:g} and <= {hi:g}"
    if lo is not None:
        return f"expected a number {op} {lo:g}"
    return "expected a number"


def fraction(text: str) -> float:
    return number(0.0, 1.0)(text)


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def boolean(text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ParseError("expected true or false")


def text_value(text: str) -> str:
    return text


_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def looks_like_url(text: str) -> bool:
    """`scheme:/...`: a URL with a slash missing (a directory is rarely named "postgres:" or "s3:")."""
    return bool(_URL_LIKE.match(text.strip()))


def path_value(text: str) -> Path:
    if not text.strip():
        raise ParseError("expected a path")
    return Path(text).expanduser()


def directory_value(text: str) -> Path:
    """A directory that exists or can be made: neither the path nor its nearest existing parent is a file."""
    path = path_value(text)
    for q in (path, *path.parents):
        try:
            if q.exists():
                if not q.is_dir():
                    raise ParseError(f"expected a directory ({q} is a file)")
                break
        except PermissionError:  # a parent we may not search: whoever uses the path says so, in its words
            break
    return path


def optional_path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


def choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        s = text.strip().lower()
        if s not in options:
            raise ParseError("expected one of " + ", ".join(options))
        return s

    return parse


# ---- building ------------------------------------------------------------------------------------

def settings_of(cls: type) -> list[tuple[str, Setting]]:
    return [
        (f.name, f.metadata["setting"]) for f in dataclasses.fields(cls) if "setting" in f.metadata
    ]


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                  exclude: tuple[str, ...] = ()) -> None:
    """Add one flag per setting of `cls` but the fields named in `exclude` (defaults stay None so we can
    tell 'not given')."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for name, s in settings_of(cls):
        if not s.flag or name in exclude:
            continue
        env = f" [env {s.env}]" if s.env else ""
        default = s.shown if s.shown is not None else _show_default(defaults[name])
        shown = "" if s.secret or "(default:" in s.help else f" (default: {default})"
        if s.parse is boolean:  # switches: `--force` means true
            parser.add_argument(s.flag, dest=f"cfg_{name}", default=None, action="store_const",
                                const="true", help=f"{s.help}{env}")
            continue
        parser.add_argument(s.flag, dest=f"cfg_{name}", default=None, metavar="VALUE",
                            help=f"{s.help}{shown}{env}")


def _shown(raw: str) -> str:
    """A value as its error line shows it: a URL without user info or query (they may hold keys)."""
    if "://" not in raw:
        return raw
    from zbugs_synth.remote.safety import redact_url

    return redact_url(raw.strip())


def _show_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_WARNED: set[tuple[str, int]] = set()


_DOTENV_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def dotenv(cwd: Path | None = None, used: frozenset[str] = frozenset()) -> dict[str, str]:
    """Values from `.env` in the working directory (missing file: nothing). A line that does not parse
    is an error when it sets one of the `used` names (the run would go on with that setting's default:
    1 M issues for a NUM_ISSUES="50 with its quote left open), else a warning."""
    path = (cwd or Path.cwd()) / ".env"
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # an editor's BOM is fine
    except UnicodeDecodeError as e:  # e.g. UTF-16, as some Windows tools save it
        raise UserError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "save it as UTF-8") from None
    # python-dotenv skips a line it cannot parse with a log line that names neither the file nor how to
    # fix it; ours does (and never shows the line: it may hold a secret).
    bad = [(b.original.line, b.original.string) for b in parse_stream(io.StringIO(text)) if b.error]
    for line, entry in bad:
        # A quote left open runs on over the next lines (up to the next such quote): those lines are
        # lost too, and one of them may set a setting of the command.
        names = [m.group(1) for ln in entry.splitlines() if (m := _DOTENV_NAME.match(ln))]
        name = next((n for n in names if n in used), names[0] if names else None)
        if name in used:
            raise UserError(f"{path}: line {line} sets {name} but does not parse (a quote left open?); fix it "
                            "or remove it")
        if (str(path), line) not in _WARNED:  # a command builds several configurations: say it once
            _WARNED.add((str(path), line))
            what = f"sets {name} but does not parse" if name else "is not NAME=value"
            print(f"warning: {path}: line {line} {what}; ignored", file=sys.stderr)
    quiet = logging.getLogger("dotenv.main")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    finally:
        quiet.setLevel(level)


def build(
    cls: type[T],
    args: argparse.Namespace | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> T:
    """Build `cls` from flags (args), the environment plus `.env`, and defaults.

    `environ`, when given, is the whole environment: neither the process environment nor a `.env`
    file is read (explicit settings stay explicit; tests stay hermetic). `overrides` are
    already-typed values that win over everything (used by `quickstart` and tests).
    """
    env: dict[str, str]
    from_file: set[str] = set()  # names whose value comes from .env: an error says so (else: where is it?)
    if environ is None:
        env = dict(dotenv(used=frozenset(s.env for name, s in settings_of(cls) if s.env and name not in overrides)))
        from_file = set(env) - set(os.environ)
        env.update(os.environ)
    else:
        env = dict(environ)
    values: dict[str, Any] = {}
    for name, s in settings_of(cls):
        if name in overrides:
            values[name] = overrides[name]
            continue
        raw: str | None = None
        source = ""
        flag_value = getattr(args, f"cfg_{name}", None) if args is not None else None
        if flag_value is not None:
            raw, source = str(flag_value), f"{s.flag} {_shown(str(flag_value))!r}" if not s.secret else f"{s.flag}"
        elif s.env and s.env in env:
            raw = env[s.env]
            source = f"{s.env}={_shown(raw)!r}" if not s.secret else s.env
            if s.env in from_file:
                source += " (from .env)"
        if raw is None:
            continue
        try:
            values[name] = s.parse(raw)
        except ParseError as e:
            raise UserError(f"{source}: {e}") from None
    for name, value in overrides.items():
        values.setdefault(name, value)
    return cls(**values)
