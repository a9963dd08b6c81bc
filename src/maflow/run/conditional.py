"""Class-conditional density models: log p(x|y), log p(x) by summing over labels, and accuracy."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from maflow.utils.stats import mean_and_error

__all__ = ["one_hot", "class_conditional_log_probs", "marginal_log_probs", "conditional_report"]


def one_hot(labels: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The context vector of a class-conditional model: a one-hot encoding of the label."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype)


@torch.no_grad()
def class_conditional_log_probs(model, x: Tensor, num_classes: int = 10, batch_size: int = 1000) -> Tensor:
    """``log p(x | y)`` for every point and every label: shape ``(N, num_classes)``.

    Example:
        >>> from maflow import MAF
        >>> model = MAF(3, num_layers=1, hidden_features=8, context_features=4).eval()
        >>> class_conditional_log_probs(model, torch.randn(5, 3), num_classes=4).shape
        torch.Size([5, 4])
    """
    parameter = next(model.parameters())
    dtype, device = parameter.dtype, parameter.device
    columns = []
    for label in range(num_classes):
        context = one_hot(torch.tensor([label]), num_classes, dtype).to(device)
        columns.append(
            torch.cat(
                [
                    model.log_prob(chunk.to(device, dtype), context.expand(len(chunk), -1)).cpu()
                    for chunk in x.split(batch_size)
                ]
            )
        )
    return torch.stack(columns, dim=1)


def marginal_log_probs(conditional_log_probs: Tensor) -> Tensor:
    r"""``log p(x) = logsumexp_y log p(x|y) - log C``: the label marginalised under a uniform prior.

    This is how the MAF paper evaluates its conditional models (gpapamak/maf
    ``evaluate_logprob``).

    Example:
        >>> marginal_log_probs(torch.log(torch.tensor([[0.2, 0.6]])))
        tensor([-0.9163])
    """
    return torch.logsumexp(conditional_log_probs, dim=1) - math.log(conditional_log_probs.shape[1])


def conditional_report(
    model, x: Tensor, labels: Tensor, num_classes: int = 10, batch_size: int = 1000
) -> dict:
    """Mean ± 2 standard errors of ``log p(x|y)`` (true labels) and ``log p(x)``, and the accuracy
    of classifying by ``argmax_y log p(x|y)`` (the conditional columns of the MAF paper's Table 2).

    Example:
        >>> from maflow import MAF
        >>> model = MAF(2, num_layers=1, hidden_features=8, context_features=3).eval()
        >>> report = conditional_report(model, torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]), 3)
        >>> sorted(report)
        ['accuracy', 'log_p_x', 'log_p_x_2se', 'log_p_x_given_y', 'log_p_x_given_y_2se', 'num_points']
    """
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    if labels.shape != (len(x),):
        raise ValueError(f"need one label per point: {len(x)} points, labels of shape {tuple(labels.shape)}")
    table = class_conditional_log_probs(model, x, num_classes, batch_size).double()
    given_y = table[torch.arange(len(x)), labels].numpy()
    marginal = marginal_log_probs(table).numpy()
    accuracy = float((table.argmax(1) == labels).double().mean())
    report = {"num_points": len(x), "accuracy": accuracy}
    for name, values in (("log_p_x_given_y", given_y), ("log_p_x", marginal)):
        mean, error = mean_and_error(np.asarray(values))
        report[name], report[f"{name}_2se"] = mean, error
    return report
