"""Training and evaluation of a Bernoulli MADE on binary data, with connectivity-agnostic training."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from maflow.errors import CheckpointError, ConfigError, DataError, MaflowError
from maflow.models.bernoulli_made import BernoulliMADE
from maflow.run.command import resume_command
from maflow.run.folder import remove_own_temporaries
from maflow.run.interrupt import StopSignals, TrainingInterrupted, interrupted_message
from maflow.train.progress import EpochProgress
from maflow.utils.io import ensure_writable_dir, load_checkpoint, save_checkpoint
from maflow.utils.stats import mean_and_error

__all__ = [
    "MadeTrainConfig",
    "build_bernoulli_made",
    "mask_index_at_step",
    "evaluate_log_likelihood",
    "train_made",
    "load_trained_made",
    "fingerprint",
    "summarize",
    "made_run_files",
]

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
RESULTS_NAME = "results.json"
EVALUATION_NAMES = re.compile(r"evaluate-(test|val|train)-s\d+\.json")
SAMPLE_NAMES = re.compile(r"samples-s\d+-seed-?\d+\.npy")


def made_run_files(out: str | Path) -> tuple[list[Path], dict]:
    """The files that mark a binary-MADE run in ``out``, and the names of those the commands write.

    Example:
        >>> artefacts, own = made_run_files("runs/made")
        >>> [p.name for p in artefacts[:3]], bool(own[Path("runs/made")][3].fullmatch("evaluate-test-s4.json"))
        (['checkpoint.pt', 'best.pt', 'results.json'], True)
    """
    out = Path(out)
    evaluations = sorted(p for p in out.glob("evaluate-*.json") if EVALUATION_NAMES.fullmatch(p.name))
    artefacts = [out / CHECKPOINT_NAME, out / BEST_NAME, out / RESULTS_NAME, *evaluations]
    return artefacts, {out: [CHECKPOINT_NAME, BEST_NAME, RESULTS_NAME, EVALUATION_NAMES, SAMPLE_NAMES]}


@dataclass
class MadeTrainConfig:
    """Everything that defines a binary-MADE run (saved in its checkpoints).

    Arguments:
        hidden_features: Units of each hidden layer (karpathy/pytorch-made's ``-q 500`` is ``[500]``).
        num_masks: N seeded order-and-connectivity draws cycled during training.
        resample_every: R: move to the next mask every R optimiser steps.
        ensemble_masks: S: the test score is the mixture of masks ``0..S-1``.
        val_ensemble_masks: Masks averaged for early stopping (default: ``ensemble_masks``);
            fewer makes each validation cheaper.
        order, hidden_degrees, activation, direct_input: See :class:`BernoulliMADE`.
        epochs, patience: Maximum epochs; stop after ``patience`` validations without improvement.
        lr, weight_decay, lr_schedule: Adam step size, its L2 coefficient, and ``"constant"``
            or ``"cosine"`` (annealed to 0 over ``epochs``).
        batch_size, eval_batch_size: Minibatch sizes for training and scoring.
        seed: Seed of the weights, the masks and the data order.

    Example:
        >>> MadeTrainConfig(num_masks=4, ensemble_masks=4).validated().ensemble_masks
        4
    """

    hidden_features: list[int] = field(default_factory=lambda: [500])
    num_masks: int = 1
    resample_every: int = 20
    ensemble_masks: int = 1
    val_ensemble_masks: int | None = None
    order: str = "random"
    hidden_degrees: str = "random"
    activation: str = "relu"
    direct_input: bool = False
    epochs: int = 100
    patience: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    batch_size: int = 100
    eval_batch_size: int = 1000
    seed: int = 0

    def validated(self) -> MadeTrainConfig:
        positive = ("num_masks", "resample_every", "ensemble_masks", "epochs", "patience", "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden_features or min(self.hidden_features) < 1:
            raise ConfigError(f"hidden layer sizes must be >= 1, got {self.hidden_features}")
        if self.val_ensemble_masks is None:
            self.val_ensemble_masks = self.ensemble_masks
        for name in ("ensemble_masks", "val_ensemble_masks"):
            if not 1 <= int(getattr(self, name)) <= self.num_masks:
                raise ConfigError(
                    f"cannot average {getattr(self, name)} masks when training with {self.num_masks}: "
                    "use 1 <= --samples, --val-samples <= --num-masks"
                )
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"unknown lr schedule {self.lr_schedule!r}: use constant or cosine")
        if self.num_masks > 1 and self.order != "random":
            raise ConfigError("several masks need --order random (else every mask has the same order)")
        return self


def build_bernoulli_made(features: int, config: MadeTrainConfig) -> BernoulliMADE:
    """The model a config describes; weights are drawn from ``config.seed``."""
    torch.manual_seed(config.seed)
    try:
        return BernoulliMADE(
            features,
            hidden_features=list(config.hidden_features),
            order=config.order,
            hidden_degrees=config.hidden_degrees,
            activation=config.activation,
            num_masks=config.num_masks,
            direct_input=config.direct_input,
            seed=config.seed,
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None


def mask_index_at_step(step: int, num_masks: int, resample_every: int) -> int:
    """The mask used at optimiser step ``step`` (0-based): a pure function, so resuming is exact.

    Example:
        >>> [mask_index_at_step(s, 3, 2) for s in range(8)]
        [0, 0, 1, 1, 2, 2, 0, 0]
    """
    return (step // resample_every) % num_masks


def fingerprint(array: np.ndarray) -> dict:
    """Shape and SHA-256 of a data split, to refuse scoring a checkpoint on other data."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


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
) -> tuple[BernoulliMADE, dict]:
    """Trains a Bernoulli MADE with Adam and early stopping on the validation mixture NLL.

    Writes ``checkpoint.pt`` (resumable: weights, optimiser, step, data-order RNG) after each
    epoch and ``best.pt`` (best validation weights) to ``out_dir``. ``extra`` (e.g. the data set
    name) is stored in both. The model and the training data live on ``device``; ``progress``
    is the progress bar's switch (``None``: only on a terminal). Returns the model with the best
    weights, and the run summary.
    """
    config = config.validated()
    train = check_binary("train", train)
    val = check_binary("validation", val, train.shape[1])
    out_dir = ensure_writable_dir(out_dir)
    remove_own_temporaries(out_dir, made_run_files(out_dir)[1][out_dir])  # left by a killed run
    run = _MadeRun(train, val, config, out_dir, extra, log, torch.device(device), progress)
    if resume and run.checkpoint_path.is_file():
        run.restore()
    with StopSignals() as stop:  # SIGINT / SIGTERM: finish the step, save it, say how to resume
        while run.state["epoch"] < config.epochs and run.state["bad_epochs"] < config.patience:
            epoch_start = time.perf_counter()
            train_nll = run.train_epoch(stop)
            run.end_epoch(train_nll, epoch_start)
        if stop.received is not None:  # during the last validation: the checkpoint holds the last epoch
            kept = f"epoch {run.state['epoch']}, step {run.state['step']} in {run.checkpoint_path}"
            raise TrainingInterrupted(
                interrupted_message(stop.received, kept, resume_command()), stop.received
            )
    return run.finish()


class _MadeRun:
    """The state of one binary-MADE run and the steps of its loop (see :func:`train_made`)."""

    def __init__(self, train, val, config: MadeTrainConfig, out_dir: Path, extra, log, device, progress):
        self.val, self.config, self.out_dir, self.log = val, config, out_dir, log
        self.progress = progress
        self.checkpoint_path = out_dir / CHECKPOINT_NAME
        self.model = build_bernoulli_made(train.shape[1], config).to(device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        self.state = {"epoch": 0, "step": 0, "best_val_nll": math.inf, "best_epoch": 0, "bad_epochs": 0}
        self.history: list[dict] = []
        self.best_state = copy.deepcopy(self.model.state_dict())
        self.meta = {
            "family": "made",
            "config": dataclasses.asdict(config),
            "features": train.shape[1],
            "train_fingerprint": fingerprint(train),
            **(extra or {}),
        }
        self.elapsed_before = 0.0
        self.partial = _no_partial_epoch()  # inside an interrupted epoch
        self.x_train = torch.from_numpy(train).to(device)
        self.start = time.perf_counter()

    def restore(self) -> None:
        checkpoint = load_checkpoint(self.checkpoint_path)
        if (
            checkpoint.get("config") != self.meta["config"]
            or checkpoint.get("train_fingerprint") != self.meta["train_fingerprint"]
        ):
            raise CheckpointError(
                f"{self.checkpoint_path} was written with other options or data; "
                "use the same flags to resume, or another --out"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.generator.set_state(checkpoint["generator"])
        self.state.update(checkpoint["state"])
        self.history = list(checkpoint["history"])
        self.best_state = checkpoint["best_model"]
        self.elapsed_before = float(checkpoint["elapsed_seconds"])
        self.partial.update(checkpoint.get("interrupted", {}))
        self.log(f"resumed from epoch {self.state['epoch']} (step {self.state['step']})")

    def _elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    def _save_latest(self, generator_state, **more) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                **self.meta,
                "state": dict(self.state),
                "history": self.history,
                "elapsed_seconds": self._elapsed(),
                "model": self.model.state_dict(),
                "best_model": self.best_state,
                "optimizer": self.optimizer.state_dict(),
                "generator": generator_state,
                **more,
            },
        )

    def train_epoch(self, stop: StopSignals) -> float:
        """One pass (from the interrupted batch on, when resuming one); returns the mean training NLL."""
        config, model, state = self.config, self.model, self.state
        for group in self.optimizer.param_groups:
            group["lr"] = _learning_rate(config, state["epoch"])
        model.train()
        epoch_generator = self.generator.get_state()  # an interrupt stores this: the resume replays the order
        batches = torch.randperm(len(self.x_train), generator=self.generator).split(config.batch_size)
        total, count = self.partial["loss_sum"], self.partial["count"]
        first = self.partial["batch_in_epoch"]
        with EpochProgress(len(batches), state["epoch"] + 1, self.progress, initial=first) as bar:
            return self._run_batches(batches, first, total, count, epoch_generator, stop, bar)

    def _run_batches(
        self, batches, first: int, total: float, count: int, epoch_generator, stop, bar
    ) -> float:
        config, model, state = self.config, self.model, self.state
        for index in range(first, len(batches)):
            if config.num_masks > 1:
                model.set_mask_index(
                    mask_index_at_step(state["step"], config.num_masks, config.resample_every)
                )
            batch = self.x_train[batches[index]]
            loss = -model.log_prob(batch).mean()
            if not torch.isfinite(loss):
                raise MaflowError(
                    f"the training loss became {loss.item()} at step {state['step']}; lower --lr "
                    f"(the last good checkpoint is {self.checkpoint_path})"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            state["step"] += 1
            value = loss.item()
            total += value * len(batch)
            count += len(batch)
            bar.update(value, len(batch))
            if stop.received is not None:
                position = {"batch_in_epoch": index + 1, "loss_sum": total, "count": count}
                self._save_latest(epoch_generator, interrupted=position)
                kept = f"epoch {state['epoch'] + 1} (batch {index + 1}), step {state['step']}"
                message = interrupted_message(
                    stop.received, f"{kept} in {self.checkpoint_path}", resume_command()
                )
                raise TrainingInterrupted(message, stop.received)
        self.partial = _no_partial_epoch()
        return total / count

    def end_epoch(self, train_nll: float, epoch_start: float) -> None:
        """Validation (mixture of ``val_ensemble_masks``), early stopping, the log and the checkpoints."""
        config, state = self.config, self.state
        state["epoch"] += 1
        val_nll = -float(
            evaluate_log_likelihood(
                self.model, self.val, config.val_ensemble_masks, config.eval_batch_size
            ).mean()
        )
        improved = val_nll < state["best_val_nll"]
        if improved:
            state.update(best_val_nll=val_nll, best_epoch=state["epoch"], bad_epochs=0)
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            state["bad_epochs"] += 1
        record = {
            "epoch": state["epoch"],
            "train_nll": train_nll,
            "val_nll": val_nll,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_start,
        }
        self.history.append(record)
        self.log(
            f"epoch {record['epoch']:4d}  train NLL {record['train_nll']:.3f}  "
            f"val NLL (S={config.val_ensemble_masks}) {val_nll:.3f}{'  *' if improved else ''}  "
            f"{record['seconds']:.1f}s"
        )
        if improved:
            common = {
                **self.meta,
                "state": dict(state),
                "history": self.history,
                "elapsed_seconds": self._elapsed(),
            }
            save_checkpoint(self.out_dir / BEST_NAME, {**common, "model": self.best_state})
        self._save_latest(self.generator.get_state())

    def finish(self) -> tuple[BernoulliMADE, dict]:
        state = self.state
        stopped = "early stopping" if state["bad_epochs"] >= self.config.patience else "epoch limit"
        self.model.load_state_dict(self.best_state)
        self.model.set_mask_index(0)
        summary = {
            "epochs_run": state["epoch"],
            "best_epoch": state["best_epoch"],
            "best_val_nll": state["best_val_nll"],
            "stopped_by": stopped,
            "train_seconds": self._elapsed(),
            "history": self.history,
        }
        return self.model, summary


def _no_partial_epoch() -> dict:
    return {"batch_in_epoch": 0, "loss_sum": 0.0, "count": 0}


def load_trained_made(path: str | Path) -> tuple[BernoulliMADE, dict]:
    """Rebuilds a model from ``best.pt`` (or a directory holding it); returns it and the checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST_NAME
    checkpoint = load_checkpoint(path)
    if "config" not in checkpoint or "model" not in checkpoint:
        raise CheckpointError(f"{path} is not a binary-MADE checkpoint (train with `maflow made train`)")
    known = {f.name for f in dataclasses.fields(MadeTrainConfig)}
    config = MadeTrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in known})
    model = build_bernoulli_made(int(checkpoint["features"]), config)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match its own config: {str(error)[:200]}") from None
    model.set_mask_index(0)
    model.eval()
    return model, checkpoint


def summarize(log_likelihoods: np.ndarray) -> dict:
    """Mean NLL in nats with 2 standard errors, as the MADE paper reports it."""
    mean, error = mean_and_error(-np.asarray(log_likelihoods, dtype=np.float64))
    return {"nll": mean, "nll_2se": error, "count": int(np.size(log_likelihoods))}
