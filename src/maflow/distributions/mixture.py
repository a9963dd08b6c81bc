"""Mixture of diagonal Gaussians as a learned base density."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MixtureOfGaussians"]


class MixtureOfGaussians(nn.Module):
    r"""Base density :math:`\sum_c \pi_c \mathcal{N}(\mu_c, \mathrm{diag}(\sigma_c^2))` with learned parameters.

    The weights are a softmax of learned logits (starting uniform), the means start at
    seeded standard-normal draws and the scales at 1. Sampling picks a component per sample
    and is not reparameterised in the component choice.

    Arguments:
        features: Number of dimensions D.
        num_components: Number of components C.
        seed: Seed of the initial means.

    Example:
        >>> base = MixtureOfGaussians(2, num_components=3)
        >>> base.sample((5,)).shape, base.log_prob(torch.zeros(4, 2)).shape
        (torch.Size([5, 2]), torch.Size([4]))
    """

    def __init__(self, features: int, num_components: int = 10, seed: int = 0):
        super().__init__()
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}")
        self.features = features
        self.num_components = num_components
        generator = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(torch.zeros(num_components))
        self.means = nn.Parameter(torch.randn(num_components, features, generator=generator))
        self.log_stds = nn.Parameter(torch.zeros(num_components, features))

    def component_log_probs(self, u: Tensor) -> Tensor:
        """``log pi_c + log N(u; mu_c, sigma_c)`` for each component: shape ``(..., C)``."""
        z = (u.unsqueeze(-2) - self.means) * torch.exp(-self.log_stds)
        log_normal = (
            -0.5 * z.pow(2).sum(-1) - self.log_stds.sum(-1) - 0.5 * self.features * math.log(2 * math.pi)
        )
        return torch.log_softmax(self.logits, -1) + log_normal

    def log_prob(self, u: Tensor, context: Tensor | None = None) -> Tensor:
        return torch.logsumexp(self.component_log_probs(u), dim=-1)

    def sample(self, shape=(), context: Tensor | None = None) -> Tensor:
        shape = tuple(shape) + (tuple(context.shape[:-1]) if context is not None else ())
        count = math.prod(shape)
        component = torch.multinomial(torch.softmax(self.logits, -1), count, replacement=True)
        noise = torch.randn(count, self.features, device=self.means.device, dtype=self.means.dtype)
        samples = self.means[component] + torch.exp(self.log_stds[component]) * noise
        return samples.reshape(*shape, self.features)
