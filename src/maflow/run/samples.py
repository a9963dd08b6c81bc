"""Samples of a trained flow as run artefacts: ``RUN/samples/<dataset>_samples.{npy,png}``.

Training writes them at the end of a run and evaluation rewrites them, so they live below both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from maflow.errors import NumericalError
from maflow.run.figures import save_image_grid, save_sample_scatter
from maflow.run.paths import RunPaths
from maflow.utils.io import atomic_write

__all__ = ["draw_samples", "save_samples"]


@torch.no_grad()
def draw_samples(model, num_samples: int, seed: int = 0) -> np.ndarray:
    """``num_samples`` exact samples (model space) from a fixed seed, without touching global RNGs."""
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.sample((num_samples,)).double().cpu().numpy()


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def save_samples(model, dataset, paths: RunPaths, num_samples: int, seed: int = 0, path=None) -> Path:
    """Draws samples and writes ``<dataset>_samples.npy`` and the picture (a grid for images).

    Images are mapped back to intensities in [0, 1] with ``(sigmoid(y) - lambda) / (1 - 2 lambda)``;
    their ``.npy`` holds the model-space samples and ``_unit.npy`` the intensities.
    Returns the path of the picture. Samples that are not finite are left out of the picture
    (kept in the ``.npy``); if none is finite, :class:`~maflow.errors.NumericalError` is raised
    and nothing is written.
    """
    path = Path(path) if path is not None else paths.samples_png
    samples = draw_samples(model, num_samples, seed)
    finite = np.isfinite(samples).all(axis=1)
    if num_samples and not finite.any():
        raise NumericalError(
            f"all {num_samples} samples drawn from the model are NaN or infinite (the model diverged or its "
            "weights overflow); nothing was written. Use an earlier checkpoint, or train again with a lower --lr"
        )
    _save_npy(path.with_suffix(".npy"), samples)
    if dataset.image_shape is not None:
        unit = np.clip(np.nan_to_num(np.asarray(dataset.to_unit(samples[finite])), nan=0.0), 0.0, 1.0)
        _save_npy(path.with_name(path.stem + "_unit.npy"), unit)
        save_image_grid(unit, dataset.image_shape, path)
    else:
        save_sample_scatter(samples[finite], dataset.test, path)
    return path
