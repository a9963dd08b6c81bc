"""The VAE's training settings, and the KL warm-up and learning-rate schedules they describe."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from maflow.errors import ConfigError

__all__ = ["VAETrainConfig", "kl_warmup_scale", "learning_rate"]


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
        checkpoint_every: Kept so that older configurations load: ``checkpoints/latest.pth`` is
            now written after every epoch, as in every family.
        max_train_batches: Stop each epoch after this many batches (tests, smoke runs).
        grad_clip: Gradient-norm bound, or ``None`` (karstenkreis/flow_vae has none).
        patience: Stop after this many validations without a better validation ELBO (``None``:
            train every epoch, as karstenkreis/flow_vae).
        seed: Seeds the model's initialisation, the shuffling and the binarisation.
        tf32: ``--tf32``: TensorFloat-32 matrix products and convolutions while training on a
            CUDA GPU (off: exact float32).
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
    tf32: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> VAETrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown training settings {sorted(unknown)}: use {sorted(known)}")
        return cls(**values).validated()

    def validated(self) -> VAETrainConfig:
        """Raises :class:`ConfigError` naming the first nonsensical setting (type or range)."""
        _check_types(self)
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (math.isfinite(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr}"),
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
                self.grad_clip is None or (math.isfinite(self.grad_clip) and self.grad_clip > 0),
                f"grad_clip must be positive, got {self.grad_clip}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"[train] {message}")
        return self


def _check_types(config) -> None:
    """Raises :class:`ConfigError` for the first setting whose value has the wrong type."""
    kinds = {"int": (int,), "float": (int, float), "bool": (bool,)}
    for field in fields(config):
        value = getattr(config, field.name)
        annotation = str(field.type)
        if value is None and "None" in annotation:
            continue
        kind = annotation.split("|")[0].strip()
        wanted = kinds.get(kind)
        if wanted is None:
            continue
        if not isinstance(value, wanted) or (kind != "bool" and isinstance(value, bool)):
            raise ConfigError(f"[train] {field.name} must be {_ARTICLE[kind]}, got {value!r}")


_ARTICLE = {"int": "a whole number", "float": "a number", "bool": "true or false"}


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
