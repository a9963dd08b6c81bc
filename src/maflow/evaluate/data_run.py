"""Evaluation of a run trained on one's own data (``maflow train --data``): log p(x) or log p(x | c).

The splits are rebuilt from the file the checkpoint names (or the one given with ``--data``
when it moved), and every value is checked against the SHA-256 recorded at training: changed
data is refused, not evaluated. Log-densities are in the data's own units (the log-Jacobian of
the standardisation included).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from maflow.data.record import load_recorded
from maflow.evaluate.flow import DTYPES, save_u_figures
from maflow.run.checkpoint import check_compatible, data_fingerprint
from maflow.run.command import command_line
from maflow.run.data_samples import save_data_samples
from maflow.run.figures import save_u_marginals, save_u_scatter
from maflow.run.folder import RunLock, remove_own_temporaries
from maflow.run.metrics import likelihood_report, log_likelihoods
from maflow.run.paths import RunPaths
from maflow.run.results import update_results
from maflow.utils.io import ensure_writable_dir

__all__ = ["split_log_densities", "evaluate_data_run"]


@torch.no_grad()
def split_log_densities(model, dataset, split: str, batch_size: int, dtype, progress=None) -> np.ndarray:
    """log p(x) (or log p(x | c) with the split's context) of every row of ``split``, data units."""
    x = dataset.split(split)
    if dataset.context is None:
        values = log_likelihoods(model, x, batch_size, dtype, progress=progress, desc=split)
    else:
        parameter = next(model.parameters())
        model.to(dtype).eval()
        c = torch.from_numpy(dataset.context.split(split))
        chunks = zip(torch.from_numpy(x).split(batch_size), c.split(batch_size))
        device = parameter.device
        values = torch.cat(
            [model.log_prob(a.to(device, dtype), b.to(device, dtype)).double().cpu() for a, b in chunks]
        ).numpy()
    return values + dataset.log_abs_det


@torch.no_grad()
def _u_figures(model, dataset, figures: Path, name: str, points: int) -> list[str]:
    if not points or not hasattr(model, "transform"):
        return []
    if dataset.context is None:
        return [str(f) for f in save_u_figures(model, dataset.test[:points], figures, name)]
    parameter = next(model.parameters())
    x = torch.from_numpy(dataset.test[:points]).to(parameter.device, parameter.dtype)
    c = torch.from_numpy(dataset.context.test[:points]).to(parameter.device, parameter.dtype)
    u = model.transform(x, c)[0].double().cpu().numpy()
    made = [
        save_u_marginals(u, figures / f"{name}_u_marginals.png"),
        save_u_scatter(u, figures / f"{name}_u_scatter.png"),
    ]
    return [str(f) for f in made if f is not None]


def evaluate_data_run(
    paths: RunPaths,
    checkpoint: dict,
    checkpoint_path: Path,
    model,
    output: RunPaths | None = None,
    data=None,
    context=None,
    num_samples: int = 64,
    batch_size: int = 1000,
    precision: str = "float64",
    num_u_points: int = 1000,
    seed: int = 0,
    progress: bool | None = None,
) -> dict:
    """Evaluates a ``--data`` run: validation and test log-likelihoods in the data's units, samples, figures.

    ``output``: where the results go (default: the run folder itself; another folder leaves a
    read-only run untouched). ``data``/``context``: the files, when they moved since training.
    """
    start = time.perf_counter()
    dataset = load_recorded(checkpoint["data"], data, context)
    limit = checkpoint.get("training_config", {}).get("limit_train")
    rows = dataset.train[:limit] if limit else dataset.train
    if dataset.context is not None:
        context_rows = dataset.context.train[:limit] if limit else dataset.context.train
        rows = np.concatenate([rows, context_rows], axis=1)
    check_compatible(checkpoint, checkpoint_path, fingerprint=data_fingerprint(rows))
    output = output or paths
    ensure_writable_dir(output.root)
    with RunLock(output.root, command_line()):
        for folder, names in output.own_files().items():
            remove_own_temporaries(folder, names)
        conditional = dataset.context is not None
        evaluation: dict = {
            "checkpoint": str(checkpoint_path),
            "data": checkpoint["data"].get("path"),
            "model": checkpoint["model_name"],
            "model_config": checkpoint["model_config"],
            "epoch": checkpoint["progress"].get("epoch"),
            "precision": precision,
            "batch_size": batch_size,
            "space": "data space nats (the data's own units: the standardisation's log-Jacobian included)",
            "density": "log p(x | c)" if conditional else "log p(x)",
        }
        for split in ("val", "test"):
            ll = split_log_densities(model, dataset, split, batch_size, DTYPES[precision], progress)
            evaluation[split] = likelihood_report(ll)  # bits/dim would be of the model space: not given
            evaluation[split]["nonfinite"] = int((~np.isfinite(ll)).sum())
        model.float()
        evaluation["figures"] = _u_figures(model, dataset, output.figures, output.dataset, num_u_points)
        if num_samples:
            evaluation["samples"] = str(save_data_samples(model, dataset, output, num_samples, seed))
        evaluation["seconds"] = time.perf_counter() - start
        update_results(output.results_json, output.results_txt, "evaluation", evaluation)
    return evaluation
