"""Training and evaluation of a Bernoulli MADE on binary data, with connectivity-agnostic training.

The run's settings, model and optimiser are in :mod:`~maflow.train.made_config`; its files, the
older layout and loading a trained model in :mod:`~maflow.train.made_checkpoint`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from maflow.errors import CheckpointError, DataError
from maflow.models.bernoulli_made import BernoulliMADE
from maflow.run.checkpoint import same_data
from maflow.run.folder import remove_own_temporaries
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer
from maflow.train.made_checkpoint import (
    CHECKPOINT_NAME,
    LOG_NAME,
    fingerprint,
    from_older_layout,
    load_trained_made,
    made_resume_file,
    made_run_files,
    same_training_data,
)
from maflow.train.made_config import (
    MODEL_FIELDS,
    MadeTrainConfig,
    build_bernoulli_made,
    build_optimizer,
    mask_index_at_step,
)
from maflow.utils.io import ensure_writable_dir
from maflow.utils.stats import mean_and_error

# The configuration and the run's files have modules of their own; their names are imported
# from here too.
__all__ = [
    "MadeTrainConfig",
    "build_bernoulli_made",
    "build_optimizer",
    "mask_index_at_step",
    "evaluate_log_likelihood",
    "train_made",
    "load_trained_made",
    "fingerprint",
    "summarize",
    "made_run_files",
    "made_resume_file",
    "same_training_data",
]


def check_binary(name: str, array: np.ndarray, features: int | None = None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or len(array) == 0:
        raise DataError(f"{name} split must be a non-empty (N, D) array, got shape {array.shape}")
    if features is not None and array.shape[1] != features:
        raise DataError(f"{name} split has {array.shape[1]} features, the model has {features}")
    if not np.isin(array, (0, 1)).all():
        raise DataError(f"{name} split is not binary: a Bernoulli MADE needs 0/1 values")
    return array.astype(np.float32, copy=False)


@torch.no_grad()
def evaluate_log_likelihood(
    model: BernoulliMADE, data, num_masks_to_average: int = 1, batch_size: int = 1000
) -> np.ndarray:
    """Per-example log-likelihood (nats, float64) of the mixture of masks ``0..S-1``."""
    was_training = model.training
    model.eval()
    data = torch.as_tensor(np.asarray(data, dtype=np.float32))
    device = next(model.parameters()).device
    try:
        parts = [
            model.log_prob_ensemble(batch.to(device), num_masks_to_average).cpu()
            for batch in data.split(batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts).double().numpy()


def _learning_rate(config: MadeTrainConfig, epoch: int) -> float:
    if config.lr_schedule == "cosine":
        return 0.5 * config.lr * (1 + math.cos(math.pi * epoch / config.epochs))
    return config.lr


def train_made(
    train,
    val,
    config: MadeTrainConfig,
    out_dir: str | Path,
    extra: dict | None = None,
    log: Callable[[str], None] = print,
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    logger: TrainingLogger | None = None,
) -> tuple[BernoulliMADE, dict]:
    """Trains a Bernoulli MADE with Adam and early stopping on the validation mixture NLL.

    The loop is the generic :class:`~maflow.train.loop.Trainer`, with the mask schedule and the
    learning-rate schedule as its hooks. It writes ``checkpoints/latest.pth`` (resumable:
    weights, optimiser, step, data order, RNG states) after each epoch and
    ``checkpoints/best.pth`` (best validation weights) under ``out_dir``, in the checkpoint
    schema of every family (``family`` ``"made"``, the config as ``model_config``). ``extra``
    (e.g. ``{"dataset": ...}``) names the data set. The model and the training data live on
    ``device``; ``progress`` is the bar's switch (``None``: on a terminal); lines go to
    ``logger`` (a :class:`TrainingLogger`) or, without one, to ``log`` and
    ``logs/training.log``. A run of the older layout (``checkpoint.pt``) is continued from it.
    Returns the model with the best weights, and the run summary.
    """
    config = config.validated()
    train = check_binary("train", train)
    val = check_binary("validation", val, train.shape[1])
    out_dir = ensure_writable_dir(out_dir)
    for folder, names in made_run_files(out_dir)[1].items():
        remove_own_temporaries(folder, names)  # left by a killed run
    own_logger = logger is None
    if own_logger:
        logger = _LogTo(log, TrainingLogger(out_dir / LOG_NAME, out_dir / "tensorboard", echo=False))
    try:
        run = _MadeRun(train, val, config, out_dir, dict(extra or {}), logger, torch.device(device), progress)
        if resume:
            run.restore()
        summary = run.trainer.fit(run.x_train)
    finally:
        if own_logger:
            logger.close()
    return run.finish(summary)


class _LogTo:
    """A :class:`TrainingLogger` whose lines also go to ``log`` (a callable)."""

    def __init__(self, log, logger: TrainingLogger):
        self.log, self.logger = log, logger

    def info(self, message: str, echo: bool | None = None) -> None:
        self.logger.info(message, echo=False)
        if echo is not False and self.log is not None:
            self.log(message)

    def scalars(self, values: dict, step: int) -> None:
        self.logger.scalars(values, step)

    def close(self) -> None:
        self.logger.close()


class _MadeRun:
    """One binary-MADE run: its model, optimiser, hooks and checkpoints in the generic Trainer."""

    def __init__(
        self, train, val, config: MadeTrainConfig, out_dir: Path, extra: dict, logger, device, progress
    ):
        from maflow.run.checkpoint import data_fingerprint

        self.config, self.out_dir, self.logger = config, out_dir, logger
        self.model = build_bernoulli_made(train.shape[1], config).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), config)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.dataset = extra.get("dataset")
        settings = dataclasses.asdict(config)
        self.model_config = {"features": train.shape[1], **{k: settings[k] for k in MODEL_FIELDS}}
        self.fingerprint = data_fingerprint(train)
        self.training_config = {**dataclasses.asdict(config), **extra}
        self.x_train = torch.from_numpy(train).to(device)
        checkpoints = out_dir / "checkpoints"

        def validate(model):
            nll = -float(
                evaluate_log_likelihood(model, val, config.val_ensemble_masks, config.eval_batch_size).mean()
            )
            return nll, {"val_nll": nll, "lr": self.optimizer.param_groups[0]["lr"]}

        self.trainer = Trainer(
            self.model,
            self.optimizer,
            lambda model, batch: -model.log_prob(batch).mean(),
            validate,
            self.checkpoint,
            checkpoints,
            logger,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            generator=self.generator,
            progress=progress,
            before_epoch=self._set_learning_rate,
            before_step=self._set_mask,
            tf32=config.tf32,
        )

    def _set_learning_rate(self, epochs_done: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = _learning_rate(self.config, epochs_done)

    def _set_mask(self, step: int) -> None:
        if self.config.mask_draws > 1:
            self.model.set_mask_index(
                mask_index_at_step(step, self.config.mask_draws, self.config.resample_every)
            )

    def checkpoint(self, **progress) -> dict:
        from maflow.run.checkpoint import make_checkpoint

        return make_checkpoint(
            self.model,
            "bernoulli-made",
            self.model_config,
            self.dataset,
            self.fingerprint,
            self.optimizer,
            generator=self.generator,
            training_config=self.training_config,
            family="made",
            **progress,
        )

    def restore(self) -> None:
        from maflow.run.checkpoint import load_training_checkpoint

        trainer = self.trainer
        if not trainer.latest_path.is_file() and (self.out_dir / CHECKPOINT_NAME).is_file():
            path = self.out_dir / CHECKPOINT_NAME
            latest, best = from_older_layout(self.out_dir)
        elif trainer.latest_path.is_file():
            path = trainer.latest_path
            latest = load_training_checkpoint(path, fingerprint=self.fingerprint)
            best = load_training_checkpoint(trainer.best_path) if trainer.best_path.is_file() else None
        else:
            return
        stored = {**latest["training_config"], **latest["model_config"]}
        current = {**self.training_config, **self.model_config}
        free = (
            ("epochs", "patience", "dataset", "limit_train", "tf32")
            if self.config.lr_schedule == "constant"
            else ("patience", "dataset", "limit_train", "tf32")
        )
        for key in sorted(set(stored) | set(current)):
            if key not in free and stored.get(key) != current.get(key):
                raise CheckpointError(
                    f"{path} was written with other options ({key}={stored.get(key)!r}, now "
                    f"{current.get(key)!r}); leave the flag out to continue the run as it was, or use another --out"
                )
        older = latest.get("train_fingerprint")  # the older layout's hash of the whole split
        if older is not None and older != fingerprint(self.x_train.cpu().numpy()):
            latest["data_fingerprint"] = {}
        if latest.get("data_fingerprint") is not None and not same_data(
            latest["data_fingerprint"], self.fingerprint
        ):
            raise CheckpointError(
                "this run was trained on other data (the training split or --limit-train changed); "
                "resume with the same data, or use another --out"
            )
        trainer.restore(latest, best)
        self.logger.info(f"resumed from epoch {trainer.epoch} (step {trainer.step})")

    def finish(self, summary: dict) -> tuple[BernoulliMADE, dict]:
        self.model.set_mask_index(0)
        history = [
            {
                "epoch": h["epoch"],
                "train_nll": h["train_loss"],
                "val_nll": h["val_loss"],
                "lr": h.get("lr"),
                "seconds": h.get("seconds"),
            }
            for h in self.trainer.history
        ]
        return self.model, {
            "epochs_run": summary["epoch"],
            "best_epoch": summary["best_epoch"],
            "best_val_nll": summary["best_value"],
            "stopped_by": "early stopping" if summary["stopped_early"] else "epoch limit",
            "train_seconds": summary["elapsed_seconds"],
            "history": history,
        }


def summarize(log_likelihoods: np.ndarray) -> dict:
    """Mean NLL in nats with 2 standard errors (maflow's convention, the MAF paper's), and 1 SE.

    The MADE authors' code reports 1 standard error (mgermain/MADE ``trainMADE.py``:
    ``losses.std() / sqrt(N)``); ``nll_1se`` is that number, for comparing with their tables.

    Example:
        >>> summary = summarize(np.array([-1.0, -3.0]))
        >>> summary["nll"], round(summary["nll_2se"], 4), round(summary["nll_1se"], 4), summary["count"]
        (2.0, 1.4142, 0.7071, 2)
    """
    mean, error = mean_and_error(-np.asarray(log_likelihoods, dtype=np.float64))
    return {"nll": mean, "nll_2se": error, "nll_1se": error / 2, "count": int(np.size(log_likelihoods))}
