"""Rational-quadratic spline flow layers: coupling and autoregressive (neural spline flows)."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.transforms.autoregressive import MaskedAutoregressive
from maflow.transforms.coupling import Coupling
from maflow.transforms.elementwise import RationalQuadraticSpline
from maflow.transforms.spline import DEFAULT_MIN_BIN_HEIGHT, DEFAULT_MIN_BIN_WIDTH, DEFAULT_MIN_DERIVATIVE

__all__ = ["RQSCoupling", "MaskedRQSAutoregressive"]


class RQSCoupling(Coupling):
    r"""Coupling layer whose elementwise map is a rational-quadratic spline with linear tails.

    An MLP maps the conditioning dimensions (and the context) to ``3K - 1`` numbers per
    transformed dimension: ``K`` bin widths, ``K`` heights and ``K - 1`` interior knot
    derivatives on ``[-B, B]``; outside it, the map is the identity.

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        mask: Boolean ``(features,)`` tensor, ``True`` for the transformed dimensions.
        context_features: Size of an optional context vector.
        num_bins: Number of bins K.
        tail_bound: B; the spline acts on ``[-B, B]``.
        min_bin_width, min_bin_height, min_derivative: Floors that keep the spline
            well conditioned.
        identity_init: Start as the identity map (zero output weights).
        **mlp_options: The conditioner MLP (``hidden_features``, ``num_hidden_layers``,
            ``activation``).

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
        context_features: int | None = None,
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
        identity_init: bool = True,
        **mlp_options,
    ):
        super().__init__(mask, context_features)
        self.spline = RationalQuadraticSpline(
            num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative
        )
        self.params_per_dim = self.spline.params_per_dim
        self.conditioner = self._network(self.params_per_dim, **mlp_options)
        if identity_init:
            with torch.no_grad():  # zero output weights; biases that make every spline the identity
                self.conditioner.output_layer.weight.zero_()
                identity = self.spline.identity_parameters().repeat(self.num_transformed)
                self.conditioner.output_layer.bias.copy_(identity)  # dimension-major: out[i * P + j]

    def _elementwise(self, x_b, x_a, context, inverse):
        params = self.conditioner(x_a, context).reshape(*x_b.shape, self.params_per_dim)
        y, log_derivative = self.spline.inverse(x_b, params) if inverse else self.spline(x_b, params)
        return y, log_derivative.sum(-1)


class MaskedRQSAutoregressive(MaskedAutoregressive):
    r"""Autoregressive rational-quadratic spline: dimension i's spline depends on x_{<i} via a MADE.

    :class:`maflow.transforms.MaskedAutoregressive` with the
    :class:`maflow.transforms.elementwise.RationalQuadraticSpline` map: ``forward`` (density)
    takes one MADE pass, ``inverse`` (sampling) the arithmetic of one pass in degree order.

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: Number of inputs D.
        num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative: The spline's
            (see :class:`RQSCoupling`).
        identity_init: Start as the identity map.
        **made_options: Passed to :class:`maflow.nn.MADE` (``hidden_features``, 64 by default,
            ``context_features``, ``order``, ``activation``, ``seed``, ...).

    Example:
        >>> layer = MaskedRQSAutoregressive(3, num_bins=4, tail_bound=3.0, identity_init=False)
        >>> y, logabsdet = layer(torch.tensor([[5.0, -4.0, 4.5]]))
        >>> y.tolist(), logabsdet.tolist()  # outside [-3, 3] every spline is the identity
        ([[5.0, -4.0, 4.5]], [0.0])
    """

    made_defaults = {"hidden_features": 64}

    def __init__(
        self,
        features: int,
        *,
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
        identity_init: bool = True,
        **made_options,
    ):
        spline = RationalQuadraticSpline(num_bins, tail_bound, min_bin_width, min_bin_height, min_derivative)
        super().__init__(features, spline, identity_start=identity_init, **made_options)
        self.num_bins = num_bins
        self.tail_bound = spline.tail_bound
