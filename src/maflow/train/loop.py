"""A generic minibatch training loop: seeded shuffling, clipping, early stopping, checkpoints."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from maflow.distributions.flow import values_unchecked
from maflow.errors import ConfigError
from maflow.run.checkpoint import save_training_checkpoint
from maflow.run.device import tf32_precision
from maflow.run.interrupt import StopSignals, TrainingInterrupted
from maflow.train.batches import batches_on, epoch_batches, take_batch
from maflow.train.compile import compile_loss
from maflow.train.early_stopping import EarlyStopping
from maflow.train.epoch_totals import EpochTotals
from maflow.train.guard import (
    NonFiniteGuard,
    NonFiniteLossError,
    NonFiniteRecord,
    gradient_norm,
    parameters_finite,
)
from maflow.train.logger import TrainingLogger
from maflow.train.progress import EpochProgress
from maflow.train.trainer_checks import TrainerChecks

__all__ = [
    "NonFiniteLossError",
    "TrainingInterrupted",
    "EarlyStopping",
    "epoch_batches",
    "Trainer",
    "SYNC_EVERY",
]

# Steps between the read-backs of the non-finite checks (and of the loss the progress bar shows).
# A read-back makes the host wait until the GPU has run its whole queue, so the GPU then idles
# while Python sets up the next step; once in 50 steps that wait is spread thin, and a NaN costs
# at most 49 wasted steps before the guard acts (it returns to the epoch's start, so they leave
# no trace). The progress bar redraws at most twice a second, a few steps apart or hundreds.
# docs/decisions.md ("A training step that never waits for the GPU") has the reasoning.
SYNC_EVERY = 50


def _loss_and_sums(result) -> tuple[Tensor, dict]:
    # A family's loss_fn returns the loss, or the loss and sums over the batch's examples.
    return result if isinstance(result, tuple) else (result, {})


def _number(value: float) -> str:
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.4g}"


class Trainer(TrainerChecks):
    """Trains ``model`` on the rows of a tensor with a user-given loss, validating every epoch.

    The loop is model-agnostic: ``loss_fn(model, batch)`` returns the scalar to minimise, or
    that scalar and a dict of sums over the batch's examples (e.g. a VAE's ELBO terms; their
    means over the epoch join the epoch's record); ``validate_fn(model) -> (value, extras)``
    returns a lower-is-better number for early stopping (``None``: no validation this epoch)
    plus extra scalars to record and log; ``checkpoint_fn(**progress) -> dict`` builds a
    checkpoint (see :func:`maflow.run.checkpoint.make_checkpoint`). After every epoch
    ``latest.pth`` is written, and ``best.pth`` whenever validation improves (and, until a first
    validation, after every epoch); at the end the best weights are restored into ``model``
    (unless ``restore_best`` is off). A NaN or infinite loss, gradient or weight goes to
    ``nan_guard`` (a :class:`maflow.train.guard.NonFiniteGuard`; default: stop), which rolls back
    to the epoch's start with a smaller learning rate or raises :class:`NonFiniteLossError`
    naming the step and the last good checkpoint; a non-finite model is never saved.

    A step never waits for the device: losses and gradient norms are checked on the device
    (:class:`~maflow.train.guard.NonFiniteRecord`) and the epoch's sums stay there
    (:class:`~maflow.train.epoch_totals.EpochTotals`); the host reads them back every
    ``sync_every`` steps, at the end of the epoch, and before an interrupt's checkpoint, and
    hands the first non-finite value (its step and batch) to the guard then. Steps run in
    between on a NaN are undone by the guard's return to the epoch's start (kept in memory under
    either policy when ``sync_every`` > 1), and no checkpoint or best weights are taken before a
    check.

    SIGINT or SIGTERM during :meth:`fit` (with ``handle_signals``) lets the current step finish,
    writes ``latest.pth`` with the position inside the epoch, and raises
    :class:`~maflow.run.interrupt.TrainingInterrupted`, whose message names the epoch and step
    kept and the command that resumes (``resume_command``, by default this command with
    ``--resume``). :meth:`restore` continues such a checkpoint exactly, from the next batch;
    :meth:`change_learning_rate` records a deliberate new rate on resume.

    Arguments:
        model, optimizer: What to train and how; ``scheduler`` (optional) steps per epoch.
        loss_fn, validate_fn, checkpoint_fn: See above.
        checkpoint_dir: Where ``best.pth`` and ``latest.pth`` go.
        logger: A :class:`maflow.train.logger.TrainingLogger`.
        epochs: Last epoch to run (counting from 1, resumed runs included; at least 1).
        batch_size, patience, grad_clip: Minibatch size, validations without improvement
            before stopping (``None``: never), maximum gradient norm (``None`` or 0: no clipping).
        generator: The seeded generator that shuffles the data (its state is checkpointed).
        progress: Progress-bar switch (``None``: only on a terminal).
        nan_guard: What to do about NaN or Inf (see above).
        handle_signals: Catch SIGINT and SIGTERM as above (off under torchrun, where the ranks
            must stop at the same step).
        resume_command: The command line that resumes, for the message of an interrupt.
        before_epoch, before_step: A family's hooks, called with the epochs done before each
            epoch (e.g. a learning-rate schedule or a KL warm-up) and with the steps done before
            each step (e.g. the binary MADE's mask schedule); pure functions of the count keep a
            resume exact.
        batches_fn: ``(num_examples, batch_size, generator) -> index batches`` of one epoch
            (default :func:`~maflow.train.batches.epoch_batches`).
        prepare_batch: Turns the rows of a batch into the model's input (e.g. draws a binary
            image from grey levels with ``generator``); on a resume inside an epoch it is also
            called for the batches already done, so its random draws replay exactly.
        stop_after_epoch: Called after each epoch; a message ends the run there (e.g. a time
            limit), ``None`` goes on.
        restore_best: Load the best weights into ``model`` at the end (off: keep the last).
        sync_every: Steps between read-backs of the checks (1: every step, as a plain loop;
            default :data:`SYNC_EVERY`).
        tf32: ``--tf32``: TensorFloat-32 matrix products on a CUDA device during :meth:`fit`
            (off: exact float32; see :func:`maflow.run.device.tf32_precision`).
        compile_backend: ``--compile``: ``loss_fn`` through ``torch.compile`` with this backend
            (``"inductor"``, ``"aot_eager"``, ...); ``None``: eager. A graph that cannot be built
            is one :class:`~maflow.errors.ConfigError`.
        batch_device: Where each batch goes when ``data`` are kept elsewhere (the training set in
            pinned CPU memory, :func:`maflow.run.device.place_training_data`); ``None``: batches
            stay where the data are.

    Example:
        >>> import tempfile
        >>> model = torch.nn.Linear(2, 1)
        >>> data = torch.randn(50, 2)
        >>> with tempfile.TemporaryDirectory() as d, TrainingLogger(Path(d) / "t.log", echo=False) as log:
        ...     trainer = Trainer(
        ...         model, torch.optim.SGD(model.parameters(), lr=0.1),
        ...         loss_fn=lambda m, x: m(x).pow(2).mean(),
        ...         validate_fn=lambda m: (m(data).pow(2).mean().item(), {}),
        ...         checkpoint_fn=lambda **p: {"model_state": model.state_dict(), "progress": p},
        ...         checkpoint_dir=Path(d), logger=log, epochs=3, batch_size=10,
        ...         generator=torch.Generator().manual_seed(0))
        ...     summary = trainer.fit(data)
        ...     sorted(p.name for p in Path(d).glob("*.pth"))
        ['best.pth', 'latest.pth']
        >>> summary["epoch"]
        3
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[torch.nn.Module, Tensor], Tensor | tuple[Tensor, dict]],
        validate_fn: Callable[[torch.nn.Module], tuple[float | None, dict]],
        checkpoint_fn: Callable[..., dict],
        checkpoint_dir: str | Path,
        logger: TrainingLogger,
        epochs: int,
        batch_size: int,
        patience: int | None = 30,
        grad_clip: float | None = None,
        generator: torch.Generator | None = None,
        scheduler=None,
        progress: bool | None = None,
        nan_guard: NonFiniteGuard | None = None,
        handle_signals: bool = True,
        resume_command: str | None = None,
        before_epoch: Callable[[int], None] | None = None,
        before_step: Callable[[int], None] | None = None,
        batches_fn: Callable[[int, int, torch.Generator], list[Tensor]] | None = None,
        prepare_batch: Callable[[Tensor], Tensor] | None = None,
        stop_after_epoch: Callable[[], str | None] | None = None,
        restore_best: bool = True,
        sync_every: int = SYNC_EVERY,
        tf32: bool = False,
        compile_backend: str | None = None,
        batch_device: torch.device | None = None,
    ):
        if epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {epochs} (0 would train nothing)")
        if sync_every < 1:
            raise ConfigError(f"sync_every must be at least 1, got {sync_every}")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.compile_backend = compile_backend
        self.loss_fn = compile_loss(loss_fn, compile_backend) if compile_backend else loss_fn
        self.sync_every = sync_every
        self.tf32 = tf32
        self.batch_device = batch_device
        self.validate_fn = validate_fn
        self.checkpoint_fn = checkpoint_fn
        self.checkpoint_dir = Path(checkpoint_dir)
        self.logger = logger
        self.epochs = epochs
        self.batch_size = batch_size
        self.grad_clip = grad_clip or None
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.progress = progress
        self.guard = nan_guard if nan_guard is not None else NonFiniteGuard("stop")
        self.stopping = EarlyStopping(patience)
        self.epoch = 0
        self.step = 0
        self.best_epoch = 0
        self.best_state = None
        self.stopped_early = False
        self.elapsed = 0.0
        self.handle_signals = handle_signals
        self.resume_command = resume_command
        self.before_epoch, self.before_step = before_epoch, before_step
        self.batches_fn = batches_fn or epoch_batches
        self.prepare_batch = prepare_batch
        self.stop_after_epoch = stop_after_epoch
        self.restore_best = restore_best
        self.history: list[dict] = []  # one record an epoch: losses and extras (no times: a resume is exact)
        self.lr_changes: list[dict] = []  # deliberate learning-rate changes on resume
        self._signals: StopSignals | None = None
        # Position inside an epoch that an interrupt stopped: first batch to run, and the sum of
        # the batch losses (times batch sizes), the examples seen and the family's sums so far.
        self._resume_batch = 0
        self._epoch_totals = (0.0, 0)
        self._epoch_sums: dict = {}
        self._epoch_means: dict = {}
        self._epoch_generator_state: torch.Tensor | None = None
        self._epoch_started = 0.0

    def train_epoch(self, data: Tensor) -> tuple[float, float]:
        """One pass over ``data``; returns the mean minibatch loss and samples per second.

        The means of the family's sums over the epoch are kept for the epoch's record.
        """
        if self.before_epoch is not None:
            self.before_epoch(self.epoch)
        self.model.train()
        self._epoch_generator_state = self.generator.get_state()
        batches = batches_on(self.batches_fn(len(data), self.batch_size, self.generator), data.device)
        start = self._resume_batch
        if self.prepare_batch is not None:
            for index in range(min(start, len(batches))):  # replays their draws
                self.prepare_batch(take_batch(data, batches[index], self.batch_device))
        totals = EpochTotals(*self._epoch_totals, self._epoch_sums)
        record = NonFiniteRecord()
        # Step and batch (counted from 1) of this call's first step, for the messages of the checks.
        where = (self.step + 1, start + 1)
        with EpochProgress(len(batches), self.epoch + 1, self.progress, initial=start) as bar:
            try:
                for index in range(start, len(batches)):
                    loss, size = self._train_step(data, batches[index], totals, record, 2 * (index - start))
                    shown = None
                    if (index + 1 - start) % self.sync_every == 0:
                        self._check(record, *where)
                        shown = float(loss) if bar.enabled else None
                    bar.update(shown, size)
                    if self._signals is not None and self._signals.received is not None:
                        self._check(record, *where)  # no checkpoint of a step after a NaN
                        loss_sum, count, sums = totals.values()
                        self._interrupt(index + 1, (loss_sum, count), sums)
                self._check(record, *where)
            except (NonFiniteLossError, TrainingInterrupted):
                raise
            except Exception as error:
                self._explain(error, record, where)
                raise
            throughput = bar.samples_per_second
        loss_sum, count, sums = totals.values()
        self._resume_batch, self._epoch_totals, self._epoch_sums = 0, (0.0, 0), {}
        self._epoch_means = {key: value / max(count, 1) for key, value in sums.items()}
        if self.scheduler is not None:
            self.scheduler.step()
        return loss_sum / max(count, 1), throughput

    def _train_step(
        self, data: Tensor, index: Tensor, totals: EpochTotals, record: NonFiniteRecord, tag: int
    ) -> tuple[Tensor, int]:
        """One optimiser step on the rows ``index``; checks and sums stay on the device."""
        if self.before_step is not None:
            self.before_step(self.step)
        batch = take_batch(data, index, self.batch_device)
        if self.prepare_batch is not None:
            batch = self.prepare_batch(batch)
        loss, batch_sums = _loss_and_sums(self.loss_fn(self.model, batch))
        record.note(loss, tag)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        else:
            norm = gradient_norm(self.model.parameters())
        record.note(norm, tag + 1)
        self.optimizer.step()
        self.step += 1
        totals.add(loss, len(batch), batch_sums)
        return loss, len(batch)

    def fit(self, data: Tensor) -> dict:
        """Trains until ``epochs`` or early stopping; restores the best weights; returns a summary."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if not self.latest_path.is_file():
            # From the first moment on, a run folder with any checkpoint has a latest.pth to resume.
            save_training_checkpoint(self.latest_path, self._checkpoint())
        # Log-file only: where each attempt starts training (scripts/fault_injection.py times kills from it).
        self.logger.info(
            f"training from epoch {self.epoch} (step {self.step}) to epoch {self.epochs}", echo=False
        )
        # The data were checked once when loaded: no flow re-checks each batch (a host sync per step).
        device = self.batch_device or next(self.model.parameters(), data).device
        with (
            StopSignals(self.handle_signals) as signals,
            values_unchecked(self.model),
            tf32_precision(self.tf32, device, self.logger.info),
        ):
            self._signals = signals
            if self.compile_backend:
                self.logger.info(
                    f"--compile: the training loss runs through torch.compile ({self.compile_backend})"
                )
            try:
                self._fit_epochs(data)
                if signals.received is not None:  # during the last validation: stop before the final steps
                    self._interrupt(0, (0.0, 0))
            finally:
                self._signals = None
        if self.stopped_early:
            self.logger.info(f"early stopping: no improvement for {self.stopping.patience} validations")
        if self.best_state is not None and self.restore_best:
            self.model.load_state_dict(self.best_state)
        self.logger.info(f"training ended at epoch {self.epoch} (step {self.step})", echo=False)
        return {
            "epoch": self.epoch,
            "step": self.step,
            "best_epoch": self.best_epoch,
            "best_value": self.stopping.best,
            "stopped_early": self.stopped_early,
            "elapsed_seconds": self.elapsed,
        }

    def _fit_epochs(self, data: Tensor) -> None:
        if self.stopped_early:
            self.logger.info(
                f"early stopping had already ended this run at epoch {self.epoch}; to train on, resume "
                f"with a --patience above {self.stopping.counter}"
            )
        while self.epoch < self.epochs and not self.stopped_early:
            if self._signals is not None and self._signals.received is not None:
                self._interrupt(0, (0.0, 0))  # between epochs: latest.pth is this epoch end's
            start = self._epoch_started = time.perf_counter()
            self.guard.remember(
                self.model, self.optimizer, self.scheduler, self.generator, self.step, self.sync_every > 1
            )
            try:
                train_loss, throughput = self.train_epoch(data)
                if not parameters_finite(self.model):
                    raise NonFiniteLossError(
                        f"a weight became NaN or infinite by step {self.step} (end of epoch {self.epoch + 1})"
                    )
            except NonFiniteLossError as error:
                self._recover(str(error))
                continue
            self.epoch += 1
            value, extras = self.validate_fn(self.model)
            self._end_epoch(train_loss, value, extras, throughput, start)
            if self.stop_after_epoch is not None and self.epoch < self.epochs and not self.stopped_early:
                reason = self.stop_after_epoch()
                if reason:
                    self.logger.info(reason)
                    break

    def _end_epoch(self, train_loss: float, value, extras: dict, throughput: float, start: float) -> None:
        """Early stopping, the epoch's record, checkpoints, the log line and TensorBoard."""
        if value is not None:
            improved = self.stopping.update(value)
        else:  # no validation this epoch: the latest weights stand for the best until a first one
            improved = self.stopping.best == math.inf
        if improved:
            self.best_epoch = self.epoch
            if self.restore_best:
                self.best_state = copy.deepcopy(self.model.state_dict())
        self.stopped_early = self.stopping.should_stop
        self.elapsed += time.perf_counter() - start
        record = {"epoch": self.epoch, "train_loss": train_loss}
        if value is not None:
            record["val_loss"] = value
        self.history.append({**record, **self._epoch_means, **extras})
        if improved:
            save_training_checkpoint(self.best_path, self._checkpoint())
        save_training_checkpoint(self.latest_path, self._checkpoint())
        shown = {**self._epoch_means, **extras}
        extra_text = "".join(f" {k} {_number(v)}" for k, v in shown.items() if isinstance(v, int | float))
        validation = f" val_loss {value:.4f}" if value is not None else ""
        patience = f"{self.stopping.counter}/{self.stopping.patience}" if self.stopping.patience else "off"
        best = (
            f"{self.stopping.best:.4f} (epoch {self.best_epoch})"
            if math.isfinite(self.stopping.best)
            else "none yet (no validation)"
        )
        self.logger.info(
            f"epoch {self.epoch} step {self.step} train_loss {train_loss:.4f}{validation}"
            f"{extra_text} best {best} "
            f"patience {patience} "
            f"{throughput:.0f} samples/s {time.perf_counter() - start:.1f} s"
        )
        scalars = {"loss/train": train_loss, "throughput/samples_per_s": throughput}
        if value is not None:
            scalars["loss/validation"] = value
        scalars |= {f"train/{k}": v for k, v in self._epoch_means.items()}
        numbers = {k: v for k, v in extras.items() if isinstance(v, int | float)}
        self.logger.scalars(scalars | {f"validation/{k}": v for k, v in numbers.items()}, self.epoch)
