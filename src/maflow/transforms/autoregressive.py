r"""The autoregressive layer: a MADE conditioner plus a pluggable element-wise map."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.nn.fast_sampling import made_inverse, naive_inverse
from maflow.nn.made import MADE
from maflow.nn.masked import WeightNormMaskedLinear
from maflow.transforms.base import Transform
from maflow.transforms.elementwise import Affine, ElementwiseMap, bound_log_scale

__all__ = ["MaskedAutoregressive", "MaskedAffineAutoregressive", "bound_log_scale"]

INVERSE_METHODS = ("degree", "naive")


def _check_inverse_method(method: str) -> str:
    if method not in INVERSE_METHODS:
        raise ValueError(f"unknown inverse method {method!r}: use degree or naive")
    return method


class MaskedAutoregressive(Transform):
    r"""Autoregressive map :math:`y_i = g(x_i; \theta_i(x_{<i}))` with :math:`\theta` from one MADE.

    ``forward`` (density direction) takes one MADE pass. ``inverse`` (sampling direction)
    is exact and by default computes each hidden unit once, in degree order
    (:func:`maflow.nn.fast_sampling.made_inverse`): the arithmetic of one pass spread over
    at most D small steps, for every map. ``inverse_method = "naive"`` (attribute, or the
    ``method`` argument) runs the whole MADE once per distinct input degree instead.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: Number of inputs D.
        map: The element-wise map :math:`g` (a :class:`maflow.transforms.elementwise.ElementwiseMap`).
        identity_start: Start as the identity map: zero output weights and the map's
            identity parameters as output biases.
        inverse_method: ``"degree"`` (default) or ``"naive"``, see above.
        **made_options: Every other argument of :class:`maflow.nn.MADE` (``hidden_features``,
            ``context_features``, ``order``, ``normalization``, ``residual``, ``seed``, ...);
            a subclass may give some of them other defaults (``made_defaults``).

    Example:
        >>> from maflow.transforms.elementwise import RationalQuadraticSpline
        >>> layer = MaskedAutoregressive(3, RationalQuadraticSpline(num_bins=4), hidden_features=16)
        >>> x = torch.randn(5, 3)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(layer.inverse(y)[0], x, atol=1e-4)
        True
    """

    made_defaults: dict = {}

    def __init__(
        self,
        features: int,
        map: ElementwiseMap,
        identity_start: bool = False,
        inverse_method: str = "degree",
        **made_options,
    ):
        super().__init__()
        self.inverse_method = _check_inverse_method(inverse_method)
        self.features = features
        self.map = map
        made_options = {**self.made_defaults, **made_options}
        self.made = MADE(features, output_multiplier=map.params_per_dim, **made_options)
        if identity_start:
            self._start_as_identity()

    @torch.no_grad()
    def _start_as_identity(self) -> None:
        identity = self.map.identity_parameters()
        if identity is None:
            raise ValueError(
                f"{type(self.map).__name__} has no identity parameters: use identity_start=False"
            )
        self.made.output_layer.weight.zero_()
        # The MADE's outputs are parameter-major: out[j * D + i] is parameter j of input i.
        self.made.output_layer.bias.copy_(identity.repeat_interleave(self.features))

    def map_parameters(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The map's parameters of every dimension given ``x``: shape ``(..., D, P)``."""
        out = self.made(x, context)
        return out.reshape(*x.shape[:-1], self.map.params_per_dim, self.features).transpose(-1, -2)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, log_derivative = self.map(x, self.map_parameters(x, context))
        return y, log_derivative.sum(-1)

    def inverse(
        self, y: Tensor, context: Tensor | None = None, method: str | None = None
    ) -> tuple[Tensor, Tensor]:
        solve = (
            made_inverse
            if _check_inverse_method(method or self.inverse_method) == "degree"
            else naive_inverse
        )
        self._initialise_weight_norm(y, context)
        return solve(self.made, y, self._invert, context)

    def _invert(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        # made_inverse hands parameters as (batch, P, n); maps take (batch, n, P).
        x, log_derivative = self.map.inverse(y, params.transpose(1, 2))
        return x, log_derivative.sum(-1)

    def _initialise_weight_norm(self, y: Tensor, context: Tensor | None) -> None:
        # Data-dependent initialisation must see data, not the all-zero first guess of a solver.
        # One forward pass initialises every layer, so the first layer's flag speaks for all;
        # other MADEs skip the check (it reads a flag back from the device).
        first = self.made.hidden_layers[0]
        if self.training and isinstance(first, WeightNormMaskedLinear) and not bool(first.initialized):
            self.made(y, context)


class MaskedAffineAutoregressive(MaskedAutoregressive):
    r"""The Gaussian MADE layer of a MAF: :math:`u_i = (x_i - \mu_i(x_{<i})) e^{-\alpha_i(x_{<i})}`.

    :class:`MaskedAutoregressive` with the :class:`maflow.transforms.elementwise.Affine` map;
    the log-scale :math:`\alpha` is bounded to ``[-max_log_scale, max_log_scale]``.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of inputs D.
        scale_bound: ``"clamp"`` (as the MAF-v1.0 spec), ``"soft"`` (smooth tanh bound) or ``"none"``.
        max_log_scale: The bound on :math:`|\alpha|`.
        identity_start, inverse_method: As :class:`MaskedAutoregressive`.
        **made_options: Passed to :class:`maflow.nn.MADE`.

    Example:
        >>> t = MaskedAffineAutoregressive(4, hidden_features=16, max_log_scale=2.0)
        >>> shift, log_scale = t.parameters_of(torch.randn(10, 4))
        >>> bool(log_scale.abs().max() <= 2.0), shift.shape
        (True, torch.Size([10, 4]))
    """

    def __init__(self, features: int, *, scale_bound: str = "clamp", max_log_scale: float = 10.0, **options):
        super().__init__(features, Affine(scale_bound, max_log_scale), **options)
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale

    def parameters_of(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Shift and bounded log-scale of every dimension, given ``x``."""
        return self.map._split(self.map_parameters(x, context))
