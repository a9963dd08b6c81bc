"""Training of the VAE through the one :class:`~maflow.train.loop.Trainer`: the negative ELBO with
a KL warm-up and a stepped learning rate as the loop's hooks, and the pictures at the end.

The settings and the two schedules are in :mod:`~maflow.train.vae_config`.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from maflow.errors import CheckpointError
from maflow.run.checkpoint import data_fingerprint, load_training_checkpoint, make_checkpoint, same_data
from maflow.run.folder import remove_own_temporaries
from maflow.train.batches import epoch_batches
from maflow.train.guard import NonFiniteGuard
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer
from maflow.train.vae_checkpoint import (
    BEST,
    LATEST,
    LOG_NAME,
    RESULTS_NAME,
    RESULTS_TEXT,
    is_older,
    older_as_latest,
    vae_checkpoint,
    vae_run_files,
)
from maflow.train.vae_config import VAETrainConfig, kl_warmup_scale, learning_rate
from maflow.utils.io import ensure_writable_dir, load_checkpoint, write_json

# The settings and their schedules have a module of their own (maflow.train.vae_config); their
# names are imported from here too.
__all__ = [
    "VAETrainConfig",
    "kl_warmup_scale",
    "learning_rate",
    "train_vae",
    "pictures",
    "vae_run_files",
    "vae_checkpoint",
]

NAN_ADVICE = (
    "Resume with a lower learning rate (--resume --lr ...), or set train.grad_clip (--set train.grad_clip=5)"
)


@torch.no_grad()
def _evaluate_elbo(model, data: Tensor, batch_size: int = 500) -> dict:
    """Single-sample ELBO terms on binary ``data`` in evaluation mode (nats per example)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    device = next(model.parameters()).device
    for x in data.split(batch_size):
        terms = model(x.to(device))
        totals += torch.stack([terms.elbo.sum(), terms.log_likelihood.sum(), terms.kl.sum()]).double()
    model.train(was_training)
    elbo, reconstruction, kl = (totals / data.shape[0]).tolist()
    return {"elbo": elbo, "reconstruction": reconstruction, "kl": kl}


def train_vae(
    model,
    train_data: Tensor,
    val_data: Tensor | None,
    config: VAETrainConfig,
    out,
    extra: dict | None = None,
    quiet: bool = False,
) -> list[dict]:
    """Trains ``model`` on ``train_data`` (grey levels if dynamically binarised), resuming from ``out``.

    The loop is the one :class:`~maflow.train.loop.Trainer`: the loss of a batch is the negative
    ELBO with the KL term weighted by the warm-up (:func:`kl_warmup_scale`), the learning rate
    follows :func:`learning_rate`, both set before each epoch; the binarisation of each batch
    draws from the data-order generator (so a resume replays it). ``val_data`` is binarised once
    (seeded) so validation ELBOs are comparable across epochs; early stopping (``patience``)
    watches the validation ELBO.

    Writes to ``out``: ``checkpoints/latest.pth`` after every epoch and ``checkpoints/best.pth``
    at the best validation ELBO (the shared schema: ``family`` ``"vae"``, the model's constructor
    arguments as ``model_config``, optimiser, RNG and data-order states, a fingerprint of all the
    training data), ``logs/training.log``, TensorBoard scalars under ``tensorboard/``,
    ``history.json``, ``results.json`` and ``results.txt`` (the training section), and the
    pictures ``data_samples.png``, ``model_samples.png`` and ``reconstructions.png`` (of the last
    weights, which ``maflow vae evaluate`` scores, as karstenkreis/flow_vae). A run of the older
    layout continues from its ``checkpoint.pt``. Returns the per-epoch history. ``extra`` (plain
    values) is stored in the checkpoint, e.g. the run's configuration. ``quiet``: no progress bar
    and no log lines on the terminal (``logs/training.log`` keeps them).
    """
    config = config.validated()
    out = ensure_writable_dir(out)
    for folder, names in vae_run_files(out)[1].items():
        remove_own_temporaries(folder, names)  # left by a killed run
    with TrainingLogger(out / LOG_NAME, out / "tensorboard", echo=not quiet) as logger:
        run = _VAERun(model, train_data, val_data, config, out, extra, logger, quiet)
        run.restore_or_describe()
        summary = run.trainer.fit(run.train_data)
        history = run.finish(summary)
    pictures(model, run.picture_data(), out)
    return history


class _VAERun:
    """One VAE run: its model, optimiser, hooks and checkpoints in the one Trainer."""

    def __init__(self, model, train_data, val_data, config: VAETrainConfig, out: Path, extra, logger, quiet):
        self.model, self.config, self.out, self.extra, self.logger = model, config, out, extra or {}, logger
        self.train_data = train_data
        self.device = next(model.parameters()).device  # data stay on the CPU; batches move
        self.generator = torch.Generator().manual_seed(config.seed)  # data order and binarisation
        random.seed(config.seed)  # unused by the VAE, but checkpointed: a resume must match them too
        np.random.seed(config.seed % 2**32)
        self.val_binary = None
        if val_data is not None and len(val_data):
            self.val_binary = (
                torch.bernoulli(val_data, generator=torch.Generator().manual_seed(config.seed + 1))
                if config.dynamic_binarization
                else val_data
            )
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.fingerprint = data_fingerprint(train_data.cpu().numpy())
        self.beta = 1.0
        self.trainer = Trainer(
            model,
            self.optimizer,
            self.loss,
            self.validate,
            self.checkpoint,
            out / "checkpoints",
            logger,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            grad_clip=config.grad_clip,
            generator=self.generator,
            progress=False if quiet else None,
            nan_guard=NonFiniteGuard("stop", advice=NAN_ADVICE),
            before_epoch=self.set_schedules,
            batches_fn=self.batches,
            prepare_batch=self.binarize,
            restore_best=False,  # the last weights are the run's result (karstenkreis/flow_vae)
            tf32=config.tf32,
        )

    def batches(self, num_examples: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
        return epoch_batches(num_examples, batch_size, generator)[: self.config.max_train_batches]

    def binarize(self, x: Tensor) -> Tensor:
        if self.config.dynamic_binarization:
            x = torch.bernoulli(x, generator=self.generator)
        return x.to(self.device)

    def set_schedules(self, epochs_done: int) -> None:
        config = self.config
        self.beta = kl_warmup_scale(epochs_done, config.warmup_epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(
                epochs_done, config.lr, config.lr_decay_epochs, config.lr_decay_factor
            )

    def loss(self, model, x: Tensor) -> tuple[Tensor, dict]:
        terms = model(x)
        loss = -(terms.log_likelihood - self.beta * terms.kl).mean()
        with torch.no_grad():
            sums = torch.stack([terms.elbo.sum(), terms.log_likelihood.sum(), terms.kl.sum()]).double()
        elbo, reconstruction, kl = sums.tolist()
        return loss, {"train_elbo": elbo, "train_reconstruction": reconstruction, "train_kl": kl}

    def validate(self, model) -> tuple[float | None, dict]:
        """The validation ELBO when due (every ``eval_every`` epochs and at the last), and the schedules."""
        config, epoch = self.config, self.trainer.epoch
        extras = {
            "warmup_scale": kl_warmup_scale(epoch - 1, config.warmup_epochs),
            "learning_rate": learning_rate(
                epoch - 1, config.lr, config.lr_decay_epochs, config.lr_decay_factor
            ),
        }
        due = config.eval_every and (epoch % config.eval_every == 0 or epoch == config.epochs)
        if self.val_binary is None or not due:
            return None, extras
        terms = _evaluate_elbo(model, self.val_binary)
        return -terms["elbo"], {**extras, **{f"val_{k}": v for k, v in terms.items()}}

    def checkpoint(self, **progress) -> dict:
        dataset = (self.extra.get("config") or {}).get("data", {}).get("dataset")
        return make_checkpoint(
            self.model,
            "vae",
            self.model.hparams,
            dataset,
            self.fingerprint,
            self.optimizer,
            generator=self.generator,
            training_config={**asdict(self.config), "run": self.extra},
            family="vae",
            **progress,
        )

    def restore_or_describe(self) -> None:
        """Continues the run in ``out`` when it holds a checkpoint; else logs what starts."""
        path = vae_checkpoint(self.out)
        if not path.exists():
            self.logger.info(f"model: {json.dumps(self.model.hparams)}", echo=False)
            self.logger.info(f"training: {json.dumps(asdict(self.config))}", echo=False)
            self.logger.info(f"parameters: {sum(p.numel() for p in self.model.parameters())}", echo=False)
            return
        checkpoint = load_checkpoint(path)
        if is_older(checkpoint):
            batches = len(self.batches(len(self.train_data), self.config.batch_size, torch.Generator()))
            checkpoint = older_as_latest(checkpoint, batches)
        elif checkpoint.get("family") != "vae" or "progress" not in checkpoint:
            raise CheckpointError(f"{path} is not a VAE checkpoint; use another --out")
        stored = checkpoint.get("model_config") or {}
        if type(self.model).with_defaults(stored) != self.model.hparams:
            raise CheckpointError(
                f"{path} holds a different model ({stored}); use another --out or the same model settings"
            )
        if checkpoint.get("data_fingerprint") is not None and not same_data(
            checkpoint["data_fingerprint"], self.fingerprint
        ):
            raise CheckpointError(
                f"{path} was trained on other data (the training split or --limit-train changed); "
                "resume with the same data, or use another --out"
            )
        best = self.out / BEST
        self.trainer.restore(checkpoint, load_training_checkpoint(best) if best.is_file() else None)
        stored_lr = (checkpoint.get("training_config") or {}).get("lr")
        if stored_lr is not None and stored_lr != self.config.lr:  # the schedule restarts from the new rate
            config, epoch = self.config, self.trainer.epoch
            self.trainer.change_learning_rate(
                learning_rate(epoch, config.lr, config.lr_decay_epochs, config.lr_decay_factor)
            )
        self.logger.info(f"resumed from {path} after epoch {self.trainer.epoch}")

    def finish(self, summary: dict) -> list[dict]:
        """``history.json``, and the training section of ``results.json`` and ``results.txt``."""
        from maflow.run.results import update_results

        history = self.trainer.history
        write_json(self.out / "history.json", history)
        validated = [record for record in history if "val_elbo" in record]
        best = max(validated, key=lambda record: record["val_elbo"]) if validated else None
        last = history[-1] if history else {}
        training = {
            "family": "vae",
            "model": "vae",
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "epochs_run": summary["epoch"],
            "steps": summary["step"],
            "stopped_by": "early stopping" if summary["stopped_early"] else "epoch limit",
            "best_epoch": best["epoch"] if best else None,
            "best_val_elbo": best["val_elbo"] if best else None,
            "last_train_elbo": last.get("train_elbo", math.nan),
            "last_val_elbo": validated[-1]["val_elbo"] if validated else None,
            "train_seconds": summary["elapsed_seconds"],
            "checkpoint": str(self.out / LATEST),
        }
        update_results(self.out / RESULTS_NAME, self.out / RESULTS_TEXT, "training", training)
        return history

    def picture_data(self) -> Tensor:
        data = self.val_binary if self.val_binary is not None else self.binarize(self.train_data[:100])
        return data.to(self.device)


@torch.no_grad()
def pictures(model, data: Tensor, out, count: int = 100) -> None:
    """Data samples, model samples (Bernoulli means, z from the prior) and reconstructions."""
    from maflow.run.figures import save_image_grid

    was_training = model.training
    model.eval()
    shape = model.image_shape
    data = data[:count]
    save_image_grid(data.cpu().numpy(), shape, Path(out) / "data_samples.png")
    save_image_grid(model.sample(count).cpu().numpy(), shape, Path(out) / "model_samples.png")
    # Each row: five inputs, each followed by its reconstruction.
    inputs = data[:50]
    pairs = torch.stack([inputs, model.reconstruct(inputs)], 1).reshape(-1, inputs.shape[-1])
    save_image_grid(pairs.cpu().numpy(), shape, Path(out) / "reconstructions.png", columns=10)
    model.train(was_training)
