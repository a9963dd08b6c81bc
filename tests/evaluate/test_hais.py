import math

import pytest
import torch

from maflow.evaluate.hais import hais_log_likelihood, sigmoid_schedule
from tests.evaluate.exact_vae import all_patterns, exact_log_likelihood, trained_tiny_vae


@pytest.mark.parametrize("start", ["prior", "q0"])
def test_hais_agrees_with_the_exact_log_likelihood(start):
    vae = trained_tiny_vae()
    x = all_patterns()
    exact = exact_log_likelihood(vae, x)
    torch.manual_seed(0)
    result = hais_log_likelihood(
        vae,
        x,
        num_steps=200,
        num_chains=16,
        leapfrog_steps=2,
        step_size=0.1,
        start=start,
        step_size_range=(1e-3, 5.0),
    )
    difference = result.log_likelihood - exact
    error_of_mean = result.chain_error.pow(2).sum().sqrt().item() / len(x)
    assert abs(difference.mean().item()) < 2 * error_of_mean + 0.01
    assert difference.abs().mean() < 0.1 and difference.abs().max() < 0.4
    assert 0.5 < result.acceptance_rate < 0.95
    summary = result.summary()
    # karstenkreis/flow_vae's average of log-weights is a looser bound than the log of the average weight.
    assert summary["nll_mean_log_weight"] >= summary["nll"]


def test_step_size_adapts_toward_the_target_acceptance():
    vae = trained_tiny_vae()
    x = all_patterns()[:8]
    final = {}
    for target in (0.3, 0.9):
        torch.manual_seed(0)
        result = hais_log_likelihood(
            vae,
            x,
            num_steps=150,
            num_chains=8,
            leapfrog_steps=2,
            step_size=0.5,
            target_acceptance=target,
            step_size_range=(1e-3, 10.0),
        )
        final[target] = result.final_step_size
        assert abs(result.acceptance_rate - target) < 0.2
    # A lower target acceptance calls for bigger steps, for every example.
    assert (final[0.3] > final[0.9]).all()


def test_hais_with_one_step_is_importance_sampling_from_the_start():
    # With a single annealing step the weight is p(z) p(x|z) / p0(z) at z ~ p0, whatever HMC does.
    vae = trained_tiny_vae()
    x = all_patterns()[:4]
    torch.manual_seed(0)
    result = hais_log_likelihood(vae, x, num_steps=1, num_chains=20_000, leapfrog_steps=1, batch_size=4)
    assert torch.allclose(result.log_likelihood, exact_log_likelihood(vae, x), atol=0.05)


def test_sigmoid_schedule_is_dense_at_both_ends():
    t = sigmoid_schedule(100, radius=4.0)
    steps = t.diff()
    assert t[0] == 0 and t[-1] == 1 and math.isclose(steps.sum().item(), 1.0)
    assert steps[0] < steps[50] / 10 and steps[-1] < steps[50] / 10
