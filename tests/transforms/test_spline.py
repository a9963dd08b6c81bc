import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maflow.transforms.spline import (
    identity_spline_parameters,
    rational_quadratic_spline,
    unconstrained_rational_quadratic_spline,
)


def random_parameters(shape, num_bins, scale=2.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    draw = lambda *s: scale * torch.randn(*shape, *s, generator=generator, dtype=torch.float64)
    return draw(num_bins), draw(num_bins), draw(num_bins - 1)


@settings(max_examples=25, deadline=None)
@given(
    num_bins=st.integers(1, 12),
    tail_bound=st.floats(0.5, 6.0),
    scale=st.floats(0.0, 4.0),
    seed=st.integers(0, 10_000),
)
def test_round_trip_and_derivative(num_bins, tail_bound, scale, seed):
    w, h, d = random_parameters((64,), num_bins, scale, seed)
    x = torch.linspace(-1.5 * tail_bound, 1.5 * tail_bound, 64, dtype=torch.float64)
    y, logabsdet = unconstrained_rational_quadratic_spline(x, w, h, d, tail_bound=tail_bound)
    x_back, inverse_logabsdet = unconstrained_rational_quadratic_spline(
        y, w, h, d, inverse=True, tail_bound=tail_bound
    )
    assert torch.allclose(x_back, x, atol=1e-8)
    assert torch.allclose(inverse_logabsdet, -logabsdet, atol=1e-8)
    # Elementwise: log|dy/dx| by autograd.
    xg = x.clone().requires_grad_()
    yg, _ = unconstrained_rational_quadratic_spline(xg, w, h, d, tail_bound=tail_bound)
    (grad,) = torch.autograd.grad(yg.sum(), xg)
    assert torch.allclose(torch.log(grad), logabsdet, atol=1e-8)


def test_monotonic_and_maps_interval_onto_itself():
    w, h, d = random_parameters((1,), 8, scale=3.0)
    x = torch.linspace(-3, 3, 2001, dtype=torch.float64)
    y, _ = unconstrained_rational_quadratic_spline(x, w.expand(2001, 8), h.expand(2001, 8), d.expand(2001, 7))
    assert (y[1:] > y[:-1]).all()
    assert y[0] == -3 and y[-1] == 3


def test_continuous_value_and_slope_at_the_tail_boundary():
    w, h, d = random_parameters((4,), 6, scale=3.0)
    eps = 1e-7
    x = torch.tensor([-2.0 - eps, -2.0 + eps, 2.0 - eps, 2.0 + eps], dtype=torch.float64)
    y, logabsdet = unconstrained_rational_quadratic_spline(x, w, h, d, tail_bound=2.0)
    assert torch.allclose(y, x, atol=1e-6)
    assert torch.allclose(logabsdet, torch.zeros(4, dtype=torch.float64), atol=1e-3)


def test_identity_parameters_give_the_identity():
    params = identity_spline_parameters(5).double().expand(100, 14)
    x = torch.linspace(-4, 4, 100, dtype=torch.float64)
    y, logabsdet = unconstrained_rational_quadratic_spline(x, params[:, :5], params[:, 5:10], params[:, 10:])
    assert torch.allclose(y, x, atol=1e-12) and torch.allclose(
        logabsdet, torch.zeros(100, dtype=torch.float64)
    )


def test_minimum_bin_sizes_and_derivative_are_respected():
    w = torch.tensor([[50.0, -50.0, -50.0, -50.0]], dtype=torch.float64)
    d = torch.full((1, 5), -50.0, dtype=torch.float64)
    x = torch.tensor([0.999], dtype=torch.float64)
    _, logabsdet = rational_quadratic_spline(
        x, w, w, d, min_bin_width=0.01, min_bin_height=0.01, min_derivative=0.01
    )
    assert torch.isfinite(logabsdet).all()
    assert logabsdet.item() >= math.log(0.01) - 1e-9


def test_too_large_minimum_bin_is_rejected():
    w, h, d = random_parameters((1,), 4)
    with pytest.raises(ValueError, match="too large"):
        rational_quadratic_spline(torch.zeros(1), w, h, torch.zeros(1, 5), min_bin_width=0.3)


def test_float32_inverse_at_knots_is_finite():
    # nflows #87: a negative discriminant from rounding made the inverse fail; ours clamps it.
    w, h, d = (t.float() for t in random_parameters((1000,), 8, scale=3.0, seed=3))
    x = (torch.rand(1000) * 6 - 3).float()
    y, _ = unconstrained_rational_quadratic_spline(x, w, h, d)
    x_back, logabsdet = unconstrained_rational_quadratic_spline(y, w, h, d, inverse=True)
    assert torch.isfinite(x_back).all() and torch.isfinite(logabsdet).all()
    # Where the slope is nearly 0 or huge, float32 round trips are ill-conditioned; elsewhere exact.
    well_conditioned = logabsdet.abs() < 5
    assert well_conditioned.float().mean() > 0.4
    assert torch.allclose(x_back[well_conditioned], x[well_conditioned], atol=1e-4)
