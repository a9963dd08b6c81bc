"""torch.distributions interop: maflow transforms inside TransformedDistribution and back, expand."""

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, ComposeTransform, ExpTransform, TanhTransform

from maflow.distributions.interop import MaflowTransform, TorchTransform
from maflow.models.registry import build_model
from maflow.transforms import CompositeTransform
from tests.contract import check_transform

FLOWS = {
    "maf": dict(num_layers=2, hidden_features=8),
    "nsf-ar": dict(num_layers=2, hidden_features=8, identity_init=False),
    "realnvp": dict(num_layers=2, hidden_features=8),
}


def base(features):
    return Independent(
        Normal(torch.zeros(features, dtype=torch.float64), torch.ones(features, dtype=torch.float64)), 1
    )


@pytest.mark.parametrize("name", FLOWS)
def test_a_flow_inside_transformed_distribution_has_the_same_log_prob(name):
    torch.manual_seed(0)
    flow = build_model(name, 3, **FLOWS[name]).double().eval()
    d = TransformedDistribution(base(3), [TorchTransform(flow.transform)])
    x = torch.randn(6, 3, dtype=torch.float64)
    assert torch.allclose(d.log_prob(x), flow.log_prob(x), atol=1e-10)
    with torch.no_grad():
        sample = d.rsample((5,))
        assert torch.allclose(d.log_prob(sample), flow.log_prob(sample), atol=1e-8)


def test_a_conditional_flow_takes_its_context_into_the_adapter():
    torch.manual_seed(0)
    flow = build_model("maf", 2, context_features=3, num_layers=2, hidden_features=8).double().eval()
    context = torch.randn(4, 3, dtype=torch.float64)
    d = TransformedDistribution(base(2), [TorchTransform(flow.transform, context)])
    x = torch.randn(4, 2, dtype=torch.float64)
    assert torch.allclose(d.log_prob(x), flow.log_prob(x, context), atol=1e-10)


@pytest.mark.parametrize(
    "torch_transform",
    [
        AffineTransform(0.5, 3.0),
        ExpTransform(),
        ComposeTransform([TanhTransform(), AffineTransform(1.0, 2.0)]),
    ],
    ids=["affine", "exp", "tanh-affine"],
)
def test_a_torch_transform_joins_a_maflow_composite_under_the_contract(torch_transform):
    torch.manual_seed(0)
    layer = CompositeTransform([MaflowTransform(torch_transform)])
    x = torch.randn(7, 3, dtype=torch.float64) * 0.5
    x = torch_transform(x)  # a point of the torch transform's codomain
    y, logabsdet = layer(x)
    back, inverse_logabsdet = layer.inverse(y)
    assert torch.allclose(back, x, atol=1e-10) and torch.allclose(logabsdet, -inverse_logabsdet, atol=1e-10)
    for i in range(7):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], logabsdet[i], atol=1e-8)


def test_affine_adapter_satisfies_the_shared_contract():
    check_transform(MaflowTransform(AffineTransform(0.3, 2.0)), 4)


def test_flow_distribution_expand_gives_independent_copies():
    torch.manual_seed(0)
    flow = build_model("maf", 2, num_layers=1, hidden_features=8).eval()
    d = flow().expand((4, 3))
    assert d.batch_shape == (4, 3) and d.event_shape == (2,)
    assert d.sample((5,)).shape == (5, 4, 3, 2)
    x = torch.randn(4, 3, 2)
    assert torch.equal(d.log_prob(x), flow.log_prob(x))
    conditional = build_model("maf", 2, context_features=1, num_layers=1, hidden_features=8).eval()
    e = conditional(torch.randn(3, 1)).expand((2, 3))
    assert e.batch_shape == (2, 3) and e.sample().shape == (2, 3, 2) and e.context.shape == (2, 3, 1)
