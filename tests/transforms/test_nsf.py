import pytest
import torch

from maflow.transforms import MaskedRQSAutoregressive, RQSCoupling, alternating_mask, half_mask
from tests.contract import check_transform


@pytest.mark.parametrize("context_features", [None, 2])
@pytest.mark.parametrize("mask", [half_mask(4), alternating_mask(4, 1)])
def test_spline_coupling_contract(mask, context_features):
    make = lambda: RQSCoupling(
        mask,
        hidden_features=12,
        context_features=context_features,
        num_bins=5,
        tail_bound=2.0,
        identity_init=False,
    )
    torch.manual_seed(0)
    check_transform(make(), 4, context_features, factory=make)


@pytest.mark.parametrize("context_features", [None, 3])
@pytest.mark.parametrize("order", ["natural", "random"])
def test_autoregressive_spline_contract(order, context_features):
    make = lambda: MaskedRQSAutoregressive(
        5,
        hidden_features=[14, 11],
        context_features=context_features,
        order=order,
        num_bins=4,
        tail_bound=2.0,
        identity_init=False,
        seed=2,
    )
    torch.manual_seed(0)
    layer = make()
    with torch.no_grad():  # larger outputs: bins far from uniform, so the test has teeth
        layer.made.output_layer.weight.mul_(4)
    check_transform(layer, 5, context_features, autoregressive_degrees=layer.made.input_degrees)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RQSCoupling(half_mask(3), hidden_features=8, num_bins=6),
        lambda: MaskedRQSAutoregressive(3, hidden_features=8, num_bins=6),
    ],
)
def test_identity_init(make):
    x = torch.randn(20, 3) * 2
    y, logabsdet = make()(x)
    assert torch.allclose(y, x, atol=1e-5) and torch.allclose(logabsdet, torch.zeros(20), atol=1e-5)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="num_bins"):
        RQSCoupling(half_mask(3), num_bins=0)
    with pytest.raises(ValueError, match="tail_bound"):
        MaskedRQSAutoregressive(3, tail_bound=0.0)
