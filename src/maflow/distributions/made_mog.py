"""MADE MoG: an autoregressive density whose conditionals are mixtures of Gaussians."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from maflow.nn.fast_sampling import made_inverse
from maflow.nn.made import MADE
from maflow.transforms.elementwise import bound_log_scale

__all__ = ["MADEMoG"]


class MADEMoG(nn.Module):
    r"""Density :math:`p(x) = \prod_i \sum_c \pi_{ic} \mathcal{N}(x_i; m_{ic}, \sigma_{ic}^2)` with MADE parameters.

    One MADE pass gives, for every dimension ``i`` and component ``c``, a mean, a log-scale
    and a mixing logit, all functions of :math:`x_{<i}` (and of the context); the weights
    are the log-softmax of the logits over components. This is the MAF authors'
    ``MixtureOfGaussiansMade`` (they parametrise by the log-precision, ``-2`` times our
    log-scale); as there, the output biases start at standard-normal draws so that the
    components differ from the start. The log-scale is bounded like a MAF layer's
    (``scale_bound``), which caps the standard deviation at :math:`e^{10}` in both density
    and sampling, so sampling draws from exactly the density that ``log_prob`` evaluates.
    Sampling is exact and computes each MADE unit once, in degree order
    (:func:`maflow.nn.fast_sampling.made_inverse`): the arithmetic of one MADE pass.

    Used as the base density of a flow (MAF MoG) or alone (MADE MoG).

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of dimensions D.
        num_components: Number of mixture components C per dimension (10 in the paper).
        scale_bound, max_log_scale: Bound on each component's log-scale.
        **made_options: Passed to :class:`maflow.nn.MADE` (``hidden_features``,
            ``num_hidden_layers``, ``context_features``, ``order``, ``hidden_degrees``, ...).

    Example:
        >>> density = MADEMoG(3, hidden_features=16, num_components=4)
        >>> x = density.sample((5,))
        >>> x.shape, density.log_prob(x).shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    def __init__(
        self,
        features: int,
        num_components: int = 10,
        *,
        scale_bound: str = "clamp",
        max_log_scale: float = 10.0,
        seed: int = 0,
        **made_options,
    ):
        super().__init__()
        if num_components < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}")
        bound_log_scale(torch.zeros(1), max_log_scale, scale_bound)  # validates the mode early
        self.features = features
        self.num_components = num_components
        self.context_features = made_options.get("context_features")
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale
        self.made = MADE(
            features,
            output_multiplier=3 * num_components,
            seed=seed,
            **made_options,
        )
        with torch.no_grad():
            bias = self.made.output_layer.bias
            bias.copy_(torch.randn(bias.shape, generator=torch.Generator().manual_seed(seed)))

    def mixture_parameters(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Means, bounded log-scales and log-weights, each of shape ``(batch, D, C)``."""
        return self._split(self.made(x, context).reshape(x.shape[0], -1, self.features))

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(batch, 3C, n)`` MADE outputs to means, bounded log-scales and log-weights, ``(batch, n, C)``."""
        out = params.reshape(params.shape[0], 3, self.num_components, -1).permute(1, 0, 3, 2)
        log_scale = bound_log_scale(out[1], self.max_log_scale, self.scale_bound)
        return out[0], log_scale, torch.log_softmax(out[2], dim=-1)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        batch_shape = x.shape[:-1]
        x = x.reshape(-1, self.features)
        if context is not None:
            context = context.expand(*batch_shape, context.shape[-1]).reshape(-1, context.shape[-1])
        means, log_scales, log_weights = self.mixture_parameters(x, context)
        z = (x.unsqueeze(-1) - means) * torch.exp(-log_scales)
        log_normal = -0.5 * z.pow(2) - log_scales - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_weights + log_normal, dim=-1).sum(-1).reshape(batch_shape)

    def sample(self, shape=(), context: Tensor | None = None) -> Tensor:
        shape = tuple(shape)
        if context is not None:
            full = shape + tuple(context.shape[:-1])
            context = context.expand(*full, context.shape[-1]).reshape(-1, context.shape[-1])
        else:
            full = shape
        count = math.prod(full)
        parameter = self.made.output_layer.weight
        noise = torch.randn(count, self.features, device=parameter.device, dtype=parameter.dtype)
        x, _ = made_inverse(self.made, noise, self._draw, context)
        return x.reshape(*full, self.features)

    def _draw(self, noise: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        """Draws the ``n`` inputs of one step: a component each, then its Gaussian."""
        means, log_scales, log_weights = self._split(params)
        component = torch.distributions.Categorical(logits=log_weights).sample().unsqueeze(-1)
        mean, log_scale = means.gather(-1, component), log_scales.gather(-1, component)
        value = mean.squeeze(-1) + torch.exp(log_scale.squeeze(-1)) * noise
        return value, noise.new_zeros(noise.shape[0])
