"""Evaluation of a trained flow: labelled test likelihoods, samples and diagnostics of u = f(x)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from maflow.evaluate.metrics import likelihood_report, log_likelihoods
from maflow.evaluate.plots import save_image_grid, save_sample_scatter, save_u_marginals, save_u_scatter
from maflow.evaluate.results import update_results
from maflow.train.checkpoint import data_fingerprint, load_training_checkpoint, rebuild_model
from maflow.train.paths import RunPaths
from maflow.utils.io import atomic_write, remove_stale_temporaries

__all__ = ["load_trained_flow", "draw_samples", "save_samples", "save_u_figures", "evaluate_flow"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def load_trained_flow(paths: RunPaths, dataset, which: str = "best"):
    """Rebuilds the model of ``best.pth`` (or ``latest.pth``) and checks it belongs to ``dataset``."""
    path = paths.best if which == "best" else paths.latest
    checkpoint = load_training_checkpoint(
        path, dataset=dataset.name, fingerprint=data_fingerprint(dataset.train)
    )
    model = rebuild_model(checkpoint, path).eval()
    return model, checkpoint


@torch.no_grad()
def draw_samples(model, num_samples: int, seed: int = 0) -> np.ndarray:
    """``num_samples`` exact samples (model space) from a fixed seed, without touching global RNGs."""
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.sample((num_samples,)).double().numpy()


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def save_samples(model, dataset, paths: RunPaths, num_samples: int, seed: int = 0, path=None) -> Path:
    """Draws samples and writes ``<dataset>_samples.npy`` and the picture (a grid for images).

    Images are mapped back to intensities in [0, 1] with ``(sigmoid(y) - lambda) / (1 - 2 lambda)``;
    their ``.npy`` holds the model-space samples and ``_unit.npy`` the intensities.
    Returns the path of the picture.
    """
    path = Path(path) if path is not None else paths.samples_png
    samples = draw_samples(model, num_samples, seed)
    finite = np.isfinite(samples).all(axis=1)
    _save_npy(path.with_suffix(".npy"), samples)
    if dataset.image_shape is not None:
        unit = np.clip(np.nan_to_num(np.asarray(dataset.to_unit(samples[finite])), nan=0.0), 0.0, 1.0)
        _save_npy(path.with_name(path.stem + "_unit.npy"), unit)
        save_image_grid(unit, dataset.image_shape, path)
    else:
        save_sample_scatter(samples[finite], dataset.test, path)
    return path


@torch.no_grad()
def save_u_figures(model, x, figures_dir: Path, name: str) -> list[Path]:
    """Marginal histograms and pairwise scatters of u = f(x) (seed 000's diagnostics)."""
    model.eval()
    u = model.transform(torch.as_tensor(np.asarray(x)).to(next(model.parameters()).dtype))[0].double().numpy()
    return [
        save_u_marginals(u, figures_dir / f"{name}_u_marginals.png"),
        save_u_scatter(u, figures_dir / f"{name}_u_scatter.png"),
    ]


def evaluate_flow(
    dataset: str,
    out: str | Path,
    data_dir: str | Path | None = None,
    num_samples: int = 64,
    batch_size: int = 1000,
    precision: str = "float64",
    splits=("val", "test"),
    num_u_points: int = 1000,
    seed: int = 0,
    which: str = "best",
) -> dict:
    """Evaluates the run under ``out/<dataset>``; writes and returns the ``evaluation`` section."""
    from maflow.data import load

    start = time.perf_counter()
    data = load(dataset, data_dir)
    paths = RunPaths(out, dataset)
    model, checkpoint = load_trained_flow(paths, data, which)
    remove_stale_temporaries(paths.root)  # left by a killed evaluation; live writers' files are locked
    is_logit_image = data.kind == "image" and data.logit_lambda is not None
    evaluation = {
        "checkpoint": str(paths.best if which == "best" else paths.latest),
        "model": checkpoint["model_name"],
        "model_config": checkpoint["model_config"],
        "epoch": checkpoint["progress"].get("epoch"),
        "precision": precision,
        "batch_size": batch_size,
        "space": "logit-space nats (MAF Table 2 convention)" if is_logit_image else "data space nats",
    }
    for split in splits:
        x = data.split(split)
        ll = log_likelihoods(model, x, batch_size, DTYPES[precision])
        evaluation[split] = likelihood_report(
            ll,
            x,
            data.logit_lambda if is_logit_image else None,
            data.quantization_levels,
        )
        evaluation[split]["nonfinite"] = int((~np.isfinite(ll)).sum())
    if hasattr(model, "transform") and num_u_points:
        figures = save_u_figures(model, data.test[:num_u_points], paths.figures, dataset)
        evaluation["figures"] = [str(f) for f in figures]
    if num_samples:
        evaluation["samples"] = str(save_samples(model, data, paths, num_samples, seed))
    evaluation["seconds"] = time.perf_counter() - start
    update_results(paths.results_json, paths.results_txt, "evaluation", evaluation)
    return evaluation
