"""Training loop of the VAE: ELBO with KL warm-up, stepped Adam, checkpoints, logs and pictures."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from maflow.errors import CheckpointError, ConfigError
from maflow.run.checkpoint import data_fingerprint, same_data
from maflow.run.command import resume_command
from maflow.run.folder import remove_own_temporaries
from maflow.run.interrupt import StopSignals, TrainingInterrupted, interrupted_message
from maflow.train.guard import optimizer_step
from maflow.train.progress import EpochProgress
from maflow.utils.io import ensure_writable_dir, load_checkpoint, save_checkpoint, write_json

__all__ = [
    "VAETrainConfig",
    "kl_warmup_scale",
    "learning_rate",
    "train_vae",
    "pictures",
    "vae_run_files",
    "vae_checkpoint",
]

CHECKPOINT = "checkpoint.pt"  # the older layout's checkpoint: still read, still marks a run
LATEST = Path("checkpoints") / "latest.pth"
LOG_NAME = Path("logs") / "training.log"
EVALUATION_NAMES = re.compile(r"evaluation_(train|val|test)\.json")
PICTURES = ("data_samples.png", "model_samples.png", "reconstructions.png")


def vae_run_files(out) -> tuple[list[Path], dict]:
    """The files that mark a VAE run in ``out``, and the names of those the commands write there.

    ``config.json`` alone does not mark a run: it is written before the first epoch.
    """
    out = Path(out)
    evaluations = sorted(p for p in out.glob("evaluation_*.json") if EVALUATION_NAMES.fullmatch(p.name))
    artefacts = [out / LATEST, out / CHECKPOINT, out / "history.json", *evaluations]
    own = {
        out: [CHECKPOINT, "history.json", "config.json", "train.log", EVALUATION_NAMES, *PICTURES],
        out / "checkpoints": [LATEST.name],
        out / "logs": [LOG_NAME.name],
    }
    return artefacts, own


def vae_checkpoint(out) -> Path:
    """The checkpoint of a VAE run: ``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``."""
    out = Path(out)
    return out / CHECKPOINT if not (out / LATEST).is_file() and (out / CHECKPOINT).is_file() else out / LATEST


@dataclass
class VAETrainConfig:
    """Training settings; the defaults are karstenkreis/flow_vae's (2,500 epochs on a GPU).

    Arguments:
        epochs: Number of passes over the training set.
        batch_size: Training batch size.
        lr: Initial Adam learning rate.
        lr_decay_epochs, lr_decay_factor: The rate is multiplied by ``lr_decay_factor``
            every ``lr_decay_epochs`` epochs.
        warmup_epochs: The KL weight rises linearly to 1 over this many epochs (0: no warm-up).
        dynamic_binarization: Draw a fresh Bernoulli image per batch from grey levels.
        eval_every: Epochs between validation ELBOs (0: never).
        checkpoint_every: Epochs between checkpoints (the last epoch always gets one).
        max_train_batches: Stop each epoch after this many batches (tests, smoke runs).
        grad_clip: Gradient-norm bound, or ``None`` (karstenkreis/flow_vae has none).
        patience: Stop after this many validations without a better validation ELBO (``None``:
            train every epoch, as karstenkreis/flow_vae).
        seed: Seeds the model's initialisation, the shuffling and the binarisation.
    """

    epochs: int = 2500
    batch_size: int = 200
    lr: float = 1e-3
    lr_decay_epochs: int = 800
    lr_decay_factor: float = 0.5
    warmup_epochs: int = 200
    dynamic_binarization: bool = True
    eval_every: int = 1
    checkpoint_every: int = 10
    max_train_batches: int | None = None
    grad_clip: float | None = None
    patience: int | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> VAETrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown training settings {sorted(unknown)}: use {sorted(known)}")
        return cls(**values).validated()

    def validated(self) -> VAETrainConfig:
        """Raises :class:`ConfigError` naming the first nonsensical setting."""
        checks = [
            (self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.lr_decay_epochs >= 1, f"lr_decay_epochs must be >= 1, got {self.lr_decay_epochs}"),
            (0 < self.lr_decay_factor <= 1, f"lr_decay_factor must be in (0, 1], got {self.lr_decay_factor}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}"),
            (self.eval_every >= 0, f"eval_every must be >= 0, got {self.eval_every}"),
            (self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (
                self.max_train_batches is None or self.max_train_batches >= 1,
                f"max_train_batches must be >= 1, got {self.max_train_batches}",
            ),
            (self.patience is None or self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (
                self.grad_clip is None or self.grad_clip > 0,
                f"grad_clip must be positive, got {self.grad_clip}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"[train] {message}")
        return self


def kl_warmup_scale(epoch: int, warmup_epochs: int) -> float:
    """KL weight during epoch ``epoch`` (from 0): ``min(1, (epoch + 1) / warmup_epochs)``.

    karstenkreis/flow_vae uses ``epoch / warmup_epochs``, which leaves the KL out of the whole first
    epoch; counting from 1 keeps it in from the start and reaches 1 at the same epoch.

    Example:
        >>> [kl_warmup_scale(e, 4) for e in range(5)]
        [0.25, 0.5, 0.75, 1.0, 1.0]
    """
    if warmup_epochs <= 0:
        return 1.0
    return min(1.0, (epoch + 1) / warmup_epochs)


def learning_rate(epoch: int, lr: float, decay_epochs: int, decay_factor: float) -> float:
    """Stepped schedule ``lr * decay_factor ** (epoch // decay_epochs)`` (karstenkreis/flow_vae).

    Example:
        >>> [learning_rate(e, 1e-3, 800, 0.5) for e in (0, 799, 800, 1600)]
        [0.001, 0.001, 0.0005, 0.00025]
    """
    if decay_epochs <= 0:
        return lr
    return lr * decay_factor ** (epoch // decay_epochs)


def _logger(out: Path, echo: bool = True) -> logging.Logger:
    logger = logging.getLogger(f"maflow.vae.{out.resolve()}")
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):  # a second run in this process gets its own
        logger.removeHandler(handler)
        handler.close()
    (out / LOG_NAME).parent.mkdir(exist_ok=True)
    handler = logging.FileHandler(out / LOG_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    if echo:
        logger.addHandler(logging.StreamHandler())
    return logger


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

    Writes to ``out``: ``checkpoints/latest.pth`` (model, optimiser, epoch, RNG states, history;
    atomic; a run of the older layout continues from its ``checkpoint.pt``), ``logs/training.log``, TensorBoard scalars under ``tensorboard/`` (ELBO, reconstruction,
    KL, warm-up scale, learning rate), ``history.json`` and the pictures
    ``data_samples.png``, ``model_samples.png`` and ``reconstructions.png``. ``val_data`` is
    binarised once (seeded) so validation ELBOs are comparable across epochs. Returns the
    per-epoch history. ``extra`` (plain values) is stored in the checkpoint, e.g. the data set.
    ``quiet``: no progress bar and no log lines on the terminal (``logs/training.log`` keeps them).
    """
    out = ensure_writable_dir(out)
    remove_own_temporaries(out, vae_run_files(out)[1][out])  # left by a killed run
    run = _VAERun(model, train_data, val_data, config, out, extra, quiet)
    from maflow.utils.optional import NullSummaryWriter, has_tensorboard

    if has_tensorboard():  # optional: without it one line says what to install
        from torch.utils.tensorboard import SummaryWriter

        run.writer = SummaryWriter(str(out / "tensorboard"), purge_step=run.start_epoch)
    else:
        run.writer = NullSummaryWriter()
    try:
        with StopSignals() as stop:  # SIGINT / SIGTERM: finish the step, save it, say how to resume
            for epoch in range(run.start_epoch, config.epochs):
                started = time.time()
                totals, seen = run.train_epoch(epoch, stop)
                run.end_epoch(epoch, totals, seen, started)
                if stop.received is not None:  # during the validation: keep this epoch end and stop
                    run.save(epoch + 1)
                    write_json(out / "history.json", run.history)
                    kept = f"epoch {epoch + 1} in {run.checkpoint_path}"
                    raise TrainingInterrupted(
                        interrupted_message(stop.received, kept, resume_command()), stop.received
                    )
                if run.patience_exhausted():
                    run.log.info(
                        f"early stopping: no better validation ELBO for {config.patience} validations"
                    )
                    run.save(epoch + 1)
                    write_json(out / "history.json", run.history)
                    break
    finally:
        run.writer.close()
    pictures(model, run.picture_data(), out)
    return run.history


class _VAERun:
    """The state of one VAE run and the steps of its loop (see :func:`train_vae`)."""

    def __init__(
        self,
        model,
        train_data: Tensor,
        val_data: Tensor | None,
        config: VAETrainConfig,
        out: Path,
        extra,
        quiet: bool = False,
    ):
        self.model, self.train_data, self.config, self.out, self.extra = model, train_data, config, out, extra
        self.log = _logger(out, echo=not quiet)
        self.progress = False if quiet else None
        self.data_rng = torch.Generator().manual_seed(config.seed)
        self.val_binary = None
        if val_data is not None and len(val_data):
            self.val_binary = (
                torch.bernoulli(val_data, generator=torch.Generator().manual_seed(config.seed + 1))
                if config.dynamic_binarization
                else val_data
            )
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.interrupted = None  # the position inside the epoch a signal stopped
        self.checkpoint_path = out / LATEST
        self.fingerprint = data_fingerprint(train_data.cpu().numpy())
        self.device = next(model.parameters()).device  # data stay on the CPU; batches move
        self.writer: Any = None  # a SummaryWriter, or a NullSummaryWriter without TensorBoard
        if vae_checkpoint(out).exists():
            self.restore()
        else:
            self.log.info(f"model: {json.dumps(model.hparams)}")
            self.log.info(f"training: {json.dumps(asdict(config))}")
            self.log.info(f"parameters: {sum(p.numel() for p in model.parameters())}")

    def binarize(self, x: Tensor) -> Tensor:
        return torch.bernoulli(x, generator=self.data_rng) if self.config.dynamic_binarization else x

    def restore(self) -> None:
        checkpoint = load_checkpoint(vae_checkpoint(self.out))
        if type(self.model).with_defaults(checkpoint.get("hparams") or {}) != self.model.hparams:
            raise CheckpointError(
                f"{self.checkpoint_path} holds a different model ({checkpoint.get('hparams')}); "
                "use another --out or the same model settings"
            )
        if "data_fingerprint" in checkpoint and not same_data(
            checkpoint["data_fingerprint"], self.fingerprint
        ):
            raise CheckpointError(
                f"{self.checkpoint_path} was trained on other data (the training split or --limit-train "
                "changed); resume with the same data, or use another --out"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng_state"])
        self.data_rng.set_state(checkpoint["data_rng_state"])
        self.history = list(checkpoint["history"])
        self.start_epoch = int(checkpoint["epoch"])
        self.interrupted = checkpoint.get("interrupted")
        self.log.info(f"resumed from {vae_checkpoint(self.out)} after epoch {self.start_epoch}")

    def save(self, epoch: int, data_rng_state=None, **more) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                "family": "vae",
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": epoch,
                "hparams": self.model.hparams,
                "config": asdict(self.config),
                "rng_state": torch.get_rng_state(),
                "data_rng_state": self.data_rng.get_state() if data_rng_state is None else data_rng_state,
                "history": self.history,
                "extra": self.extra or {},
                "data_fingerprint": self.fingerprint,
                **more,
            },
        )

    def train_epoch(self, epoch: int, stop: StopSignals) -> tuple[Tensor, int]:
        """One pass (from the interrupted batch on, when resuming one); returns the ELBO sums and count."""
        config, model = self.config, self.model
        beta = kl_warmup_scale(epoch, config.warmup_epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(epoch, config.lr, config.lr_decay_epochs, config.lr_decay_factor)
        model.train()
        epoch_rng = (
            self.data_rng.get_state()
        )  # an interrupt stores this: the resume replays the epoch's draws
        permutation = torch.randperm(self.train_data.shape[0], generator=self.data_rng)
        totals = torch.zeros(3, dtype=torch.float64)
        seen, first = 0, 0
        if self.interrupted is not None:  # continue the interrupted epoch after its last step
            totals = torch.tensor(self.interrupted["totals"], dtype=torch.float64)
            seen, first = int(self.interrupted["seen"]), int(self.interrupted["batch_in_epoch"])
            self.interrupted = None
        batches = permutation.split(config.batch_size)
        shown = (
            len(batches) if config.max_train_batches is None else min(len(batches), config.max_train_batches)
        )
        with EpochProgress(shown, epoch + 1, self.progress, initial=first) as bar:
            for index, batch in enumerate(batches):
                if config.max_train_batches is not None and index >= config.max_train_batches:
                    break
                if index < first:
                    self.binarize(self.train_data[batch])  # done before the interrupt: replays its draws
                    continue
                x = self.binarize(self.train_data[batch]).to(self.device)
                terms = model(x)
                loss = -(terms.log_likelihood - beta * terms.kl).mean()
                optimizer_step(
                    self.optimizer,
                    loss,
                    lambda: (
                        f"non-finite loss at epoch {epoch + 1}, batch {index + 1}; "
                        "lower --lr or set grad_clip, and resume from the last checkpoint"
                    ),
                    model.parameters(),
                    config.grad_clip,
                )
                with torch.no_grad():
                    totals += torch.stack(
                        [terms.elbo.sum(), terms.log_likelihood.sum(), terms.kl.sum()]
                    ).double()
                seen += x.shape[0]
                bar.update(loss.item(), x.shape[0])
                if stop.received is not None:
                    position = {"batch_in_epoch": index + 1, "totals": totals.tolist(), "seen": seen}
                    self.save(epoch, data_rng_state=epoch_rng, interrupted=position)
                    kept = f"epoch {epoch + 1} (batch {index + 1}) in {self.checkpoint_path}"
                    message = interrupted_message(stop.received, kept, resume_command())
                    raise TrainingInterrupted(message, stop.received)
        return totals, seen

    def end_epoch(self, epoch: int, totals: Tensor, seen: int, started: float) -> None:
        """The epoch's record (validation ELBO when due), TensorBoard, the log and the checkpoint."""
        config = self.config
        elbo, reconstruction, kl = (totals / max(seen, 1)).tolist()
        record = {
            "epoch": epoch + 1,
            "train_elbo": elbo,
            "train_reconstruction": reconstruction,
            "train_kl": kl,
            "warmup_scale": kl_warmup_scale(epoch, config.warmup_epochs),
            "learning_rate": learning_rate(epoch, config.lr, config.lr_decay_epochs, config.lr_decay_factor),
            "seconds": time.time() - started,
        }
        last = epoch + 1 == config.epochs
        if (
            self.val_binary is not None
            and config.eval_every
            and ((epoch + 1) % config.eval_every == 0 or last)
        ):
            record.update({f"val_{k}": v for k, v in _evaluate_elbo(self.model, self.val_binary).items()})
        self.history.append(record)
        for key in ("elbo", "reconstruction", "kl"):
            for split in ("train", "val"):
                if f"{split}_{key}" in record:
                    self.writer.add_scalar(f"{key}/{split}", record[f"{split}_{key}"], epoch + 1)
        self.writer.add_scalar("warmup_scale", record["warmup_scale"], epoch + 1)
        self.writer.add_scalar("learning_rate", record["learning_rate"], epoch + 1)
        self.writer.flush()
        self.log.info(
            " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        )
        if last or (config.checkpoint_every and (epoch + 1) % config.checkpoint_every == 0):
            self.save(epoch + 1)
            write_json(self.out / "history.json", self.history)

    def patience_exhausted(self) -> bool:
        """Whether the last ``patience`` validations all fell short of the best validation ELBO."""
        if self.config.patience is None:
            return False
        elbos = [record["val_elbo"] for record in self.history if "val_elbo" in record]
        if not elbos:
            return False
        best = max(range(len(elbos)), key=elbos.__getitem__)
        return len(elbos) - 1 - best >= self.config.patience

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
