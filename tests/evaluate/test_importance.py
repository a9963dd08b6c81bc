import math

import torch

from maflow.evaluate.importance import importance_log_likelihood
from tests.evaluate.exact_vae import all_patterns, exact_log_likelihood, trained_tiny_vae


def test_elbo_below_importance_estimate_which_converges_to_the_exact_value():
    vae = trained_tiny_vae()
    x = all_patterns()
    exact = exact_log_likelihood(vae, x)
    assert abs(torch.logsumexp(exact, 0).item()) < 1e-6  # the 32 probabilities sum to one
    torch.manual_seed(0)
    gaps = {}
    for k, repeats in ((1, 200), (10, 200), (100, 50)):
        # Repeating the data averages the estimator's noise: the gap is E[log p - log IS_k].
        result = importance_log_likelihood(vae, x.repeat(repeats, 1), num_samples=k, batch_size=640)
        assert (result.elbo <= result.log_likelihood + 1e-12).all()  # Jensen, per example
        gaps[k] = (exact.repeat(repeats) - result.log_likelihood).mean().item()
    result = importance_log_likelihood(vae, x, num_samples=20_000, batch_size=32)
    elbo_gap = (exact - result.elbo).mean().item()
    # The ELBO is clearly below log p(x); the IS bound tightens as k grows and meets it.
    assert elbo_gap > 0.1 and abs(gaps[1] - elbo_gap) < 0.03
    assert gaps[1] > gaps[10] > gaps[100] > -0.005
    assert (exact - result.log_likelihood).abs().max() < 0.02


class FixedWeights(torch.nn.Module):
    """A stand-in model whose j-th log-weight for example i is known, counting what it is asked."""

    def __init__(self, table):
        super().__init__()
        self.table, self.drawn, self.largest = table, 0, 0

    def log_weights(self, x, num_samples):
        self.largest = max(self.largest, num_samples * x.shape[0])
        rows = self.table[self.drawn : self.drawn + num_samples, : x.shape[0]]
        self.drawn += num_samples
        return rows


def test_chunks_are_bounded_and_combined_exactly_in_float64():
    table = torch.linspace(-800.0, -700.0, 1000 * 4).reshape(1000, 4)  # exp() underflows in float32
    model = FixedWeights(table)
    result = importance_log_likelihood(model, torch.zeros(4, 3), num_samples=1000, max_samples_per_pass=300)
    assert model.largest <= 300 and model.drawn == 1000
    expected = torch.logsumexp(table.double(), 0) - math.log(1000)
    assert torch.allclose(result.log_likelihood, expected, rtol=0, atol=1e-9)
    assert torch.allclose(result.elbo, table.double().mean(0))
    summary = result.summary()
    assert summary["num_samples"] == 1000 and summary["nll"] > 0 and summary["nll_error_2se"] > 0
