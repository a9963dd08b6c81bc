import itertools
import math

import pytest
import torch
from scipy import stats

from maflow.models.bernoulli_made import BernoulliMADE
from maflow.models.registry import build_model


def all_binary_vectors(features: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=features)), dtype=torch.float64)


def sharpen(model: BernoulliMADE, scale: float = 3.0, seed: int = 0) -> BernoulliMADE:
    # Random init gives near-uniform conditionals; larger weights make the checks bite.
    # A local generator: the outcome must not depend on which tests ran before in this process.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(generator=generator).mul_(scale / math.sqrt(parameter.shape[-1]))
    return model


@pytest.mark.parametrize("direct_input", [False, True])
@pytest.mark.parametrize("hidden", [[7], [9, 6]])
def test_probabilities_of_all_vectors_sum_to_one(direct_input, hidden):
    model = sharpen(BernoulliMADE(5, hidden, num_masks=4, direct_input=direct_input, seed=2)).double()
    x = all_binary_vectors(5)
    for index in range(4):
        model.set_mask_index(index)
        total = torch.logsumexp(model.log_prob(x), 0).exp().item()
        assert total == pytest.approx(1.0, abs=1e-12)
    # The mixture is a distribution too.
    assert torch.logsumexp(model.log_prob_ensemble(x, 4), 0).exp().item() == pytest.approx(1.0, abs=1e-12)


def test_conditional_model_is_normalised_for_each_context():
    model = sharpen(BernoulliMADE(4, 8, context_features=2, num_masks=2, seed=5)).double()
    x = all_binary_vectors(4)
    for context in torch.randn(3, 2, dtype=torch.float64):
        total = torch.logsumexp(model.log_prob(x, context.expand(len(x), 2)), 0).exp().item()
        assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("direct_input", [False, True])
def test_each_logit_depends_only_on_earlier_inputs(direct_input):
    model = sharpen(BernoulliMADE(6, [10, 8], num_masks=3, direct_input=direct_input, seed=4)).double()
    x = torch.rand(1, 6, dtype=torch.float64)
    for index in range(3):
        model.set_mask_index(index)
        jacobian = torch.autograd.functional.jacobian(lambda v: model.logits(v)[0], x)[:, 0, :]
        degrees = model.made.input_degrees
        allowed = degrees[:, None] > degrees[None, :]
        assert torch.all(jacobian[~allowed] == 0)
        assert torch.count_nonzero(jacobian[allowed]) > 0


def test_ensemble_is_log_mean_exp_of_probabilities_analytic():
    # D = 2 with only biases and the direct connection: under order (a, b),
    # p(x) = Bern(x_a; s(c_a)) Bern(x_b; s(c_b + w_ba x_a)), a closed form per order.
    seed = next(s for s in range(50) if _orders(s) == [[0, 1], [1, 0]])
    model = BernoulliMADE(2, 3, num_masks=2, direct_input=True, seed=seed).double()
    bias = torch.tensor([0.7, -1.2], dtype=torch.float64)
    weight = torch.tensor([[0.0, 2.5], [-1.5, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        for parameter in model.made.parameters():
            parameter.zero_()
        model.made.output_layer.bias.copy_(bias)
        model.direct_weight.copy_(weight)

    def bern(value, logit):
        p = 1 / (1 + math.exp(-logit))
        return p if value else 1 - p

    def p_order(x, first, second):
        return bern(x[first], bias[first].item()) * bern(
            x[second], bias[second].item() + weight[second, first].item() * x[first]
        )

    x = all_binary_vectors(2)
    expected = [math.log((p_order(v, 0, 1) + p_order(v, 1, 0)) / 2) for v in x.tolist()]
    assert model.log_prob_ensemble(x, 2).tolist() == pytest.approx(expected, abs=1e-12)
    only_first = [math.log(p_order(v, 0, 1)) for v in x.tolist()]
    assert model.log_prob_ensemble(x, 1).tolist() == pytest.approx(only_first, abs=1e-12)
    # Averaging logits instead (karpathy/pytorch-made's test-time rule) is a different number.
    model.set_mask_index(0)
    logits = model.logits(x)
    model.set_mask_index(1)
    averaged = (logits + model.logits(x)) / 2
    naive = -torch.nn.functional.binary_cross_entropy_with_logits(averaged, x, reduction="none").sum(-1)
    assert not torch.allclose(naive, model.log_prob_ensemble(x, 2))


def _orders(seed):
    model = BernoulliMADE(2, 3, num_masks=2, seed=seed)
    orders = []
    for index in range(2):
        model.set_mask_index(index)
        orders.append(torch.argsort(model.made.input_degrees).tolist())
    return orders


def test_ensemble_matches_manual_log_mean_exp_and_restores_mask():
    model = sharpen(BernoulliMADE(8, 12, num_masks=5, seed=1)).double()
    x = torch.bernoulli(torch.full((6, 8), 0.4, dtype=torch.float64))
    model.set_mask_index(3)
    per_mask = []
    for index in range(4):
        model.set_mask_index(index)
        per_mask.append(model.log_prob(x))
    model.set_mask_index(3)
    stacked = torch.stack(per_mask)
    expected = torch.logsumexp(stacked, 0) - math.log(4)
    assert torch.allclose(model.log_prob_ensemble(x, 4), expected, atol=1e-12)
    assert model.mask_index == 3
    # Jensen: the mixture is at least the mean of the per-mask log-likelihoods.
    assert torch.all(model.log_prob_ensemble(x, 4) >= stacked.mean(0) - 1e-12)
    with pytest.raises(ValueError, match="1..5"):
        model.log_prob_ensemble(x, 6)


def test_masks_cycle_deterministically():
    def snapshot(model):
        return [layer.mask.clone() for layer in [*model.made.hidden_layers, model.made.output_layer]]

    first = BernoulliMADE(10, [16, 16], num_masks=3, seed=7)
    second = BernoulliMADE(10, [16, 16], num_masks=3, seed=7)
    start = snapshot(first)
    seen = []
    for _ in range(3):
        seen.append(snapshot(first))
        first.update_masks()
        second.update_masks()
        assert all(torch.equal(a, b) for a, b in zip(snapshot(first), snapshot(second)))
    # Back to the first draw after num_masks updates, and the draws are distinct.
    assert all(torch.equal(a, b) for a, b in zip(snapshot(first), start))
    assert not all(torch.equal(a, b) for a, b in zip(seen[0], seen[1]))
    # set_mask_index(k) gives the same masks as k updates.
    first.set_mask_index(2)
    assert all(torch.equal(a, b) for a, b in zip(snapshot(first), seen[2]))
    other_seed = BernoulliMADE(10, [16, 16], num_masks=3, seed=8)
    assert not all(torch.equal(a, b) for a, b in zip(snapshot(other_seed), start))


@pytest.mark.parametrize("direct_input", [False, True])
def test_sample_frequencies_match_probabilities(direct_input):
    features, num_samples = 3, 40_000
    model = sharpen(BernoulliMADE(features, 8, num_masks=2, direct_input=direct_input, seed=3), 1.0)
    model = model.double()
    model.set_mask_index(1)
    generator = torch.Generator().manual_seed(0)
    samples = model.sample(num_samples, generator=generator)
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    codes = (samples * torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)).sum(1).long()
    observed = torch.bincount(codes, minlength=8).double()
    probabilities = model.log_prob(all_binary_vectors(features)).exp()
    expected = probabilities * num_samples
    assert expected.min() > 20  # the chi-square approximation holds
    chi_square = ((observed - expected) ** 2 / expected).sum().item()
    assert chi_square < stats.chi2.ppf(0.999, df=7)
    # A wrong model (the other mask's distribution) is rejected by the same check.
    model.set_mask_index(0)
    wrong = model.log_prob(all_binary_vectors(features)).exp() * num_samples
    assert ((observed - wrong) ** 2 / wrong).sum().item() > stats.chi2.ppf(0.999, df=7)


def test_sampling_is_reproducible_and_conditional_shapes():
    model = BernoulliMADE(5, 8, context_features=2, seed=0)
    context = torch.randn(4, 2)
    a = model.sample(4, context, generator=torch.Generator().manual_seed(1))
    b = model.sample(4, context, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (4, 5)
    with pytest.raises(ValueError, match="context"):
        model.sample(3, context)


def test_state_dict_round_trip_and_registry():
    model = build_model("bernoulli-made", 6, hidden_features=9, num_masks=2, direct_input=True, seed=4)
    assert isinstance(model, BernoulliMADE)
    model.set_mask_index(1)
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    clone = BernoulliMADE(6, 9, num_masks=2, direct_input=True, seed=4)
    clone.load_state_dict(model.state_dict())
    clone.set_mask_index(1)
    assert torch.allclose(clone.log_prob(x), model.log_prob(x))
    assert torch.allclose(clone.log_prob_ensemble(x), model.log_prob_ensemble(x))


def test_log_prob_gradients_reach_every_parameter():
    model = BernoulliMADE(5, 8, direct_input=True, seed=0)
    x = torch.bernoulli(torch.full((16, 5), 0.5))
    (-model.log_prob(x).mean()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_orthogonal_init_draws_the_direct_connection_orthogonal_too():
    torch.manual_seed(0)
    model = BernoulliMADE(6, hidden_features=12, direct_input=True, weight_init="orthogonal")
    weight = model.direct_weight.detach()
    assert torch.allclose(weight @ weight.T, torch.eye(6), atol=1e-5)
