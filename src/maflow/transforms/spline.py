"""Monotonic rational-quadratic splines with linear tails (the neural spline flow transformer)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = [
    "DEFAULT_MIN_BIN_WIDTH",
    "DEFAULT_MIN_BIN_HEIGHT",
    "DEFAULT_MIN_DERIVATIVE",
    "rational_quadratic_spline",
    "unconstrained_rational_quadratic_spline",
    "spline_parameter_count",
    "identity_spline_parameters",
]

DEFAULT_MIN_BIN_WIDTH = 1e-3
DEFAULT_MIN_BIN_HEIGHT = 1e-3
DEFAULT_MIN_DERIVATIVE = 1e-3


def spline_parameter_count(num_bins: int) -> int:
    """Unconstrained numbers per dimension: K widths, K heights, K - 1 interior derivatives."""
    return 3 * num_bins - 1


def _unit_derivative_logit(min_derivative: float) -> float:
    # softplus(c) + min_derivative = 1: the slope that joins the identity tails smoothly.
    return math.log(math.expm1(1.0 - min_derivative))


def identity_spline_parameters(num_bins: int, min_derivative: float = DEFAULT_MIN_DERIVATIVE) -> Tensor:
    """The ``3K - 1`` unconstrained values for which the spline is the identity map.

    Equal widths and heights and unit derivatives make every bin the line ``y = x``.
    """
    params = torch.zeros(spline_parameter_count(num_bins))
    params[2 * num_bins :] = _unit_derivative_logit(min_derivative)
    return params


def _knots(unnormalized: Tensor, left: float, right: float, min_size: float) -> tuple[Tensor, Tensor]:
    """Bin sizes (softmax, floored at ``min_size``) and their ``K + 1`` cumulative knots."""
    num_bins = unnormalized.shape[-1]
    if min_size * num_bins > 1.0:
        raise ValueError(f"minimum bin size {min_size} is too large for {num_bins} bins")
    sizes = min_size + (1 - min_size * num_bins) * torch.softmax(unnormalized, dim=-1)
    knots = F.pad(torch.cumsum(sizes, dim=-1), (1, 0))
    knots = (right - left) * knots + left
    # Pin the end knots exactly so that the two boundaries match the tails to the last bit.
    knots = torch.cat(
        [torch.full_like(knots[..., :1], left), knots[..., 1:-1], torch.full_like(knots[..., :1], right)], -1
    )
    return knots[..., 1:] - knots[..., :-1], knots


def _bin_index(knots: Tensor, values: Tensor) -> Tensor:
    index = torch.searchsorted(knots[..., 1:-1].contiguous(), values.unsqueeze(-1).contiguous(), right=True)
    return index.squeeze(-1).clamp(0, knots.shape[-1] - 2)


def _gather(values: Tensor, index: Tensor) -> Tensor:
    return values.gather(-1, index.unsqueeze(-1)).squeeze(-1)


def rational_quadratic_spline(
    inputs: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    inverse: bool = False,
    left: float = -1.0,
    right: float = 1.0,
    bottom: float = -1.0,
    top: float = 1.0,
    min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
    min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
    min_derivative: float = DEFAULT_MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""Elementwise monotonic rational-quadratic spline on ``[left, right] -> [bottom, top]``.

    ``inputs`` has shape ``S``; the widths and heights have shape ``S + (K,)`` and the
    derivatives ``S + (K + 1,)`` (all K + 1 knot derivatives, unconstrained). Returns the
    outputs and the elementwise ``log |dy/dx|`` of the map applied (for ``inverse=True``,
    that of the inverse map). Inputs outside the interval are refused (``ValueError``, as
    nflows does): the formula would extrapolate the end bins into a wrong value with a NaN
    log-derivative. :func:`unconstrained_rational_quadratic_spline` has identity tails.

    References:
        | Neural Spline Flows (Durkan et al., 2019), equations (4)-(8) and appendix A
        | https://arxiv.org/abs/1906.04032

    Example:
        >>> x = torch.linspace(-0.9, 0.9, 5)
        >>> w, h, d = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 5)
        >>> y, logabsdet = rational_quadratic_spline(x, w, h, d)
        >>> x_back, _ = rational_quadratic_spline(y, w, h, d, inverse=True)
        >>> torch.allclose(x_back, x, atol=1e-5)
        True
    """
    low, high = (bottom, top) if inverse else (left, right)
    if not torch.compiler.is_compiling() and bool(((inputs < low) | (inputs > high)).any()):
        raise ValueError(f"spline inputs must lie in [{low}, {high}]: use identity tails outside it")
    return _spline(
        inputs, unnormalized_widths, unnormalized_heights, unnormalized_derivatives, inverse,
        left, right, bottom, top, min_bin_width, min_bin_height, min_derivative,
    )  # fmt: skip


def _spline(
    inputs, unnormalized_widths, unnormalized_heights, unnormalized_derivatives, inverse,
    left, right, bottom, top, min_bin_width, min_bin_height, min_derivative,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    widths, cumwidths = _knots(unnormalized_widths, left, right, min_bin_width)
    heights, cumheights = _knots(unnormalized_heights, bottom, top, min_bin_height)
    # contiguous(): CPU softplus on a strided slice of the parameters takes a slow scalar path.
    derivatives = min_derivative + F.softplus(unnormalized_derivatives.contiguous())

    index = _bin_index(cumheights if inverse else cumwidths, inputs)
    x_k, w_k = _gather(cumwidths, index), _gather(widths, index)
    y_k, h_k = _gather(cumheights, index), _gather(heights, index)
    d_k, d_k1 = _gather(derivatives, index), _gather(derivatives[..., 1:], index)
    slope = h_k / w_k
    curvature = d_k1 + d_k - 2 * slope

    if inverse:
        # Solve y - y_k = h_k (s xi^2 + d_k xi (1 - xi)) / (s + curvature xi (1 - xi)) for xi.
        offset = inputs - y_k
        a = h_k * (slope - d_k) + offset * curvature
        b = h_k * d_k - offset * curvature
        c = -slope * offset
        discriminant = (b.pow(2) - 4 * a * c).clamp_min(0)  # >= 0 in exact arithmetic
        xi = (2 * c) / (-b - torch.sqrt(discriminant))  # the stable root, in [0, 1]
        outputs = xi * w_k + x_k
    else:
        xi = (inputs - x_k) / w_k
        numerator = h_k * (slope * xi.pow(2) + d_k * xi * (1 - xi))
        outputs = y_k + numerator / (slope + curvature * xi * (1 - xi))

    one_minus = xi * (1 - xi)
    denominator = slope + curvature * one_minus
    derivative_numerator = slope.pow(2) * (d_k1 * xi.pow(2) + 2 * slope * one_minus + d_k * (1 - xi).pow(2))
    logabsdet = torch.log(derivative_numerator) - 2 * torch.log(denominator)
    return outputs, (-logabsdet if inverse else logabsdet)


def unconstrained_rational_quadratic_spline(
    inputs: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    inverse: bool = False,
    tail_bound: float = 3.0,
    min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
    min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
    min_derivative: float = DEFAULT_MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""A rational-quadratic spline on ``[-B, B]`` with identity (linear) tails outside.

    Takes ``K`` widths, ``K`` heights and ``K - 1`` interior derivatives per element; the
    two boundary derivatives are fixed to 1 so that the map and its slope are continuous
    where the spline meets the tails.

    Example:
        >>> x = torch.tensor([-5.0, 0.3, 4.0])
        >>> w, h, d = torch.randn(3, 8), torch.randn(3, 8), torch.randn(3, 7)
        >>> y, logabsdet = unconstrained_rational_quadratic_spline(x, w, h, d, tail_bound=3.0)
        >>> y[0].item(), y[2].item(), logabsdet[0].item()
        (-5.0, 4.0, 0.0)
    """
    boundary = unnormalized_derivatives.new_full(
        (*unnormalized_derivatives.shape[:-1], 1), _unit_derivative_logit(min_derivative)
    )
    derivatives = torch.cat([boundary, unnormalized_derivatives, boundary], dim=-1)
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    # Every element goes through the spline (outside ones clamped to the interval) and the
    # tails are selected afterwards: no data-dependent branch or boolean indexing, so
    # torch.compile traces one graph; the values inside are the same.
    bound = float(tail_bound)
    spline_outputs, spline_logabsdet = _spline(
        inputs.clamp(-bound, bound), unnormalized_widths, unnormalized_heights, derivatives, inverse,
        -bound, bound, -bound, bound, min_bin_width, min_bin_height, min_derivative,
    )  # fmt: skip
    outputs = torch.where(inside, spline_outputs, inputs)
    logabsdet = torch.where(inside, spline_logabsdet, torch.zeros_like(spline_logabsdet))
    return outputs, logabsdet
