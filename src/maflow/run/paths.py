"""The layout of one run folder: ``RUN/{checkpoints,logs,tensorboard,samples,figures}`` and ``RUN/results.*``.

``RUN`` is the ``--out`` of the training command itself, as for every model family. Runs
written before this layout live in ``OUT/<dataset>/`` and name their results
``results_summary.*``; :mod:`maflow.run.locate` finds them and keeps their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunPaths", "RESULTS_STEM", "OLD_RESULTS_STEM"]

RESULTS_STEM = "results"
# The results files of a flow run written before flows shared the run-folder layout.
OLD_RESULTS_STEM = "results_summary"


@dataclass(frozen=True)
class RunPaths:
    """Where the run in folder ``root``, trained on ``dataset``, keeps each artefact.

    Arguments:
        root: the run folder (the training command's ``--out``).
        dataset: the data set's name (or a ``--data`` run's name), used in the names of samples
            and figures.
        results_stem: ``results`` (``results_summary`` in a run of the old layout).

    Example:
        >>> paths = RunPaths("runs/mnist", "mnist")
        >>> paths.best.as_posix(), paths.samples_png.as_posix(), paths.results_json.as_posix()
        ('runs/mnist/checkpoints/best.pth', 'runs/mnist/samples/mnist_samples.png', 'runs/mnist/results.json')
    """

    root: Path
    dataset: str
    results_stem: str = RESULTS_STEM

    def __init__(self, root, dataset: str, results_stem: str = RESULTS_STEM):
        object.__setattr__(self, "root", Path(root))
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "results_stem", results_stem)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pth"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.pth"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "training.log"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def samples_png(self) -> Path:
        return self.samples / f"{self.dataset}_samples.png"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def results_json(self) -> Path:
        return self.root / f"{self.results_stem}.json"

    @property
    def results_txt(self) -> Path:
        return self.root / f"{self.results_stem}.txt"

    def _results_names(self) -> list[str]:
        # Both stems: an old run's summary in this folder marks a run and goes with --overwrite.
        return [f"{stem}.{suffix}" for stem in (RESULTS_STEM, OLD_RESULTS_STEM) for suffix in ("json", "txt")]

    @property
    def artefacts(self) -> list[Path]:
        """The files whose presence means the folder holds a run (any one of them, not only latest)."""
        return [self.latest, self.best, *(self.root / name for name in self._results_names())]

    def own_files(self) -> dict[Path, list]:
        """Folder -> the exact names (or name patterns) of the files the tool writes there atomically.

        Example:
            >>> own = RunPaths("runs/digits", "digits").own_files()
            >>> own[Path("runs/digits/checkpoints")]
            ['best.pth', 'latest.pth']
            >>> bool(own[Path("runs/digits/samples")][0].fullmatch("digits_samples_seed3_unit.npy"))
            True
        """
        samples = re.compile(rf"{re.escape(self.dataset)}_samples(_seed\d+)?(_unit)?\.(png|npy)")
        return {
            self.root: self._results_names(),
            self.checkpoints: [self.best.name, self.latest.name],
            self.samples: [samples],
            self.figures: [f"{self.dataset}_u_marginals.png", f"{self.dataset}_u_scatter.png"],
            # Appended to or written by other libraries, never removed; listed so that a file in
            # their place is refused before the run starts.
            self.log_file.parent: [],
            self.tensorboard: [],
        }
