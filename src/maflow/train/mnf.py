"""Training the MNF LeNet and the plain LeNet on MNIST: NLL + KL / N, resumable, logged."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

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
from maflow.train.logger import TrainingLogger
from maflow.utils.io import ensure_writable_dir, write_json

__all__ = ["MNFTrainConfig", "train_classifier", "classification_error", "load_classifier"]

DATASET = "mnist_grey"
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"


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

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.kl_weight >= 0, f"--kl-weight must be >= 0, got {self.kl_weight}"),
            (self.kl_anneal_epochs >= 0, f"--kl-anneal-epochs must be >= 0, got {self.kl_anneal_epochs}"),
            (self.test_samples >= 1, f"--test-samples must be >= 1, got {self.test_samples}"),
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


def _tensors(x, y):
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
    lower bound of the whole training set divided by N_train (the issue's "NLL + KL / number of
    batches" with the NLL summed over the batch, divided by the batch size). After every epoch
    ``checkpoint.pt`` (weights, optimiser, RNG states, progress) is replaced atomically and the
    validation error is logged; at the end the test error goes to ``metrics.json``.
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
        files = [out / CHECKPOINT_NAME, out / METRICS_NAME]
        prepare_run_folder(out, files, {out: [p.name for p in files]}, resume, overwrite, files[0])
        return _train_in_folder(config, dataset, out, resume, echo)


def _train_in_folder(config: MNFTrainConfig, dataset, out: Path, resume: bool, echo: bool) -> dict:
    from maflow.models.mnf import build_classifier, num_parameters

    torch.manual_seed(config.seed)
    x_train, y_train = _tensors(dataset.train, dataset.train_labels)
    if config.limit_train:
        x_train, y_train = x_train[: config.limit_train], y_train[: config.limit_train]
    x_val, y_val = _tensors(dataset.val, dataset.val_labels)
    x_test, y_test = _tensors(dataset.test, dataset.test_labels)
    num_train = len(x_train)
    batches_per_epoch = num_train // config.batch_size  # drop_last, as seed 003
    if batches_per_epoch == 0:
        raise ConfigError(f"--batch-size {config.batch_size} exceeds the {num_train} training images")

    model = build_classifier(config.model, **config.model_options())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    fingerprint = data_fingerprint(x_train.numpy())
    checkpoint_path = out / CHECKPOINT_NAME
    epoch, step, history, elapsed = 0, 0, [], 0.0
    first_batch, partial = 0, {"nll": 0.0, "kl": 0.0, "correct": 0}  # inside an interrupted epoch
    if resume and checkpoint_path.exists():
        checkpoint = load_training_checkpoint(
            checkpoint_path,
            model_name=config.model,
            model_config=config.model_options(),
            dataset=DATASET,
            fingerprint=fingerprint,
        )
        model.load_state_dict(checkpoint["model_state"])
        optimizer.load_state_dict(checkpoint["optimizer_state"])
        set_rng_states(checkpoint["rng_states"], generator)
        progress = checkpoint["progress"]
        epoch, step, elapsed = progress["epoch"], progress["step"], progress["elapsed_seconds"]
        history = list(checkpoint["training_config"].get("history", []))
        first_batch = int(progress.get("batch_in_epoch", 0))
        partial = {key: progress.get(f"epoch_{key}_sum", 0) for key in partial}

    anneal_steps = config.kl_anneal_epochs * batches_per_epoch
    logger = TrainingLogger(out / "train.log", out / "tensorboard", echo=echo)
    logger.info(
        f"{config.model}: {num_parameters(model):,} parameters, {num_train} training images, "
        f"{batches_per_epoch} batches/epoch, config {asdict(config)}"
    )
    start_wall, start_cpu = time.time() - elapsed, time.process_time()
    stop = StopSignals()  # SIGINT / SIGTERM: finish the step, save it, say how to resume
    try:
        stop.__enter__()
        while epoch < config.epochs:
            model.train()
            epoch_generator = generator.get_state()  # an interrupt stores this: the resume replays the order
            order = torch.randperm(num_train, generator=generator)
            sums = dict(partial)
            for b in range(first_batch, batches_per_epoch):
                index = order[b * config.batch_size : (b + 1) * config.batch_size]
                xb, yb = x_train[index], y_train[index]
                log_probs = model(xb)
                nll = F.nll_loss(log_probs, yb)
                kl = model.kl_divergence()
                beta = min(1.0, step / anneal_steps) if anneal_steps > 0 else 1.0
                loss = nll + beta * config.kl_weight * kl / num_train
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"non-finite loss at step {step} (nll {nll.item()}, kl {kl.item()}); "
                        "lower --lr or use --kl-anneal-epochs"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                correct = (log_probs.argmax(-1) == yb).sum().item()
                sums["nll"] += nll.item()
                sums["kl"] += kl.item()
                sums["correct"] += correct
                if step % config.log_every == 0:
                    logger.scalars(
                        {
                            "loss/NLL": nll.item(),
                            "loss/KL div": kl.item(),
                            "loss/NLL + KL": loss.item(),
                            "loss/KL weight": beta * config.kl_weight,
                            "accuracy/training": correct / len(yb),
                        },
                        step,
                    )
                if stop.received is not None:
                    position = generator.get_state()
                    generator.set_state(epoch_generator)
                    checkpoint = make_checkpoint(
                        model,
                        config.model,
                        config.model_options(),
                        DATASET,
                        fingerprint,
                        optimizer=optimizer,
                        generator=generator,
                        training_config={**asdict(config), "history": history},
                        epoch=epoch,
                        step=step,
                        elapsed_seconds=time.time() - start_wall,
                        batch_in_epoch=b + 1,
                        **{f"epoch_{key}_sum": value for key, value in sums.items()},
                    )
                    generator.set_state(position)
                    save_training_checkpoint(checkpoint_path, checkpoint)
                    kept = f"epoch {epoch + 1} (batch {b + 1}), step {step} in {checkpoint_path}"
                    message = interrupted_message(stop.received, kept, resume_command())
                    logger.info(message, echo=False)
                    raise TrainingInterrupted(message, stop.received)
            first_batch, partial = 0, {"nll": 0.0, "kl": 0.0, "correct": 0}
            epoch += 1
            val = classification_error(model, x_val, y_val, config.val_samples)
            record = {
                "epoch": epoch,
                "train_nll": sums["nll"] / batches_per_epoch,
                "kl": sums["kl"] / batches_per_epoch,
                "train_error_percent": 100 - 100 * sums["correct"] / (batches_per_epoch * config.batch_size),
                "val_error_percent": val["error_percent"],
                "val_nll": val["nll"],
                "wall_seconds": time.time() - start_wall,
            }
            history.append(record)
            logger.scalars(
                {"accuracy/validation": 1 - val["error_percent"] / 100, "loss/validation NLL": val["nll"]},
                step,
            )
            logger.info(
                f"epoch {epoch}/{config.epochs}: train NLL {record['train_nll']:.4f}, KL {record['kl']:.1f}, "
                f"train error {record['train_error_percent']:.2f}%, val error {val['error_percent']:.2f}% "
                f"({val['num_samples']} sample(s)), val NLL {val['nll']:.4f}, {record['wall_seconds']:.0f} s"
            )
            training = {**asdict(config), "history": history}
            checkpoint = make_checkpoint(
                model,
                config.model,
                config.model_options(),
                DATASET,
                fingerprint,
                optimizer=optimizer,
                generator=generator,
                training_config=training,
                epoch=epoch,
                step=step,
                elapsed_seconds=time.time() - start_wall,
            )
            save_training_checkpoint(checkpoint_path, checkpoint)
            minutes = (time.time() - start_wall) / 60
            if config.max_minutes is not None and minutes > config.max_minutes and epoch < config.epochs:
                logger.info(f"stopping after epoch {epoch}: {minutes:.1f} min exceeds --max-minutes")
                break
        test = classification_error(model, x_test, y_test, config.test_samples)
        metrics = {
            "model": config.model,
            "parameters": num_parameters(model),
            "epochs_completed": epoch,
            "test": test,
            "val_error_percent": history[-1]["val_error_percent"] if history else math.nan,
            "wall_seconds": time.time() - start_wall,
            "cpu_seconds_this_process": time.process_time() - start_cpu,
            "config": asdict(config),
            "history": history,
        }
        write_json(out / METRICS_NAME, metrics)
        logger.info(
            f"test error {test['error_percent']:.2f}% (NLL {test['nll']:.4f}, {test['num_samples']} sample(s)) "
            f"after {epoch} epochs, {metrics['wall_seconds'] / 60:.1f} min wall"
        )
    finally:
        stop.__exit__(None, None, None)
        logger.close()
    return metrics
