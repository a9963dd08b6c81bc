"""A trained toy flow on fresh points of its density: held-out log-likelihood, and samples.

The flow of a ``maflow toy`` run models the standardised points (the units of the training's
``test_nll``); both functions here take a :class:`~maflow.run.toy.ToyRun`, which knows the
standardisation, and say in which units each number is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maflow.errors import NumericalError
from maflow.run.toy import ToyRun, fresh_toy_points

__all__ = ["evaluate_toy", "save_toy_samples"]

REFERENCE_POINTS = 2_000  # fresh points of the density drawn under the samples in their picture


def evaluate_toy(
    run: ToyRun, num_points: int = 10_000, seed: int = 0, batch_size: int = 10_000, split: str = "fresh"
) -> dict:
    """Log-likelihood ± 2 SE of ``num_points`` fresh points of the run's density (float64).

    The points come from a stream apart from the training and test points (see
    :func:`~maflow.run.toy.fresh_toy_points`), the same ones for the same ``seed``.
    ``split="test"`` scores instead the run's own 2,000 test points (those of the training's
    ``test_nll``) and ``split="train"`` the points it trained on; ``num_points`` and ``seed``
    are then unused. ``test``
    holds the log-likelihood in the flow's standardised units (those of the training's
    ``test_nll``), ``test_data_units`` the mean in the density's own units.

    Example:
        >>> import torch
        >>> from maflow.models.registry import build_model
        >>> flow = build_model("maf", 2, num_layers=1, hidden_features=8).eval()
        >>> run = ToyRun(flow, "blobs", 0, torch.zeros(1, 2), torch.zeros(2), torch.ones(2), {}, Path("best.pth"))
        >>> report = evaluate_toy(run, num_points=100)
        >>> report["test"]["log_likelihood"]["count"], report["test_data_units"]["log_std_sum"]
        (100, 0.0)
    """
    from maflow.run.metrics import likelihood_report, log_likelihoods
    from maflow.utils.stats import mean_and_error

    if split == "fresh":
        points = run.standardise(fresh_toy_points(run.data, num_points, seed))
        described = (
            f"{num_points} fresh points of {run.data} (seed {seed}), none of the training or test points"
        )
    elif split in ("test", "train"):
        points = run.test_points() if split == "test" else run.train.double()
        num_points, seed = len(points), run.seed
        described = f"the run's {num_points} {split} points of {run.data} (seed {seed})"
    else:
        raise ValueError(f"unknown split {split!r}: use fresh, test or train")
    log_likelihood = log_likelihoods(run.model, points, batch_size)
    data_units = log_likelihood - run.log_scale
    mean, error = mean_and_error(data_units)
    return {
        "data": run.data,
        "split": split,
        "points": described,
        "num_points": num_points,
        "seed": seed,
        "checkpoint": str(run.path),
        "steps_trained": int(run.checkpoint.get("progress", {}).get("step", 0)),
        "units": "standardised with the training points' mean and std, as the training's test_nll",
        "test": likelihood_report(log_likelihood),
        "test_data_units": {"mean": mean, "error_2se": error, "log_std_sum": run.log_scale},
    }


def save_toy_samples(run: ToyRun, num_samples: int, seed: int, path) -> tuple[Path, Path | None]:
    """Draws ``num_samples`` samples (the density's own units) and writes them to ``path``'s
    ``.npy`` and, over fresh points of the density, as a scatter to ``path`` (a ``.png``).

    Returns the two paths (the picture's is ``None`` without matplotlib). Non-finite samples are
    kept in the ``.npy`` and left out of the picture; if none is finite,
    :class:`~maflow.errors.NumericalError` is raised and nothing is written.
    """
    from maflow.run.figures import save_sample_scatter
    from maflow.run.samples import draw_samples
    from maflow.utils.io import atomic_write

    path = Path(path)
    samples = run.to_data_units(draw_samples(run.model, num_samples, seed))
    finite = np.isfinite(samples).all(axis=1)
    if not finite.any():
        raise NumericalError(
            f"all {num_samples} samples drawn from the toy flow are NaN or infinite; nothing was written. "
            "Use another checkpoint, or train again with a lower --lr"
        )
    npy = path.with_suffix(".npy")
    atomic_write(npy, lambda f: np.save(f, samples))
    reference = fresh_toy_points(run.data, REFERENCE_POINTS, seed)
    return npy, save_sample_scatter(samples[finite], reference, path)
