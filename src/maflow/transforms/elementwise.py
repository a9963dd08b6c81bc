r"""Element-wise monotone maps :math:`y_i = g(x_i; \theta_i)`: the pluggable half of an autoregressive layer.

A map says how many parameters each dimension takes (``params_per_dim``) and computes
both directions from a ``(..., D, P)`` parameter tensor, returning the element-wise
log-derivative. :class:`maflow.transforms.MaskedAutoregressive` supplies the parameters
from a MADE; a coupling layer could supply them from an MLP.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.transforms.spline import (
    DEFAULT_MIN_BIN_HEIGHT,
    DEFAULT_MIN_BIN_WIDTH,
    DEFAULT_MIN_DERIVATIVE,
    identity_spline_parameters,
    spline_parameter_count,
    unconstrained_rational_quadratic_spline,
)

__all__ = [
    "ElementwiseMap",
    "Affine",
    "Gated",
    "Shift",
    "RationalQuadraticSpline",
    "Inverted",
    "bound_log_scale",
    "SoftplusAffine",
    "SigmoidAffine",
]


def bound_log_scale(alpha: Tensor, bound: float, mode: str) -> Tensor:
    """Keeps a log-scale in [-bound, bound] by a hard clamp or a smooth tanh."""
    if mode == "clamp":
        return alpha.clamp(-bound, bound)
    if mode == "soft":
        return bound * torch.tanh(alpha / bound)
    if mode == "none":
        return alpha
    raise ValueError(f"unknown scale bound {mode!r}: use clamp, soft or none")


class ElementwiseMap(nn.Module):
    r"""A monotone map of each dimension given its parameters; subclass it for your own.

    Subclasses set ``params_per_dim`` and implement ``forward`` and ``inverse``, each taking
    ``(x, params)`` with ``x`` of shape ``(..., D)`` and ``params`` of shape ``(..., D, P)``
    and returning ``(y, log_derivative)``, both ``(..., D)``. ``identity_parameters`` (for
    layers that start as the identity) returns the ``(P,)`` parameters of the identity map,
    or ``None`` when there are none.
    """

    params_per_dim: int = 1

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def identity_parameters(self) -> Tensor | None:
        return None


class Affine(ElementwiseMap):
    r"""MAF's standardising map :math:`y = (x - \mu) e^{-\alpha}` with a bounded log-scale :math:`\alpha`.

    Parameters per dimension: :math:`(\mu, \alpha)`.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        scale_bound: ``"clamp"``, ``"soft"`` (smooth tanh bound) or ``"none"``.
        max_log_scale: The bound on :math:`|\alpha|`.

    Example:
        >>> g = Affine()
        >>> y, log_derivative = g(torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]))
        >>> y, log_derivative
        (tensor([0.]), tensor([-0.]))
    """

    params_per_dim = 2

    def __init__(self, scale_bound: str = "clamp", max_log_scale: float = 10.0):
        super().__init__()
        bound_log_scale(torch.zeros(1), max_log_scale, scale_bound)  # validates the mode early
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        return params[..., 0], bound_log_scale(params[..., 1], self.max_log_scale, self.scale_bound)

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._split(params)
        return (x - shift) * torch.exp(-log_scale), -log_scale

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._split(params)
        return y * torch.exp(log_scale) + shift, log_scale

    def identity_parameters(self) -> Tensor:
        return torch.zeros(2)


class Gated(ElementwiseMap):
    r"""IAF's gated update read in the density direction: :math:`y = (x - (1 - \sigma(s)) m) / \sigma(s)`.

    Its inverse is the numerically stable update :math:`x = \sigma(s) y + (1 - \sigma(s)) m`
    of the IAF paper. Parameters per dimension: :math:`(m, s)`; ``offset`` is added to
    :math:`s` (for a network whose outputs are normalised, so that the gate still starts
    near one).

    References:
        | Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Example:
        >>> g = Gated()
        >>> x, log_derivative = g.inverse(torch.tensor([2.0]), torch.tensor([[0.0, 0.0]]))
        >>> x
        tensor([1.])
    """

    params_per_dim = 2

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = float(offset)

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        raw = params[..., 1] + self.offset if self.offset else params[..., 1]
        gate = torch.sigmoid(raw)
        return (1 - gate) * params[..., 0], gate, F.logsigmoid(raw)

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        offset, gate, log_gate = self._split(params)
        return (x - offset) / gate, -log_gate

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        offset, gate, log_gate = self._split(params)
        return gate * y + offset, log_gate


class Shift(ElementwiseMap):
    r"""A volume-preserving shift :math:`y = x - m` (the IAF paper's shift-only step).

    Example:
        >>> Shift()(torch.tensor([1.0]), torch.tensor([[3.0]]))
        (tensor([-2.]), tensor([0.]))
    """

    params_per_dim = 1

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return x - params[..., 0], torch.zeros_like(x)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return y + params[..., 0], torch.zeros_like(y)

    def identity_parameters(self) -> Tensor:
        return torch.zeros(1)


class RationalQuadraticSpline(ElementwiseMap):
    r"""A monotone rational-quadratic spline on :math:`[-B, B]`, the identity outside.

    Parameters per dimension: ``K`` bin widths, ``K`` heights and ``K - 1`` interior knot
    derivatives, all unconstrained (``3K - 1``).

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        num_bins: Number of bins K.
        tail_bound: B.
        min_bin_width, min_bin_height, min_derivative: Floors that keep the spline well
            conditioned.

    Example:
        >>> g = RationalQuadraticSpline(num_bins=4)
        >>> params = g.identity_parameters().expand(2, 3, -1)
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(g(x, params)[0], x, atol=1e-5)
        True
    """

    def __init__(
        self,
        num_bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
    ):
        super().__init__()
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        if not tail_bound > 0:
            raise ValueError(f"tail_bound must be > 0, got {tail_bound}")
        if max(min_bin_width, min_bin_height) * num_bins > 1.0:
            raise ValueError(f"minimum bin width/height too large for {num_bins} bins")
        self.num_bins = num_bins
        self.tail_bound = float(tail_bound)
        self.min_bin_width = min_bin_width
        self.min_bin_height = min_bin_height
        self.min_derivative = min_derivative
        self.params_per_dim = spline_parameter_count(num_bins)

    def _spline(self, x: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
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

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return self._spline(x, params, inverse=False)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return self._spline(y, params, inverse=True)

    def identity_parameters(self) -> Tensor:
        return identity_spline_parameters(self.num_bins, self.min_derivative)


class Inverted(ElementwiseMap):
    """Swaps the two directions of a map (for layers whose one-pass direction is sampling).

    Example:
        >>> g = Inverted(Affine())
        >>> g(torch.tensor([1.0]), torch.tensor([[1.0, 0.0]]))[0]
        tensor([2.])
    """

    def __init__(self, base: ElementwiseMap):
        super().__init__()
        self.base = base
        self.params_per_dim = base.params_per_dim

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return self.base.inverse(x, params)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        return self.base(y, params)

    def identity_parameters(self) -> Tensor | None:
        return self.base.identity_parameters()


def _check_shift(shift: str) -> str:
    if shift not in ("before", "after"):
        raise ValueError(f"unknown shift {shift!r}: use before or after")
    return shift


class _ScaledAffine(ElementwiseMap):
    """An affine map given its positive scale directly: subclasses say how ``_split`` makes it."""

    params_per_dim = 2
    shift: str = "before"

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        shift, scale = self._split(params)
        y = (x - shift) * scale if self.shift == "before" else x * scale - shift
        return y, torch.log(scale)

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        shift, scale = self._split(params)
        x = y / scale + shift if self.shift == "before" else (y + shift) / scale
        return x, -torch.log(scale)


class SoftplusAffine(_ScaledAffine):
    r"""An affine map whose scale is a softplus, :math:`s = \mathrm{softplus}(a) + \epsilon`.

    ``shift="before"``: :math:`y = (x - m)\,s` (the shift is a conditional mean, as MAF's
    :class:`Affine`); ``shift="after"``: :math:`y = s\,x - m` (nflows' masked affine map).
    The scale grows linearly, not exponentially, in :math:`a`, so one large output cannot
    blow the map up, and :math:`\epsilon` keeps it invertible. Parameters per dimension:
    :math:`(m, a)`; the identity is :math:`m = 0`, :math:`a = \log(e^{1 - \epsilon} - 1)`.

    Arguments:
        eps: The scale's floor :math:`\epsilon`.
        shift: ``"before"`` or ``"after"`` the scale.

    Example:
        >>> g = SoftplusAffine(shift="after")
        >>> params = g.identity_parameters().expand(1, -1)
        >>> torch.allclose(g(torch.tensor([2.0]), params)[0], torch.tensor([2.0]))
        True
    """

    params_per_dim = 2

    def __init__(self, eps: float = 1e-3, shift: str = "before"):
        super().__init__()
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        self.eps = float(eps)
        self.shift = _check_shift(shift)

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        # contiguous(): on a strided view (every second output) CPU softplus takes a scalar
        # path, 15x slower forward and 7x forward + backward at 1000 x 43 (one copy is cheap).
        return params[..., 0], F.softplus(params[..., 1].contiguous()) + self.eps

    def identity_parameters(self) -> Tensor:
        return torch.tensor(
            [0.0, float(torch.log(torch.expm1(torch.tensor(1.0 - self.eps, dtype=torch.float64))))]
        )


class SigmoidAffine(_ScaledAffine):
    r"""An affine map with a bounded scale, :math:`s = s_{max}\,\sigma(a + o) + \epsilon`.

    ``shift="before"``: :math:`y = (x - m)\,s`; ``shift="after"``: :math:`y = s\,x - m`.
    With ``max_scale=1``, ``offset=2`` and ``shift="after"`` it is normflows' masked affine
    layer (nflows' before its 0.14 switch to softplus), whose density-direction scale lies in
    :math:`(\epsilon, 1 + \epsilon)`. Parameters per dimension: :math:`(m, a)`; the identity
    is :math:`m = 0`, :math:`a = \mathrm{logit}((1 - \epsilon)/s_{max}) - o`.

    Arguments:
        max_scale: :math:`s_{max}` (> 1 - eps, so that the identity is reachable).
        offset: :math:`o`, added to :math:`a`.
        eps: The scale's floor :math:`\epsilon`.
        shift: ``"before"`` or ``"after"`` the scale.

    Example:
        >>> g = SigmoidAffine(max_scale=2.0, offset=0.0)
        >>> params = g.identity_parameters().expand(1, -1)
        >>> torch.allclose(g(torch.tensor([2.0]), params)[0], torch.tensor([2.0]))
        True
    """

    params_per_dim = 2

    def __init__(self, max_scale: float = 1.0, offset: float = 2.0, eps: float = 1e-3, shift: str = "before"):
        super().__init__()
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        if not max_scale > 1 - eps:
            raise ValueError(f"max_scale must exceed 1 - eps = {1 - eps}, got {max_scale}")
        self.max_scale = float(max_scale)
        self.offset = float(offset)
        self.eps = float(eps)
        self.shift = _check_shift(shift)

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        return params[..., 0], self.max_scale * torch.sigmoid(params[..., 1] + self.offset) + self.eps

    def identity_parameters(self) -> Tensor:
        p = torch.tensor((1.0 - self.eps) / self.max_scale, dtype=torch.float64)
        return torch.tensor([0.0, float(torch.logit(p)) - self.offset])
