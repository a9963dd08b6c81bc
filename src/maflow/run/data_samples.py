"""Samples of a flow trained on one's own data, in the data's own units (``.npy`` or ``.csv``).

The standardisation of training is undone; a dequantised run's samples are floored back to
integers (the value whose unit cell ``[k, k + 1)`` the continuous sample falls in). A
conditional run draws ``num_samples`` rows for each given context row.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from maflow.data.standardize import Standardization
from maflow.run.paths import RunPaths
from maflow.utils.io import atomic_write, atomic_write_text

__all__ = ["draw_data_samples", "write_rows", "save_data_samples"]


@torch.no_grad()
def draw_data_samples(model, record: dict, num_samples: int, seed: int = 0, context=None) -> np.ndarray:
    """``num_samples`` samples in the data's units; with ``context`` (K, C) model-space rows,
    ``num_samples`` for each, context by context: shape (K * num_samples, D).

    Example:
        >>> from maflow import MAF
        >>> record = {"standardization": {"mean": [10.0], "scale": [2.0]}, "options": {}}
        >>> draw_data_samples(MAF(1, num_layers=1, hidden_features=4), record, 3).shape
        (3, 1)
    """
    model.eval()
    parameter = next(model.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if context is None:
            z = model.sample((num_samples,))
        else:
            given = torch.as_tensor(np.asarray(context), dtype=parameter.dtype, device=parameter.device)
            z = model.sample((num_samples,), context=given).transpose(0, 1).reshape(-1, model.features)
    x = Standardization.from_record(record["standardization"]).inverse(z.double().cpu().numpy())
    if record.get("options", {}).get("dequantize"):
        x = np.floor(x)
    return x


def write_rows(path: str | Path, rows: np.ndarray, columns: list[str] | None = None) -> Path:
    """Writes rows atomically as ``.npy`` or, for ``.csv``/``.tsv``/``.txt``, text with a header."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda f: np.save(f, rows))
        return path
    delimiter = "\t" if suffix == ".tsv" else ","
    names = columns or [f"x{i}" for i in range(rows.shape[1])]
    buffer = io.StringIO()
    np.savetxt(buffer, rows, delimiter=delimiter, fmt="%.10g", header=delimiter.join(names), comments="")
    atomic_write_text(path, buffer.getvalue())
    return path


def save_data_samples(model, dataset, paths: RunPaths, num_samples: int, seed: int = 0) -> Path:
    """The samples at the end of a run: ``samples/<name>_samples.npy`` (data units); a conditional
    run draws them for its first test context."""
    context = None if dataset.context is None else dataset.context.test[:1]
    rows = draw_data_samples(model, dataset.origin, num_samples, seed, context)
    return write_rows(paths.samples / f"{paths.dataset}_samples.npy", rows)
