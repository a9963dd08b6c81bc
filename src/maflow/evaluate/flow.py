"""Evaluation of a trained flow: labelled test likelihoods, samples and diagnostics of u = f(x)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from maflow.errors import CheckpointError
from maflow.run.checkpoint import check_compatible, data_fingerprint, load_training_checkpoint, rebuild_model
from maflow.run.command import command_line
from maflow.run.figures import save_u_marginals, save_u_scatter
from maflow.run.folder import RunLock, remove_own_temporaries
from maflow.run.locate import locate_run
from maflow.run.metrics import likelihood_report, log_likelihoods
from maflow.run.paths import RunPaths
from maflow.run.results import update_results
from maflow.run.samples import draw_samples, save_samples
from maflow.utils.io import ensure_writable_dir

__all__ = ["load_trained_flow", "draw_samples", "save_samples", "save_u_figures", "evaluate_flow"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def load_trained_flow(paths: RunPaths, dataset, which: str = "best", device=None):
    """Rebuilds the model of ``best.pth`` (or ``latest.pth``) on ``device`` and checks it belongs to ``dataset``.

    A run trained with ``--limit-train N`` is checked against the first N training examples.
    """
    path = paths.best if which == "best" else paths.latest
    checkpoint = load_training_checkpoint(path, dataset=dataset.name)
    limit = checkpoint.get("training_config", {}).get("limit_train")
    rows = dataset.train[:limit] if limit else dataset.train
    check_compatible(checkpoint, path, fingerprint=data_fingerprint(rows))
    model = rebuild_model(checkpoint, path).to(device).eval()
    return model, checkpoint


@torch.no_grad()
def save_u_figures(model, x, figures_dir: Path, name: str) -> list[Path]:
    """Marginal histograms and pairwise scatters of u = f(x) (e-hulten/maf's diagnostics)."""
    model.eval()
    parameter = next(model.parameters())
    x = torch.as_tensor(np.asarray(x)).to(parameter.device, parameter.dtype)
    u = model.transform(x)[0].double().cpu().numpy()
    figures = [
        save_u_marginals(u, figures_dir / f"{name}_u_marginals.png"),
        save_u_scatter(u, figures_dir / f"{name}_u_scatter.png"),
    ]
    return [path for path in figures if path is not None]  # none without matplotlib


def evaluate_flow(
    dataset: str,
    run: str | Path | RunPaths,
    data_dir: str | Path | None = None,
    num_samples: int = 64,
    batch_size: int = 1000,
    precision: str = "float64",
    splits=("val", "test"),
    num_u_points: int = 1000,
    seed: int = 0,
    which: str = "best",
    device=None,
    progress: bool | None = None,
    output_dir: str | Path | None = None,
) -> dict:
    """Evaluates the run in the folder ``run`` (the ``--out`` of its training); writes and returns
    the ``evaluation`` section of its results.

    A run of the old layout in ``run/<dataset>/`` is found too, and its ``results_summary.json``
    updated in place (:func:`maflow.run.locate.locate_run`).

    The run folder is locked while the evaluation writes to it: a training or another evaluation
    there is refused, and so is this one while they run. The model runs on ``device`` (default:
    the CPU); ``progress`` switches the progress bars of the passes (``None``: on a terminal).
    ``output_dir``: write the results, samples and figures into the folder ``output_dir`` (the run
    folder's layout) instead, and only read the run folder (a read-only or shared run).
    """
    from maflow.data import load

    start = time.perf_counter()
    data = load(dataset, data_dir)
    paths = run if isinstance(run, RunPaths) else locate_run(run, dataset)
    output = RunPaths(output_dir, dataset) if output_dir is not None else paths
    checkpoint_path = paths.best if which == "best" else paths.latest
    missing = CheckpointError(f"no checkpoint at {checkpoint_path}: train first, or check --out")
    if not paths.root.is_dir():
        raise missing  # before the lock, which would create the folder
    if output is not paths:
        ensure_writable_dir(output.root)
    with RunLock(output.root, command_line()):  # a live training has no checkpoint yet: say it is live
        if not checkpoint_path.exists():  # a folder in its place gets the loader's own line
            raise missing
        for folder, names in output.own_files().items():
            remove_own_temporaries(folder, names)  # left by a killed evaluation
        options = dict(num_samples=num_samples, batch_size=batch_size, precision=precision, splits=splits)
        options.update(num_u_points=num_u_points, seed=seed, which=which, device=device, progress=progress)
        return _evaluate_locked(dataset, data, paths, output, start, **options)


def _evaluate_locked(
    dataset,
    data,
    paths,
    output,
    start,
    num_samples,
    batch_size,
    precision,
    splits,
    num_u_points,
    seed,
    which,
    device,
    progress,
):
    model, checkpoint = load_trained_flow(paths, data, which, device)
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
        ll = log_likelihoods(model, x, batch_size, DTYPES[precision], progress=progress, desc=split)
        evaluation[split] = likelihood_report(
            ll,
            x,
            data.logit_lambda if is_logit_image else None,
            data.quantization_levels,
        )
        evaluation[split]["nonfinite"] = int((~np.isfinite(ll)).sum())
    if hasattr(model, "transform") and num_u_points:
        figures = save_u_figures(model, data.test[:num_u_points], output.figures, dataset)
        evaluation["figures"] = [str(f) for f in figures]
    if num_samples:
        evaluation["samples"] = str(save_samples(model, data, output, num_samples, seed))
    evaluation["seconds"] = time.perf_counter() - start
    update_results(output.results_json, output.results_txt, "evaluation", evaluation)
    return evaluation
