"""The ``maflow`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

from maflow.run.command import set_command
from maflow.run.interrupt import run_reporting

__all__ = ["main"]

# Each module maflow.cli.<name> that exists defines ``register(subparsers)``, which adds its
# subcommand and sets ``run=function(args) -> int`` as a default.
COMMANDS = ["train", "evaluate", "sample", "data", "toy", "made", "vae", "mnf"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maflow", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"maflow.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"maflow.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    set_command(argv)  # for the run-folder lock and the command that resumes an interrupted run
    return run_reporting(f"maflow {args.command}", args.run, args)
