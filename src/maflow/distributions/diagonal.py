"""Diagonal Gaussian base density with learned mean and log standard deviation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["DiagonalNormal"]


class DiagonalNormal(nn.Module):
    r"""The base density :math:`\mathcal{N}(\mu, \mathrm{diag}(\sigma^2))` with learned :math:`\mu, \log\sigma`.

    Starts at the standard normal. Samples are reparameterised, so gradients reach
    :math:`\mu` and :math:`\sigma` through :meth:`sample` when called outside ``no_grad``.

    Arguments:
        features: Number of dimensions D.
        trainable: Learn the mean and scale (else they stay buffers at 0 and 1).

    Example:
        >>> base = DiagonalNormal(2)
        >>> base.log_prob(torch.zeros(1, 2))
        tensor([-1.8379], grad_fn=<SubBackward0>)
    """

    def __init__(self, features: int, trainable: bool = True):
        super().__init__()
        self.features = features
        mean, log_std = torch.zeros(features), torch.zeros(features)
        if trainable:
            self.mean, self.log_std = nn.Parameter(mean), nn.Parameter(log_std)
        else:
            self.register_buffer("mean", mean)
            self.register_buffer("log_std", log_std)

    def log_prob(self, u: Tensor, context: Tensor | None = None) -> Tensor:
        z = (u - self.mean) * torch.exp(-self.log_std)
        return -0.5 * z.pow(2).sum(-1) - self.log_std.sum() - 0.5 * self.features * math.log(2 * math.pi)

    def sample(self, shape=(), context: Tensor | None = None) -> Tensor:
        shape = tuple(shape) + (tuple(context.shape[:-1]) if context is not None else ())
        noise = torch.randn(*shape, self.features, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(self.log_std) * noise
