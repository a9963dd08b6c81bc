"""Finding a flow run from the folder a user names, in the current layout or the old one.

A run folder is the training command's ``--out`` itself. Flow runs written before that layout
live one level down, in ``OUT/<dataset>/``, with ``results_summary.*`` for results; such a
run is still found (one line on stderr says where), read and continued in place, under its
own file names: nothing of it is moved or renamed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from maflow.errors import ConfigError
from maflow.run.paths import OLD_RESULTS_STEM, RESULTS_STEM, RunPaths

__all__ = ["locate_run", "holds_run", "results_stem"]


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` itself holds a flow run (a checkpoint or a results file).

    Example:
        >>> holds_run(Path("/no/such/folder"))
        False
    """
    names = (
        "checkpoints/best.pth",
        "checkpoints/latest.pth",
        f"{RESULTS_STEM}.json",
        f"{OLD_RESULTS_STEM}.json",
    )
    return any((folder / name).is_file() for name in names)


def results_stem(folder: Path) -> str:
    """``results``, or ``results_summary`` for a run that has only the old name (it keeps it)."""
    old = (folder / f"{OLD_RESULTS_STEM}.json").is_file() or (folder / f"{OLD_RESULTS_STEM}.txt").is_file()
    new = (folder / f"{RESULTS_STEM}.json").is_file()
    return OLD_RESULTS_STEM if old and not new else RESULTS_STEM


def locate_run(folder: str | os.PathLike, dataset: str | None = None, quiet: bool = False) -> RunPaths:
    """The :class:`RunPaths` of the run in ``folder``: the folder itself, or an old-layout run below it.

    ``dataset``: the run's data set if known (else the checkpoint names it, or the folder's
    name does). When ``folder`` holds no run but ``folder/<dataset>/`` does (the old layout),
    that run is used and one line on stderr says so (``quiet``: not).

    Arguments:
        folder: the folder the user named (``--out`` or ``--run``).
        dataset: the data set of the run, or None.
        quiet: no line about an old-layout run.

    Example:
        >>> locate_run("/no/such/run", "digits").root.as_posix()
        '/no/such/run'
    """
    folder = Path(folder).expanduser()
    if folder.name in ("", ".", ".."):
        folder = folder.resolve()
    if not holds_run(folder):
        old = _old_layout_run(folder, dataset)
        if old is not None:
            if not quiet:
                why = "the old layout: " if results_stem(old) == OLD_RESULTS_STEM else ""
                print(
                    f"maflow: {folder} holds no run; using the run in {old} ({why}a run folder is --out itself)",
                    file=sys.stderr,
                )
            folder = old
    return RunPaths(folder, dataset or _run_name(folder), results_stem(folder))


def _old_layout_run(folder: Path, dataset: str | None) -> Path | None:
    if dataset is not None:
        return folder / dataset if holds_run(folder / dataset) else None
    try:
        runs = sorted(sub for sub in folder.iterdir() if sub.is_dir() and holds_run(sub))
    except OSError:
        return None
    if len(runs) > 1:
        names = ", ".join(str(run) for run in runs[:5])
        raise ConfigError(f"{folder} holds several runs in the old layout ({names}): give one of them")
    return runs[0] if runs else None


def _run_name(folder: Path) -> str:
    """The data set the run's checkpoint names (a ``--data`` run: its name), else the folder's name."""
    from maflow.errors import CheckpointError
    from maflow.utils.io import load_checkpoint

    for name in ("best.pth", "latest.pth"):
        path = folder / "checkpoints" / name
        if path.is_file():
            try:
                dataset = load_checkpoint(path).get("dataset")
            except (CheckpointError, AttributeError):
                continue  # the command that reads it reports the damage
            if isinstance(dataset, str) and dataset:
                return dataset
    return folder.name
