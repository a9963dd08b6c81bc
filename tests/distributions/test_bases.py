import math

import pytest
import torch

from maflow.distributions import DiagonalNormal, Flow, MixtureOfGaussians
from maflow.transforms import AffineCoupling, CompositeTransform, half_mask
from tests.contract import check_flow


def test_diagonal_normal_matches_torch():
    base = DiagonalNormal(3)
    with torch.no_grad():
        base.mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
        base.log_std.copy_(torch.tensor([0.3, -1.0, 0.0]))
    u = torch.randn(10, 3)
    expected = torch.distributions.Normal(base.mean, base.log_std.exp()).log_prob(u).sum(-1)
    assert torch.allclose(base.log_prob(u), expected, atol=1e-5)
    samples = base.sample((20000,))
    assert torch.allclose(samples.mean(0), base.mean, atol=0.05)
    assert torch.allclose(samples.std(0), base.log_std.exp(), atol=0.05)


def test_diagonal_normal_fixed_has_no_parameters():
    assert not list(DiagonalNormal(2, trainable=False).parameters())


def test_mixture_matches_torch():
    torch.manual_seed(0)
    base = MixtureOfGaussians(2, num_components=3, seed=1)
    with torch.no_grad():
        base.logits.copy_(torch.tensor([0.0, 1.0, -1.0]))
        base.log_stds.normal_(0, 0.3)
    u = torch.randn(50, 2)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=base.logits),
        torch.distributions.Independent(torch.distributions.Normal(base.means, base.log_stds.exp()), 1),
    )
    assert torch.allclose(base.log_prob(u), reference.log_prob(u), atol=1e-5)
    samples = base.sample((40000,))
    assert torch.allclose(samples.mean(0), reference.mean, atol=0.05)


def test_mixture_normalises_in_1d():
    base = MixtureOfGaussians(1, num_components=4, seed=3).double()
    grid = torch.linspace(-15, 15, 20001, dtype=torch.float64).unsqueeze(-1)
    integral = torch.trapezoid(base.log_prob(grid).exp(), grid.squeeze(-1))
    assert abs(integral.item() - 1) < 1e-6


@pytest.mark.parametrize("base_class", [DiagonalNormal, MixtureOfGaussians])
@pytest.mark.parametrize("context_features", [None, 2])
def test_flow_on_learned_base_contract(base_class, context_features):
    def make():
        torch.manual_seed(1)
        transform = CompositeTransform(
            [AffineCoupling(half_mask(3), context_features=context_features, hidden_features=8)]
        )
        return Flow(transform, base_class(3), 3, context_features)

    flow = make()
    with torch.no_grad():
        for parameter in flow.base.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    state, x, context, log_prob = check_flow(flow, 3, context_features)
    clone = make().double().eval()
    clone.load_state_dict(state)
    assert torch.equal(clone.log_prob(x, context), log_prob)
    assert math.isfinite(log_prob.sum().item())
