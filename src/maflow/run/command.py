"""The command line of the running command, as the user typed it, and the one that resumes it."""

from __future__ import annotations

import os
import shlex
import sys

__all__ = ["set_command", "command_line", "resume_command"]

_ARGV: list[str] | None = None
_PROG: str | None = None


def set_command(argv: list[str] | None, prog: str | None = None) -> None:
    """Records the arguments (without the program) of this process's command; the CLI calls it."""
    global _ARGV, _PROG
    _ARGV = None if argv is None else [str(a) for a in argv]
    _PROG = prog


def _prog() -> str:
    if _PROG:
        return _PROG
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name in ("maflow", "maflow.exe"):
        return "maflow"
    return "python -m maflow"


def _argv() -> list[str]:
    return list(_ARGV) if _ARGV is not None else list(sys.argv[1:])


def command_line() -> str:
    """The command being run, quoted for a POSIX shell.

    Example:
        >>> set_command(["train", "--dataset", "digits", "--out", "my runs"], prog="maflow")
        >>> command_line()
        "maflow train --dataset digits --out 'my runs'"
        >>> set_command(None)
    """
    return " ".join([_prog(), shlex.join(_argv())]).strip()


def resume_command(resume_flag: str | None = "--resume") -> str:
    """The same command without ``--overwrite`` and with ``resume_flag`` (if it is not there yet).

    Example:
        >>> set_command(["train", "--dataset", "digits", "--overwrite"], prog="maflow")
        >>> resume_command()
        'maflow train --dataset digits --resume'
        >>> set_command(None)
    """
    argv = [a for a in _argv() if a != "--overwrite"]
    if resume_flag and resume_flag not in argv:
        argv.append(resume_flag)
    return " ".join([_prog(), shlex.join(argv)]).strip()
