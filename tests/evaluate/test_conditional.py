import math

import pytest
import torch

from maflow import MAF
from maflow.evaluate.conditional import (
    class_conditional_log_probs,
    conditional_report,
    marginal_log_probs,
    one_hot,
)


class KnownConditional(torch.nn.Module):
    """p(x | y) = N(x; mu_y, 1) in 1-D: log p(x|y), log p(x) and the Bayes classifier are known."""

    def __init__(self, means):
        super().__init__()
        self.means = torch.nn.Parameter(torch.as_tensor(means, dtype=torch.float64))

    def log_prob(self, x, context):
        mu = context @ self.means
        return torch.distributions.Normal(mu, 1.0).log_prob(x[:, 0])


def test_against_a_known_mixture():
    model = KnownConditional([-2.0, 0.0, 3.0])
    x = torch.tensor([[-2.1], [0.2], [2.5], [-0.9]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0])
    table = class_conditional_log_probs(model, x, num_classes=3, batch_size=3)
    normal = torch.distributions.Normal(model.means.detach(), 1.0)
    assert torch.allclose(table, normal.log_prob(x), atol=1e-12)
    expected_marginal = torch.log(normal.log_prob(x).exp().mean(1))
    assert torch.allclose(marginal_log_probs(table), expected_marginal, atol=1e-12)
    report = conditional_report(model, x, labels, num_classes=3)
    assert report["accuracy"] == 0.75  # -0.9 is labelled 0 but lies nearer mu_1 = 0
    assert math.isclose(report["log_p_x"], expected_marginal.mean().item(), rel_tol=1e-12)
    assert math.isclose(
        report["log_p_x_given_y"], table[torch.arange(4), labels].mean().item(), rel_tol=1e-12
    )


def test_one_hot_rejects_out_of_range_labels():
    assert one_hot(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="labels"):
        one_hot(torch.tensor([3]), 3)


def test_marginal_is_at_least_the_best_conditional_minus_log_c():
    torch.manual_seed(0)
    model = MAF(3, num_layers=2, hidden_features=8, context_features=4).eval()
    table = class_conditional_log_probs(model, torch.randn(20, 3), num_classes=4)
    marginal = marginal_log_probs(table)
    assert (marginal >= table.max(1).values - math.log(4) - 1e-6).all()
    assert (marginal <= table.max(1).values + 1e-6).all()


def test_report_needs_one_label_per_point():
    model = MAF(2, num_layers=1, hidden_features=4, context_features=2).eval()
    with pytest.raises(ValueError, match="one label per point"):
        conditional_report(model, torch.randn(3, 2), torch.tensor([0, 1]), num_classes=2)
