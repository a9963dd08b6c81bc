"""The files of a binary-MADE run: their names, the older layout, and loading a trained model."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import numpy as np

from maflow.errors import CheckpointError
from maflow.models.bernoulli_made import BernoulliMADE
from maflow.run.checkpoint import same_data
from maflow.train.made_config import MadeTrainConfig, build_bernoulli_made
from maflow.utils.io import load_checkpoint

__all__ = [
    "CHECKPOINT_NAME",
    "BEST_NAME",
    "RESULTS_NAME",
    "LOG_NAME",
    "made_run_files",
    "made_resume_file",
    "from_older_layout",
    "load_trained_made",
    "same_training_data",
    "fingerprint",
]

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
RESULTS_NAME = "results.json"
LOG_NAME = Path("logs") / "training.log"
EVALUATION_NAMES = re.compile(r"evaluate-(test|val|train)-s\d+\.json")
SAMPLE_NAMES = re.compile(r"samples-s\d+-seed-?\d+\.npy")


def made_run_files(out: str | Path) -> tuple[list[Path], dict]:
    """The files that mark a binary-MADE run in ``out``, and the names of those the commands write.

    The run folder has the layout of every family (``checkpoints/{best,latest}.pth``,
    ``logs/training.log``, ``results.json``); the names of the older layout (``checkpoint.pt``,
    ``best.pt``, ``train.log``) still mark a run and are still removed by ``--overwrite``.

    Example:
        >>> artefacts, own = made_run_files("runs/made")
        >>> [p.name for p in artefacts[:4]], bool(own[Path("runs/made")][4].fullmatch("evaluate-test-s4.json"))
        (['latest.pth', 'best.pth', 'results.json', 'checkpoint.pt'], True)
    """
    out = Path(out)
    evaluations = sorted(p for p in out.glob("evaluate-*.json") if EVALUATION_NAMES.fullmatch(p.name))
    checkpoints = out / "checkpoints"
    artefacts = [checkpoints / "latest.pth", checkpoints / "best.pth", out / RESULTS_NAME]
    artefacts += [out / CHECKPOINT_NAME, out / BEST_NAME, *evaluations]
    own = {
        out: [
            RESULTS_NAME,
            "results.txt",
            CHECKPOINT_NAME,
            BEST_NAME,
            EVALUATION_NAMES,
            SAMPLE_NAMES,
            "train.log",
        ],
        checkpoints: ["latest.pth", "best.pth"],
        out / "samples": [SAMPLE_NAMES],
        out / "logs": ["training.log"],
    }
    return artefacts, own


def made_resume_file(out: str | Path) -> Path:
    """The checkpoint ``--resume`` continues: ``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``."""
    out = Path(out)
    latest = out / "checkpoints" / "latest.pth"
    return out / CHECKPOINT_NAME if not latest.is_file() and (out / CHECKPOINT_NAME).is_file() else latest


def fingerprint(array: np.ndarray) -> dict:
    """Shape and SHA-256 of a data split, to refuse scoring a checkpoint on other data."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def from_older_layout(out_dir: Path) -> tuple[dict, dict | None]:
    """``checkpoint.pt`` and ``best.pt`` of a run written before the shared layout, as the Trainer's."""
    from maflow.run.checkpoint import get_rng_states

    old = load_checkpoint(out_dir / CHECKPOINT_NAME)
    state = old["state"]
    position = old.get("interrupted", {})
    rng = get_rng_states()
    rng["data_order"] = old["generator"]
    latest = {
        "model_state": old["model"],
        "optimizer_state": old["optimizer"],
        "rng_states": rng,
        "model_config": {"features": old["features"]},
        "training_config": dict(old["config"]),
        "data_fingerprint": None,
        "train_fingerprint": old.get("train_fingerprint"),
        "progress": {
            "epoch": state["epoch"],
            "step": state["step"],
            "batch_in_epoch": position.get("batch_in_epoch", 0),
            "epoch_loss_sum": position.get("loss_sum", 0.0),
            "epoch_examples": position.get("count", 0),
            "best_value": state["best_val_nll"],
            "best_epoch": state["best_epoch"],
            "patience_counter": state["bad_epochs"],
            "stopped_early": False,
            "elapsed_seconds": old.get("elapsed_seconds", 0.0),
            "history": [
                {"epoch": h["epoch"], "train_loss": h["train_nll"], "val_loss": h["val_nll"], **h}
                for h in old.get("history", [])
            ],
        },
    }
    return latest, {"model_state": old["best_model"]}


def load_trained_made(path: str | Path) -> tuple[BernoulliMADE, dict]:
    """Rebuilds a model from ``checkpoints/best.pth`` (or the older ``best.pt``), or from a run
    folder holding either; returns it and the checkpoint (with ``config``, ``features``,
    ``dataset`` and ``train_fingerprint`` or ``data_fingerprint``).
    """
    path = Path(path)
    if path.is_dir():
        path = (
            path / "checkpoints" / "best.pth"
            if (path / "checkpoints" / "best.pth").is_file()
            else path / BEST_NAME
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.get("family") == "made" and "model_state" in checkpoint:  # the shared schema
        config = {**checkpoint.get("training_config", {}), **checkpoint["model_config"]}
        checkpoint = {
            **checkpoint,
            "features": config.pop("features"),
            "config": config,
            "model": checkpoint["model_state"],
            "dataset": checkpoint.get("dataset"),
        }
    if "config" not in checkpoint or "model" not in checkpoint:
        raise CheckpointError(f"{path} is not a binary-MADE checkpoint (train with `maflow made train`)")
    known = {f.name for f in dataclasses.fields(MadeTrainConfig)}
    settings = MadeTrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in known})
    model = build_bernoulli_made(int(checkpoint["features"]), settings)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match its own config: {str(error)[:200]}") from None
    model.set_mask_index(0)
    model.eval()
    return model, checkpoint


def same_training_data(checkpoint: dict, train: np.ndarray) -> bool:
    """Whether ``train`` (the whole split) holds the rows this checkpoint was trained on."""
    from maflow.run.checkpoint import data_fingerprint

    if "data_fingerprint" in checkpoint:  # the shared schema, --limit-train counted
        limit = checkpoint.get("training_config", {}).get("limit_train")
        return same_data(checkpoint["data_fingerprint"], data_fingerprint(train[:limit] if limit else train))
    return fingerprint(train) == checkpoint.get("train_fingerprint")
