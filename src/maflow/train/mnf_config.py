"""The settings of one MNIST classifier run (the MNF LeNet or the plain LeNet)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from maflow.errors import ConfigError

__all__ = ["MNFTrainConfig"]


DEFAULT_DENSE = 50  # the MNF LeNet's dense width in janosh/torch-mnf


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
        dense_features: the MNF LeNet's dense hidden width: 50 (janosh/torch-mnf's layout, the
            default) or 500 (the MNF authors' ``layer_dims=(20, 50, 500)``).
        max_std: the MNF LeNet's cap on the weights' standard deviation in the forward pass
            (the authors' ``thres_var``, 0.5 in their script; None: no cap, the default).
        seed: seeds the weights, the noise and the data order.
        val_samples, test_samples: posterior samples per image when scoring the MNF LeNet.
        max_minutes: stop after the first epoch that ends beyond this wall time (None: no limit).
        limit_train: use only the first N training images (quick checks).
        log_every: steps between TensorBoard training scalars.
        patience: stop after this many epochs without a lower validation NLL (None: off).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        tf32: ``--tf32``: TensorFloat-32 matrix products and convolutions while training on a
            CUDA GPU (off: exact float32).
    """

    model: str = "mnf-lenet"
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    kl_weight: float = 1.0
    kl_anneal_epochs: float = 0.0
    mask_mode: str = "fixed"
    dense_features: int = DEFAULT_DENSE
    max_std: float | None = None
    seed: int = 0
    val_samples: int = 1
    test_samples: int = 10
    max_minutes: float | None = None
    limit_train: int | None = None
    log_every: int = 50
    patience: int | None = None
    device: str = "auto"
    tf32: bool = False

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr must be a positive number, got {self.lr}"),
            (
                math.isfinite(self.kl_weight) and self.kl_weight >= 0,
                f"--kl-weight must be a number >= 0, got {self.kl_weight}",
            ),
            (
                math.isfinite(self.kl_anneal_epochs) and self.kl_anneal_epochs >= 0,
                f"--kl-anneal-epochs must be a number >= 0, got {self.kl_anneal_epochs}",
            ),
            (self.dense_features >= 1, f"--dense-features must be >= 1, got {self.dense_features}"),
            (
                self.model == "mnf-lenet" or self.dense_features == DEFAULT_DENSE,
                "--dense-features sets the MNF LeNet's width; the plain lenet has a fixed layout",
            ),
            (
                self.max_std is None or (math.isfinite(self.max_std) and self.max_std > 0),
                f"--max-std must be a positive number, got {self.max_std}",
            ),
            (self.model == "mnf-lenet" or self.max_std is None, "--max-std applies to mnf-lenet only"),
            (
                self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
                f"--max-minutes must be a positive number of minutes, got {self.max_minutes}",
            ),
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
        if self.model != "mnf-lenet":
            return {}
        # Default width and no cap are left out, so that runs from before the options resume unchanged.
        width = {} if self.dense_features == DEFAULT_DENSE else {"dense_features": self.dense_features}
        cap = {} if self.max_std is None else {"max_std": self.max_std}
        return {"mask_mode": self.mask_mode, **width, **cap}
