import numpy as np
import pytest
import torch

from maflow.nn import MADE
from maflow.nn.fast_sampling import degree_plan, made_inverse
from maflow.transforms import MaskedAffineAutoregressive

CONFIGS = [
    dict(features=1, hidden_features=4),
    dict(features=5, hidden_features=3),  # hidden narrower than D
    dict(features=7, hidden_features=[20, 4, 9], order="random", hidden_degrees="random", seed=3),
    dict(features=6, hidden_features=[2, 2], order="reversed", hidden_degrees="random", seed=1),
    dict(features=8, hidden_features=30, order=[3, 0, 7, 1, 6, 2, 5, 4], context_features=3),
    dict(
        features=9, hidden_features=[5], order="random", hidden_degrees="random", context_features=2, seed=9
    ),
    dict(features=12, hidden_features=[40, 40], activation="elu", seed=4),
    dict(features=10, hidden_features=[6, 12], activation="tanh", order="reversed", seed=5),
]


def noisy_transform(config):
    transform = MaskedAffineAutoregressive(**config).double()
    with torch.no_grad():  # big weights so that every connection matters
        for parameter in transform.parameters():
            parameter.normal_(0, 0.7)
    return transform


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"D{c['features']}-H{c['hidden_features']}")
def test_degree_ordered_inverse_equals_naive(config):
    transform = noisy_transform(config)
    torch.manual_seed(0)
    u = torch.randn(11, config["features"], dtype=torch.float64)
    context_features = config.get("context_features")
    context = torch.randn(11, context_features, dtype=torch.float64) if context_features else None
    with torch.no_grad():
        x_naive, ladj_naive = transform.inverse(u, context, method="naive")
        x_fast, ladj_fast = transform.inverse(u, context)
        assert torch.allclose(x_fast, x_naive, rtol=1e-10, atol=1e-10), (x_fast - x_naive).abs().max()
        assert torch.allclose(ladj_fast, ladj_naive, rtol=1e-10, atol=1e-10)
        u_back, ladj_forward = transform(x_fast, context)
        assert torch.allclose(u_back, u, atol=1e-8)
        assert torch.allclose(ladj_forward, -ladj_fast, atol=1e-8)


@pytest.mark.parametrize("config", CONFIGS[2:6], ids=lambda c: f"D{c['features']}")
def test_gradients_through_degree_ordered_inverse_equal_naive(config):
    transform = noisy_transform(config)
    torch.manual_seed(1)
    u = torch.randn(5, config["features"], dtype=torch.float64, requires_grad=True)
    context_features = config.get("context_features")
    context = torch.randn(5, context_features, dtype=torch.float64) if context_features else None
    gradients = []
    for method in ("naive", "degree"):
        x, ladj = transform.inverse(u, context, method=method)
        loss = (x.tanh() * torch.arange(x.shape[-1])).sum() + ladj.pow(2).sum()
        gradients.append(torch.autograd.grad(loss, [u, *transform.parameters()]))
    for naive, fast in zip(*gradients):  # the same up to summation order
        assert (fast - naive).abs().max() <= 1e-9 * naive.abs().max()


def test_made_inverse_with_three_parameters_per_input():
    made = MADE(6, hidden_features=[9, 4], output_multiplier=3, order="random", seed=2).double()
    with torch.no_grad():
        for parameter in made.parameters():
            parameter.normal_()

    def invert(y, params):  # y = x * exp(a) + b + c ** 2, a bounded to keep it tame
        a = torch.tanh(params[:, 0])
        return (y - params[:, 1] - params[:, 2] ** 2) * torch.exp(-a), -a.sum(-1)

    y = torch.randn(4, 6, dtype=torch.float64)
    x, logabsdet = made_inverse(made, y, invert)
    out = made(x).reshape(4, 3, 6)
    a = torch.tanh(out[:, 0])
    assert torch.allclose(x * torch.exp(a) + out[:, 1] + out[:, 2] ** 2, y, atol=1e-10)
    assert torch.allclose(logabsdet, -a.sum(-1), atol=1e-10)


def test_plan_merges_inputs_above_the_highest_hidden_degree():
    made = MADE(10, hidden_features=[4, 4])  # sequential degrees 1..4: inputs 5..10 share one step
    plan = degree_plan(made)
    assert len(plan.steps) == 5
    assert plan.steps[-1][:2] == (4, 10)
    assert degree_plan(made) is plan  # cached
    made.set_mask_index(0)
    assert degree_plan(made) is not plan  # degrees rewritten: rebuilt
    assert np.array_equal(plan.input_order.numpy(), np.arange(10))


def test_bad_inputs_are_rejected():
    transform = MaskedAffineAutoregressive(3, hidden_features=4, context_features=2)
    with pytest.raises(ValueError, match="context"):
        transform.inverse(torch.randn(2, 3))
    with pytest.raises(ValueError, match="shape"):
        made_inverse(transform.made, torch.randn(2, 4), transform._invert, torch.randn(2, 2))
    with pytest.raises(ValueError, match="inverse method"):
        transform.inverse(torch.randn(2, 3), torch.randn(2, 2), method="fast")
