import pytest
import torch

from maflow.transforms import InverseAutoregressive
from tests.contract import check_transform


@pytest.mark.parametrize("context_features", [None, 2])
@pytest.mark.parametrize("gated", [True, False])
def test_iaf_contract(gated, context_features):
    make = lambda: InverseAutoregressive(
        4, hidden_features=[12, 9], context_features=context_features, order="random", gated=gated, seed=5
    )
    torch.manual_seed(0)
    layer = make()
    with torch.no_grad():
        layer.made.output_layer.weight.mul_(3)
    check_transform(layer, 4, context_features, autoregressive_degrees=layer.made.input_degrees)


def test_gated_step_starts_near_identity():
    torch.manual_seed(0)
    layer = InverseAutoregressive(6, hidden_features=32)
    with torch.no_grad():
        layer.made.output_layer.weight.zero_()
    u = torch.randn(100, 6)
    x, logabsdet = layer.inverse(u)
    gate = torch.sigmoid(torch.tensor(2.0))
    assert torch.allclose(x, gate * u, atol=1e-6)  # zero shift: x = sigma(2) u
    assert torch.allclose(logabsdet, 6 * torch.log(gate).expand(100), atol=1e-5)


def test_sampling_is_one_pass_and_density_is_one_pass_per_degree():
    layer = InverseAutoregressive(5, hidden_features=16)
    calls = []
    layer.made.register_forward_hook(lambda *args: calls.append(1))
    x, _ = layer.inverse(torch.randn(3, 5))
    assert len(calls) == 1
    layer(x, method="naive")
    assert len(calls) == 1 + 5
    layer(x)  # degree-ordered: each unit once, no full MADE pass
    assert len(calls) == 1 + 5


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("context_features", [None, 3])
def test_degree_ordered_density_equals_the_naive_one(gated, context_features):
    torch.manual_seed(1)
    layer = InverseAutoregressive(
        6,
        hidden_features=[4, 9],
        context_features=context_features,
        order="random",
        hidden_degrees="random",
        gated=gated,
        seed=2,
    ).double()
    with torch.no_grad():
        layer.made.output_layer.weight.mul_(3)
    x = torch.randn(8, 6, dtype=torch.float64)
    context = torch.randn(8, context_features, dtype=torch.float64) if context_features else None
    fast, fast_logabsdet = layer(x, context)
    naive, naive_logabsdet = layer(x, context, method="naive")
    assert torch.allclose(fast, naive, atol=1e-10) and torch.allclose(
        fast_logabsdet, naive_logabsdet, atol=1e-10
    )
