"""Validation of a flow run (log p(x), or log p(x | c) for rows followed by their context columns)."""

from __future__ import annotations

import numpy as np
import torch

from maflow.train.distributed import is_distributed, shard
from maflow.utils.stats import mean_and_error

__all__ = ["flow_validator", "conditional_log_likelihoods", "context_flow_loss"]


def context_flow_loss(features: int):
    """:func:`flow_loss` of a conditional flow whose batches hold the data, then the context columns."""

    def loss(model, batch: torch.Tensor) -> torch.Tensor:
        return -model.log_prob(batch[:, :features], batch[:, features:]).mean()

    return loss


def flow_validator(
    model,
    train: torch.Tensor,
    val: torch.Tensor,
    config,
    features: int | None = None,
    log_abs_det: float = 0.0,
):
    """Validation: the model-space loss, and ``val_ll`` plus ``log_abs_det`` (in the data's units);
    with ``features``, the columns after the first ``features`` are the context: log p(x | c)."""
    from maflow.run.metrics import log_likelihoods
    from maflow.transforms.batchnorm import BatchNorm, recompute_batchnorm_statistics

    transform = getattr(model, "transform", None)
    has_batchnorm = transform is not None and any(isinstance(m, BatchNorm) for m in transform.modules())

    def validate(model):
        if config.bn_stats == "dataset" and has_batchnorm:
            # Under torchrun each rank takes a shard and the sums are combined across ranks.
            rows = shard(train)
            context = None if features is None else rows[:, features:]
            rows = rows if features is None else rows[:, :features]
            recompute_batchnorm_statistics(transform, rows, context, distributed=is_distributed())
        if features is None:
            ll = log_likelihoods(model, val, config.eval_batch_size, dtype=torch.float32)
        else:
            ll = conditional_log_likelihoods(model, val, features, config.eval_batch_size)
        if not np.isfinite(ll).all():
            return float("inf"), {"val_ll": float("-inf"), "val_nonfinite": float((~np.isfinite(ll)).sum())}
        mean, error = mean_and_error(ll)
        # The loss stays in model space, as the training loss; val_ll is in the data's units.
        return -mean, {"val_ll": mean + log_abs_det, "val_ll_2se": error}

    return validate


@torch.no_grad()
def conditional_log_likelihoods(model, rows: torch.Tensor, features: int, batch_size: int) -> np.ndarray:
    was_training = model.training
    model.eval()
    try:
        values = [
            model.log_prob(b[:, :features], b[:, features:]).double().cpu() for b in rows.split(batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(values).numpy()
