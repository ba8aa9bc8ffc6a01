"""One module per group of subcommands; each exposes `register(subparsers)`.

What several commands share lives here (the CLI imports the commands, never the reverse)."""

from __future__ import annotations

import argparse


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", choices=("auto", "bar", "plain", "none"), default="auto",
        help="progress display: bars on a terminal, plain lines otherwise (default: auto)",
    )
