import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maflow.transforms import AdditiveCoupling, AffineCoupling, alternating_mask, half_mask
from maflow.transforms.coupling import MapCoupling
from maflow.transforms.elementwise import Affine, RationalQuadraticSpline, SigmoidAffine, SoftplusAffine
from tests.contract import check_transform


def affine(mask, context_features=None, **options):
    return AffineCoupling(mask, hidden_features=[10, 7], context_features=context_features, **options)


@pytest.mark.parametrize("context_features", [None, 3])
@pytest.mark.parametrize("mask", [alternating_mask(5), half_mask(5, parity=1)])
@pytest.mark.parametrize("scale_bound", ["soft", "clamp", "none"])
def test_affine_coupling_contract(mask, context_features, scale_bound):
    make = lambda: affine(mask, context_features, scale_bound=scale_bound)
    torch.manual_seed(0)
    check_transform(make(), 5, context_features, factory=make)


@pytest.mark.parametrize("context_features", [None, 2])
def test_glow_sigmoid_coupling_contract(context_features):
    make = lambda: affine(half_mask(4), context_features, scale="sigmoid")
    torch.manual_seed(0)
    _, logabsdet, _ = check_transform(make(), 4, context_features, factory=make)
    assert (logabsdet < 0).all()  # a sigmoid factor only contracts in the density direction


MAPS = {
    "exp": lambda: Affine(scale_bound="soft"),
    "softplus-after": lambda: SoftplusAffine(shift="after"),
    "sigmoid": lambda: SigmoidAffine(),
    "spline": lambda: RationalQuadraticSpline(num_bins=4, tail_bound=3.0),
}


@pytest.mark.parametrize("context_features", [None, 2])
@pytest.mark.parametrize("map_name", list(MAPS))
def test_map_coupling_contract(map_name, context_features):
    def make():
        layer = MapCoupling(
            alternating_mask(5),
            MAPS[map_name](),
            context_features,
            hidden_features=[9, 6],
            weight_init="torch",
        )
        with torch.no_grad():  # away from the identity start, so that the checks mean something
            layer.conditioner.output_layer.weight.normal_(0, 0.3)
        return layer

    torch.manual_seed(0)
    check_transform(make(), 5, context_features, factory=make)


@pytest.mark.parametrize("map_name", list(MAPS))
def test_map_coupling_starts_as_the_identity(map_name):
    layer = MapCoupling(half_mask(4), MAPS[map_name](), hidden_features=8)
    x = 2 * torch.randn(6, 4)
    y, logabsdet = layer(x)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logabsdet, torch.zeros(6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("context_features", [None, 2])
def test_additive_coupling_contract(context_features):
    make = lambda: AdditiveCoupling(half_mask(4), hidden_features=8, context_features=context_features)
    _, logabsdet, _ = check_transform(make(), 4, context_features, factory=make)
    assert torch.equal(logabsdet, torch.zeros(7, dtype=torch.float64))


@settings(max_examples=15, deadline=None)
@given(
    features=st.integers(2, 7),
    data=st.data(),
)
def test_masked_dimensions_pass_unchanged_and_land_in_place(features, data):
    # The recombination bug of karpathy/pytorch-normalizing-flows #10: outputs must stay in
    # their input's position whatever the mask.
    bits = data.draw(st.lists(st.booleans(), min_size=features, max_size=features))
    if all(bits) or not any(bits):
        bits[0] = not bits[0]
    mask = torch.tensor(bits)
    layer = affine(mask).double()
    x = torch.randn(4, features, dtype=torch.float64)
    y, logabsdet = layer(x)
    assert torch.equal(y[:, ~mask], x[:, ~mask])
    # Each transformed output depends on its own input with slope exp(-s), on no other B input.
    jac = torch.autograd.functional.jacobian(lambda v: layer(v.unsqueeze(0))[0].squeeze(0), x[0])
    sub = jac[mask][:, mask]
    assert torch.equal(sub, torch.diag(torch.diagonal(sub)))
    assert torch.allclose(torch.log(torch.diagonal(sub)).sum(), logabsdet[0])


def test_scale_bound_keeps_log_scale_bounded():
    layer = affine(half_mask(4), max_log_scale=2.0)
    with torch.no_grad():
        layer.scale_net.output_layer.bias.fill_(100.0)
    _, logabsdet = layer(torch.randn(3, 4))
    assert torch.all(logabsdet.abs() <= 2 * 2.0 + 1e-5)


@pytest.mark.parametrize("mask", [torch.ones(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)])
def test_degenerate_masks_are_rejected(mask):
    with pytest.raises(ValueError, match="mask"):
        affine(mask)


def test_masks():
    assert alternating_mask(5).tolist() == [True, False, True, False, True]
    assert alternating_mask(5, 1).tolist() == [False, True, False, True, False]
    assert half_mask(5).tolist() == [False, False, True, True, True]
    assert half_mask(5, 1).tolist() == [True, True, False, False, False]


def test_conditional_coupling_needs_context():
    with pytest.raises(ValueError, match="context"):
        affine(half_mask(4), context_features=2)(torch.randn(3, 4))
