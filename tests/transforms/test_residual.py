"""Planar, radial and Sylvester steps: log|det| against autograd, invertibility constraints, no density of outside points."""

import pytest
import torch
from torch.autograd.functional import jacobian

from maflow.transforms.residual import Planar, Radial
from maflow.transforms.sylvester import Sylvester

STEPS = {
    "planar": lambda c: Planar(4, c),
    "radial": lambda c: Radial(4, c),
    "sylvester-orthogonal": lambda c: Sylvester(4, "orthogonal", num_vectors=2, context_features=c),
    "sylvester-orthogonal-full": lambda c: Sylvester(4, "orthogonal", context_features=c),
    "sylvester-householder": lambda c: Sylvester(4, "householder", num_vectors=3, context_features=c),
    "sylvester-triangular": lambda c: Sylvester(4, "triangular", context_features=c),
    "sylvester-triangular-reversed": lambda c: Sylvester(4, "triangular", reverse=True, context_features=c),
}


def wild(step, scale):
    """Raw parameters far from their initial values: the constraints must hold anyway."""
    torch.manual_seed(0)
    step = step.double()
    with torch.no_grad():
        for parameter in step.parameters():
            parameter.normal_(0, scale)
    return step


@pytest.mark.parametrize("name", STEPS)
@pytest.mark.parametrize("context_features", [None, 3])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_log_det_matches_autograd_and_the_map_is_orientation_preserving(name, context_features, scale):
    step = wild(STEPS[name](context_features), scale)
    z = torch.randn(6, 4, dtype=torch.float64) * 2
    context = torch.randn(6, context_features, dtype=torch.float64) if context_features else None
    _, logabsdet = step.inverse(z, context)
    for i in range(6):
        c = None if context is None else context[i : i + 1]
        jac = jacobian(lambda v: step.inverse(v.unsqueeze(0), c)[0].squeeze(0), z[i])
        sign, log_det = torch.linalg.slogdet(jac)
        # det > 0 everywhere: the constraint keeps the map invertible (it never folds).
        assert sign == 1
        assert torch.allclose(log_det, logabsdet[i], atol=1e-9)


@pytest.mark.parametrize("name", STEPS)
def test_gradients_reach_every_parameter(name):
    step = STEPS[name](3).double()
    z, context = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    y, logabsdet = step.inverse(z, context)
    (y.pow(2).sum() - logabsdet.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in step.parameters())


@pytest.mark.parametrize("name", STEPS)
def test_outside_points_have_no_density(name):
    with pytest.raises(NotImplementedError, match="no closed-form inverse"):
        STEPS[name](None)(torch.randn(2, 4))


def test_amortised_parameters_need_a_context():
    with pytest.raises(ValueError, match="context"):
        Planar(4, context_features=3).inverse(torch.randn(2, 4))


def test_planar_constraint_holds_where_the_raw_parameters_violate_it():
    step = Planar(2)
    with torch.no_grad():  # w . u = -5 < -1: unconstrained, this planar map would fold
        step.params.free.copy_(torch.tensor([-5.0, 0.0, 1.0, 0.0, 0.0]))
    z = torch.linspace(-3, 3, 201).unsqueeze(-1) * torch.tensor([1.0, 0.0])
    y, _ = step.inverse(z)
    assert (y[1:, 0] > y[:-1, 0]).all()  # still increasing along w


def test_bad_sylvester_settings_are_rejected():
    with pytest.raises(ValueError, match="kind"):
        Sylvester(3, kind="diagonal")
    with pytest.raises(ValueError, match="num_vectors"):
        Sylvester(3, kind="orthogonal", num_vectors=4)
