"""Posterior predictive summaries of a classifier from S weight samples drawn in one batched pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Prediction", "predict", "predictive_summary"]


@dataclass
class Prediction:
    """Per-example predictive quantities, all in nats.

    Arguments:
        probs: (S, N, K) class probabilities of each posterior sample.
        mean: (N, K) predictive distribution, the average of ``probs`` over samples.
        entropy: (N,) entropy of ``mean`` (total uncertainty).
        expected_entropy: (N,) average entropy of the samples (aleatoric part).
        mutual_information: (N,) ``entropy - expected_entropy`` (epistemic part, >= 0).
    """

    probs: Tensor
    mean: Tensor
    entropy: Tensor
    expected_entropy: Tensor
    mutual_information: Tensor


def _entropy(probs: Tensor) -> Tensor:
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1)


def predictive_summary(probs: Tensor) -> Prediction:
    """Summarises (S, N, K) sample probabilities into a :class:`Prediction`.

    Example:
        >>> import torch
        >>> probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident samples that disagree
        >>> p = predictive_summary(probs)
        >>> p.mean.tolist(), round(p.mutual_information.item(), 4)
        ([[0.5, 0.5]], 0.6931)
    """
    mean = probs.mean(0)
    entropy = _entropy(mean)
    expected_entropy = _entropy(probs).mean(0)
    return Prediction(probs, mean, entropy, expected_entropy, (entropy - expected_entropy).clamp_min(0))


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, num_samples: int = 100, batch_size: int = 1000) -> Prediction:
    """Predictive distribution of ``model`` (returning log-probabilities) from ``num_samples`` draws.

    Each chunk of ``batch_size // num_samples`` inputs is repeated ``num_samples`` times and
    passed through the network once; a Bayesian layer draws independent weights for every row,
    so one pass yields all the posterior samples. A deterministic model gives identical samples,
    hence use ``num_samples=1`` for it.

    Example:
        >>> import torch
        >>> from maflow.models.mnf import MNFLinear
        >>> model = torch.nn.Sequential(MNFLinear(4, 3, hidden_features=8), torch.nn.LogSoftmax(-1))
        >>> p = predict(model, torch.randn(5, 4), num_samples=10)
        >>> p.probs.shape, p.entropy.shape
        (torch.Size([10, 5, 3]), torch.Size([5]))
    """
    was_training = model.training
    model.eval()
    chunk = max(1, batch_size // num_samples)
    parts = []
    try:
        for start in range(0, x.shape[0], chunk):
            xb = x[start : start + chunk]
            repeated = xb.unsqueeze(0).expand(num_samples, *xb.shape).reshape(-1, *xb.shape[1:])
            parts.append(model(repeated).exp().view(num_samples, xb.shape[0], -1))
    finally:
        model.train(was_training)
    return predictive_summary(torch.cat(parts, dim=1))
