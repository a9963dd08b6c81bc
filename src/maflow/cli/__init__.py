"""The ``maflow`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

from maflow.errors import MaflowError
from maflow.run.command import set_command
from maflow.run.interrupt import TrainingInterrupted

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
    try:
        return int(args.run(args) or 0)
    except TrainingInterrupted as error:  # the checkpoint is written; say how to resume
        print(f"maflow {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except MaflowError as error:
        print(f"maflow {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"maflow {args.command}: interrupted", file=sys.stderr)
        return 130
