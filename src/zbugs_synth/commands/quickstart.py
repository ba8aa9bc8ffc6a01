"""Placeholder: `quickstart` is being built (see the open issues)."""

from __future__ import annotations

import argparse

from zbugs_synth.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="(not built yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UserError("this command is not built yet")
