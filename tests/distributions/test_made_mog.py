import pytest
import torch
from torch.autograd.functional import jacobian

from maflow.distributions import MADEMoG


def moderate(density, scale=0.5):
    """Shrinks the random output biases so that a small grid covers the density."""
    with torch.no_grad():
        density.made.output_layer.bias.mul_(scale)
    return density


def test_log_prob_matches_torch_mixture_per_dimension():
    torch.manual_seed(0)
    density = MADEMoG(3, hidden_features=16, num_components=4, context_features=2).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    context = torch.randn(7, 2, dtype=torch.float64)
    means, log_scales, log_weights = density.mixture_parameters(x, context)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=log_weights),
        torch.distributions.Normal(means, log_scales.exp()),
    )
    assert torch.allclose(density.log_prob(x, context), mixture.log_prob(x).sum(-1), atol=1e-10)


def test_density_integrates_to_one_in_2d():
    torch.manual_seed(0)
    density = moderate(MADEMoG(2, hidden_features=8, num_components=3).double())
    grid = torch.linspace(-14, 14, 701, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        p = density.log_prob(torch.stack([xx, yy], -1).reshape(-1, 2)).exp().reshape(701, 701)
    integral = torch.trapezoid(torch.trapezoid(p, grid), grid)
    assert abs(integral.item() - 1) < 1e-3


@pytest.mark.parametrize("order", ["natural", "reversed", [2, 0, 3, 1]])
def test_conditionals_depend_only_on_earlier_dimensions(order):
    torch.manual_seed(0)
    density = MADEMoG(4, hidden_features=[20, 20], num_components=2, order=order).double()
    x = torch.randn(4, dtype=torch.float64)
    jac = jacobian(lambda v: torch.cat(density.mixture_parameters(v.unsqueeze(0)), -1).squeeze(0), x)
    depends = jac.abs().sum(-2 if jac.dim() == 3 else -1) > 0  # (D, D): parameters of i on input j
    degrees = density.made.input_degrees
    assert not (depends & ~(degrees[:, None] > degrees[None, :])).any()


def test_sampling_matches_the_density():
    # Histogram of the first generated dimension against its marginal density.
    torch.manual_seed(0)
    density = moderate(MADEMoG(2, hidden_features=8, num_components=3)).double()
    with torch.no_grad():
        samples = density.sample((40000,))
        first = samples[:, 0]
        grid = torch.linspace(-12, 12, 2001, dtype=torch.float64)
        # x_1 has no parents: its marginal is the mixture given any x.
        means, log_scales, log_weights = density.mixture_parameters(torch.zeros(1, 2, dtype=torch.float64))
        marginal = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=log_weights[0, 0]),
            torch.distributions.Normal(means[0, 0], log_scales[0, 0].exp()),
        )
    assert abs(first.mean() - marginal.mean) < 4 * marginal.stddev / 200
    cdf = torch.cumsum(marginal.log_prob(grid).exp(), 0) * (grid[1] - grid[0])
    empirical = (first.unsqueeze(-1) <= grid).double().mean(0)
    assert (cdf - empirical).abs().max() < 0.015  # Kolmogorov-Smirnov distance


def test_conditional_sample_shapes_and_passes():
    density = MADEMoG(3, hidden_features=8, num_components=2, context_features=2)
    calls = []
    density.made.register_forward_hook(lambda *args: calls.append(1))
    samples = density.sample((5,), torch.randn(4, 2))
    # Degree-ordered: each MADE unit once, no full MADE pass at all.
    assert samples.shape == (5, 4, 3) and len(calls) == 0
    assert density.log_prob(samples, torch.randn(4, 2)).shape == (5, 4)


def test_log_scale_is_bounded():
    density = MADEMoG(2, hidden_features=4, num_components=2, max_log_scale=3.0)
    with torch.no_grad():
        density.made.output_layer.bias.fill_(-100.0)
    _, log_scales, _ = density.mixture_parameters(torch.zeros(1, 2))
    assert torch.all(log_scales >= -3.0)
