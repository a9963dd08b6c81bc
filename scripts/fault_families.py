"""The model families that scripts/fault_injection.py kills and resumes: their commands and checks.

Each family names the command that trains a tiny run (and, where it has one, the command that
evaluates it), the run folder that ``--out`` gives, the lines its ``logs/training.log`` writes as
training starts and ends (the kills are timed from them), and what must be equal, bit for bit,
between an uninterrupted run and one killed and resumed: the checkpoints (weights, optimiser,
RNG states, progress) and the results, but for wall times and paths.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

DATASET = "digits"
TRAIN_FLAGS = [
    "--dataset", DATASET, "--num-layers", "2", "--hidden-dim", "16", "--hidden-layers", "1",
    "--batch-size", "100", "--lr", "0.01", "--patience", "3", "--num-samples", "16", "--no-progress",
]  # fmt: skip
TRAINING_KEYS = ("epochs_run", "steps", "best_epoch", "stopped_early", "parameters", "model_config")
TRAINING_KEYS += ("val_log_likelihood", "val_log_likelihood_2se")
# The one Trainer logs these (log file only) as each attempt starts and ends training.
TRAINER_START, TRAINER_END = b"training from epoch", b"training ended at epoch"


def differences(a, b, where: str) -> list[str]:
    """Every way two values (nested dicts, lists, tensors, numbers) differ; NaN equals NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys differ ({sorted(set(a) ^ set(b), key=str)})"]
        return [d for key in a for d in differences(a[key], b[key], f"{where}.{key}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} and {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) if (d := differences(x, y, f"{where}[{i}]"))][:1]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [f"{where}: tensors differ"]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if type(a) is type(b) and a == b else [f"{where}: {a!r} != {b!r}"]


def compare_checkpoints(reference: Path, other: Path) -> list[str]:
    """Differences of ``checkpoints/best.pth`` and ``latest.pth``; only the wall time may differ."""
    from maflow.utils.io import load_checkpoint

    found = []
    for name in ("best.pth", "latest.pth"):
        a = load_checkpoint(reference / "checkpoints" / name)
        b = load_checkpoint(other / "checkpoints" / name)
        for checkpoint in (a, b):
            checkpoint["progress"].pop("elapsed_seconds", None)  # wall time differs, nothing else may
        found += differences(a, b, name)
    return found


def _json(path: Path, drop: tuple = ()) -> dict:
    values = json.loads(path.read_text())
    return {k: v for k, v in values.items() if k not in drop} if isinstance(values, dict) else values


@dataclass
class Family:
    """How to train, evaluate and compare one family's tiny run (see the module's docstring)."""

    name: str
    train_argv: Callable[[Path, int, bool], list[str]]
    root: Callable[[Path], Path]
    compare: Callable[[Path, Path, bool], list[str]]
    marker: bytes = TRAINER_START
    end_marker: bytes = TRAINER_END
    evaluate_argv: Callable[[Path], list[str]] | None = None
    results: str = "results.json"  # must keep its training section through an evaluation's kill
    options: dict = field(default_factory=dict)


# --- flows: maflow train / maflow evaluate on the bundled digits ------------------------------


def flow_train_argv(out: Path, epochs: int, resume: bool) -> list[str]:
    return ["train", *TRAIN_FLAGS, "--epochs", str(epochs), "--out", str(out)] + ["--resume"] * resume


def flow_evaluate_argv(out: Path, u_points: int = 200) -> list[str]:
    return ["evaluate", "--dataset", DATASET, "--out", str(out), "--u-points", str(u_points)] + [
        "--num-samples",
        "16",
    ]


def compare_flow_runs(reference: Path, other: Path, evaluated: bool = False) -> list[str]:
    """Every difference between two flow run directories that an exact resume must not produce."""
    found = compare_checkpoints(reference, other)
    for path in sorted((reference / "samples").glob("*.npy")):
        if not np.array_equal(np.load(path), np.load(other / "samples" / path.name)):
            found.append(f"samples/{path.name} differ")
    results = [json.loads((d / "results.json").read_text()) for d in (reference, other)]
    for key in TRAINING_KEYS:
        found += differences(results[0]["training"][key], results[1]["training"][key], key)
    if evaluated:
        for split in ("val", "test"):
            a, b = (r["evaluation"][split] for r in results)
            found += differences(a, b, f"evaluation.{split}")
    return found


# --- the VAE: maflow vae train / maflow vae evaluate on (grey) MNIST --------------------------

VAE_SETTINGS = [
    "model.latent_features=4", "model.hidden_features=[16]",
    "train.batch_size=50", "train.eval_every=1", "train.warmup_epochs=2", "train.lr_decay_epochs=2",
]  # fmt: skip


def vae_train_argv(out: Path, epochs: int, resume: bool, data_dir=None, limit: int = 300) -> list[str]:
    argv = ["vae", "train", "--config", "vae_dense_cpu", "--out", str(out), "--epochs", str(epochs)]
    argv += ["--limit-train", str(limit), "--quiet"] + [a for s in VAE_SETTINGS for a in ("--set", s)]
    return argv + (["--data-dir", str(data_dir)] if data_dir else []) + ["--resume"] * resume


def vae_evaluate_argv(out: Path, data_dir=None) -> list[str]:
    argv = ["vae", "evaluate", "--out", str(out), "--num-examples", "20", "--is-samples", "5", "--quiet"]
    return argv + (["--data-dir", str(data_dir)] if data_dir else [])


def compare_vae_runs(reference: Path, other: Path, evaluated: bool = False) -> list[str]:
    found = compare_checkpoints(reference, other)
    found += differences(_json(reference / "history.json"), _json(other / "history.json"), "history.json")
    a, b = (_json(d / "results.json")["training"] for d in (reference, other))
    for key in ("train_seconds", "checkpoint"):  # wall time, and the run folder's own path
        a.pop(key), b.pop(key)
    found += differences(a, b, "results.json:training")
    if evaluated:
        a, b = (_json(d / "evaluation_test.json")["importance_sampling"] for d in (reference, other))
        keys = ("nll", "nll_error_2se", "neg_elbo", "neg_elbo_error_2se", "num_examples")
        found += differences({k: a[k] for k in keys}, {k: b[k] for k in keys}, "evaluation_test.json")
    return found


# --- MNF: maflow mnf train on grey MNIST (the test error is scored at the end of training) -----


def mnf_train_argv(out: Path, epochs: int, resume: bool, data_dir=None, limit: int = 300) -> list[str]:
    argv = ["mnf", "train", "--model", "mnf-lenet", "--out", str(out), "--epochs", str(epochs)]
    argv += ["--limit-train", str(limit), "--batch-size", "50", "--test-samples", "2", "--quiet"]
    argv += ["--set", "kl_anneal_epochs=1.0"]
    return argv + (["--data-dir", str(data_dir)] if data_dir else []) + ["--resume"] * resume


def compare_mnf_runs(reference: Path, other: Path, evaluated: bool = False) -> list[str]:
    found = compare_checkpoints(reference, other)
    drop = ("wall_seconds", "cpu_seconds_this_process")
    found += differences(
        _json(reference / "results.json", drop), _json(other / "results.json", drop), "results.json"
    )
    return found


def families(data_dir=None, u_points: int = 200) -> dict[str, Family]:
    """The families by name; ``data_dir`` is where the VAE and MNF find MNIST, ``u_points`` the
    flow evaluation's ``--u-points``.
    """
    return {
        "flow": Family(
            "flow",
            flow_train_argv,
            lambda out: out,  # --out is the run folder
            compare_flow_runs,
            marker=b"training maf on",  # logged by maflow train right before the first epoch
            end_marker=b"best model:",  # logged after the last epoch, before samples and results
            evaluate_argv=lambda out: flow_evaluate_argv(out, u_points),
            results="results.json",
        ),
        "vae": Family(
            "vae",
            lambda out, epochs, resume: vae_train_argv(out, epochs, resume, data_dir),
            lambda out: out,
            compare_vae_runs,
            evaluate_argv=lambda out: vae_evaluate_argv(out, data_dir),
        ),
        "mnf": Family(
            "mnf",
            lambda out, epochs, resume: mnf_train_argv(out, epochs, resume, data_dir),
            lambda out: out,
            compare_mnf_runs,
        ),
    }
