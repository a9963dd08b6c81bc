import numpy as np
import pytest
import torch

from maflow import MAF
from maflow.transforms import BatchNorm, MaskedAffineAutoregressive, recompute_batchnorm_statistics
from tests.contract import check_flow, check_transform


@pytest.mark.parametrize("context_features", [None, 3])
@pytest.mark.parametrize("scale_bound", ["clamp", "soft"])
def test_maf_step_contract(context_features, scale_bound):
    step = MaskedAffineAutoregressive(
        5,
        hidden_features=[12, 9],
        context_features=context_features,
        order="random",
        hidden_degrees="random",
        scale_bound=scale_bound,
        seed=3,
    )
    check_transform(step, 5, context_features, autoregressive_degrees=step.made.input_degrees)


def test_batchnorm_contract():
    check_transform(BatchNorm(4), 4)


@pytest.mark.parametrize("placement", ["every", "between"])
@pytest.mark.parametrize("context_features", [None, 2])
def test_maf_log_prob_matches_autograd(placement, context_features):
    flow = MAF(
        4,
        num_layers=3,
        hidden_features=10,
        context_features=context_features,
        batch_norm_placement=placement,
        order="random",
        seed=1,
    )
    state, x, context, log_prob = check_flow(flow, 4, context_features)
    clone = (
        MAF(
            4,
            num_layers=3,
            hidden_features=10,
            context_features=context_features,
            batch_norm_placement=placement,
            order="random",
            seed=1,
        )
        .double()
        .eval()
    )
    clone.load_state_dict(state)
    assert torch.equal(clone.log_prob(x, context), log_prob)


def test_batchnorm_placement_counts():
    every = MAF(3, num_layers=4, hidden_features=8, batch_norm_placement="every")
    between = MAF(3, num_layers=4, hidden_features=8, batch_norm_placement="between")
    count = lambda f: sum(isinstance(t, BatchNorm) for t in f.transform.transforms)  # noqa: E731
    assert (count(every), count(between)) == (4, 3)


def test_orders_alternate():
    flow = MAF(5, num_layers=3, hidden_features=8, batch_norm=False)
    degrees = [t.made.input_degrees.tolist() for t in flow.transform.transforms]
    assert degrees == [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 2, 3, 4, 5]]


def test_test_likelihood_does_not_depend_on_batching():
    torch.manual_seed(0)
    flow = MAF(6, num_layers=3, hidden_features=16)
    train = torch.randn(500, 6) * 3 + 1
    flow.log_prob(train[:100]).mean().backward()
    recompute_batchnorm_statistics(flow.transform, train)
    flow.eval()
    test = torch.randn(301, 6)
    with torch.no_grad():
        means = [
            torch.cat([flow.log_prob(b) for b in test.split(size)]).double().mean()
            for size in (1, 7, 100, 301)
        ]
    assert max(means) - min(means) < 1e-5


def test_recomputed_statistics_equal_full_batch_training_pass():
    torch.manual_seed(0)
    flow = MAF(4, num_layers=3, hidden_features=8).double()
    data = torch.randn(257, 4, dtype=torch.float64) * 2
    recompute_batchnorm_statistics(flow.transform, data, batch_size=50)
    flow.eval()
    eval_lp = flow.log_prob(data)
    flow.train()
    train_lp = flow.log_prob(data)  # one full batch: batch statistics = data statistics
    assert torch.allclose(eval_lp, train_lp, atol=1e-8)


def test_distribution_interface():
    flow = MAF(3, num_layers=2, hidden_features=8, context_features=2).eval()
    context = torch.randn(4, 2)
    dist = flow(context)
    assert isinstance(dist, torch.distributions.Distribution)
    x = dist.sample((5,))
    assert x.shape == (5, 4, 3) and dist.log_prob(x).shape == (5, 4)
    x, log_prob = dist.rsample_and_log_prob((2,))
    assert torch.allclose(log_prob, flow.log_prob(x, context), atol=1e-4)


def test_rsample_is_differentiable():
    flow = MAF(3, num_layers=2, hidden_features=8).eval()
    flow.rsample((4,)).sum().backward()
    assert flow.transform.transforms[0].made.output_layer.weight.grad is not None


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.randn(4, 5), "shape"),
        (torch.zeros(4, 3, dtype=torch.long), "floating"),
    ],
)
def test_log_prob_rejects_bad_input(bad, message):
    flow = MAF(3, num_layers=1, hidden_features=8)
    with pytest.raises((ValueError, TypeError), match=message):
        flow.log_prob(bad)


def test_sampling_matches_density_on_gaussian_target():
    # A MAF with zero output weights is an affine map: check sample moments against log_prob.
    # The biases are read as the MAF paper's (mean, log std), so its exp map is asked for.
    torch.manual_seed(0)
    flow = MAF(2, num_layers=1, hidden_features=4, batch_norm=False, scale="exp")
    with torch.no_grad():
        layer = flow.transform.transforms[0].made.output_layer
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([1.0, -2.0, np.log(2.0), np.log(0.5)]))
    x = flow.sample((20000,))
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(x.std(0), torch.tensor([2.0, 0.5]), atol=0.05)
