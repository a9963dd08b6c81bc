"""The part of the one :class:`~maflow.train.loop.Trainer` that a checkpoint holds: its progress,
restoring it exactly, and a deliberate change of the learning rate on resume."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from maflow.errors import ConfigError
from maflow.run.checkpoint import save_training_checkpoint, set_rng_states
from maflow.run.command import resume_command
from maflow.run.interrupt import TrainingInterrupted, interrupted_message
from maflow.train.early_stopping import EarlyStopping
from maflow.train.guard import NonFiniteGuard

__all__ = ["TrainerState"]


class TrainerState:
    """Progress, resume, interrupts and learning-rate changes of a :class:`~maflow.train.loop.Trainer` (a mixin).

    It reads and writes the trainer's counters (``epoch``, ``step``, ``best_epoch``, ...), its
    early stopping (``stopping``), guard, history and the position inside an interrupted epoch,
    and writes the checkpoint of an interrupt.

    Example:
        >>> from maflow.train.loop import Trainer
        >>> issubclass(Trainer, TrainerState)
        True
    """

    # Set by the Trainer's constructor.
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    logger: Any
    stopping: EarlyStopping
    guard: NonFiniteGuard
    epoch: int
    step: int
    best_epoch: int
    best_state: dict | None
    stopped_early: bool
    elapsed: float
    history: list[dict]
    lr_changes: list[dict]
    _resume_batch: int
    _epoch_totals: tuple[float, int]
    _epoch_sums: dict
    _epoch_generator_state: torch.Tensor | None
    _epoch_started: float
    _signals: Any
    checkpoint_fn: Any
    checkpoint_dir: Path
    resume_command: str | None

    @property
    def latest_path(self) -> Path:
        return self.checkpoint_dir / "latest.pth"

    @property
    def best_path(self) -> Path:
        return self.checkpoint_dir / "best.pth"

    def progress_state(
        self, batch_in_epoch: int = 0, epoch_totals: tuple = (0.0, 0), epoch_sums: dict | None = None
    ) -> dict:
        state = {
            "epoch": self.epoch,
            "step": self.step,
            # Non-zero only in the checkpoint of an interrupt: the batches of epoch + 1 already
            # run (the data-order generator is then stored as it was before that epoch's
            # permutation), and the running sums of that epoch's training loss.
            "batch_in_epoch": batch_in_epoch,
            "epoch_loss_sum": float(epoch_totals[0]),
            "epoch_examples": int(epoch_totals[1]),
            "best_value": self.stopping.best,
            "best_epoch": self.best_epoch,
            "patience_counter": self.stopping.counter,
            "stopped_early": self.stopped_early,
            "elapsed_seconds": self.elapsed,
            "nan_rollbacks": self.guard.rollbacks,
            "history": [dict(record) for record in self.history],
        }
        # Only when used, so that a flow's or the binary MADE's checkpoint keeps its keys.
        if epoch_sums:
            state["epoch_sums"] = {key: float(value) for key, value in epoch_sums.items()}
        if self.lr_changes:
            state["lr_changes"] = [dict(change) for change in self.lr_changes]
        return state

    def restore(self, latest: dict, best: dict | None = None) -> None:
        """Continues from a ``latest.pth`` checkpoint (and its ``best.pth``), exactly.

        A run that early stopping ended trains on when this trainer's ``patience`` allows more
        validations without improvement than it had (a larger ``--patience`` on ``--resume``).
        """
        self.model.load_state_dict(latest["model_state"])
        if latest.get("optimizer_state") is not None:
            self.optimizer.load_state_dict(latest["optimizer_state"])
        if self.scheduler is not None and latest.get("scheduler_state") is not None:
            self.scheduler.load_state_dict(latest["scheduler_state"])
        set_rng_states(latest["rng_states"], self.generator)
        progress = latest["progress"]
        self.epoch, self.step = int(progress["epoch"]), int(progress["step"])
        self.stopping.best = float(progress["best_value"])
        self.stopping.counter = int(progress["patience_counter"])
        self.best_epoch = int(progress.get("best_epoch", 0))
        self.stopped_early = bool(progress.get("stopped_early", False))
        self.elapsed = float(progress.get("elapsed_seconds", 0.0))
        self.guard.rollbacks = int(progress.get("nan_rollbacks", 0))
        self.history = [dict(record) for record in progress.get("history", [])]
        self.lr_changes = [dict(change) for change in progress.get("lr_changes", [])]
        self._resume_batch = int(progress.get("batch_in_epoch", 0))
        self._epoch_totals = (
            float(progress.get("epoch_loss_sum", 0.0)),
            int(progress.get("epoch_examples", 0)),
        )
        self._epoch_sums = dict(progress.get("epoch_sums", {}))
        if best is not None:
            self.best_state = best["model_state"]
        if self.stopped_early and not self.stopping.should_stop:
            self.stopped_early = False
            self.logger.info(
                f"early stopping had ended this run at epoch {self.epoch} after "
                f"{self.stopping.counter} validations without improvement; patience is now "
                f"{self.stopping.patience}: training on"
            )

    def change_learning_rate(self, lr: float) -> None:
        """Sets a new learning rate on a resumed run (e.g. lower after a NaN stop), logged and
        recorded in every later checkpoint (``progress["lr_changes"]``); the trajectory from here
        on differs from the original run's by that choice.
        """
        if not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"--lr must be a positive number, got {lr}")
        old = self.optimizer.param_groups[0]["lr"]
        if old == lr:
            return
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.scheduler is not None and hasattr(self.scheduler, "base_lrs"):
            self.scheduler.base_lrs = [lr for _ in self.scheduler.base_lrs]
        self.lr_changes.append({"epoch": self.epoch, "step": self.step, "from": old, "to": lr})
        self.logger.info(
            f"learning rate changed on resume at epoch {self.epoch} (step {self.step}): {old:g} -> {lr:g}"
        )

    def _checkpoint(self) -> dict:
        return self.checkpoint_fn(**self.progress_state())

    def _interrupt(self, batch_in_epoch: int, epoch_totals: tuple, epoch_sums: dict | None = None) -> None:
        """Writes ``latest.pth`` at this step (inside the epoch when ``batch_in_epoch`` > 0) and raises."""
        signum = self._signals.received
        if batch_in_epoch:
            self.elapsed += time.perf_counter() - self._epoch_started
            position, before = self.generator.get_state(), self._epoch_generator_state
            assert before is not None  # set by train_epoch before its first batch
            self.generator.set_state(before)  # resume replays the permutation
            try:
                checkpoint = self.checkpoint_fn(
                    **self.progress_state(batch_in_epoch, epoch_totals, epoch_sums)
                )
            finally:
                self.generator.set_state(position)
            kept = f"epoch {self.epoch + 1} (batch {batch_in_epoch}), step {self.step}"
        else:
            checkpoint = self._checkpoint()
            kept = f"epoch {self.epoch}, step {self.step}"
        save_training_checkpoint(self.latest_path, checkpoint)
        message = interrupted_message(
            signum, f"{kept} in {self.latest_path}", self.resume_command or resume_command()
        )
        self.logger.info(message, echo=False)
        raise TrainingInterrupted(message, signum)
