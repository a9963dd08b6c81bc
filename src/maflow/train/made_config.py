"""The settings of a binary-MADE run, and the model, mask schedule and optimiser they describe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from maflow.errors import ConfigError
from maflow.models.bernoulli_made import BernoulliMADE

__all__ = [
    "MODEL_FIELDS",
    "FRESH_MASK_COUNT",
    "OPTIMIZERS",
    "MadeTrainConfig",
    "build_bernoulli_made",
    "mask_index_at_step",
    "build_optimizer",
]

# MadeTrainConfig fields that build the model (its constructor config); the others train it.
MODEL_FIELDS = (
    "hidden_features",
    "num_masks",
    "order",
    "hidden_degrees",
    "activation",
    "direct_input",
    "weight_init",
    "seed",
)
# With ``fresh_masks`` the model draws mask k from seed + k for any k below this, so every update
# can use a new order and connectivity without a cycle (numpy seeds must stay below 2**32).
FRESH_MASK_COUNT = 2**31
OPTIMIZERS = ("adam", "adadelta", "adagrad")


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
        weight_init: The initial weights (:class:`maflow.nn.MADE`'s ``weight_init``): ``"maf"``
            (the default), ``"orthogonal"`` (the MADE authors' best runs), ``"torch"`` or ``"xavier"``.
        epochs, patience: Maximum epochs; stop after ``patience`` validations without improvement.
        lr, weight_decay, lr_schedule: The optimiser's step size, its L2 coefficient, and ``"constant"``
            or ``"cosine"`` (annealed to 0 over ``epochs``).
        batch_size, eval_batch_size: Minibatch sizes for training and scoring.
        seed: Seed of the weights, the masks and the data order.
        fresh_masks: Draw a new order and connectivity for every mask change instead of
            cycling ``num_masks`` draws (the MADE authors' ``shuffle_mask = -1`` with
            ``-r 1``: a fresh mask for every update); the val/test mixtures then use draws
            ``0..S-1`` and ``num_masks`` is ignored.
        optimizer: ``"adam"`` (default), ``"adadelta"`` (the MADE authors' DNA run: decay
            ``rho`` 0.95, ``eps`` 1e-5, no step size, i.e. ``lr`` 1) or ``"adagrad"`` (their
            binarised-MNIST run, lr 0.01).
        rho, eps: AdaDelta's decay and every optimiser's epsilon (``None``: torch's default).
        tf32: ``--tf32``: TensorFloat-32 matrix products while training on a CUDA GPU (off: exact
            float32); a setting of the machine, so ``--resume`` may change it.

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
    weight_init: str = "maf"
    epochs: int = 100
    patience: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    batch_size: int = 100
    eval_batch_size: int = 1000
    seed: int = 0
    fresh_masks: bool = False
    optimizer: str = "adam"
    rho: float = 0.95
    eps: float | None = None
    tf32: bool = False

    @property
    def mask_draws(self) -> int:
        """How many distinct masks the model can use: ``num_masks``, or unbounded with ``fresh_masks``."""
        return FRESH_MASK_COUNT if self.fresh_masks else self.num_masks

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
            if not 1 <= int(getattr(self, name)) <= self.mask_draws:
                raise ConfigError(
                    f"cannot average {getattr(self, name)} masks when training with {self.num_masks}: "
                    "use 1 <= --samples, --val-samples <= --num-masks (or train with --fresh-masks)"
                )
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"unknown lr schedule {self.lr_schedule!r}: use constant or cosine")
        if self.mask_draws > 1 and self.order != "random":
            raise ConfigError("several masks need --order random (else every mask has the same order)")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        if not 0 <= self.rho < 1 or (self.eps is not None and not self.eps > 0):
            raise ConfigError(f"need 0 <= rho < 1 and eps > 0, got {self.rho} and {self.eps}")
        return self


def build_bernoulli_made(features: int, config: MadeTrainConfig) -> BernoulliMADE:
    """The model a config describes; weights are drawn from ``config.seed``."""
    torch.manual_seed(config.seed)
    try:
        options = {name: getattr(config, name) for name in MODEL_FIELDS}
        options["num_masks"] = config.mask_draws
        return BernoulliMADE(features, **{**options, "hidden_features": list(config.hidden_features)})
    except ValueError as error:
        raise ConfigError(str(error)) from None


def mask_index_at_step(step: int, num_masks: int, resample_every: int) -> int:
    """The mask used at optimiser step ``step`` (0-based): a pure function, so resuming is exact.

    Example:
        >>> [mask_index_at_step(s, 3, 2) for s in range(8)]
        [0, 0, 1, 1, 2, 2, 0, 0]
    """
    return (step // resample_every) % num_masks


def build_optimizer(parameters, config: MadeTrainConfig) -> torch.optim.Optimizer:
    """The optimiser a config names, on ``parameters``.

    The MADE authors' AdaDelta (mgermain/MADE ``update_rules.py``) is torch's with ``lr`` 1:
    their ``learning_rate`` argument is AdaDelta's epsilon and their ``decrease_constant`` its
    decay. Their AdaGrad adds epsilon inside the square root, torch's outside it.

    Example:
        >>> build_optimizer([torch.zeros(1, requires_grad=True)], MadeTrainConfig(optimizer="adadelta", lr=1.0))
        Adadelta (...
    """
    eps: dict[str, Any] = {} if config.eps is None else {"eps": config.eps}
    decay = config.weight_decay
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(parameters, lr=config.lr, rho=config.rho, weight_decay=decay, **eps)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(parameters, lr=config.lr, weight_decay=decay, **eps)
    return torch.optim.Adam(parameters, lr=config.lr, weight_decay=decay, **eps)
