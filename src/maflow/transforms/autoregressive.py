"""The Gaussian MADE layer: one step of a masked autoregressive flow."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.nn.fast_sampling import made_inverse
from maflow.nn.made import MADE
from maflow.transforms.base import Transform

__all__ = ["MaskedAffineAutoregressive", "bound_log_scale"]


def bound_log_scale(alpha: Tensor, bound: float, mode: str) -> Tensor:
    """Keeps a log-scale in [-bound, bound] by a hard clamp or a smooth tanh."""
    if mode == "clamp":
        return alpha.clamp(-bound, bound)
    if mode == "soft":
        return bound * torch.tanh(alpha / bound)
    if mode == "none":
        return alpha
    raise ValueError(f"unknown scale bound {mode!r}: use clamp, soft or none")


def _check_inverse_method(method: str) -> str:
    if method not in ("degree", "naive"):
        raise ValueError(f"unknown inverse method {method!r}: use degree or naive")
    return method


class MaskedAffineAutoregressive(Transform):
    r"""Affine autoregressive map :math:`u_i = (x_i - \mu_i(x_{<i})) e^{-\alpha_i(x_{<i})}`.

    ``forward`` (density direction) takes one MADE pass. ``inverse`` (sampling direction)
    is exact and by default computes each hidden unit once, in degree order
    (:func:`maflow.nn.fast_sampling.made_inverse`): the arithmetic of one pass spread over
    at most D small steps. ``inverse_method = "naive"`` (attribute, or the ``method``
    argument) runs the whole MADE once per distinct input degree instead, D full passes.
    The log-scale :math:`\alpha` is bounded to ``[-max_log_scale, max_log_scale]``.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of inputs D.
        hidden_features, num_hidden_layers, context_features, order, hidden_degrees,
            activation, seed: Passed to :class:`maflow.nn.MADE`.
        scale_bound: ``"clamp"`` (seed spec), ``"soft"`` (smooth tanh bound) or ``"none"``.
        max_log_scale: The bound on :math:`|\alpha|`.
        inverse_method: ``"degree"`` (default) or ``"naive"``, see above.

    Example:
        >>> t = MaskedAffineAutoregressive(4, hidden_features=16)
        >>> x = torch.randn(10, 4)
        >>> u, logabsdet = t(x)
        >>> torch.allclose(t.inverse(u)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        hidden_features=512,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        order="natural",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        scale_bound: str = "clamp",
        max_log_scale: float = 10.0,
        seed: int = 0,
        inverse_method: str = "degree",
    ):
        super().__init__()
        bound_log_scale(torch.zeros(1), max_log_scale, scale_bound)  # validates the mode early
        _check_inverse_method(inverse_method)
        self.inverse_method = inverse_method
        self.features = features
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale
        self.made = MADE(
            features,
            hidden_features,
            num_hidden_layers,
            output_multiplier=2,
            context_features=context_features,
            order=order,
            hidden_degrees=hidden_degrees,
            activation=activation,
            seed=seed,
        )

    def parameters_of(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Shift and bounded log-scale of every dimension, given ``x``."""
        out = self.made(x, context)
        mu, alpha = out[..., : self.features], out[..., self.features :]
        return mu, bound_log_scale(alpha, self.max_log_scale, self.scale_bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mu, alpha = self.parameters_of(x, context)
        return (x - mu) * torch.exp(-alpha), -alpha.sum(-1)

    def inverse(
        self, u: Tensor, context: Tensor | None = None, method: str | None = None
    ) -> tuple[Tensor, Tensor]:
        method = _check_inverse_method(method or self.inverse_method)
        if method == "degree":
            return made_inverse(self.made, u, self._invert, context)
        return self._naive_inverse(u, context)

    def _invert(self, u: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        alpha = bound_log_scale(params[:, 1], self.max_log_scale, self.scale_bound)
        return u * torch.exp(alpha) + params[:, 0], alpha.sum(-1)

    def _naive_inverse(self, u: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        degrees = self.made.input_degrees
        x = torch.zeros_like(u)
        logabsdet = u.new_zeros(u.shape[0])
        for degree in torch.unique(degrees).tolist():
            # Inputs of this degree depend only on inputs of lower degree, already filled in.
            index = (degrees == degree).nonzero().squeeze(-1)
            mu, alpha = self.parameters_of(x, context)
            x = x.index_copy(-1, index, u[..., index] * torch.exp(alpha[..., index]) + mu[..., index])
            logabsdet = logabsdet + alpha[..., index].sum(-1)
        return x, logabsdet
