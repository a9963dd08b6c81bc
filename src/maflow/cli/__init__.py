"""The ``maflow`` command line."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from maflow.run.command import set_command
from maflow.run.interrupt import run_reporting

__all__ = ["main", "given_flags"]

# Each module maflow.cli.<name> that exists defines ``register(subparsers)``, which adds its
# subcommand and sets ``run=function(args) -> int`` as a default.
COMMANDS = ["train", "evaluate", "sample", "score", "data", "toy", "made", "vae", "mnf", "reproduce"]


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
    _plain_help(parser)
    return parser


def given_flags(argv: list[str]) -> set[str]:
    """The ``dest`` of every option that ``argv`` gives (defaults aside): what ``--resume`` must not fill.

    Example:
        >>> sorted(given_flags(["made", "train", "--dataset", "dna", "--out", "r", "-q", "100"]))
        ['dataset', 'hidden_features', 'out']
    """
    parser = build_parser()
    _suppress_defaults(parser)
    parsed = vars(parser.parse_args(argv))
    return {dest for dest in parsed if dest not in ("command", "run") and not dest.endswith("_command")}


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _suppress_defaults(subparser)
        elif action.dest != "help":
            action.default = argparse.SUPPRESS


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(text: str | None) -> str | None:
    """Help text without reStructuredText markup (docstrings double as descriptions).

    Example:
        >>> plain_text("``maflow train``: see :class:`maflow.models.MAF`")
        'maflow train: see maflow.models.MAF'
    """
    return None if text is None else _ROLE.sub(r"\1", text).replace("``", "")


def _plain_help(parser: argparse.ArgumentParser) -> None:
    parser.description = plain_text(parser.description)
    parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain_text(choice.help)
            for subparser in action.choices.values():
                _plain_help(subparser)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    # Only a resumed training fills the flags left out from its checkpoint (parsing twice costs ~20 ms).
    args.given_flags = given_flags(argv) if getattr(args, "resume", False) else None
    set_command(argv)  # for the run-folder lock and the command that resumes an interrupted run
    return run_reporting(f"maflow {args.command}", args.run, args)
