"""A VAE run's files and checkpoints: the shared schema, the older one, and checks before building.

A VAE run folder holds ``checkpoints/latest.pth`` and ``checkpoints/best.pth`` in the checkpoint
schema of every family (:func:`maflow.run.checkpoint.make_checkpoint`, ``family`` ``"vae"``, the
model's constructor arguments as ``model_config``), ``logs/training.log``, ``results.json`` and
``results.txt``, ``history.json``, the pictures and the evaluations. Runs written before that
schema kept ``checkpoint.pt`` (keys ``model``, ``hparams``, ``epoch``, ...): they still mark a run,
still resume (converted by :func:`older_as_latest`) and still evaluate.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from maflow.errors import CheckpointError
from maflow.run.checkpoint import get_rng_states
from maflow.utils.io import load_checkpoint

__all__ = [
    "vae_run_files",
    "vae_checkpoint",
    "older_as_latest",
    "checked_vae",
    "load_trained_vae",
]

CHECKPOINT = "checkpoint.pt"  # the older layout's checkpoint: still read, still marks a run
LATEST = Path("checkpoints") / "latest.pth"
BEST = Path("checkpoints") / "best.pth"
LOG_NAME = Path("logs") / "training.log"
RESULTS_NAME, RESULTS_TEXT = "results.json", "results.txt"
EVALUATION_NAMES = re.compile(r"evaluation_(train|val|test)\.json")
PICTURES = ("data_samples.png", "model_samples.png", "reconstructions.png")


def vae_run_files(out) -> tuple[list[Path], dict]:
    """The files that mark a VAE run in ``out``, and the names of those the commands write there.

    ``config.json`` alone does not mark a run: it is written before the first epoch.

    Example:
        >>> artefacts, own = vae_run_files("runs/vae")
        >>> [str(p) for p in artefacts[:3]]
        ['runs/vae/checkpoints/latest.pth', 'runs/vae/checkpoints/best.pth', 'runs/vae/results.json']
    """
    out = Path(out)
    evaluations = sorted(p for p in out.glob("evaluation_*.json") if EVALUATION_NAMES.fullmatch(p.name))
    artefacts = [out / LATEST, out / BEST, out / RESULTS_NAME, out / CHECKPOINT, out / "history.json"]
    own = {
        out: [
            CHECKPOINT,
            "history.json",
            "config.json",
            "train.log",
            RESULTS_NAME,
            RESULTS_TEXT,
            EVALUATION_NAMES,
            *PICTURES,
        ],
        out / "checkpoints": [LATEST.name, BEST.name],
        out / "logs": [LOG_NAME.name],
    }
    return [*artefacts, *evaluations], own


def vae_checkpoint(out) -> Path:
    """The checkpoint of a VAE run: ``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``."""
    out = Path(out)
    return out / CHECKPOINT if not (out / LATEST).is_file() and (out / CHECKPOINT).is_file() else out / LATEST


def is_older(checkpoint: dict) -> bool:
    """Whether ``checkpoint`` has the schema written before the shared one (``checkpoint.pt``)."""
    return "model_state" not in checkpoint and {"model", "hparams", "epoch"} <= set(checkpoint)


def older_as_latest(old: dict, batches_per_epoch: int) -> dict:
    """An older run's ``checkpoint.pt`` as the :class:`~maflow.train.loop.Trainer` reads ``latest.pth``.

    The older schema kept neither the step count nor the early-stopping state: the step is the
    epochs done times ``batches_per_epoch``, and the best validation ELBO and the validations
    since it come from the history. The training loss of the older epochs (not stored) is
    their negative warmed-up ELBO.
    """
    rng = get_rng_states()
    rng["torch"], rng["data_order"] = old["rng_state"], old["data_rng_state"]
    history, best, best_epoch, counter = [], math.inf, 0, 0
    for record in old.get("history", []):
        record = {k: v for k, v in record.items() if k != "seconds"}
        loss = -(record["train_reconstruction"] - record["warmup_scale"] * record["train_kl"])
        new = {"epoch": record["epoch"], "train_loss": loss}
        if "val_elbo" in record:
            new["val_loss"] = -record["val_elbo"]
            if new["val_loss"] < best:
                best, best_epoch, counter = new["val_loss"], record["epoch"], 0
            else:
                counter += 1
        history.append({**new, **record})
    position = old.get("interrupted") or {}
    totals = position.get("totals", [0.0, 0.0, 0.0])
    epoch = int(old["epoch"])
    sums = dict(zip(("train_elbo", "train_reconstruction", "train_kl"), totals))
    return {
        "model_state": old["model"],
        "optimizer_state": old["optimizer"],
        "rng_states": rng,
        "model_config": old["hparams"],
        "training_config": {**old.get("config", {}), "run": old.get("extra", {})},
        "data_fingerprint": old.get("data_fingerprint"),
        "progress": {
            "epoch": epoch,
            "step": epoch * batches_per_epoch + int(position.get("batch_in_epoch", 0)),
            "batch_in_epoch": int(position.get("batch_in_epoch", 0)),
            "epoch_loss_sum": -float(totals[0]),
            "epoch_examples": int(position.get("seen", 0)),
            "epoch_sums": sums if position else {},
            "best_value": best,
            "best_epoch": best_epoch,
            "patience_counter": counter,
            "stopped_early": False,
            "elapsed_seconds": 0.0,
            "history": history,
        },
    }


def _parameter_shapes(model_config: dict, path) -> dict:
    """The parameter and buffer shapes of ``VAE(**model_config)``, built without memory (meta device)."""
    from maflow.models.vae import VAE

    if not isinstance(model_config, dict) or not all(isinstance(k, str) for k in model_config):
        raise CheckpointError(f"{path} has no VAE settings (model_config); train one with `maflow vae train`")
    try:
        with torch.device("meta"):
            meta = VAE(**model_config)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"{path} holds VAE settings this maflow cannot build ({message[:200]}); "
            "train the run again with `maflow vae train`"
        ) from None
    return {name: tuple(value.shape) for name, value in meta.state_dict().items()}


def checked_vae(model_config: dict, weights: dict, path):
    """``VAE(**model_config)`` with ``weights`` loaded, after checking that they fit.

    The settings are tried on the meta device first (no memory), and every stored tensor must
    have the shape the settings give: a damaged or hand-made checkpoint is one
    :class:`CheckpointError`, never a traceback nor a huge allocation.
    """
    from maflow.models.vae import VAE

    shapes = _parameter_shapes(model_config, path)
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path} holds no VAE weights; train one with `maflow vae train`")
    stored = {name: tuple(value.shape) for name, value in weights.items() if isinstance(value, torch.Tensor)}
    missing = sorted(set(shapes) - set(stored))
    unexpected = sorted(set(stored) - set(shapes))
    wrong = sorted(name for name in set(shapes) & set(stored) if shapes[name] != stored[name])
    if missing or unexpected or wrong:
        detail = (
            f"{wrong[0]} has shape {list(stored[wrong[0]])}, the settings give {list(shapes[wrong[0]])}"
            if wrong
            else f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
        )
        raise CheckpointError(
            f"{path}: the stored weights do not fit the stored VAE settings ({detail}); "
            "the file is damaged or from another model: train again with `maflow vae train`"
        )
    model = VAE(**model_config)
    model.load_state_dict(weights)
    return model


def load_trained_vae(out) -> tuple[torch.nn.Module, dict]:
    """Rebuilds the VAE of a run folder from ``checkpoints/latest.pth`` (or ``checkpoint.pt``).

    Returns the model (on the CPU, in evaluation mode) and what the evaluation needs to know:
    ``config`` (the run's configuration: data, model, train, evaluate), ``epochs_trained`` and
    the ``path`` read.
    """
    path = vae_checkpoint(out)
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not a VAE checkpoint: train one with `maflow vae train`")
    if is_older(checkpoint):
        model_config, weights = checkpoint["hparams"], checkpoint["model"]
        config, epochs = (checkpoint.get("extra") or {}).get("config"), checkpoint["epoch"]
    elif checkpoint.get("family") == "vae" and "model_state" in checkpoint:
        model_config, weights = checkpoint.get("model_config"), checkpoint["model_state"]
        config = (checkpoint.get("training_config") or {}).get("run", {}).get("config")
        epochs = (checkpoint.get("progress") or {}).get("epoch")
    else:
        raise CheckpointError(f"{path} is not a VAE checkpoint: train one with `maflow vae train`")
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict):
        raise CheckpointError(f"{path} does not say which data the VAE was trained on; train it again")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise CheckpointError(f"{path} has no valid epoch count ({epochs!r}); the file is damaged")
    model = checked_vae(model_config, weights, path)
    return model.eval(), {"config": config, "epochs_trained": epochs, "path": path}
