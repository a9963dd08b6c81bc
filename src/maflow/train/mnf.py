"""Training the MNF LeNet and the plain LeNet on MNIST: NLL + KL / N, resumable, logged."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from maflow.errors import ConfigError
from maflow.run.checkpoint import (
    data_fingerprint,
    load_classifier,
    load_training_checkpoint,
    make_checkpoint,
    save_training_checkpoint,
    set_rng_states,
)
from maflow.run.command import command_line, resume_command
from maflow.run.folder import RESUME_AND_OVERWRITE, RunLock, prepare_run_folder
from maflow.run.interrupt import StopSignals, TrainingInterrupted, interrupted_message
from maflow.train.guard import optimizer_step
from maflow.train.logger import TrainingLogger
from maflow.train.progress import EpochProgress
from maflow.utils.io import ensure_writable_dir, write_json

__all__ = ["MNFTrainConfig", "train_classifier", "classification_error", "load_classifier"]

DATASET = "mnist_grey"
# The shared run-folder layout, and the names of the older one (still read, still marking a run).
LATEST = Path("checkpoints") / "latest.pth"
RESULTS_NAME, RESULTS_TEXT, LOG_NAME = "results.json", "results.txt", Path("logs") / "training.log"
CHECKPOINT_NAME, METRICS_NAME = "checkpoint.pt", "metrics.json"


def mnf_run_files(out: Path) -> tuple[list[Path], dict, Path]:
    """The files that mark an MNF run in ``out``, the names the command writes, and the checkpoint
    ``--resume`` continues (``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``).
    """
    artefacts = [out / LATEST, out / RESULTS_NAME, out / CHECKPOINT_NAME, out / METRICS_NAME]
    own = {
        out: [RESULTS_NAME, RESULTS_TEXT, CHECKPOINT_NAME, METRICS_NAME, "train.log"],
        out / "checkpoints": [LATEST.name],
        out / "logs": [LOG_NAME.name],
    }
    older = out / CHECKPOINT_NAME
    return artefacts, own, older if older.is_file() and not (out / LATEST).is_file() else out / LATEST


@dataclass
class MNFTrainConfig:
    """Settings of one MNIST classifier run.

    Arguments:
        model: ``"mnf-lenet"`` or ``"lenet"``.
        epochs: passes over the training split.
        batch_size: 100 (the MNF authors' script).
        lr: Adam learning rate (1e-3 for both models, as both seeds).
        kl_weight: multiplies KL / N_train (1 is the evidence lower bound).
        kl_anneal_epochs: the KL weight rises linearly from 0 to ``kl_weight`` over this many epochs (0: off).
        mask_mode: masks of the MNF flows, ``"fixed"`` or ``"fresh"``.
        seed: seeds the weights, the noise and the data order.
        val_samples, test_samples: posterior samples per image when scoring the MNF LeNet.
        max_minutes: stop after the first epoch that ends beyond this wall time (None: no limit).
        limit_train: use only the first N training images (quick checks).
        log_every: steps between TensorBoard training scalars.
        patience: stop after this many epochs without a lower validation NLL (None: off).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    model: str = "mnf-lenet"
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    kl_weight: float = 1.0
    kl_anneal_epochs: float = 0.0
    mask_mode: str = "fixed"
    seed: int = 0
    val_samples: int = 1
    test_samples: int = 10
    max_minutes: float | None = None
    limit_train: int | None = None
    log_every: int = 50
    patience: int | None = None
    device: str = "auto"

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.kl_weight >= 0, f"--kl-weight must be >= 0, got {self.kl_weight}"),
            (self.kl_anneal_epochs >= 0, f"--kl-anneal-epochs must be >= 0, got {self.kl_anneal_epochs}"),
            (self.test_samples >= 1, f"--test-samples must be >= 1, got {self.test_samples}"),
            (self.patience is None or self.patience >= 1, f"--patience must be >= 1, got {self.patience}"),
            (
                self.limit_train is None or self.limit_train >= 1,
                f"--limit-train must be >= 1, got {self.limit_train}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def model_options(self) -> dict:
        return {"mask_mode": self.mask_mode} if self.model == "mnf-lenet" else {}


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

    The loss per batch is mean NLL + beta * kl_weight * KL / N_train, i.e. the negative evidence
    lower bound of the whole training set divided by N_train (the formula "NLL + KL / number of
    batches" with the NLL summed over the batch, divided by the batch size). After every epoch
    ``checkpoints/latest.pth`` (weights, optimiser, RNG states, progress) is replaced atomically
    and the validation error is logged to ``logs/training.log``; at the end the test error goes to
    ``results.json`` and ``results.txt``. A run of the older layout (``checkpoint.pt``) resumes
    from it.
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
    run = _ClassifierRun(config, dataset, out, progress=None if echo else False)
    if resume and resume_from.exists():
        run.restore(resume_from)
    run.logger = TrainingLogger(out / LOG_NAME, out / "tensorboard", echo=echo)
    try:
        run.describe()
        with StopSignals() as stop:  # SIGINT / SIGTERM: finish the step, save it, say how to resume
            while run.epoch < config.epochs:
                run.train_epoch(stop)
                run.end_epoch()
                if run.patience_exhausted():
                    run.logger.info(f"early stopping: no lower validation NLL for {config.patience} epochs")
                    break
                minutes = (time.time() - run.start_wall) / 60
                if (
                    config.max_minutes is not None
                    and minutes > config.max_minutes
                    and run.epoch < config.epochs
                ):
                    run.logger.info(
                        f"stopping after epoch {run.epoch}: {minutes:.1f} min exceeds --max-minutes"
                    )
                    break
            if stop.received is not None:  # during the last validation: the checkpoint holds the last epoch
                kept = f"epoch {run.epoch}, step {run.step} in {run.checkpoint_path}"
                raise TrainingInterrupted(
                    interrupted_message(stop.received, kept, resume_command()), stop.received
                )
        return run.finish()
    finally:
        run.logger.close()


class _ClassifierRun:
    """The state of one classifier run and the steps of its loop (see :func:`train_classifier`)."""

    logger: TrainingLogger  # set by train_classifier once the run folder is locked

    def __init__(self, config: MNFTrainConfig, dataset, out: Path, progress: bool | None = None):
        from maflow.models.mnf import build_classifier
        from maflow.run.device import resolve_device

        torch.manual_seed(config.seed)
        self.config, self.out, self.progress = config, out, progress
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
        self.checkpoint_path = out / LATEST
        self.epoch, self.step, self.elapsed = 0, 0, 0.0
        self.history: list[dict] = []
        self.first_batch, self.partial = 0, _zero_sums()  # inside an interrupted epoch
        self.anneal_steps = config.kl_anneal_epochs * self.batches_per_epoch
        self.start_wall = self.start_cpu = 0.0

    def restore(self, path: Path) -> None:
        """Continues from ``path`` (``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``)."""
        config = self.config
        checkpoint = load_training_checkpoint(
            path,
            model_name=config.model,
            model_config=config.model_options(),
            dataset=DATASET,
            fingerprint=self.fingerprint,
        )
        self.model.load_state_dict(checkpoint["model_state"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        set_rng_states(checkpoint["rng_states"], self.generator)
        progress = checkpoint["progress"]
        self.epoch, self.step, self.elapsed = progress["epoch"], progress["step"], progress["elapsed_seconds"]
        self.history = list(checkpoint["training_config"].get("history", []))
        self.first_batch = int(progress.get("batch_in_epoch", 0))
        self.partial = {key: progress.get(f"epoch_{key}_sum", 0) for key in self.partial}

    def describe(self) -> None:
        from maflow.models.mnf import num_parameters

        self.logger.info(
            f"{self.config.model}: {num_parameters(self.model):,} parameters, {self.num_train} training "
            f"images, {self.batches_per_epoch} batches/epoch, config {asdict(self.config)}"
        )
        self.start_wall, self.start_cpu = time.time() - self.elapsed, time.process_time()

    def train_epoch(self, stop: StopSignals) -> None:
        self.model.train()
        epoch_generator = self.generator.get_state()  # an interrupt stores this: the resume replays the order
        order = torch.randperm(self.num_train, generator=self.generator)
        self.sums = dict(self.partial)
        with EpochProgress(
            self.batches_per_epoch, self.epoch + 1, self.progress, initial=self.first_batch
        ) as bar:
            for b in range(self.first_batch, self.batches_per_epoch):
                size = self.config.batch_size
                bar.update(self._step(order[b * size : (b + 1) * size]), size)
                if stop.received is not None:
                    self._interrupt(stop.received, b + 1, epoch_generator)
        self.first_batch, self.partial = 0, _zero_sums()

    def _step(self, index) -> float:
        config = self.config
        xb, yb = self.train[0][index], self.train[1][index]
        log_probs = self.model(xb)
        nll = F.nll_loss(log_probs, yb)
        kl = self.model.kl_divergence()
        beta = min(1.0, self.step / self.anneal_steps) if self.anneal_steps > 0 else 1.0
        loss = nll + beta * config.kl_weight * kl / self.num_train
        optimizer_step(
            self.optimizer,
            loss,
            lambda: (
                f"non-finite loss at step {self.step} (nll {nll.item()}, kl {kl.item()}); "
                "lower --lr or use --kl-anneal-epochs"
            ),
        )
        self.step += 1
        correct = (log_probs.argmax(-1) == yb).sum().item()
        self.sums["nll"] += nll.item()
        self.sums["kl"] += kl.item()
        self.sums["correct"] += correct
        if self.step % config.log_every == 0:
            self.logger.scalars(
                {
                    "loss/NLL": nll.item(),
                    "loss/KL div": kl.item(),
                    "loss/NLL + KL": loss.item(),
                    "loss/KL weight": beta * config.kl_weight,
                    "accuracy/training": correct / len(yb),
                },
                self.step,
            )
        return loss.item()

    def _checkpoint(self, **progress) -> dict:
        return make_checkpoint(
            self.model,
            self.config.model,
            self.config.model_options(),
            DATASET,
            self.fingerprint,
            optimizer=self.optimizer,
            generator=self.generator,
            training_config={**asdict(self.config), "history": self.history},
            family="mnf",
            epoch=self.epoch,
            step=self.step,
            elapsed_seconds=time.time() - self.start_wall,
            **progress,
        )

    def _interrupt(self, signum: int, batch_in_epoch: int, epoch_generator) -> None:
        position = self.generator.get_state()
        self.generator.set_state(epoch_generator)
        sums = {f"epoch_{key}_sum": value for key, value in self.sums.items()}
        checkpoint = self._checkpoint(batch_in_epoch=batch_in_epoch, **sums)
        self.generator.set_state(position)
        save_training_checkpoint(self.checkpoint_path, checkpoint)
        kept = f"epoch {self.epoch + 1} (batch {batch_in_epoch}), step {self.step} in {self.checkpoint_path}"
        message = interrupted_message(signum, kept, resume_command())
        self.logger.info(message, echo=False)
        raise TrainingInterrupted(message, signum)

    def end_epoch(self) -> None:
        """Validation, the epoch's record and log lines, and the checkpoint."""
        config, sums = self.config, self.sums
        self.epoch += 1
        val = classification_error(self.model, *self.val, config.val_samples)
        record = {
            "epoch": self.epoch,
            "train_nll": sums["nll"] / self.batches_per_epoch,
            "kl": sums["kl"] / self.batches_per_epoch,
            "train_error_percent": 100 - 100 * sums["correct"] / (self.batches_per_epoch * config.batch_size),
            "val_error_percent": val["error_percent"],
            "val_nll": val["nll"],
            "wall_seconds": time.time() - self.start_wall,
        }
        self.history.append(record)
        self.logger.scalars(
            {"accuracy/validation": 1 - val["error_percent"] / 100, "loss/validation NLL": val["nll"]},
            self.step,
        )
        self.logger.info(
            f"epoch {self.epoch}/{config.epochs}: train NLL {record['train_nll']:.4f}, KL {record['kl']:.1f}, "
            f"train error {record['train_error_percent']:.2f}%, val error {val['error_percent']:.2f}% "
            f"({val['num_samples']} sample(s)), val NLL {val['nll']:.4f}, {record['wall_seconds']:.0f} s"
        )
        save_training_checkpoint(self.checkpoint_path, self._checkpoint())

    def patience_exhausted(self) -> bool:
        """Whether the last ``patience`` epochs all fell short of the lowest validation NLL."""
        if self.config.patience is None or not self.history:
            return False
        nll = [record["val_nll"] for record in self.history]
        best = min(range(len(nll)), key=nll.__getitem__)
        return len(nll) - 1 - best >= self.config.patience

    def finish(self) -> dict:
        """The test error with ``test_samples`` posterior samples, into ``results.json`` and ``results.txt``."""
        from maflow.models.mnf import num_parameters
        from maflow.run.results import format_results
        from maflow.utils.io import atomic_write_text

        test = classification_error(self.model, *self.test, self.config.test_samples)
        metrics: dict[str, Any] = {
            "model": self.config.model,
            "parameters": num_parameters(self.model),
            "epochs_completed": self.epoch,
            "test": test,
            "val_error_percent": self.history[-1]["val_error_percent"] if self.history else math.nan,
            "wall_seconds": time.time() - self.start_wall,
            "cpu_seconds_this_process": time.process_time() - self.start_cpu,
            "config": asdict(self.config),
            "history": self.history,
        }
        write_json(self.out / RESULTS_NAME, metrics)
        atomic_write_text(self.out / RESULTS_TEXT, format_results({self.config.model: metrics}))
        self.logger.info(
            f"test error {test['error_percent']:.2f}% (NLL {test['nll']:.4f}, {test['num_samples']} sample(s)) "
            f"after {self.epoch} epochs, {metrics['wall_seconds'] / 60:.1f} min wall"
        )
        return metrics


def _zero_sums() -> dict:
    return {"nll": 0.0, "kl": 0.0, "correct": 0}
