"""The commit of the maflow source tree, recorded in results and configuration files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import maflow

__all__ = ["git_commit"]


def git_commit() -> str | None:
    """The commit of the maflow source tree, when it is a git checkout (for results files).

    ``+dirty`` follows the short hash when tracked files under the package have changed; None
    when the package is not in a git checkout (an installed wheel) or git is missing.

    Example:
        >>> commit = git_commit()
        >>> commit is None or isinstance(commit, str)
        True
    """
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(maflow.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=Path(maflow.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
