"""Training the MNF LeNet and the plain LeNet on MNIST through the one Trainer: NLL + KL / N."""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from maflow.errors import ConfigError
from maflow.run.checkpoint import data_fingerprint, load_classifier, load_training_checkpoint, make_checkpoint
from maflow.run.command import command_line
from maflow.run.folder import RESUME_AND_OVERWRITE, RunLock, prepare_run_folder
from maflow.train.batches import full_batches
from maflow.train.guard import NonFiniteGuard
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer
from maflow.train.mnf_config import MNFTrainConfig
from maflow.utils.io import ensure_writable_dir, write_json

__all__ = ["MNFTrainConfig", "train_classifier", "classification_error", "load_classifier"]

DATASET = "mnist_grey"
# The shared run-folder layout, and the names of the older one (still read, still marking a run).
LATEST = Path("checkpoints") / "latest.pth"
BEST = Path("checkpoints") / "best.pth"
RESULTS_NAME, RESULTS_TEXT, LOG_NAME = "results.json", "results.txt", Path("logs") / "training.log"
CHECKPOINT_NAME, METRICS_NAME = "checkpoint.pt", "metrics.json"


def mnf_run_files(out: Path) -> tuple[list[Path], dict, Path]:
    """The files that mark an MNF run in ``out``, the names the command writes, and the checkpoint
    ``--resume`` continues (``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``).
    """
    artefacts = [out / LATEST, out / BEST, out / RESULTS_NAME, out / CHECKPOINT_NAME, out / METRICS_NAME]
    own = {
        out: [RESULTS_NAME, RESULTS_TEXT, CHECKPOINT_NAME, METRICS_NAME, "train.log"],
        out / "checkpoints": [LATEST.name, BEST.name],
        out / "logs": [LOG_NAME.name],
    }
    older = out / CHECKPOINT_NAME
    return artefacts, own, older if older.is_file() and not (out / LATEST).is_file() else out / LATEST


@torch.no_grad()
def classification_error(model, x, y, num_samples: int = 1, batch_size: int = 2000) -> dict:
    """Test error (%) and NLL (nats) of the predictive mean over ``num_samples`` posterior samples."""
    from maflow.models.mnf import predict

    num_samples = num_samples if model.is_bayesian else 1
    prediction = predict(model, x, num_samples=num_samples, batch_size=batch_size)
    mean = prediction.mean
    error = (mean.argmax(-1) != y).double().mean().item() * 100
    nll = -mean.clamp_min(1e-30).log().gather(1, y[:, None]).double().mean().item()
    return {"error_percent": error, "nll": nll, "num_samples": num_samples, "count": len(y)}


def _tensors(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32), torch.as_tensor(
        np.asarray(y), dtype=torch.long
    )


def train_classifier(
    config: MNFTrainConfig,
    dataset,
    out_dir: str | Path,
    resume: bool = False,
    echo: bool = True,
    overwrite: bool = False,
):
    """Trains ``config.model`` on ``dataset`` (a ``maflow.data.Dataset`` of grey MNIST) into ``out_dir``.

    The loop is the one :class:`~maflow.train.loop.Trainer`, with full batches only (the last
    incomplete one dropped, as janosh/torch-mnf) and the KL annealing as its step hook. The loss
    per batch is mean NLL + beta * kl_weight * KL / N_train, i.e. the negative evidence lower
    bound of the whole training set divided by N_train (the formula "NLL + KL / number of
    batches" with the NLL summed over the batch, divided by the batch size). After every epoch
    ``checkpoints/latest.pth`` (weights, optimiser, RNG states, progress) is replaced atomically,
    ``checkpoints/best.pth`` holds the epoch of the lowest validation NLL, and the validation
    error is logged to ``logs/training.log``; at the end the test error of the last weights goes
    to ``results.json`` and ``results.txt``. A run of the older layout (``checkpoint.pt``)
    resumes from it; ``resume`` with another ``config.lr`` continues with that rate (logged and
    recorded in the checkpoint).
    The folder is locked while the run writes there; a folder that holds a run is continued with
    ``resume``, started over with ``overwrite`` (only this trainer's files are removed), and
    otherwise refused. Returns the metrics dict.
    """
    if config.epochs < 1 or config.batch_size < 1:
        raise ConfigError("--epochs and --batch-size must be positive")
    if resume and overwrite:
        raise ConfigError(RESUME_AND_OVERWRITE)
    num_train = min(len(dataset.train), config.limit_train or len(dataset.train))
    if num_train // config.batch_size == 0:
        raise ConfigError(f"--batch-size {config.batch_size} exceeds the {num_train} training images")
    out = ensure_writable_dir(out_dir)
    with RunLock(out, command_line()):
        artefacts, own, resume_from = mnf_run_files(out)
        prepare_run_folder(out, artefacts, own, resume, overwrite, resume_from)
        return _train_in_folder(config, dataset, out, resume, echo, resume_from)


def _train_in_folder(
    config: MNFTrainConfig, dataset, out: Path, resume: bool, echo: bool, resume_from
) -> dict:
    with TrainingLogger(out / LOG_NAME, out / "tensorboard", echo=echo) as logger:
        run = _ClassifierRun(config, dataset, out, logger, progress=None if echo else False)
        if resume and resume_from.exists():
            run.restore(resume_from)
        run.describe()
        # The rows are indices into the images, on their device (no copy of indices per step).
        run.trainer.fit(torch.arange(run.num_train, device=run.train[0].device))
        return run.finish()


class _ClassifierRun:
    """One classifier run: its model, optimiser, hooks and checkpoints in the one Trainer."""

    def __init__(self, config: MNFTrainConfig, dataset, out: Path, logger, progress: bool | None = None):
        from maflow.models.mnf import build_classifier
        from maflow.run.device import resolve_device

        torch.manual_seed(config.seed)
        random.seed(config.seed)  # unused by the classifiers, but checkpointed: a resume must match them too
        np.random.seed(config.seed % 2**32)
        self.config, self.out, self.logger = config, out, logger
        device = resolve_device(config.device)
        x_train, y_train = _tensors(dataset.train, dataset.train_labels)
        if config.limit_train:
            x_train, y_train = x_train[: config.limit_train], y_train[: config.limit_train]
        self.fingerprint = data_fingerprint(x_train.numpy())
        self.train = x_train.to(device), y_train.to(device)
        x_val, y_val = _tensors(dataset.val, dataset.val_labels)
        x_test, y_test = _tensors(dataset.test, dataset.test_labels)
        self.val = x_val.to(device), y_val.to(device)
        self.test = x_test.to(device), y_test.to(device)
        self.num_train = len(x_train)
        self.batches_per_epoch = self.num_train // config.batch_size  # drop_last, as janosh/torch-mnf
        if self.batches_per_epoch == 0:
            raise ConfigError(
                f"--batch-size {config.batch_size} exceeds the {self.num_train} training images"
            )
        self.model = build_classifier(config.model, **config.model_options()).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.anneal_steps = config.kl_anneal_epochs * self.batches_per_epoch
        self.beta, self.step = 1.0, 0
        self.start_wall = self.start_cpu = 0.0
        self.trainer = Trainer(
            self.model,
            self.optimizer,
            self.loss,
            self.validate,
            self.checkpoint,
            out / "checkpoints",
            logger,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            generator=self.generator,
            progress=progress,
            nan_guard=NonFiniteGuard("stop", advice=NAN_ADVICE),
            before_step=self.anneal,
            batches_fn=full_batches,
            stop_after_epoch=self.time_limit,
            restore_best=False,  # the last weights are scored, as janosh/torch-mnf
            tf32=config.tf32,
        )

    def anneal(self, step: int) -> None:
        """The KL weight rises linearly over ``kl_anneal_epochs`` epochs of steps."""
        self.step = step
        self.beta = min(1.0, step / self.anneal_steps) if self.anneal_steps > 0 else 1.0

    def loss(self, model, index: torch.Tensor) -> tuple[torch.Tensor, dict]:
        config = self.config
        xb, yb = self.train[0][index], self.train[1][index]
        log_probs = model(xb)
        nll = F.nll_loss(log_probs, yb)
        kl = model.kl_divergence()
        loss = nll + self.beta * config.kl_weight * kl / self.num_train
        # Kept on the device: the one Trainer reads the epoch's sums back only now and then.
        wrong = (log_probs.argmax(-1) != yb).sum().double()
        if (self.step + 1) % config.log_every == 0:
            self.logger.scalars(
                {
                    "loss/NLL": nll.item(),
                    "loss/KL div": kl.item(),
                    "loss/NLL + KL": loss.item(),
                    "loss/KL weight": self.beta * config.kl_weight,
                    "accuracy/training": 1 - wrong.item() / len(yb),
                },
                self.step + 1,
            )
        size = len(yb)
        sums = {
            "train_nll": nll.detach().double() * size,
            "kl": kl.detach().double() * size,
            "train_error_percent": 100.0 * wrong,
        }
        return loss, sums

    def validate(self, model) -> tuple[float, dict]:
        val = classification_error(model, *self.val, self.config.val_samples)
        return val["nll"], {"val_error_percent": val["error_percent"], "val_nll": val["nll"]}

    def time_limit(self) -> str | None:
        minutes = (time.time() - self.start_wall) / 60
        if self.config.max_minutes is not None and minutes > self.config.max_minutes:
            return f"stopping after epoch {self.trainer.epoch}: {minutes:.1f} min exceeds --max-minutes"
        return None

    def checkpoint(self, **progress) -> dict:
        return make_checkpoint(
            self.model,
            self.config.model,
            self.config.model_options(),
            DATASET,
            self.fingerprint,
            optimizer=self.optimizer,
            generator=self.generator,
            training_config=asdict(self.config),
            family="mnf",
            **progress,
        )

    def restore(self, path: Path) -> None:
        """Continues from ``path`` (``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``)."""
        config = self.config
        expected = dict(
            model_name=config.model,
            model_config=config.model_options(),
            dataset=DATASET,
            fingerprint=self.fingerprint,
        )
        checkpoint = load_training_checkpoint(path, **expected)
        if "best_value" not in checkpoint["progress"]:  # written before MNF trained in the one Trainer
            checkpoint = _older_progress(checkpoint)
        best = self.out / BEST
        self.trainer.restore(
            checkpoint, load_training_checkpoint(best, **expected) if best.is_file() else None
        )
        if checkpoint["training_config"].get("lr") != config.lr:
            self.trainer.change_learning_rate(config.lr)
        self.logger.info(f"resumed from {path} at epoch {self.trainer.epoch}, step {self.trainer.step}")

    def describe(self) -> None:
        from maflow.models.mnf import num_parameters

        self.logger.info(
            f"{self.config.model}: {num_parameters(self.model):,} parameters, {self.num_train} training "
            f"images, {self.batches_per_epoch} batches/epoch, config {asdict(self.config)}"
        )
        self.start_wall, self.start_cpu = time.time() - self.trainer.elapsed, time.process_time()

    def finish(self) -> dict:
        """The test error of the last weights with ``test_samples`` posterior samples, into
        ``results.json`` and ``results.txt``.
        """
        from maflow.models.mnf import num_parameters
        from maflow.run.results import format_results
        from maflow.utils.io import atomic_write_text

        history = self.trainer.history
        test = classification_error(self.model, *self.test, self.config.test_samples)
        metrics: dict[str, Any] = {
            "family": "mnf",
            "model": self.config.model,
            "parameters": num_parameters(self.model),
            "epochs_completed": self.trainer.epoch,
            "best_epoch": self.trainer.best_epoch,
            "test": test,
            "val_error_percent": history[-1]["val_error_percent"] if history else math.nan,
            "wall_seconds": time.time() - self.start_wall,
            "cpu_seconds_this_process": time.process_time() - self.start_cpu,
            "config": asdict(self.config),
            "history": history,
        }
        write_json(self.out / RESULTS_NAME, metrics)
        atomic_write_text(self.out / RESULTS_TEXT, format_results({self.config.model: metrics}))
        self.logger.info(
            f"test error {test['error_percent']:.2f}% (NLL {test['nll']:.4f}, {test['num_samples']} sample(s)) "
            f"after {self.trainer.epoch} epochs, {metrics['wall_seconds'] / 60:.1f} min wall"
        )
        return metrics


NAN_ADVICE = "Resume with a lower learning rate (--resume --lr ...), or use --kl-anneal-epochs"


def _older_progress(checkpoint: dict) -> dict:
    """A checkpoint of the MNF loop before the one Trainer, as the Trainer reads it.

    That loop kept the history in ``training_config`` and the running sums of an interrupted
    epoch per batch (means, not sums over examples); the early-stopping state comes from the
    history (lowest validation NLL).
    """
    config = checkpoint["training_config"]
    progress = dict(checkpoint["progress"])
    history, best, best_epoch, counter = [], math.inf, 0, 0
    for record in config.get("history", []):
        record = {k: v for k, v in record.items() if k != "wall_seconds"}
        if record["val_nll"] < best:
            best, best_epoch, counter = record["val_nll"], record["epoch"], 0
        else:
            counter += 1
        history.append(
            {
                "epoch": record["epoch"],
                "train_loss": record["train_nll"],
                "val_loss": record["val_nll"],
                **record,
            }
        )
    size = int(config.get("batch_size", 100))
    done = int(progress.get("batch_in_epoch", 0))
    sums = {
        "train_nll": float(progress.get("epoch_nll_sum", 0.0)) * size,
        "kl": float(progress.get("epoch_kl_sum", 0.0)) * size,
        "train_error_percent": 100.0 * (done * size - float(progress.get("epoch_correct_sum", 0))),
    }
    progress.update(
        best_value=best,
        best_epoch=best_epoch,
        patience_counter=counter,
        stopped_early=False,
        history=history,
        epoch_loss_sum=sums["train_nll"],
        epoch_examples=done * size,
        epoch_sums=sums if done else {},
    )
    return {
        **checkpoint,
        "progress": progress,
        "training_config": {k: v for k, v in config.items() if k != "history"},
    }
