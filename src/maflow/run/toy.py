"""A toy run rebuilt from its folder: its points from the seed, its flow from the checkpoint.

``maflow toy`` trains on 10,000 points of a 2-D toy density drawn from ``RandomState(seed)``
and standardised with their own mean and standard deviation; the checkpoint keeps the seed and
a fingerprint of the points. :func:`load_toy_run` draws them again, checks them against the
fingerprint, and rebuilds the flow with the batch-norm statistics of those points, as training
scored it; :func:`fresh_toy_points` draws new points, apart from the training and test points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maflow.errors import CheckpointError

__all__ = ["TOY_SIZES", "SAMPLE_FILES", "toy_splits", "fresh_toy_points", "ToyRun", "load_toy_run"]

TOY_SIZES = (10_000, 2_000)  # training and test points of every toy run
SAMPLE_FILES = ("samples.npy", "samples.png")  # in RUN/samples/: what `maflow toy sample` writes
# Mixed into the seed of fresh draws, so that they never repeat the points of RandomState(seed).
_FRESH_STREAM = 0x746F79


def _raw_splits(data: str, seed: int, sizes) -> list[torch.Tensor]:
    from maflow.data.toy import TOY_SAMPLERS

    rng = np.random.RandomState(seed)
    return [torch.from_numpy(TOY_SAMPLERS[data](n, rng).astype(np.float32)) for n in sizes]


def toy_splits(data: str, seed: int = 0, sizes=TOY_SIZES) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and test points of a 2-D toy set, standardised with the training statistics.

    Arguments:
        data: a name in :data:`maflow.data.toy.TOY_SAMPLERS`.
        seed: seeds the one ``RandomState`` that draws the training, then the test points.
        sizes: how many of each.

    Example:
        >>> train, test = toy_splits("blobs", 0, (100, 20))
        >>> train.shape, test.shape, round(float(train.mean()), 6)
        (torch.Size([100, 2]), torch.Size([20, 2]), 0.0)
    """
    train, test = _raw_splits(data, seed, sizes)
    mean, std = train.mean(0), train.std(0)
    return (train - mean) / std, (test - mean) / std


def fresh_toy_points(data: str, num_points: int, seed: int = 0) -> np.ndarray:
    """``num_points`` new points of a toy density (its own units, float64), from a stream apart
    from the ``RandomState(seed)`` that drew any run's training and test points.

    Example:
        >>> fresh_toy_points("blobs", 3, seed=0).shape
        (3, 2)
    """
    from maflow.data.toy import TOY_SAMPLERS

    state = np.random.SeedSequence([seed, _FRESH_STREAM]).generate_state(4)
    return np.asarray(TOY_SAMPLERS[data](num_points, np.random.RandomState(state)), dtype=np.float64)


@dataclass
class ToyRun:
    """A toy run's flow (on the CPU, evaluation mode) and its data.

    Arguments:
        model: the flow, with the batch-norm statistics of its training points.
        data: the toy density's name.
        seed: the run's seed (its training and test points).
        train: the training points, standardised (the ``--limit-train`` first ones).
        mean, std: the standardisation, in the density's own units.
        checkpoint: the checkpoint read, and ``path`` where.
    """

    model: torch.nn.Module
    data: str
    seed: int
    train: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    checkpoint: dict
    path: Path

    def standardise(self, points) -> torch.Tensor:
        """Points in the density's units to the flow's (standardised) units."""
        points = torch.as_tensor(np.asarray(points), dtype=torch.float64)
        return (points - self.mean.double()) / self.std.double()

    def to_data_units(self, points) -> np.ndarray:
        """Points in the flow's units to the density's own units."""
        return np.asarray(points, dtype=np.float64) * self.std.double().numpy() + self.mean.double().numpy()

    def test_points(self) -> torch.Tensor:
        """The run's test points (drawn after its training points), standardised, float64."""
        _, test = _raw_splits(self.data, self.seed, TOY_SIZES)
        return self.standardise(test.numpy())

    @property
    def log_scale(self) -> float:
        """sum(log std): log p(x) in the density's units is the flow's log-density minus this."""
        return float(self.std.double().log().sum())


def load_toy_run(folder, which: str = "best") -> ToyRun:
    """Rebuilds the toy run in ``folder`` from ``checkpoints/<which>.pth`` (``best`` or ``latest``).

    Its training points are drawn again from the seed and must match the checkpoint's fingerprint
    (an older run that did not record its density is recognised by them); every inconsistency
    is one :class:`~maflow.errors.CheckpointError`.
    """
    from maflow.run.checkpoint import load_training_checkpoint, rebuild_model
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    folder = Path(folder)
    path = folder / "checkpoints" / f"{which}.pth"
    if not path.is_file():
        raise CheckpointError(
            f"{folder} has no checkpoints/{which}.pth: give the --out of a `maflow toy --flow FLOW` run"
        )
    checkpoint = load_training_checkpoint(path)
    if checkpoint.get("family") != "toy":
        raise CheckpointError(
            f"{path} holds a {checkpoint.get('family', 'flow')!r} run, not a toy one: "
            f"use `maflow evaluate --run {folder}`"
        )
    config = checkpoint.get("training_config")
    config = config if isinstance(config, dict) else {}
    seed = config.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CheckpointError(f"{path} does not record the seed of its points; the file is damaged")
    # The stored weights are those of a flow; the family only routes the commands.
    model: Any = rebuild_model({**checkpoint, "family": "flow"}, path).eval()
    data, mean, std, train = _training_points(checkpoint, config.get("data"), seed, path)
    recompute_batchnorm_statistics(model.transform, train)
    return ToyRun(model.eval(), data, seed, train, mean, std, checkpoint, path)


def _training_points(checkpoint: dict, recorded, seed: int, path):
    """The density, standardisation and training points whose fingerprint the checkpoint holds."""
    from maflow.data.toy import TOY_SAMPLERS
    from maflow.run.checkpoint import data_fingerprint, same_data
    from maflow.utils.optional import MissingDependencyError

    stored = checkpoint.get("data_fingerprint")
    shape = stored.get("shape") if isinstance(stored, dict) else None
    if not (isinstance(shape, list) and len(shape) == 2 and isinstance(shape[0], int) and shape[1] == 2):
        raise CheckpointError(f"{path} has no fingerprint of its training points; the file is damaged")
    count = min(shape[0], TOY_SIZES[0])
    candidates = [recorded] if recorded in TOY_SAMPLERS else list(TOY_SAMPLERS)
    for data in candidates:
        try:
            (raw,) = _raw_splits(data, seed, TOY_SIZES[:1])
        except MissingDependencyError:
            if recorded is not None:
                raise
            continue  # a density that needs a missing package cannot be the one trained on
        mean, std = raw.mean(0), raw.std(0)
        train = ((raw - mean) / std)[:count]
        if same_data(stored, data_fingerprint(train.numpy())):
            return data, mean, std, train
    which = f"the {recorded!r} points of seed {seed}" if recorded else f"no toy density with seed {seed}"
    raise CheckpointError(
        f"{path}: {which} drawn now match the points the run trained on (another NumPy or "
        "scikit-learn draws them differently); evaluate it where it was trained, or train it again"
    )
