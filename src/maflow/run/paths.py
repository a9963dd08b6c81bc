"""The output tree of one run: ``DIR/<dataset>/{checkpoints,logs,tensorboard,samples,figures}``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunPaths"]


@dataclass(frozen=True)
class RunPaths:
    """Where a run on ``dataset`` under ``out`` keeps each artefact.

    Example:
        >>> paths = RunPaths("out", "mnist")
        >>> paths.best.as_posix(), paths.samples_png.as_posix()
        ('out/mnist/checkpoints/best.pth', 'out/mnist/samples/mnist_samples.png')
    """

    out: Path
    dataset: str

    def __init__(self, out, dataset: str):
        object.__setattr__(self, "out", Path(out))
        object.__setattr__(self, "dataset", dataset)

    @property
    def root(self) -> Path:
        return self.out / self.dataset

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
        return self.root / "results_summary.json"

    @property
    def results_txt(self) -> Path:
        return self.root / "results_summary.txt"

    @property
    def artefacts(self) -> list[Path]:
        """The files whose presence means the folder holds a run (any one of them, not only latest)."""
        return [self.latest, self.best, self.results_json, self.results_txt]

    def own_files(self) -> dict[Path, list]:
        """Folder -> the exact names (or name patterns) of the files the tool writes there atomically.

        Example:
            >>> own = RunPaths("out", "digits").own_files()
            >>> own[Path("out/digits/checkpoints")]
            ['best.pth', 'latest.pth']
            >>> bool(own[Path("out/digits/samples")][0].fullmatch("digits_samples_seed3_unit.npy"))
            True
        """
        samples = re.compile(rf"{re.escape(self.dataset)}_samples(_seed\d+)?(_unit)?\.(png|npy)")
        return {
            self.root: [self.results_json.name, self.results_txt.name],
            self.checkpoints: [self.best.name, self.latest.name],
            self.samples: [samples],
            self.figures: [f"{self.dataset}_u_marginals.png", f"{self.dataset}_u_scatter.png"],
            # Appended to or written by other libraries, never removed; listed so that a file in
            # their place is refused before the run starts.
            self.log_file.parent: [],
            self.tensorboard: [],
        }
