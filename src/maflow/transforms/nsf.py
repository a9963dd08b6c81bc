"""Rational-quadratic spline flow layers: coupling and autoregressive (neural spline flows)."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.nn.made import MADE
from maflow.nn.mlp import MLP
from maflow.transforms.base import Transform
from maflow.transforms.coupling import Coupling
from maflow.transforms.spline import (
    DEFAULT_MIN_BIN_HEIGHT,
    DEFAULT_MIN_BIN_WIDTH,
    DEFAULT_MIN_DERIVATIVE,
    identity_spline_parameters,
    spline_parameter_count,
    unconstrained_rational_quadratic_spline,
)

__all__ = ["RQSCoupling", "MaskedRQSAutoregressive"]


class _SplineMixin:
    """Shared spline settings and the elementwise call on ``(..., 3K - 1)`` parameters."""

    def _spline_settings(self, num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative):
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        if tail_bound <= 0:
            raise ValueError(f"tail_bound must be > 0, got {tail_bound}")
        if max(min_bin_width, min_bin_height) * num_bins > 1.0:
            raise ValueError(f"minimum bin width/height too large for {num_bins} bins")
        self.num_bins = num_bins
        self.tail_bound = float(tail_bound)
        self.min_bin_width = min_bin_width
        self.min_bin_height = min_bin_height
        self.min_derivative = min_derivative

    def _spline(self, x: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        y, logabsdet = self._elementwise_spline(x, params, inverse)
        return y, logabsdet.sum(-1)

    def _elementwise_spline(self, x: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        k = self.num_bins
        return unconstrained_rational_quadratic_spline(
            x,
            params[..., :k],
            params[..., k : 2 * k],
            params[..., 2 * k :],
            inverse=inverse,
            tail_bound=self.tail_bound,
            min_bin_width=self.min_bin_width,
            min_bin_height=self.min_bin_height,
            min_derivative=self.min_derivative,
        )

    @torch.no_grad()
    def _identity_init(self, layer: torch.nn.Linear, features: int, layout: str) -> None:
        """Zero output weights, biases that make every spline the identity."""
        layer.weight.zero_()
        bias = identity_spline_parameters(self.num_bins, self.min_derivative)
        # "dim_major": out[i * P + j]; "param_major" (MADE's layout): out[j * D + i].
        bias = bias.repeat(features) if layout == "dim_major" else bias.repeat_interleave(features)
        layer.bias.copy_(bias)


class RQSCoupling(_SplineMixin, Coupling):
    r"""Coupling layer whose elementwise map is a rational-quadratic spline with linear tails.

    An MLP maps the conditioning dimensions (and the context) to ``3K - 1`` numbers per
    transformed dimension: ``K`` bin widths, ``K`` heights and ``K - 1`` interior knot
    derivatives on ``[-B, B]``; outside it, the map is the identity.

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        mask: Boolean ``(features,)`` tensor, ``True`` for the transformed dimensions.
        hidden_features, num_hidden_layers, activation: The conditioner MLP.
        context_features: Size of an optional context vector.
        num_bins: Number of bins K.
        tail_bound: B; the spline acts on ``[-B, B]``.
        min_bin_width, min_bin_height, min_derivative: Floors that keep the spline
            well conditioned.
        identity_init: Start as the identity map (zero output weights).

    Example:
        >>> from maflow.transforms.coupling import half_mask
        >>> layer = RQSCoupling(half_mask(4), hidden_features=16, num_bins=4)
        >>> x = torch.randn(6, 4)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(layer.inverse(y)[0], x, atol=1e-4)
        True
    """

    def __init__(
        self,
        mask: Tensor,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        activation: str = "relu",
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
        identity_init: bool = True,
    ):
        Coupling.__init__(self, mask, context_features)
        self._spline_settings(num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative)
        self.params_per_dim = spline_parameter_count(num_bins)
        self.conditioner = MLP(
            self.num_identity,
            self.num_transformed * self.params_per_dim,
            hidden_features,
            num_hidden_layers,
            context_features,
            activation,
        )
        if identity_init:
            self._identity_init(self.conditioner.output_layer, self.num_transformed, "dim_major")

    def _elementwise(self, x_b, x_a, context, inverse):
        params = self.conditioner(x_a, context).reshape(*x_b.shape, self.params_per_dim)
        return self._spline(x_b, params, inverse)


class MaskedRQSAutoregressive(_SplineMixin, Transform):
    r"""Autoregressive rational-quadratic spline: dimension i's spline depends on x_{<i} via a MADE.

    ``forward`` (density) takes one MADE pass; ``inverse`` takes one pass per input degree.

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: Number of inputs D.
        hidden_features, num_hidden_layers, context_features, order, hidden_degrees,
            activation, seed: Passed to :class:`maflow.nn.MADE`.
        num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative,
            identity_init: As :class:`RQSCoupling`.

    Example:
        >>> layer = MaskedRQSAutoregressive(3, hidden_features=16, num_bins=4, identity_init=False)
        >>> x = torch.randn(5, 3)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(layer.inverse(y)[0], x, atol=1e-4)
        True
    """

    def __init__(
        self,
        features: int,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        order="natural",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
        identity_init: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self._spline_settings(num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative)
        self.features = features
        self.params_per_dim = spline_parameter_count(num_bins)
        self.made = MADE(
            features,
            hidden_features,
            num_hidden_layers,
            output_multiplier=self.params_per_dim,
            context_features=context_features,
            order=order,
            hidden_degrees=hidden_degrees,
            activation=activation,
            seed=seed,
        )
        if identity_init:
            self._identity_init(self.made.output_layer, features, "param_major")

    def _parameters_of(self, x: Tensor, context: Tensor | None) -> Tensor:
        out = self.made(x, context)  # out[..., j * D + i]: parameter j of dimension i
        return out.reshape(*x.shape[:-1], self.params_per_dim, self.features).transpose(-1, -2)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._spline(x, self._parameters_of(x, context), inverse=False)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        degrees = self.made.input_degrees
        x = torch.zeros_like(y)
        logabsdet = y.new_zeros(y.shape[0])
        for degree in torch.unique(degrees).tolist():
            # Dimensions of this degree depend only on dimensions of lower degree, already set.
            index = (degrees == degree).nonzero().squeeze(-1)
            params = self._parameters_of(x, context).index_select(-2, index)
            x_new, elementwise = self._elementwise_spline(y.index_select(-1, index), params, inverse=True)
            x = x.index_copy(-1, index, x_new)
            logabsdet = logabsdet + elementwise.sum(-1)
        return x, logabsdet
