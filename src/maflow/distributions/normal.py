"""Standard normal base density as a module (so it follows ``.to()``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["StandardNormal"]


class StandardNormal(nn.Module):
    r"""The base density :math:`\mathcal{N}(0, I_D)` of a flow.

    Base densities are modules with ``log_prob(u, context=None)`` summed over the last
    dimension and ``sample(shape, context=None)``; a context's batch shape is appended to
    ``shape``.

    Example:
        >>> base = StandardNormal(2)
        >>> base.log_prob(torch.zeros(1, 2))
        tensor([-1.8379])
    """

    _zero: torch.Tensor

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.register_buffer("_zero", torch.zeros(()))  # carries device and dtype

    def log_prob(self, u: Tensor, context: Tensor | None = None) -> Tensor:
        return -0.5 * u.pow(2).sum(-1) - 0.5 * self.features * math.log(2 * math.pi)

    def sample(self, shape=(), context: Tensor | None = None) -> Tensor:
        shape = tuple(shape) + (tuple(context.shape[:-1]) if context is not None else ())
        return torch.randn(*shape, self.features, device=self._zero.device, dtype=self._zero.dtype)
