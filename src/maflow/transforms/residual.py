r"""Planar and radial flows: residual maps with a closed-form log-determinant and no closed-form inverse.

These layers only run in the generative direction (``inverse``, noise to sample), so a
flow built from them gives the exact density of its own samples (``rsample_and_log_prob``:
what a variational posterior needs) but not of an outside point: ``forward`` raises.
Their parameters are free, or amortised: computed from a context (an encoder's output)
by a linear map, one set per example.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.errors import NoDensityError
from maflow.transforms.base import Transform

__all__ = ["AmortisedParameters", "GenerativeOnly", "Planar", "Radial"]


class AmortisedParameters(nn.Module):
    """``count`` parameters per example: free (shared by all examples), or a linear map of a context.

    Example:
        >>> params = AmortisedParameters(5, context_features=3)
        >>> params(torch.randn(4, 3), batch=4).shape
        torch.Size([4, 5])
    """

    def __init__(self, count: int, context_features: int | None = None, scale: float = 0.1):
        super().__init__()
        self.context_features = context_features
        if context_features:
            self.linear = nn.Linear(context_features, count)
            with torch.no_grad():
                self.linear.weight.mul_(scale)
                self.linear.bias.normal_(0, scale)
        else:
            self.free = nn.Parameter(torch.randn(count) * scale)

    def forward(self, context: Tensor | None, batch: int) -> Tensor:
        if not self.context_features:
            return self.free.expand(batch, -1)
        if context is None:
            raise ValueError("this layer's parameters are amortised: pass a context tensor")
        return self.linear(context).expand(batch, -1)


class GenerativeOnly(Transform):
    """A transform with only the generative direction; ``forward`` (the density of a given point) raises."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NoDensityError(
            f"{type(self).__name__} has no closed-form inverse: it gives exact densities of its own "
            "samples (Flow.rsample_and_log_prob), not of outside points; to fit data, use an "
            "invertible flow (maf, nsf-ar, naf, realnvp, ...)"
        )


class Planar(GenerativeOnly):
    r"""Planar flow :math:`f(z) = z + \hat u \tanh(w^\top z + b)`, invertible by the constraint :math:`w^\top \hat u \ge -1`.

    :math:`\hat u = u + (m(w^\top u) - w^\top u)\, w / \|w\|^2` with :math:`m(a) = -1 + \mathrm{softplus}(a)`;
    :math:`\log|\det J_f| = \log|1 + \hat u^\top w \tanh'(w^\top z + b)|`.

    References:
        | Variational Inference with Normalizing Flows (Rezende and Mohamed, 2015)
        | https://arxiv.org/abs/1505.05770

    Arguments:
        features: Number of dimensions D.
        context_features: Size of a context from which the parameters are computed
            (amortised, as in a VAE's posterior); ``None``: free parameters.

    Example:
        >>> layer = Planar(2)
        >>> z, logabsdet = layer.inverse(torch.randn(5, 2))  # noise to sample
        >>> z.shape, logabsdet.shape
        (torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(self, features: int, context_features: int | None = None):
        super().__init__()
        self.features = features
        self.params = AmortisedParameters(2 * features + 1, context_features)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        params = self.params(context, z.shape[0])
        u, w, b = params[:, : self.features], params[:, self.features : -1], params[:, -1]
        wu = (w * u).sum(-1, keepdim=True)
        u_hat = u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(-1, keepdim=True).clamp_min(1e-12)
        activation = torch.tanh((w * z).sum(-1) + b)
        derivative = 1 - activation**2
        logabsdet = torch.log((1 + derivative * (u_hat * w).sum(-1)).abs())
        return z + u_hat * activation.unsqueeze(-1), logabsdet


class Radial(GenerativeOnly):
    r"""Radial flow :math:`f(z) = z + \beta h(\alpha, r)(z - z_0)`, :math:`h = 1/(\alpha + r)`, :math:`r = \|z - z_0\|`.

    :math:`\alpha = \mathrm{softplus}(\cdot) > 0` and :math:`\beta = -\alpha + \mathrm{softplus}(\cdot) \ge -\alpha`
    make it invertible; :math:`\log|\det J_f| = (D - 1)\log(1 + \beta h) + \log(1 + \beta h + \beta h' r)`.

    References:
        | Variational Inference with Normalizing Flows (Rezende and Mohamed, 2015)
        | https://arxiv.org/abs/1505.05770

    Arguments:
        features: Number of dimensions D.
        context_features: As :class:`Planar`.

    Example:
        >>> layer = Radial(3)
        >>> layer.inverse(torch.randn(4, 3))[0].shape
        torch.Size([4, 3])
    """

    def __init__(self, features: int, context_features: int | None = None):
        super().__init__()
        self.features = features
        self.params = AmortisedParameters(features + 2, context_features)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        params = self.params(context, z.shape[0])
        centre = params[:, : self.features]
        alpha = F.softplus(params[:, -2])
        beta = -alpha + F.softplus(params[:, -1])
        offset = z - centre
        radius = offset.norm(dim=-1)
        h = 1 / (alpha + radius)
        scale = 1 + beta * h
        logabsdet = (self.features - 1) * torch.log(scale) + torch.log(scale - beta * h**2 * radius)
        return z + (beta * h).unsqueeze(-1) * offset, logabsdet
