"""The `zbugs-synth` command line: a thin shell over the library.

Each subcommand lives in `zbugs_synth.commands.<module>` and registers itself; this module only
builds the parser, runs the chosen command and turns a `UserError` into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from zbugs_synth import __version__
from zbugs_synth.errors import UserError
from zbugs_synth.interrupts import describe, exit_code, say_stopped, stop_signals_interrupt

# Order here is the order in `--help`: the guide's steps, then extras.
COMMAND_MODULES = (
    "generate_templates",
    "generate_synthetic",
    "db",
    "seed",
    "verify",
    "remote",
    "quickstart",
)
# Which module registers each subcommand. When the command line names one, only its module is
# imported: `generate-synthetic` then never pays for psycopg, boto3 or anthropic (~0.2-3 s).
COMMAND_MODULE = {
    "generate-templates": "generate_templates",
    "generate-synthetic": "generate_synthetic", "combine-parts": "generate_synthetic",
    "db-up": "db", "db-down": "db", "db-status": "db", "db-migrate": "db",
    "db-seed-synthetic": "seed",
    "verify": "verify",
    "get-data": "remote", "publish": "remote",
    "quickstart": "quickstart",
}


class _Parser(argparse.ArgumentParser):
    """A usage error is one line that says where the settings are listed, not the whole usage first (a
    subcommand has dozens of flags: the line that matters would scroll away). Subparsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zbugs-synth",
        description="Synthetic data for zbugs (Rocicorp Zero): templates -> CSV shards -> PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"zbugs-synth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    modules = (COMMAND_MODULE[first],) if first in COMMAND_MODULE else COMMAND_MODULES
    for name in modules:
        importlib.import_module(f"zbugs_synth.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with stop_signals_interrupt():
        return _main(list(sys.argv[1:] if argv is None else argv))


def _stopped(command: str, e: KeyboardInterrupt) -> int:
    say_stopped(f"zbugs-synth{command}: {describe(e)}")
    return exit_code(e)


def _main(argv: list[str]) -> int:
    try:
        parser = build_parser(argv)  # imports the command's modules: a Ctrl-C lands here in the first ~0.3 s
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            _unknown_arguments(parser, args, unknown)
    except KeyboardInterrupt as e:
        return _stopped("", e)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"zbugs-synth {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        return _stopped(f" {args.command}", e)
    except BrokenPipeError:
        # `zbugs-synth ... | head`: the reader went away; stop quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as e:
        if e.errno not in UNUSABLE_PATH:
            raise
        # A path no file system takes (a name over 255 bytes, a symlink loop): a user's value, wherever
        # in the command it is first used; one line rather than a traceback from that place.
        name = os.fsdecode(e.filename) if e.filename is not None else "a path"
        shown = name if len(name) <= 80 else f"{name[:60]}…{name[-15:]}"
        print(f"zbugs-synth {args.command}: error: {shown!r}: {e.strerror}; expected a usable path", file=sys.stderr)
        return 2


UNUSABLE_PATH = (errno.ENAMETOOLONG, errno.ELOOP)


def _unknown_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> None:
    """Exit 2 naming the subcommand and the nearest real flag (argparse would name the top level)."""
    target = parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and args.command in action.choices:
            target = action.choices[args.command]
    flags = [opt for action in target._actions for opt in action.option_strings if opt.startswith("--")]
    hints = []
    for arg in unknown:
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            near = difflib.get_close_matches(name, flags, n=1, cutoff=0.6)
            hints.append(f"{name} (did you mean {near[0]}?)" if near else name)
    if not hints:
        hints = unknown
    target.error(f"unrecognized argument{'s' if len(hints) > 1 else ''}: {', '.join(hints)}")
